'use strict'
// Tests for the WebSocket upgrade of abio's server and client (design.md section 13, types/ws.d.ts):
// the `upgrade` hook (a WHATWG Request and the server; accept with data, headers and a
// subprotocol; refuse with a Response, false, a throw, a rejection or a timeout; 10,000 refusals
// leave no descriptor behind) and subprotocol negotiation both ways, against the `ws` package,
// raw `net` peers (the exact HTTP answer) and headless Chromium.
// Peers, frames and checks: helpers/ws.js. Topics, the connection object and the flush before the
// closing frame: ws-topics.test.js.

const fs = require('fs')
const net = require('net')
const path = require('path')
const cp = require('child_process')
const crypto = require('crypto')
const { WebSocket: WsClient } = require('ws')

const { track } = require('./helpers/cleanup')
const { rawConnect, parseHead, request } = require('./helpers/http-peers')
const { thrownBy, tag } = require('./helpers/throws')
const { abio, HOST, GUID, sleep, waitFor, Inbox, serve } = require('./helpers/ws')
const { trackedAbio } = require('./helpers/ws')
const { wsServer, nextMessages, expectStillServing, expectWsMessage } = require('./helpers/ws')
const { describeBrowser, useBrowsers, startChromium, resultWithin } = require('./helpers/browser')

jest.setTimeout(30000)

// `ws` clients made here (with subprotocols, or refused): ended after each test, before the
// servers (closeWsPeers) and the browsers (useBrowsers). Then every abio WebSocket of either side
// the test saw must have closed.
const ownClients = []
const tracked = trackedAbio()
const { server: recordingServer, connect: abioConnect } = tracked
afterEach(async () => {
  for (const c of ownClients.splice(0)) c.terminate()
  jest.restoreAllMocks()
  await tracked.settle()
})
useBrowsers()

// ---------------------------------------------------------------------------
// Peers and answers

/**
 * A `ws` client offering `protocols`, open: `{ c, res }`, `res` the 101 answer (its 'upgrade'
 * event); `c.inbox` holds { data, isBinary }, `c.closedP` resolves with { code, reason }.
 */
function wsOpen(url, protocols = [], options = {}) {
  const c = new WsClient(url, protocols, { perMessageDeflate: false, ...options })
  ownClients.push(c)
  c.inbox = new Inbox()
  c.on('message', (data, isBinary) => c.inbox.push({ data, isBinary }))
  c.on('error', (e) => (c.lastError = e))
  c.closedP = new Promise((resolve) => c.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
  return new Promise((resolve, reject) => {
    let res
    c.once('upgrade', (r) => (res = r))
    c.once('open', () => resolve({ c, res }))
    c.once('unexpected-response', (req, r) => {
      r.resume()
      req.destroy()
      reject(Object.assign(new Error(`unexpected response ${r.statusCode}`), { status: r.statusCode }))
    })
    c.once('error', reject)
  })
}

/**
 * What a `ws` client offering `protocols` gets when the upgrade is refused, through its
 * 'unexpected-response' event: `{ status, headers, body }` (the body read whole).
 */
function wsRefusal(url, protocols = [], options = {}) {
  const c = new WsClient(url, protocols, { perMessageDeflate: false, ...options })
  ownClients.push(c)
  c.on('error', (e) => (c.lastError = e))
  return waitFor(
    new Promise((resolve, reject) => {
      c.once('open', () => reject(new Error('the upgrade was accepted')))
      c.once('unexpected-response', (req, res) => {
        const chunks = []
        res.on('data', (d) => chunks.push(d))
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }))
        res.on('error', reject)
      })
    }),
    'the refusal',
  )
}

/** An upgrade request's text, with a fresh key; `headers` are more lines ('Name: value'). */
function upgradeText(port, path = '/', headers = []) {
  const key = crypto.randomBytes(16).toString('base64')
  return (
    `GET ${path} HTTP/1.1\r\nHost: ${HOST}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`
  )
}

/**
 * Writes `text` on a fresh raw socket and reads until the server closes it: `{ status,
 * headers, head, body, endedByServer }` (`endedByServer`: a FIN came from the server). The body
 * is what follows the head (its content-length is checked).
 */
async function rawAnswer(port, text) {
  const sock = await rawConnect(port)
  const chunks = []
  let endedByServer = false
  sock.on('data', (c) => chunks.push(c))
  sock.once('end', () => (endedByServer = true))
  const closed = new Promise((resolve) => sock.once('close', resolve))
  sock.write(text)
  await waitFor(closed, 'the server to close the connection after its answer')
  const all = Buffer.concat(chunks)
  const end = all.indexOf('\r\n\r\n')
  expect(end).toBeGreaterThan(0)
  const head = all.subarray(0, end).toString('latin1')
  const body = all.subarray(end + 4)
  const parsed = parseHead(head)
  if (parsed.headers['content-length'] !== undefined) expect(body.length).toBe(Number(parsed.headers['content-length']))
  return { ...parsed, head, body, endedByServer, error: sock.lastError }
}

/** The head of the first answer on `sock`, once it has come whole. */
function headOf(sock) {
  return waitFor(
    new Promise((resolve) => {
      let buf = Buffer.alloc(0)
      const on = (d) => {
        buf = Buffer.concat([buf, d])
        const end = buf.indexOf('\r\n\r\n')
        if (end < 0) return
        sock.off('data', on)
        resolve(buf.subarray(0, end).toString('latin1'))
      }
      sock.on('data', on)
    }),
    'the head of the answer',
  )
}

/** The status a raw upgrade request gets (`headers` more lines), the server closing after it. */
async function rawStatus(port, path = '/', headers = []) {
  const a = await rawAnswer(port, upgradeText(port, path, headers))
  expect({ path, headers, endedByServer: a.endedByServer }).toEqual({ path, headers, endedByServer: true })
  return a.status
}

/** console.error, silenced and recorded (a refused upgrade is logged). */
function silenceErrors() {
  return jest.spyOn(console, 'error').mockImplementation(() => {})
}

/** A plain HTTP GET: [status, body]. */
async function get(port, path) {
  const r = await request(port, path)
  return [r.status, r.body.toString()]
}

/** The accept key for `key` (RFC 6455 4.2.2). */
const acceptFor = (key) =>
  crypto
    .createHash('sha1')
    .update(key + GUID)
    .digest('base64')

/**
 * A raw server that answers every upgrade 101 with a right accept key and `extra` header lines
 * (then holds the connection); `requests` gets the request heads.
 */
async function rawWsServer(extra) {
  const requests = []
  const server = net.createServer((s) => {
    track('node-socket', s)
    s.on('error', () => {})
    let buf = ''
    s.on('data', (d) => {
      buf += d.toString('latin1')
      const end = buf.indexOf('\r\n\r\n')
      if (end < 0 || s.answered) return
      s.answered = true
      const head = buf.slice(0, end)
      requests.push(head)
      const key = /sec-websocket-key:\s*(\S+)/i.exec(head)[1]
      s.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Accept: ${acceptFor(key)}\r\n${extra.map((h) => `${h}\r\n`).join('')}\r\n`,
      )
    })
  })
  track('node-server', server)
  await new Promise((resolve) => server.listen(0, HOST, resolve))
  return { url: `ws://${HOST}:${server.address().port}/`, requests }
}

/** Runs `fn(i)` for i in [0, n), `concurrency` at a time. */
async function pool(n, concurrency, fn) {
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await fn(next++)
    }),
  )
}

/** How many descriptors this process has open. */
const fdCount = () => fs.readdirSync('/proc/self/fd').length

// ---------------------------------------------------------------------------
// 1. The upgrade hook

describe('the upgrade hook', () => {
  it('gets a WHATWG Request (GET, absolute url, headers.get) and the HttpServer; undefined accepts', async () => {
    const seen = []
    const srv = await recordingServer({
      upgrade(request, server) {
        seen.push({
          isRequest: request instanceof Request,
          tag: tag(request),
          method: request.method,
          url: request.url,
          token: request.headers.get('x-token'),
          upgrade: request.headers.get('upgrade'),
          version: request.headers.get('sec-websocket-version'),
          server,
        })
        return undefined
      },
    })
    const { c } = await wsOpen(`ws://${HOST}:${srv.port}/chat/room?id=7&x=%20`, [], { headers: { 'X-Token': 'tok 1' } })
    expect(seen.length).toBe(1)
    const [s] = seen
    expect(s.server).toBe(srv.server)
    expect({ ...s, server: undefined }).toEqual({
      isRequest: true,
      tag: '[object Request]',
      method: 'GET',
      url: `http://${HOST}:${srv.port}/chat/room?id=7&x=%20`,
      token: 'tok 1',
      upgrade: 'websocket',
      version: '13',
      server: undefined,
    })
    const [{ ws, req }] = await srv.opened.until(1, 'opens')
    expect([req.method, req.path, req.url]).toEqual(['GET', '/chat/room', '/chat/room?id=7&x=%20'])
    expect(ws.data).toBeUndefined()
    await expectStillServing(srv.url, c)
  })

  it('true, undefined, {} and their promises accept', async () => {
    const verdicts = [true, undefined, {}, Promise.resolve(true), Promise.resolve(undefined), Promise.resolve({})]
    const srv = await recordingServer({
      upgrade: (request) => verdicts[Number(new URL(request.url).searchParams.get('v'))],
    })
    for (let v = 0; v < verdicts.length; v++) {
      const { c } = await wsOpen(`ws://${HOST}:${srv.port}/?v=${v}`)
      await expectStillServing(srv.url, c)
    }
    await srv.opened.until(verdicts.length, 'opens')
  })

  it('an async hook (awaiting a timer) accepts with data and headers: ws.data everywhere, set-cookie in the 101', async () => {
    const data = { user: 'ann' }
    const hookCalls = []
    const srv = await recordingServer({
      async upgrade(request) {
        hookCalls.push(request.url)
        await sleep(50)
        return { data, headers: { 'set-cookie': 'sid=1', 'x-extra': 'yes' } }
      },
      message(ws, m) {
        srv.messages.push({ ws, data: m, wsData: ws.data })
        ws.send(`${ws.data.user}:${m}`)
      },
      close(ws, code, reason) {
        srv.closes.push({ ws, code, reason, wsData: ws.data })
      },
    })
    const { c, res } = await wsOpen(srv.url)
    expect(res.statusCode).toBe(101)
    expect(res.headers['set-cookie']).toEqual(['sid=1'])
    expect(res.headers['x-extra']).toBe('yes')
    const [{ ws }] = await srv.opened.until(1, 'opens')
    expect(ws.data).toBe(data)
    c.send('hi')
    const [m] = await c.inbox.until(1, 'the echo')
    expectWsMessage('echo', m, 'ann:hi')
    expect(srv.messages.items[0].wsData).toBe(data)
    c.close(1000)
    const [cl] = await srv.closes.until(1, 'close callbacks')
    expect(cl.wsData).toBe(data)
    expect(cl.ws).toBe(ws)
    expect(hookCalls.length).toBe(1)

    // Raw: the 101 carries the header once, the handshake's own are abio's.
    const sock = await rawConnect(srv.port)
    const answer = headOf(sock)
    sock.write(upgradeText(srv.port))
    const head = await answer
    expect(head).toMatch(/^HTTP\/1\.1 101 /)
    expect(head.toLowerCase().match(/^set-cookie: sid=1$/gm)).toEqual(['set-cookie: sid=1'])
    expect(head.toLowerCase().match(/^upgrade:/gm)).toEqual(['upgrade:'])
  })

  it("a hook's headers cannot break the handshake: its upgrade, connection, accept, protocol and length headers are left out", async () => {
    const srv = await recordingServer({
      upgrade: () => ({
        headers: [
          ['sec-websocket-accept', 'bogus'],
          ['upgrade', 'h2c'],
          ['connection', 'close'],
          ['sec-websocket-protocol', 'evil'],
          ['sec-websocket-extensions', 'permessage-deflate'],
          ['content-length', '5'],
          ['x-kept', 'yes'],
        ],
      }),
    })
    const { c, res } = await wsOpen(srv.url, ['chat.v1'])
    expect([c.protocol, c.extensions]).toEqual(['chat.v1', ''])
    expect(res.headers['x-kept']).toBe('yes')
    expect(res.headers['content-length']).toBeUndefined()
    expect(res.headers.connection).toBe('Upgrade')
    await expectStillServing(srv.url, c)
  })

  it('a client that leaves while the hook decides: no open, no close; the server goes on', async () => {
    let release
    const gate = new Promise((resolve) => (release = resolve))
    const asked = new Inbox()
    const srv = await recordingServer({
      async upgrade(request) {
        if (!request.url.endsWith('/wait')) return true
        asked.push(request.url)
        await gate
        return { data: 'for nobody' }
      },
    })
    const sock = await rawConnect(srv.port)
    sock.write(upgradeText(srv.port, '/wait'))
    await asked.until(1, 'the hook to be called')
    sock.destroy()
    await sleep(50)
    release()
    await sleep(200)
    expect([srv.opened.items.length, srv.closes.items.length]).toEqual([0, 0])
    await expectStillServing(srv.url)
    expect(srv.opened.items.map((o) => o.ws.data)).toEqual([undefined])
  })

  it('with websocket.path the hook sees only upgrades on the path; others are served as HTTP; set-cookie twice', async () => {
    const calls = []
    const srv = await recordingServer(
      {
        path: '/ws',
        upgrade(request) {
          calls.push(new URL(request.url).pathname)
          return { headers: { 'set-cookie': ['a=1', 'b=2'] } }
        },
      },
      { fetch: (req) => new Response(`http ${new URL(req.url).pathname}`) },
    )
    const { c, res } = await wsOpen(`ws://${HOST}:${srv.port}/ws`)
    expect(res.headers['set-cookie']).toEqual(['a=1', 'b=2'])
    const other = await wsRefusal(`ws://${HOST}:${srv.port}/other`)
    expect([other.status, other.body.toString()]).toEqual([200, 'http /other'])
    expect(calls).toEqual(['/ws'])
    await expectStillServing(`ws://${HOST}:${srv.port}/ws`, c)
  })

  it('refuses with a Response: the ws client gets exactly its status, header and body; the server closes the connection', async () => {
    const body = JSON.stringify({ error: 'unauthorized' })
    const srv = await recordingServer({
      upgrade: () =>
        new Response(JSON.stringify({ error: 'unauthorized' }), {
          status: 401,
          headers: { 'content-type': 'application/json' },
        }),
    })
    const r = await wsRefusal(srv.url)
    expect(r.status).toBe(401)
    expect(r.headers['content-type']).toBe('application/json')
    expect(r.headers['content-length']).toBe(String(Buffer.byteLength(body)))
    expect(r.body.toString()).toBe(body)

    const a = await rawAnswer(srv.port, upgradeText(srv.port))
    expect(a.head).toMatch(/^HTTP\/1\.1 401 /)
    expect(a.headers['content-type']).toBe('application/json')
    expect(a.body.toString()).toBe(body)
    expect(a.headers.upgrade).toBeUndefined()
    expect(a.headers['sec-websocket-accept']).toBeUndefined()
    expect(a.endedByServer).toBe(true)
    expect(srv.opened.items.length).toBe(0)
  })

  it('false refuses with 401 (no body); the server closes the connection', async () => {
    const srv = await recordingServer({ upgrade: () => false })
    const r = await wsRefusal(srv.url)
    expect(r.status).toBe(401)
    expect(r.body.length).toBe(0)
    const a = await rawAnswer(srv.port, upgradeText(srv.port))
    expect([a.status, a.body.length, a.endedByServer]).toEqual([401, 0, true])
    expect(srv.opened.items.length).toBe(0)
  })

  it('Responses with other statuses (403, 302 with location, 429) refuse with them', async () => {
    const answers = {
      '/403': () => new Response('forbidden', { status: 403 }),
      '/302': () => new Response(null, { status: 302, headers: { location: '/elsewhere' } }),
      '/429': () => new Response('slow down', { status: 429, headers: { 'retry-after': '5' } }),
    }
    const srv = await recordingServer({ upgrade: (request) => answers[new URL(request.url).pathname]() })
    const a403 = await rawAnswer(srv.port, upgradeText(srv.port, '/403'))
    expect([a403.status, a403.body.toString(), a403.endedByServer]).toEqual([403, 'forbidden', true])
    const a302 = await rawAnswer(srv.port, upgradeText(srv.port, '/302'))
    expect([a302.status, a302.headers.location, a302.body.length]).toEqual([302, '/elsewhere', 0])
    const a429 = await rawAnswer(srv.port, upgradeText(srv.port, '/429'))
    expect([a429.status, a429.headers['retry-after'], a429.body.toString()]).toEqual([429, '5', 'slow down'])
  })

  it('a hook that throws or rejects refuses with 500 (logged); the next upgrade and plain HTTP still work', async () => {
    const errors = silenceErrors()
    const srv = await recordingServer(
      {
        async upgrade(request) {
          const path = new URL(request.url).pathname
          if (path === '/reject') {
            await sleep(10)
            throw new Error('rejected on purpose')
          }
          return true
        },
      },
      { fetch: (req) => new Response(`fetched ${new URL(req.url).pathname}`) },
    )
    const thrower = await serve(
      {
        upgrade(request) {
          if (request.url.endsWith('/throw')) throw new Error('thrown on purpose')
          return true
        },
        open: (ws) => tracked.track(ws),
        message: (ws, m) => ws.send(m),
      },
      { fetch: () => new Response('plain') },
    )
    expect((await wsRefusal(`ws://${HOST}:${thrower.port}/throw`)).status).toBe(500)
    expect(await rawStatus(thrower.port, '/throw')).toBe(500)
    expect((await wsRefusal(`ws://${HOST}:${srv.port}/reject`)).status).toBe(500)
    expect(await rawStatus(srv.port, '/reject')).toBe(500)
    expect(errors.mock.calls.length).toBe(4)
    const logged = errors.mock.calls.map((args) => args.map(String).join(' '))
    expect(logged.filter((l) => l.includes('thrown on purpose')).length).toBe(2)
    expect(logged.filter((l) => l.includes('rejected on purpose')).length).toBe(2)

    await expectStillServing(`ws://${HOST}:${thrower.port}/fine`)
    await expectStillServing(`ws://${HOST}:${srv.port}/fine`)
    expect(await get(srv.port, '/page')).toEqual([200, 'fetched /page'])
    expect(await get(thrower.port, '/page')).toEqual([200, 'plain'])
  })

  it('a hook returning something else (a number, an object with another key, a Response of 200) refuses with 500', async () => {
    const errors = silenceErrors()
    const verdicts = {
      '/number': () => 42,
      '/object': () => ({ bogus: 1 }),
      '/string': () => 'yes',
      '/ok-response': () => new Response('fine', { status: 200 }),
      '/bad-headers': () => ({ headers: 5 }),
    }
    const srv = await recordingServer({ upgrade: (request) => verdicts[new URL(request.url).pathname]() })
    for (const path of Object.keys(verdicts))
      expect({ path, status: await rawStatus(srv.port, path) }).toEqual({ path, status: 500 })
    expect(errors.mock.calls.length).toBe(Object.keys(verdicts).length)
    expect(srv.opened.items.length).toBe(0)
  })

  it('a hook slower than upgradeTimeout gets 503; its late answer changes nothing; the server goes on', async () => {
    const late = []
    const srv = await recordingServer({
      upgradeTimeout: 200,
      upgrade(request) {
        if (!request.url.endsWith('/slow')) return true
        const p = sleep(1000).then(() => ({ data: 'late' }))
        late.push(p)
        return p
      },
    })
    const r = await wsRefusal(`ws://${HOST}:${srv.port}/slow`)
    expect(r.status).toBe(503)
    expect(await rawStatus(srv.port, '/slow')).toBe(503)
    await waitFor(Promise.all(late), 'the slow hooks to settle')
    await sleep(100)
    expect(srv.opened.items.length).toBe(0)
    await expectStillServing(`ws://${HOST}:${srv.port}/fast`)
    expect(srv.opened.items.length).toBe(1)
    expect(srv.opened.items[0].ws.data).toBeUndefined()
  })

  it("the data of a hook that answered after the timeout (503) is let go, as an accepted connection's is", async () => {
    // In a child process with --expose-gc: 20 upgrades answered 503 whose hooks later return
    // { data }, and 20 accepted ones (opened, then closed) as the control; every data object must
    // be collectable once its upgrade is over.
    const child = track(
      'child',
      cp.spawn(process.execPath, ['--expose-gc', '-e', LATE_DATA, path.join(__dirname, '..')], {
        stdio: ['ignore', 'pipe', 'inherit'],
      }),
    )
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    const code = await waitFor(new Promise((resolve) => child.once('exit', resolve)), 'the child to finish', 25000)
    expect(code).toBe(0)
    const r = JSON.parse(out)
    expect(r.statuses).toEqual({ slow: Array(20).fill(503), fast: Array(20).fill(101) })
    expect(r.finalized).toEqual({ fast: 20, slow: 20 })
  })

  it("abio's connectWebSocket against a refusing server rejects with ABIO_ERR_WS_HANDSHAKE and the status", async () => {
    const srv = await recordingServer({
      upgrade: (request) =>
        request.url.endsWith('/json')
          ? new Response(JSON.stringify({ error: 'unauthorized' }), {
              status: 401,
              headers: { 'content-type': 'application/json' },
            })
          : request.url.endsWith('/403')
            ? new Response('no', { status: 403 })
            : false,
    })
    for (const [path, status] of [
      ['/json', 401],
      ['/false', 401],
      ['/403', 403],
    ]) {
      const err = await abio.connectWebSocket(`ws://${HOST}:${srv.port}${path}`).then(
        (ws) => (ws.close(), 'connected'),
        (e) => e,
      )
      expect({ path, code: err.code, status: err.status }).toEqual({ path, code: 'ABIO_ERR_WS_HANDSHAKE', status })
    }
    expect(srv.opened.items.length).toBe(0)
  })

  const linuxIt = fs.existsSync('/proc/self/fd') ? it : it.skip
  linuxIt(
    '10,000 refused upgrades (50 at a time, each answered 401 and closed by the server) leave no descriptor behind',
    async () => {
      let n = 0
      const srv = await recordingServer({
        upgrade: (request) =>
          request.url.endsWith('/ok')
            ? true
            : n++ % 2 === 0
              ? false
              : new Response(JSON.stringify({ error: 'unauthorized' }), {
                  status: 401,
                  headers: { 'content-type': 'application/json' },
                }),
      })
      const text = Buffer.from(upgradeText(srv.port, '/refused'))
      const outcomes = { answered401: 0, endedByServer: 0, errors: [] }
      /** One refused upgrade on a raw socket, closed by the server after the answer. */
      const once = () =>
        new Promise((resolve) => {
          const s = net.connect({ port: srv.port, host: HOST })
          const chunks = []
          let ended = false
          s.on('connect', () => s.write(text))
          s.on('data', (c) => chunks.push(c))
          s.on('end', () => (ended = true))
          s.on('error', (e) => outcomes.errors.push(e.code || e.message))
          s.on('close', () => {
            if (Buffer.concat(chunks).toString('latin1').startsWith('HTTP/1.1 401 ')) outcomes.answered401++
            if (ended) outcomes.endedByServer++
            resolve()
          })
        })
      // Warm up (threads, pools and the like made on first use), then count.
      await pool(200, 50, once)
      const settle = async (want) => {
        let count = fdCount()
        for (let i = 0; i < 300 && Math.abs(count - want) > 5; i++) {
          await sleep(100)
          count = fdCount()
        }
        return count
      }
      await sleep(200)
      const before = fdCount()
      await pool(10000, 50, once)
      const after = await settle(before)
      expect(outcomes).toEqual({ answered401: 10200, endedByServer: 10200, errors: [] })
      expect({ before, after, within5: Math.abs(after - before) <= 5 }).toEqual({ before, after, within5: true })
      expect(srv.opened.items.length).toBe(0)
      await expectStillServing(srv.url.replace(/\/$/, '/ok'))
    },
    120000,
  )

  it('unknown websocket options still throw ABIO_ERR_INVALID_ARG (upgrades: fn names upgrade); bad hook options too', () => {
    const e = thrownBy(() => abio.serve({ host: HOST, port: 0, websocket: { upgrades: () => true } }))
    expect({ name: e.name, code: e.code }).toEqual({ name: 'TypeError', code: 'ABIO_ERR_INVALID_ARG' })
    expect(e.message).toContain('upgrade')
    const bad = [
      ['upgrade not a function', { upgrade: 'yes' }],
      ['upgradeTimeout -1', { upgradeTimeout: -1 }],
      ['upgradeTimeout a string', { upgradeTimeout: '200' }],
      ['protocols a number', { protocols: 5 }],
      ['protocols with a space', { protocols: ['chat v1'] }],
      ['protocols with an empty name', { protocols: [''] }],
      ['protocols naming one twice', { protocols: ['a', 'a'] }],
      ['pong not a function', { pong: 1 }],
      ['protocol (singular)', { protocol: 'a' }],
    ]
    for (const [what, websocket] of bad) {
      const err = thrownBy(() => abio.serve({ host: HOST, port: 0, websocket }))
      expect({ what, name: err.name, code: err.code }).toEqual({
        what,
        name: err.name === 'RangeError' ? 'RangeError' : 'TypeError',
        code: 'ABIO_ERR_INVALID_ARG',
      })
    }
  })
})

// ---------------------------------------------------------------------------
// 2. Subprotocols

describe('subprotocols', () => {
  /** The protocol a `ws` client offering `offers` agrees, seen by it and by the server. */
  async function agreed(srv, offers, path = '/') {
    const before = srv.opened.items.length
    const { c, res } = await wsOpen(`ws://${HOST}:${srv.port}${path}`, offers)
    const [{ ws }] = (await srv.opened.until(before + 1, 'opens')).slice(before)
    return { client: c.protocol, server: ws.protocol, header: res.headers['sec-websocket-protocol'], c, ws }
  }

  it("without a protocols option the client's first offer is agreed (both sides); no offer: '' and no header", async () => {
    const srv = await recordingServer()
    const a = await agreed(srv, ['chat.v1', 'chat.v2'])
    expect([a.client, a.server, a.header]).toEqual(['chat.v1', 'chat.v1', 'chat.v1'])
    const b = await agreed(srv, [])
    expect([b.client, b.server, b.header]).toEqual(['', '', undefined])
    expect(b.ws.extensions).toBe('')
    await expectStillServing(srv.url, a.c)
  })

  it("protocols ['chat.v2', 'chat.v1'], offers ['chat.v1', 'chat.v2']: 'chat.v1' (the client's first the server speaks), with and without a hook", async () => {
    const plain = await recordingServer({ protocols: ['chat.v2', 'chat.v1'] })
    const hooked = await recordingServer({ protocols: ['chat.v2', 'chat.v1'], upgrade: () => ({ data: 1 }) })
    const asString = await recordingServer({ protocols: 'chat.v2' })
    for (const srv of [plain, hooked]) {
      const a = await agreed(srv, ['chat.v1', 'chat.v2'])
      expect([a.client, a.server, a.header]).toEqual(['chat.v1', 'chat.v1', 'chat.v1'])
      const b = await agreed(srv, ['chat.v3', 'chat.v2'])
      expect([b.client, b.server]).toEqual(['chat.v2', 'chat.v2'])
    }
    const s = await agreed(asString, ['chat.v1', 'chat.v2'])
    expect([s.client, s.server]).toEqual(['chat.v2', 'chat.v2'])
  })

  it("no overlap: no header; a ws client fails ('Server sent no subprotocol'), abio's client opens with ''", async () => {
    for (const hook of [undefined, () => true]) {
      const srv = await recordingServer({ protocols: ['chat.v2'], ...(hook ? { upgrade: hook } : {}) })
      const c = new WsClient(srv.url, ['chat.v1'], { perMessageDeflate: false })
      ownClients.push(c)
      const err = await waitFor(new Promise((resolve) => c.once('error', resolve)), 'the ws client to fail')
      expect(err.message).toBe('Server sent no subprotocol')
      const ac = await abioConnect(srv.url, { protocols: ['chat.v1', 'chat.v0'] })
      expect(ac.protocol).toBe('')
      ac.send('still fine')
      expect(await nextMessages(ac, 1)).toEqual(['still fine'])
      ac.close()
      await ac.closed
    }
  })

  it('the 101 to an offer with no overlap carries no Sec-WebSocket-Protocol (raw)', async () => {
    const srv = await recordingServer({ protocols: ['chat.v2'] })
    const sock = await rawConnect(srv.port)
    const answer = headOf(sock)
    sock.write(upgradeText(srv.port, '/', ['Sec-WebSocket-Protocol: chat.v1, chat.v3']))
    const head = await answer
    expect(head).toMatch(/^HTTP\/1\.1 101 /)
    expect(head.toLowerCase()).not.toContain('sec-websocket-protocol')
    const [{ ws }] = await srv.opened.until(1, 'opens')
    expect(ws.protocol).toBe('')
  })

  it('a protocols function gets the offers, in order, and picks (undefined: none)', async () => {
    const offers = []
    const srv = await recordingServer({
      protocols(offered) {
        offers.push(offered)
        return offered.includes('none') ? undefined : offered[offered.length - 1]
      },
    })
    const a = await agreed(srv, ['a', 'b', 'c.v3'])
    expect([a.client, a.server]).toEqual(['c.v3', 'c.v3'])
    const ac = await abioConnect(srv.url, { protocols: ['x', 'none'] })
    expect(ac.protocol).toBe('')
    const b = await agreed(srv, [])
    expect([b.client, b.server]).toEqual(['', ''])
    expect(offers).toEqual([['a', 'b', 'c.v3'], ['x', 'none'], []])
  })

  it('a protocols function that throws, or picks one not offered, refuses with 500 (logged)', async () => {
    const errors = silenceErrors()
    const srv = await recordingServer({
      protocols(offered) {
        if (offered.includes('throw')) throw new Error('no protocol for you')
        return offered.includes('other') ? 'chat.v9' : offered[0]
      },
    })
    expect(await rawStatus(srv.port, '/', ['Sec-WebSocket-Protocol: throw'])).toBe(500)
    expect(await rawStatus(srv.port, '/', ['Sec-WebSocket-Protocol: other'])).toBe(500)
    expect(errors).toHaveBeenCalledTimes(2)
    const a = await agreed(srv, ['fine'])
    expect([a.client, a.server]).toEqual(['fine', 'fine'])
  })

  it("the upgrade hook's protocol wins over the protocols list; one the client did not offer is a 500", async () => {
    const errors = silenceErrors()
    const srv = await recordingServer({
      protocols: ['chat.v1'],
      upgrade: (request) => (request.url.endsWith('/bad') ? { protocol: 'chat.v9' } : { protocol: 'chat.v2' }),
    })
    const a = await agreed(srv, ['chat.v1', 'chat.v2'])
    expect([a.client, a.server, a.header]).toEqual(['chat.v2', 'chat.v2', 'chat.v2'])
    const r = await wsRefusal(`ws://${HOST}:${srv.port}/bad`, ['chat.v1', 'chat.v2'])
    expect(r.status).toBe(500)
    expect(await rawStatus(srv.port, '/bad', ['Sec-WebSocket-Protocol: chat.v1'])).toBe(500)
    expect(await rawStatus(srv.port, '/bad')).toBe(500)
    expect(errors).toHaveBeenCalled()
    expect(srv.opened.items.length).toBe(1)
    await expectStillServing(srv.url, a.c)
  })

  it.each([
    ['a duplicate offer', ['Sec-WebSocket-Protocol: a, a']],
    ['a duplicate across two header lines', ['Sec-WebSocket-Protocol: a', 'Sec-WebSocket-Protocol: a']],
    ['a name with a space', ['Sec-WebSocket-Protocol: chat v1']],
    ['a name with a slash', ['Sec-WebSocket-Protocol: chat/1']],
    ['an empty element', ['Sec-WebSocket-Protocol: a,,b']],
    ['an empty value', ['Sec-WebSocket-Protocol: ']],
  ])(
    'a malformed Sec-WebSocket-Protocol (%s) gets 400, with or without a hook; the server goes on',
    async (_, lines) => {
      let hookCalls = 0
      const plain = await recordingServer()
      const hooked = await recordingServer({ upgrade: () => (hookCalls++, true) })
      for (const srv of [plain, hooked]) {
        expect(await rawStatus(srv.port, '/', lines)).toBe(400)
        expect(srv.opened.items.length).toBe(0)
        await expectStillServing(srv.url)
      }
      expect(hookCalls).toBe(1) // only expectStillServing's upgrade reached the hook
    },
  )

  it('connectWebSocket offers protocols to a ws server (handleProtocols): protocol is the one it picked', async () => {
    const offered = []
    const wss = await wsServer({
      handleProtocols(protocols) {
        offered.push([...protocols])
        return [...protocols].pop()
      },
    })
    const c = await abioConnect(wss.url, { protocols: ['a', 'b'] })
    expect(c.protocol).toBe('b')
    const [{ ws, req }] = await wss.conns.until(1, 'connections')
    expect(ws.protocol).toBe('b')
    expect(req.headers['sec-websocket-protocol']).toBe('a, b')
    const one = await abioConnect(wss.url, { protocols: 'solo' })
    expect(one.protocol).toBe('solo')
    const none = await abioConnect(wss.url)
    expect(none.protocol).toBe('')
    const [, , { req: req3 }] = await wss.conns.until(3, 'connections')
    expect(req3.headers['sec-websocket-protocol']).toBeUndefined()
    expect(offered).toEqual([['a', 'b'], ['solo']])
    c.send('x')
    await ws.inbox.until(1)
  })

  it('connectWebSocket against a server answering with a protocol not offered rejects ABIO_ERR_WS_HANDSHAKE', async () => {
    const liar = await rawWsServer(['Sec-WebSocket-Protocol: chat.v9'])
    const err = await abio.connectWebSocket(liar.url, { protocols: ['chat.v1', 'chat.v2'] }).then(
      (ws) => (ws.close(), 'connected'),
      (e) => e,
    )
    expect(err.code).toBe('ABIO_ERR_WS_HANDSHAKE')
    expect(liar.requests[0].toLowerCase()).toContain('sec-websocket-protocol: chat.v1, chat.v2')
    const err2 = await abio.connectWebSocket(liar.url).then(
      (ws) => (ws.close(), 'connected'),
      (e) => e,
    )
    expect(err2.code).toBe('ABIO_ERR_WS_HANDSHAKE')
    // the same server naming one that was offered is fine
    const honest = await rawWsServer(['Sec-WebSocket-Protocol: chat.v2'])
    const ok = await abioConnect(honest.url, { protocols: ['chat.v1', 'chat.v2'] })
    expect(ok.protocol).toBe('chat.v2')
    ok.terminate()
  })

  it('bad protocols for connectWebSocket throw ABIO_ERR_INVALID_ARG synchronously', () => {
    for (const [what, protocols] of [
      ['a number', 5],
      ['a name with a space', ['a b']],
      ['an empty name', ['']],
      ['a name twice', ['a', 'a']],
      ['a comma inside', ['a,b']],
    ]) {
      const e = thrownBy(() => abio.connectWebSocket(`ws://${HOST}:1/`, { protocols }))
      expect({ what, code: e.code }).toEqual({ what, code: 'ABIO_ERR_INVALID_ARG' })
    }
  })
})

// The child of the late-data test: argv[1] is abio's directory. Prints { statuses, finalized }.
const LATE_DATA = `
'use strict'
const abio = require(process.argv[1])
const net = require('net')
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
;(async () => {
  const finalized = { fast: 0, slow: 0 }
  const registry = new FinalizationRegistry((kind) => finalized[kind]++)
  const srv = await abio.serve({
    host: '127.0.0.1',
    port: 0,
    websocket: {
      upgradeTimeout: 50,
      async upgrade(request) {
        const kind = request.url.endsWith('/slow') ? 'slow' : 'fast'
        if (kind === 'slow') await sleep(150)
        const data = { big: new ArrayBuffer(1 << 20) }
        registry.register(data, kind)
        return { data }
      },
      open(ws) {
        ws.close()
      },
    },
  })
  const once = (path) =>
    new Promise((resolve) => {
      const s = net.connect(srv.port, '127.0.0.1', () =>
        s.write('GET ' + path + ' HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n'))
      let got = ''
      s.on('data', (d) => {
        got += d.toString('latin1')
        if (got.includes('\\x88')) s.end() // the close frame of an accepted one
      })
      s.on('error', () => {})
      s.on('close', () => resolve(Number(got.slice(9, 12))))
    })
  const statuses = { slow: [], fast: [] }
  for (let i = 0; i < 20; i++) {
    statuses.slow.push(await once('/slow'))
    statuses.fast.push(await once('/fast'))
  }
  await sleep(300) // every slow hook has answered
  for (let i = 0; i < 10; i++) {
    global.gc()
    await sleep(50)
  }
  await srv.close()
  console.log(JSON.stringify({ statuses, finalized }))
})()
`

// ---------------------------------------------------------------------------
// 2b. Chromium

const PAGE = `<!doctype html><meta charset="utf-8"><script>
'use strict'
// Opens WebSockets with subprotocols against this server and POSTs what it saw to /result.
function attempt(path, protocols) {
  return new Promise((resolve) => {
    const r = { events: [] }
    const ws = protocols === undefined ? new WebSocket('ws://' + location.host + path) : new WebSocket('ws://' + location.host + path, protocols)
    ws.onopen = () => { r.events.push('open'); r.protocol = ws.protocol; ws.send('hello ' + ws.protocol); }
    ws.onmessage = (e) => { r.echo = e.data; ws.close(1000, 'bye') }
    ws.onerror = () => r.events.push('error')
    ws.onclose = (e) => { r.events.push('close'); r.code = e.code; r.wasClean = e.wasClean; resolve(r) }
  })
}
(async () => {
  const out = {}
  try {
    out.v1 = await attempt('/ws', ['chat.v1'])
    out.listed = await attempt('/ws', ['chat.v3', 'chat.v1', 'chat.v2'])
    out.none = await attempt('/ws')
    out.refused = await attempt('/ws?deny=1', ['chat.v1'])
  } catch (e) { out.error = String(e) }
  fetch('/result', { method: 'POST', body: JSON.stringify(out) })
})()
</script>`

describeBrowser('headless Chromium', () => {
  it("a page's new WebSocket(url, ['chat.v1']) sees protocol 'chat.v1'; a listed one is agreed; a refusal is an error", async () => {
    let report
    const result = new Promise((resolve) => (report = resolve))
    const protocols = []
    const server = await serve(
      {
        path: '/ws',
        protocols: ['chat.v2', 'chat.v1'],
        upgrade: (request) =>
          new URL(request.url).searchParams.has('deny') ? new Response('no', { status: 401 }) : true,
        open(ws) {
          tracked.track(ws)
          protocols.push(ws.protocol)
        },
        message: (ws, m) => ws.send(m),
      },
      {
        routes: { '/': { body: PAGE, contentType: 'text/html; charset=utf-8' } },
        async fetch(req) {
          if (req.method === 'POST' && new URL(req.url).pathname === '/result') {
            report(await req.json())
            return new Response(null, { status: 204 })
          }
          return new Response('not found', { status: 404 })
        },
      },
    )
    const chromium = startChromium(`http://${HOST}:${server.port}/`)
    const r = await resultWithin(result, chromium, 60000)
    expect(r.error).toBeUndefined()
    expect(r.v1).toEqual({
      events: ['open', 'close'],
      protocol: 'chat.v1',
      echo: 'hello chat.v1',
      code: 1000,
      wasClean: true,
    })
    // the server's list prefers chat.v2, but the client's first offer it speaks is agreed
    expect(r.listed).toEqual({
      events: ['open', 'close'],
      protocol: 'chat.v1',
      echo: 'hello chat.v1',
      code: 1000,
      wasClean: true,
    })
    expect(r.none).toEqual({ events: ['open', 'close'], protocol: '', echo: 'hello ', code: 1000, wasClean: true })
    expect(r.refused).toEqual({ events: ['error', 'close'], code: 1006, wasClean: false })
    expect(protocols).toEqual(['chat.v1', 'chat.v1', ''])
  })
})
