'use strict'
// Server-sent events from abio to a real browser: headless Chromium loads a page
// (fixtures/sse-browser.html) whose `EventSource` connects to /events, where a web-standard
// fetch handler answers a `Response` over a `ReadableStream` of `text/event-stream` chunks
// (design.md section 12). The page reports every event it got (type, lastEventId, data) and
// the test checks them exactly: ids, a named event, a multi-line data event (an empty line and
// a leading space in it), UTF-8 cut inside a character between chunks, a comment, CRLF lines,
// two events in one chunk, a 100,000-character event, then 50 more. The page then closes the
// EventSource, and the server must see its stream cancelled (the handler's stream stays open
// otherwise: EventSource reconnects after an end).
//
// The same handler runs first on @hono/node-server (Node's http): that proves the harness, so a
// failure on abio is abio's. Chromium is driven as in ws-browser.test.js (helpers/browser.js);
// skipped with a message when it is not installed.

const fs = require('fs')
const path = require('path')
const { once } = require('events')
const { serve: nodeServe } = require('@hono/node-server')

const abio = require('..')
const { track } = require('./helpers/cleanup')
const { describeBrowser, useBrowsers, startChromium, resultWithin } = require('./helpers/browser')

jest.setTimeout(120000)

useBrowsers()

const PAGE = fs.readFileSync(path.join(__dirname, 'fixtures', 'sse-browser.html'))
const encode = (s) => new TextEncoder().encode(s)

/** 100,000 printable ASCII characters, no two neighbours alike. */
const BIG = Array.from({ length: 100000 }, (_, i) => String.fromCharCode(33 + ((i * 7) % 90))).join('')

/** The stream's chunks as they go on the wire, and the events a browser must make of them. */
function script() {
  const utf8 = encode('id: 4\ndata: héllo ✓ \u{1F600}\n\n')
  const cut = utf8.length - 5 // after the first of the emoji's four bytes
  const chunks = [
    encode('id: 1\ndata: first\n\n'),
    encode('id: 2\nevent: note\ndata: a named event\n\n'),
    encode('id: 3\ndata: line 1\ndata: line 2\ndata\ndata:  indented\n\n'),
    utf8.subarray(0, cut),
    utf8.subarray(cut),
    encode(': a comment, ignored\n\nid: 5\r\ndata: CRLF lines\r\n\r\n'),
    encode('id: 6\ndata: six\n\nid: 7\ndata: seven\n\n'),
    encode(`id: 8\ndata: ${BIG}\n\n`),
  ]
  const events = [
    { type: 'message', id: '1', data: 'first' },
    { type: 'note', id: '2', data: 'a named event' },
    { type: 'message', id: '3', data: 'line 1\nline 2\n\n indented' },
    { type: 'message', id: '4', data: 'héllo ✓ \u{1F600}' },
    { type: 'message', id: '5', data: 'CRLF lines' },
    { type: 'message', id: '6', data: 'six' },
    { type: 'message', id: '7', data: 'seven' },
    { type: 'message', id: '8', data: BIG },
  ]
  for (let n = 9; n < 59; n++) {
    chunks.push(encode(`id: ${n}\ndata: event ${n}\n\n`))
    events.push({ type: 'message', id: String(n), data: `event ${n}` })
  }
  return { chunks, events }
}

/**
 * The page's server as one web-standard fetch handler: the page, the event stream (one chunk
 * per pull, then open until cancelled), and /result. `seen` records the event requests, the
 * chunks pulled, the cancel, and the page's result.
 */
function sseApp(chunks) {
  let report
  let cancelled
  const seen = {
    requests: [],
    pulled: 0,
    result: new Promise((resolve) => (report = resolve)),
    cancelled: new Promise((resolve) => (cancelled = resolve)),
  }
  async function fetch(request) {
    const { pathname } = new URL(request.url)
    if (pathname === '/') return new Response(PAGE, { headers: { 'content-type': 'text/html; charset=utf-8' } })
    if (pathname === '/result' && request.method === 'POST') {
      report(await request.json())
      return new Response(null, { status: 204 })
    }
    if (pathname === '/events') {
      seen.requests.push({ accept: request.headers.get('accept'), lastEventId: request.headers.get('last-event-id') })
      const events = new ReadableStream({
        pull(controller) {
          if (seen.pulled < chunks.length) controller.enqueue(chunks[seen.pulled++])
          else return new Promise(() => {}) // no more events, and no end: the client leaves first
        },
        cancel() {
          cancelled()
        },
      })
      return new Response(events, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' } })
    }
    return new Response('not found', { status: 404 })
  }
  return { fetch, seen }
}

/** The handler on @hono/node-server (Node's http); its globals left alone. */
async function onNode(fetch) {
  const server = track(
    'node-server',
    nodeServe({ fetch, port: 0, hostname: '127.0.0.1', overrideGlobalObjects: false }),
  )
  server.on('connection', (s) => track('node-socket', s))
  if (!server.listening) await once(server, 'listening')
  return server.address().port
}

/** The handler on abio. */
async function onAbio(fetch) {
  const server = track('abio-server', await abio.serve({ host: '127.0.0.1', port: 0, fetch }))
  return server.port
}

const IMPLS = [
  ['@hono/node-server (reference: proves the harness)', onNode],
  ['abio', onAbio],
]

describeBrowser('headless Chromium', () => {
  it.each(IMPLS)(
    'an EventSource gets every event exactly from %s, and closing it cancels the stream',
    async (_, start) => {
      const { chunks, events } = script()
      const { fetch, seen } = sseApp(chunks)
      const port = await start(fetch)
      const chromium = startChromium(`http://127.0.0.1:${port}/?n=${events.length}`)

      const r = await resultWithin(seen.result, chromium, 60000)
      expect(r.errors).toEqual([])
      expect(r.done).toBe(true)
      expect(r.events.length).toBe(events.length)
      expect(r.events).toEqual(events)
      // One connection, no reconnect (that would send Last-Event-ID).
      expect(seen.requests).toEqual([{ accept: 'text/event-stream', lastEventId: null }])

      // The page closed its EventSource: the stream is cancelled, within a generous time.
      await resultWithin(seen.cancelled, chromium, 30000)
      expect(seen.pulled).toBe(chunks.length)
    },
  )
})
