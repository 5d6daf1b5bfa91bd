'use strict'
// permessage-deflate (RFC 7692) in abio's WebSockets, both roles, against real peers
// (types/ws.d.ts `perMessageDeflate`, design.md section 13, crates/abio-core/src/ws/deflate.rs):
// 1. negotiation and interop with the `ws` package both ways and abio with itself, for each of
//    the extension's parameters, every message byte for byte; off by default; Chromium;
// 2. on the wire, with a raw peer (helpers/ws-raw.js) inflating abio's frames itself: RSV1,
//    `threshold`, `send(data, { compress: false })`, context takeover and window sizes as agreed,
//    the server's answers to raw offers, publish and broadcast to a mix of connections with and
//    without compression, call order, many connections at once (each its own context);
// 3. bad input from a raw peer that agreed to it: a zip bomb (1009, memory bounded, measured in a
//    child process), a corrupt stream (1007), RSV1 where it may not be (1002), RSV2/RSV3, invalid
//    UTF-8 after inflation (1007), and the good cases next to them (fragments, a final block);
// 4. the client's check of the server's answer (ABIO_ERR_WS_HANDSHAKE);
// 5. the options' argument checks.

const fs = require('fs')
const path = require('path')
const cp = require('child_process')
const zlib = require('zlib')

const { track } = require('./helpers/cleanup')
const { bytesOf } = require('./helpers/bytes')
const { rejectionOf } = require('./helpers/throws')
const { abio, KiB, MiB, HOST, waitFor, expectInvalidArg, Inbox } = require('./helpers/ws')
const { trackedAbio, wsConnect, wsServer, nextMessages, expectStillServing } = require('./helpers/ws')
const { dataKinds, expectAbioMessage, expectWsMessage } = require('./helpers/ws')
const { rawClientWith, rawServerAnswering, headerValues, frameView, want } = require('./helpers/ws-raw')
const { isFailure, reportedForFailure, closePayload } = require('./helpers/ws-raw')
const { TEXT, BINARY, CLOSE, PING, PONG } = require('./helpers/ws-raw')
const { describeBrowser, useBrowsers, startChromium, resultWithin } = require('./helpers/browser')

jest.setTimeout(30000)

const CONTINUATION = 0
const RSV1 = 4
const RSV2 = 2
const RSV3 = 1
/** What a client offers by default (as `ws` and Chromium do, and abio's client). */
const OFFER = 'permessage-deflate; client_max_window_bits'
/** The 4 bytes a sync flush ends with, left out of a compressed message (RFC 7692 7.2.1). */
const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff])

// abio WebSockets of both sides seen by a test: after the peers are closed, each one's
// `closed` must settle.
const tracked = trackedAbio()
const { server, connect } = tracked
afterEach(() => tracked.settle())

/** The server side of the `i`th connection (0-based), once open. */
async function nth(srv, i) {
  return (await srv.opened.until(i + 1, 'opens'))[i].ws
}

// ---------------------------------------------------------------------------
// Payloads: the same on every run (a seeded generator).

/** xorshift32 from `seed`: a function returning the next 32-bit value. */
function prng(seed) {
  let s = (Math.imul(seed + 1, 2654435761) >>> 0) | 1
  return () => {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    return s >>> 0
  }
}

/** `n` random bytes. */
function randomBytes(n, seed) {
  const next = prng(seed)
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = next() & 255
  return b
}

/** A string of exactly `n` bytes of UTF-8 made of `piece()`s ([string, its UTF-8 length]), ASCII dots at the end. */
function textOf(n, piece) {
  const parts = []
  let bytes = 0
  for (;;) {
    const [s, len] = piece()
    if (bytes + len > n) break
    parts.push(s)
    bytes += len
  }
  parts.push('.'.repeat(n - bytes))
  return parts.join('')
}

/** `n` bytes of random UTF-8: code points of 1 to 4 bytes, no surrogates. */
function randomText(n, seed) {
  const next = prng(seed)
  return textOf(n, () => {
    const width = next() % 4
    if (width === 0) return [String.fromCharCode(0x20 + (next() % 95)), 1]
    if (width === 1) return [String.fromCharCode(0x80 + (next() % 0x780)), 2]
    if (width === 2) {
      let cp = 0x800 + (next() % (0x10000 - 0x800 - 0x800))
      if (cp >= 0xd800) cp += 0x800
      return [String.fromCharCode(cp), 3]
    }
    return [String.fromCodePoint(0x10000 + (next() % 0x100000)), 4]
  })
}

/** `n` bytes of JSON-like records (non-ASCII too): compressible text. */
function compressibleText(n, seed) {
  const next = prng(seed)
  let i = 0
  return textOf(n, () => {
    const s = `{"id":${i++},"user":"user-${next() % 50}","city":"Zürich","note":"héllo ✓","score":${next() % 1000}}\n`
    return [s, Buffer.byteLength(s)]
  })
}

/** `n` bytes of 64-byte binary records, every byte value among them: compressible bytes. */
function compressibleBytes(n, seed) {
  const next = prng(seed)
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = i % 64 < 48 ? ((i % 64) * 5 + 0x80) & 255 : i % 64 === 48 ? next() & 255 : 0
  return b
}

const SIZES = [0, 1, 1023, 1024, 1025, 64 * KiB, MiB]

/** [name, message] of each size, text and binary, random and compressible. */
let messageSet
function messages() {
  if (messageSet) return messageSet
  messageSet = []
  SIZES.forEach((n, i) => {
    messageSet.push([`text ${n} B random`, randomText(n, 10 + i)])
    messageSet.push([`text ${n} B compressible`, compressibleText(n, 20 + i)])
    messageSet.push([`binary ${n} B random`, randomBytes(n, 30 + i)])
    messageSet.push([`binary ${n} B compressible`, compressibleBytes(n, 40 + i)])
  })
  return messageSet
}

/**
 * The messages of the interop tests, in order: the set, the same set again (with context taken
 * over, the second copies refer back to the first), then 100 JSON messages alike (1.3 KiB each).
 */
let sequenceList
function sequence() {
  if (sequenceList) return sequenceList
  const set = messages()
  const json = Array.from({ length: 100 }, (_, i) => [
    `JSON message ${i}`,
    JSON.stringify({
      seq: i,
      items: Array.from({ length: 20 }, (_, j) => ({ id: i * 20 + j, name: `item ${j}`, price: (i * j) % 97 })),
    }),
  ])
  sequenceList = [...set, ...set.map(([name, m]) => [`${name}, again`, m]), ...json]
  return sequenceList
}

const byteLength = (m) => (typeof m === 'string' ? Buffer.byteLength(m) : m.length)

// ---------------------------------------------------------------------------
// The raw peer's deflate (Node's zlib)

/** `data` compressed as one message: raw deflate, sync flush, its trailer removed (RFC 7692 7.2.1). */
function deflated(data, { windowBits = 15, level } = {}) {
  const z = zlib.deflateRawSync(data, { windowBits, level, finishFlush: zlib.constants.Z_SYNC_FLUSH })
  expect(z.subarray(-4)).toEqual(TRAILER)
  return z.subarray(0, -4)
}

/** `data` compressed as a stream ended with a final block (BFINAL set, no trailer): RFC 7692 7.2.3.4. */
const deflatedFinal = (data) => zlib.deflateRawSync(data)

/**
 * An inflater of abio's compressed messages as a peer that keeps its context, holding a window of
 * `windowBits`: each message's payload, the trailer put back, appended to the stream so far,
 * which is inflated whole (a stream compressed with no context takeover reads the same).
 * Throws (zlib's "invalid distance too far back") for a reference further back than the window.
 */
function inflaterOf(windowBits = 15) {
  const stream = []
  let before = 0
  return (payload) => {
    stream.push(payload, TRAILER)
    const all = zlib.inflateRawSync(Buffer.concat(stream), { windowBits, finishFlush: zlib.constants.Z_SYNC_FLUSH })
    const out = Buffer.from(all.subarray(before))
    before = all.length
    return out
  }
}

/** A deflater that keeps its context between messages (as `ws` does): `await compress(data)`. */
function contextDeflater() {
  const z = zlib.createDeflateRaw()
  const chunks = []
  z.on('data', (c) => chunks.push(c))
  return {
    compress(data) {
      return new Promise((resolve) => {
        z.write(data)
        z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
          const out = Buffer.concat(chunks.splice(0))
          resolve(out.subarray(0, -4))
        })
      })
    },
    close: () => z.close(),
  }
}

/** The view of a message abio sends (helpers/ws-raw.js frameView), RSV1 set when `compressed`. */
const message = (data, compressed) =>
  frameView({
    opcode: typeof data === 'string' ? TEXT : BINARY,
    fin: true,
    rsv: compressed ? RSV1 : 0,
    payload: Buffer.from(data),
  })

/** abio's echo of `data`: compressed when at or over the default threshold (1024 bytes). */
const echo = (data) => message(data, byteLength(data) >= 1024)

/**
 * The next `n` frames from abio: { view, wire (the payload's length on the wire), payload (as
 * it came), data }; a
 * compressed message's payload inflated with `inflate` (inflaterOf) in `view` and `data`.
 */
async function readFrames(p, n, inflate) {
  const out = []
  while (out.length < n) {
    const f = await p.next()
    if (f === null) break
    const compressed = (f.rsv & RSV1) !== 0 && (f.opcode === TEXT || f.opcode === BINARY) && f.fin
    const data = compressed ? inflate(f.payload) : f.payload
    out.push({ view: frameView({ ...f, payload: data }), wire: f.payload.length, payload: f.payload, data })
  }
  return out
}

/** The views of readFrames. */
async function views(p, n, inflate, ms = 15000) {
  return (await waitFor(readFrames(p, n, inflate), `${n} frame(s) from abio`, ms)).map((f) => f.view)
}

/** Ends a connection the raw peer opened with a clean closing handshake, checked on both ends. */
async function closeCleanly(p) {
  await p.send(p.frame(CLOSE, closePayload(1000, 'bye')))
  expect(await p.frames(1)).toEqual([want.close(1000, 'bye')])
  await p.expectEnd()
  expect(await waitFor(p.abioClosed(), "abio's report of the close")).toEqual({ code: 1000, reason: 'bye' })
}

/** After abio's close frame for a violation (`last`, from want.failure): the end, and abio's report. */
async function expectFailed(p, last) {
  await p.expectEnd()
  const reported = await waitFor(p.abioClosed(), "abio's report of the close")
  expect(reportedForFailure(last.code)).toContain(reported.code)
}

/**
 * abio in `role` and a raw peer (helpers/ws-raw.js) with permessage-deflate negotiated between
 * them; abio echoes every message (the server's `message` handler, the client's for-await loop):
 * - 'server': abio's server with the connection `options`, a raw client offering `offer`
 *   (null: no Sec-WebSocket-Extensions); `handshake` is abio's 101 answer;
 * - 'client': abio's client with `options`, a raw server answering `answer` (null: none);
 *   `handshake` is abio's upgrade request.
 * Returns { peer, ws (abio's end), srv (the server's recorder, server role), handshake, url }.
 */
async function rawFacing(
  role,
  { options = { perMessageDeflate: true }, offer = OFFER, answer = 'permessage-deflate' } = {},
) {
  if (role === 'server') {
    const srv = await server(options)
    const peer = await rawClientWith(
      srv.port,
      offer === null ? [] : [['Sec-WebSocket-Extensions', offer]],
      async () => {
        const [{ code, reason }] = await srv.closes.until(1, 'the close handler')
        return { code, reason }
      },
    )
    const ws = await nth(srv, 0)
    return { peer, ws, srv, handshake: peer.head, url: srv.url }
  }
  const raw = await rawServerAnswering(() => (answer === null ? [] : [`Sec-WebSocket-Extensions: ${answer}`]))
  const ws = await connect(raw.url, options)
  ;(async () => {
    for await (const m of ws) ws.send(m)
  })()
  const [{ peer, head, error }] = await raw.accepted.until(1, 'the upgrade')
  if (error) throw error
  peer.abioClosed = () => ws.closed
  return { peer, ws, handshake: head, url: raw.url }
}

/** The parameters of an extension string, the name first and the rest sorted: compared without their order. */
function params(ext) {
  if (ext === undefined || ext === '') return []
  const [name, ...rest] = ext.split(';').map((s) => s.trim())
  return [name, ...rest.sort()]
}

const ROLES = [
  ['server', "abio's server, a raw client"],
  ['client', "abio's client, a raw server"],
]

// ---------------------------------------------------------------------------
// 1. Negotiation and interop

// [name, abio's perMessageDeflate, the `ws` peer's perMessageDeflate, the parameters agreed with
// `ws` (both directions), those agreed by abio with itself (when different), abio client's offer]
const VARIANTS = [
  ['defaults (true)', true, true, [], undefined, OFFER],
  [
    'serverNoContextTakeover',
    { serverNoContextTakeover: true },
    { serverNoContextTakeover: true },
    ['server_no_context_takeover'],
    undefined,
    'permessage-deflate; server_no_context_takeover; client_max_window_bits',
  ],
  [
    'clientNoContextTakeover',
    { clientNoContextTakeover: true },
    { clientNoContextTakeover: true },
    ['client_no_context_takeover'],
    undefined,
    'permessage-deflate; client_no_context_takeover; client_max_window_bits',
  ],
  ...[9, 10, 15].map((bits) => [
    `serverMaxWindowBits: ${bits}`,
    { serverMaxWindowBits: bits },
    { serverMaxWindowBits: bits },
    [`server_max_window_bits=${bits}`],
    // abio's client asks for no limit when its own is 15, and its server has none to state.
    bits === 15 ? [] : undefined,
    bits === 15 ? OFFER : `permessage-deflate; server_max_window_bits=${bits}; client_max_window_bits`,
  ]),
  ...[9, 15].map((bits) => [
    `clientMaxWindowBits: ${bits}`,
    { clientMaxWindowBits: bits },
    { clientMaxWindowBits: bits },
    [`client_max_window_bits=${bits}`],
    bits === 15 ? [] : undefined,
    bits === 15 ? OFFER : `permessage-deflate; client_max_window_bits=${bits}`,
  ]),
  // abio's limit where the other end asked for none: the server states it, or the client's
  // offer asks for it.
  [
    'serverMaxWindowBits: 10, the peer with defaults',
    { serverMaxWindowBits: 10 },
    true,
    ['server_max_window_bits=10'],
    undefined,
    'permessage-deflate; server_max_window_bits=10; client_max_window_bits',
  ],
  [
    'clientMaxWindowBits: 9, the peer with defaults',
    { clientMaxWindowBits: 9 },
    true,
    ['client_max_window_bits=9'],
    undefined,
    'permessage-deflate; client_max_window_bits=9',
  ],
]

/** Expects `got` (what abio received, in order) to be `sent`. */
function expectAbioReceived(got, sent) {
  expect(got.length).toBe(sent.length)
  sent.forEach(([name, m], i) => expectAbioMessage(name, got[i], m))
}

/** Expects `got` (a `ws` inbox's items, in order) to be `sent`. */
function expectWsReceived(got, sent) {
  expect(got.length).toBe(sent.length)
  sent.forEach(([name, m], i) => expectWsMessage(name, got[i], m))
}

/** A `ws` client (helpers/ws.js wsConnect) that also records the Sec-WebSocket-Extensions it was answered with (`answered`). */
function wsClientSeeing(url, perMessageDeflate) {
  const seen = { answered: undefined }
  return wsConnect(url, {
    perMessageDeflate,
    finishRequest(req) {
      req.on('upgrade', (res) => (seen.answered = res.headers['sec-websocket-extensions'] ?? ''))
      req.end()
    },
  }).then((c) => Object.assign(c, seen))
}

describe('negotiation and interop', () => {
  describe.each(VARIANTS)('%s', (_, ours, theirs, agreed, withItself, offer) => {
    const expected = ['permessage-deflate', ...agreed]

    it("abio's server and a `ws` client: both agree, every message byte-exact both ways", async () => {
      const srv = await server({ perMessageDeflate: ours })
      const c = await wsClientSeeing(srv.url, theirs)
      const sws = await nth(srv, 0)
      expect({ abio: sws.extensions, ws: c.extensions }).toEqual({ abio: c.answered, ws: 'permessage-deflate' })
      expect(params(sws.extensions)).toEqual(params(expected.join('; ')))
      const list = sequence()
      for (const [, m] of list) c.send(m)
      const got = await srv.messages.until(list.length, 'messages at the server', 60000)
      expectAbioReceived(
        got.map((x) => x.data),
        list,
      )
      expectWsReceived(await c.inbox.until(list.length, 'echoes at the ws client', 60000), list)
      await expectStillServing(srv.url, c)
    }, 90000)

    it("a `ws` server and abio's client: both agree, every message byte-exact both ways", async () => {
      const wss = await wsServer({ echo: true, perMessageDeflate: theirs })
      let answered = ''
      wss.on('headers', (headers) => {
        const line = headers.find((h) => /^sec-websocket-extensions:/i.test(h))
        if (line) answered = line.replace(/^[^:]*:\s*/, '')
      })
      const ws = await connect(wss.url, { perMessageDeflate: ours })
      const [{ ws: peer, req }] = await wss.conns.until(1, 'connections')
      expect(params(req.headers['sec-websocket-extensions'])).toEqual(params(offer))
      expect({ abio: ws.extensions, ws: peer.extensions }).toEqual({ abio: answered, ws: 'permessage-deflate' })
      expect(params(answered)).toEqual(params(expected.join('; ')))
      const list = sequence()
      for (const [, m] of list) ws.send(m)
      expectAbioReceived(await nextMessages(ws, list.length, 'echoes at the abio client', 60000), list)
      expectWsReceived(await peer.inbox.until(list.length, 'messages at the ws server', 60000), list)
    }, 90000)

    it('abio with itself: both agree, every message byte-exact both ways', async () => {
      const srv = await server({ perMessageDeflate: ours })
      const ws = await connect(srv.url, { perMessageDeflate: ours })
      const sws = await nth(srv, 0)
      expect(ws.extensions).toBe(sws.extensions)
      expect(params(ws.extensions)).toEqual(params(['permessage-deflate', ...(withItself ?? agreed)].join('; ')))
      const list = sequence()
      for (const [, m] of list) ws.send(m)
      const got = await srv.messages.until(list.length, 'messages at the server', 60000)
      expectAbioReceived(
        got.map((x) => x.data),
        list,
      )
      expectAbioReceived(await nextMessages(ws, list.length, 'echoes at the client', 60000), list)
    }, 90000)
  })

  describe('off by default', () => {
    const OFF = [
      ['without the option', {}],
      ['with perMessageDeflate: false', { perMessageDeflate: false }],
    ]

    it.each(OFF)(
      "abio's server %s and a `ws` client offering it: not agreed, messages go through",
      async (_, options) => {
        const srv = await server(options)
        const c = await wsClientSeeing(srv.url, true)
        const sws = await nth(srv, 0)
        expect({ abio: sws.extensions, answered: c.answered, ws: c.extensions }).toEqual({
          abio: '',
          answered: '',
          ws: '',
        })
        const list = messages().filter(([name]) => /compressible/.test(name))
        for (const [, m] of list) c.send(m)
        expectAbioReceived(
          (await srv.messages.until(list.length, 'messages at the server', 30000)).map((x) => x.data),
          list,
        )
        expectWsReceived(await c.inbox.until(list.length, 'echoes', 30000), list)
      },
    )

    it.each(OFF)(
      "abio's server %s and a raw client offering it: no Sec-WebSocket-Extensions in the 101, RSV1 never set",
      async (_, options) => {
        const { peer: p, ws, srv, handshake } = await rawFacing('server', { options })
        expect(headerValues(handshake, 'sec-websocket-extensions')).toEqual([])
        expect(ws.extensions).toBe('')
        const big = compressibleText(64 * KiB, 1)
        const bin = compressibleBytes(MiB, 2)
        ws.send(big)
        ws.send(bin)
        ws.send(big, { compress: true })
        await p.send(p.frame(TEXT, compressibleText(4 * KiB, 3)))
        const got = await readFrames(p, 4, () => {
          throw new Error('a compressed frame')
        })
        expect(got.map((f) => f.view)).toEqual([
          message(big, false),
          message(bin, false),
          message(big, false),
          message(compressibleText(4 * KiB, 3), false),
        ])
        await closeCleanly(p)
        await expectStillServing(srv.url)
      },
    )

    it("abio's client without the option offers nothing; a `ws` server with it agrees to nothing", async () => {
      const raw = await rawServerAnswering(() => [])
      const ws = await connect(raw.url)
      const [{ head }] = await raw.accepted.until(1, 'the upgrade')
      expect(headerValues(head, 'sec-websocket-extensions')).toEqual([])
      expect(ws.extensions).toBe('')
      ws.close()

      const wss = await wsServer({ echo: true, perMessageDeflate: true })
      const ws2 = await connect(wss.url, { perMessageDeflate: false })
      const [{ ws: peer, req }] = await wss.conns.until(1, 'connections')
      expect({ offered: req.headers['sec-websocket-extensions'], abio: ws2.extensions, ws: peer.extensions }).toEqual({
        offered: undefined,
        abio: '',
        ws: '',
      })
      const list = messages().filter(([name]) => /compressible/.test(name))
      for (const [, m] of list) ws2.send(m)
      expectAbioReceived(await nextMessages(ws2, list.length, 'echoes', 30000), list)
    })

    it("abio's client with perMessageDeflate: true offers it as `ws` and Chromium do", async () => {
      const raw = await rawServerAnswering(() => [])
      const ws = await connect(raw.url, { perMessageDeflate: true })
      const [{ head }] = await raw.accepted.until(1, 'the upgrade')
      expect(headerValues(head, 'sec-websocket-extensions')).toEqual([OFFER])
      // The server did not agree: nothing is compressed.
      expect(ws.extensions).toBe('')
    })
  })
})

// ---------------------------------------------------------------------------
// Chromium (it always offers permessage-deflate)

// The page's generators, the same in Node and in the page (their source is put in it).
function pageText(n, seed) {
  let s = ''
  for (let i = 0; s.length < n; i++)
    s += '{"id":' + i + ',"seed":' + seed + ',"name":"héllo wörld ✓","v":' + ((i * 7919 + seed) % 1000) + '}\n'
  return s.slice(0, n)
}
function pageBytes(n, seed) {
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i++) b[i] = i % 64 < 48 ? (i % 64) * 3 : ((i * 7919 + seed) >> 6) & 255
  return b
}

const DEFLATE_PAGE = `<!doctype html>
<html><head><meta charset="utf-8" /><title>abio permessage-deflate</title></head><body><script>
'use strict'
// Served by __test__/ws-deflate.test.js: receives a 1 MiB compressible text and 1 MiB of
// compressible bytes from the server, checks them, sends its own (seed 2), checks their echoes,
// closes with 1000, and POSTs what it found (ws.extensions included) to /result.
${pageText.toString()}
${pageBytes.toString()}
const N = ${MiB}
const errors = []
const sameText = (got, want, what) => { if (got !== want) errors.push(what + ': a different text of ' + (typeof got === 'string' ? got.length : typeof got)) }
function sameBytes(got, want, what) {
  if (!(got instanceof ArrayBuffer)) return errors.push(what + ': not an ArrayBuffer')
  const g = new Uint8Array(got)
  if (g.length !== want.length) return errors.push(what + ': ' + g.length + ' bytes, expected ' + want.length)
  for (let i = 0; i < g.length; i++) if (g[i] !== want[i]) return errors.push(what + ': byte ' + i + ' differs')
}
const checks = [
  (m) => sameText(m, pageText(N, 1), 'server text'),
  (m) => sameBytes(m, pageBytes(N, 1), 'server bytes'),
  (m) => sameText(m, pageText(N, 2), 'echo of text'),
  (m) => sameBytes(m, pageBytes(N, 2), 'echo of bytes'),
]
let n = 0
const ws = new WebSocket('ws://' + location.host + '/ws')
ws.binaryType = 'arraybuffer'
ws.onmessage = (e) => {
  if (n < checks.length) checks[n](e.data)
  else errors.push('an extra message')
  n++
  if (n === 2) { ws.send(pageText(N, 2)); ws.send(pageBytes(N, 2)) }
  if (n === 4) ws.close(1000, 'done')
}
ws.onerror = () => errors.push('the WebSocket reported an error')
ws.onclose = (e) => fetch('/result', { method: 'POST', headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ errors, messages: n, extensions: ws.extensions, close: { code: e.code, reason: e.reason, clean: e.wasClean } }) })
</script></body></html>`

describeBrowser('headless Chromium', () => {
  useBrowsers()

  it("agrees to permessage-deflate with abio's server; 1 MiB compressible messages round-trip exactly both ways", async () => {
    const seen = { extensions: [], received: [], closes: [] }
    let report
    const result = new Promise((resolve) => (report = resolve))
    const srv = track(
      'abio-server',
      await abio.serve({
        host: HOST,
        port: 0,
        routes: { '/': { body: DEFLATE_PAGE, contentType: 'text/html; charset=utf-8' } },
        async fetch(req) {
          if (req.method === 'POST' && req.path === '/result') {
            report(await req.json())
            return { status: 204 }
          }
          return { status: 404 }
        },
        websocket: {
          path: '/ws',
          perMessageDeflate: true,
          open(ws) {
            seen.extensions.push(ws.extensions)
            ws.send(pageText(MiB, 1))
            ws.send(pageBytes(MiB, 1))
          },
          message(ws, data) {
            seen.received.push(data)
            ws.send(data)
          },
          close(ws, code, reason) {
            seen.closes.push({ code, reason })
          },
        },
      }),
    )
    const chromium = startChromium(`http://${HOST}:${srv.port}/`)
    const r = await resultWithin(result, chromium, 60000)
    expect(r.errors).toEqual([])
    expect(r.messages).toBe(4)
    expect(r.extensions).toContain('permessage-deflate')
    expect(r.close).toEqual({ code: 1000, reason: 'done', clean: true })
    expect(seen.extensions).toEqual([r.extensions])
    expect(seen.received.length).toBe(2)
    expectAbioMessage('text from the page', seen.received[0], pageText(MiB, 2))
    expectAbioMessage('bytes from the page', seen.received[1], pageBytes(MiB, 2))
    for (let i = 0; i < 1000 && seen.closes.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20))
    expect(seen.closes).toEqual([{ code: 1000, reason: 'done' }])
  }, 120000)
})

// ---------------------------------------------------------------------------
// 2. On the wire

describe.each(ROLES)('on the wire: %s', (role) => {
  it('messages at or over the threshold (1024 bytes) have RSV1 and fewer bytes; under it, neither', async () => {
    const { peer: p, ws, handshake } = await rawFacing(role)
    if (role === 'server') expect(headerValues(handshake, 'sec-websocket-extensions')).toEqual(['permessage-deflate'])
    else expect(headerValues(handshake, 'sec-websocket-extensions')).toEqual([OFFER])
    expect(ws.extensions).toBe('permessage-deflate')
    const sent = [
      compressibleText(1023, 1),
      compressibleText(1024, 2),
      compressibleBytes(1024, 3),
      compressibleText(1025, 4),
      compressibleText(64 * KiB, 5),
      compressibleBytes(MiB, 6),
      'x',
      Buffer.alloc(0),
    ]
    for (const m of sent) ws.send(m)
    const got = await readFrames(p, sent.length, inflaterOf())
    expect(got.map((f) => f.view)).toEqual(sent.map((m) => message(m, byteLength(m) >= 1024)))
    got.forEach((f, i) => {
      const n = byteLength(sent[i])
      if (n >= 1024) expect({ i, n, smaller: f.wire < n }).toEqual({ i, n, smaller: true })
      else expect({ i, wire: f.wire }).toEqual({ i, wire: n })
    })
    // 1 MiB of these records is much smaller compressed.
    expect(got[5].wire).toBeLessThan(MiB / 4)
    await closeCleanly(p)
  })

  it('the threshold counts the bytes of UTF-8, not the characters of a string', async () => {
    const { peer: p, ws } = await rawFacing(role)
    const sent = ['é'.repeat(512), 'é'.repeat(511) + 'x', '✓'.repeat(341) + 'x', '✓'.repeat(341)]
    expect(sent.map((m) => Buffer.byteLength(m))).toEqual([1024, 1023, 1024, 1023])
    for (const m of sent) ws.send(m)
    expect(await views(p, sent.length, inflaterOf())).toEqual([
      message(sent[0], true),
      message(sent[1], false),
      message(sent[2], true),
      message(sent[3], false),
    ])
    await closeCleanly(p)
  })

  it('every kind of Data, compressed (threshold 0), arrives byte-exact', async () => {
    const { peer: p, ws } = await rawFacing(role, { options: { perMessageDeflate: { threshold: 0 } } })
    const kinds = dataKinds()
    const wants = kinds.map(([, v]) => (typeof v === 'string' ? v : bytesOf(v)))
    for (const [, v] of kinds) ws.send(v)
    expect(await views(p, kinds.length, inflaterOf())).toEqual(wants.map((w) => message(w, true)))
    await closeCleanly(p)
  })

  it('a compressed message of up to 16 KiB is taken at the call: changing the bytes after send() changes nothing', async () => {
    const { peer: p, ws } = await rawFacing(role)
    const b = compressibleBytes(10 * KiB, 1)
    const u8 = new Uint8Array(compressibleBytes(16 * KiB, 2))
    const [bWas, u8Was] = [Buffer.from(b), Buffer.from(u8)]
    ws.send(b)
    ws.send(u8)
    b.fill(0)
    u8.fill(1)
    expect(await views(p, 2, inflaterOf())).toEqual([message(bWas, true), message(u8Was, true)])
    await closeCleanly(p)
  })

  it('control frames never have RSV1: a ping of 125 bytes, a pong, the close', async () => {
    const { peer: p, ws } = await rawFacing(role, { options: { perMessageDeflate: { threshold: 0 } } })
    ws.ping('p'.repeat(125))
    await p.send(p.frame(PING, 'q'.repeat(125)))
    const got = await views(p, 2, inflaterOf())
    expect(got).toEqual([
      frameView({ opcode: PING, fin: true, rsv: 0, payload: Buffer.from('p'.repeat(125)) }),
      want.pong('q'.repeat(125)),
    ])
    await closeCleanly(p)
  })

  it('random bytes and text over the threshold round-trip exactly (compressed or not)', async () => {
    const { peer: p, ws } = await rawFacing(role)
    const sent = [randomBytes(5000, 1), randomText(5000, 2), randomBytes(MiB, 3), randomText(100 * KiB, 4)]
    for (const m of sent) ws.send(m)
    const got = await readFrames(p, sent.length, inflaterOf())
    expect(got.map((f) => ({ ...f.view, rsv: 'any' }))).toEqual(sent.map((m) => ({ ...message(m, false), rsv: 'any' })))
    await closeCleanly(p)
  })

  it('send(data, { compress: false }) is sent without RSV1 however large; the next message is compressed again', async () => {
    const { peer: p, ws } = await rawFacing(role)
    const big = compressibleBytes(MiB, 1)
    const text = compressibleText(10 * KiB, 2)
    expect(ws.send(text, { compress: false })).toBe(true)
    ws.send(big, { compress: false })
    ws.send(text)
    ws.send(big, {})
    ws.send(text, { compress: true })
    const got = await readFrames(p, 5, inflaterOf())
    expect(got.map((f) => f.view)).toEqual([
      message(text, false),
      message(big, false),
      message(text, true),
      message(big, true),
      message(text, true),
    ])
    expect([got[0].wire, got[1].wire]).toEqual([Buffer.byteLength(text), MiB])
    await closeCleanly(p)
  })

  it('threshold: 0 compresses every message, empty ones too', async () => {
    const { peer: p, ws } = await rawFacing(role, { options: { perMessageDeflate: { threshold: 0 } } })
    const sent = ['', Buffer.alloc(0), 'a', Buffer.from([0]), 'héllo ✓', compressibleText(1023, 1), randomBytes(100, 2)]
    for (const m of sent) ws.send(m)
    expect(await views(p, sent.length, inflaterOf())).toEqual(sent.map((m) => message(m, true)))
    await closeCleanly(p)
  })

  it('a custom threshold: 100 bytes and over are compressed, 99 not', async () => {
    const { peer: p, ws } = await rawFacing(role, { options: { perMessageDeflate: { threshold: 100 } } })
    const sent = [
      compressibleText(99, 1),
      compressibleText(100, 2),
      compressibleBytes(99, 3),
      compressibleBytes(101, 4),
    ]
    for (const m of sent) ws.send(m)
    expect(await views(p, sent.length, inflaterOf())).toEqual([
      message(sent[0], false),
      message(sent[1], true),
      message(sent[2], false),
      message(sent[3], true),
    ])
    await closeCleanly(p)
  })

  it("the peer's messages: compressed, uncompressed, one ending with a final block, and with the peer's context taken over → all read", async () => {
    const { peer: p } = await rawFacing(role)
    const a = compressibleText(3000, 1)
    const b = compressibleBytes(2000, 2)
    const c = compressibleText(5000, 3)
    const d = 'short ✓'
    await p.send(
      p.frame(TEXT, deflated(a), { rsv: RSV1 }),
      p.frame(BINARY, b),
      p.frame(BINARY, deflatedFinal(b), { rsv: RSV1 }),
      p.frame(TEXT, deflated(c, { level: 1 }), { rsv: RSV1 }),
      p.frame(TEXT, deflated(d), { rsv: RSV1 }),
      p.frame(BINARY, deflated(Buffer.alloc(0)), { rsv: RSV1 }),
      p.frame(TEXT, Buffer.from([0x00]), { rsv: RSV1 }), // RFC 7692 7.2.3.6: an empty message
    )
    const inflate = inflaterOf()
    expect(await views(p, 7, inflate)).toEqual([
      echo(a),
      echo(b),
      echo(b),
      echo(c),
      echo(d),
      echo(Buffer.alloc(0)),
      echo(''),
    ])
    // The peer takes its context over: the second copy refers back to the first.
    const z = contextDeflater()
    try {
      const first = await z.compress(Buffer.from(c))
      const second = await z.compress(Buffer.from(c))
      const third = await z.compress(Buffer.from(a))
      expect(second.length).toBeLessThan(first.length / 4)
      await p.send(p.frame(TEXT, first, { rsv: RSV1 }), p.frame(TEXT, second, { rsv: RSV1 }))
      await p.send(p.frame(TEXT, third, { rsv: RSV1 }))
      expect(await views(p, 3, inflate)).toEqual([echo(c), echo(c), echo(a)])
    } finally {
      z.close()
    }
    await closeCleanly(p)
  })

  // Context takeover, as agreed: by abio's option, or asked for by the peer.
  const noTakeover = role === 'server' ? 'server_no_context_takeover' : 'client_no_context_takeover'
  const option = role === 'server' ? 'serverNoContextTakeover' : 'clientNoContextTakeover'
  // [name, setup, the extensions agreed, whether abio resets its context after each message]
  it.each([
    ['the default: context taken over', { options: { perMessageDeflate: true } }, 'permessage-deflate', false],
    [
      `abio's ${option}`,
      { options: { perMessageDeflate: { [option]: true } } },
      // A client offers it, and keeps its promise whatever the answer (here a bare one).
      role === 'server' ? `permessage-deflate; ${noTakeover}` : 'permessage-deflate',
      true,
    ],
    [
      `the peer asking for ${noTakeover}`,
      role === 'server'
        ? { offer: `permessage-deflate; ${noTakeover}; client_max_window_bits` }
        : { answer: `permessage-deflate; ${noTakeover}` },
      `permessage-deflate; ${noTakeover}`,
      true,
    ],
  ])('%s: the same message twice', async (_, setup, extensions, reset) => {
    const { peer: p, ws, handshake } = await rawFacing(role, setup)
    expect(ws.extensions).toBe(extensions)
    if (role === 'client' && setup.options?.perMessageDeflate[option])
      expect(headerValues(handshake, 'sec-websocket-extensions')).toEqual([
        `permessage-deflate; ${noTakeover}; client_max_window_bits`,
      ])
    const m = compressibleText(3000, 9)
    ws.send(m)
    ws.send(m)
    const got = await readFrames(p, 2, inflaterOf())
    expect(got.map((f) => f.view)).toEqual([message(m, true), message(m, true)])
    if (reset) {
      // The second is the first again, and inflates alone: no reference into the one before.
      expect(got[1].payload.equals(got[0].payload)).toBe(true)
      const alone = zlib.inflateRawSync(Buffer.concat([got[1].payload, TRAILER]), {
        finishFlush: zlib.constants.Z_SYNC_FLUSH,
      })
      expect(alone.toString()).toBe(m)
    } else expect(got[1].wire).toBeLessThan(got[0].wire / 2)
    await closeCleanly(p)
  })

  // Window sizes, as agreed: abio's messages reach back no further than the window the peer holds.
  const bitsName = role === 'server' ? 'server_max_window_bits' : 'client_max_window_bits'
  const bitsOption = role === 'server' ? 'serverMaxWindowBits' : 'clientMaxWindowBits'
  it.each([9, 10, 12])(
    `a window of %i bits (abio's ${bitsOption}, or the peer asking): the peer inflates with it`,
    async (bits) => {
      // 8 copies of 8 KiB of random bytes: with a 32 KiB window the last 7 are references back.
      const block = randomBytes(8 * KiB, bits)
      const m = Buffer.concat(Array(8).fill(block))
      const agreed = `permessage-deflate; ${bitsName}=${bits}`
      // [setup, the extensions agreed]: abio's option (a client's offer asks for it, and a
      // server's answer that leaves it out keeps it), or the peer asking for it.
      const setups =
        role === 'server'
          ? [
              [{ options: { perMessageDeflate: { [bitsOption]: bits } } }, agreed],
              [{ offer: `permessage-deflate; ${bitsName}=${bits}; client_max_window_bits` }, agreed],
            ]
          : [
              [{ options: { perMessageDeflate: { [bitsOption]: bits } } }, 'permessage-deflate'],
              [{ options: { perMessageDeflate: { [bitsOption]: bits } }, answer: agreed }, agreed],
              [{ answer: agreed }, agreed],
            ]
      for (const [setup, extensions] of setups) {
        const { peer: p, ws, handshake } = await rawFacing(role, setup)
        if (role === 'client' && setup.options)
          expect(headerValues(handshake, 'sec-websocket-extensions')).toEqual([
            `permessage-deflate; ${bitsName}=${bits}`,
          ])
        expect(ws.extensions).toBe(extensions)
        ws.send(m)
        ws.send(m)
        const got = await readFrames(p, 2, inflaterOf(bits))
        expect(got.map((f) => f.view)).toEqual([message(m, true), message(m, true)])
        await closeCleanly(p)
      }
      // The check has teeth: with the default window, the same message does not inflate with `bits`.
      const { peer: p, ws } = await rawFacing(role)
      ws.send(m)
      const f = await p.next()
      expect(f.rsv).toBe(RSV1)
      expect(f.payload.length).toBeLessThan(16 * KiB)
      expect(() => inflaterOf(bits)(f.payload)).toThrow()
      expect(inflaterOf()(f.payload)).toEqual(m)
      await closeCleanly(p)
    },
  )
})

// abio's server and the offers of a raw client: [abio's perMessageDeflate, the request's
// Sec-WebSocket-Extensions lines, the answer (null: none)].
const OFFERS = [
  [
    true,
    ['permessage-deflate; foo=1, permessage-deflate; server_max_window_bits=12'],
    'permessage-deflate; server_max_window_bits=12',
  ],
  [true, ['x-webkit-deflate-frame', 'permessage-deflate'], 'permessage-deflate'],
  [true, ['permessage-deflate; server_max_window_bits=16'], null],
  [true, ['permessage-deflate; foo'], null],
  [true, ['x-webkit-deflate-frame'], null],
  [true, ['permessage-deflate; client_max_window_bits=10'], 'permessage-deflate; client_max_window_bits=10'],
  [
    { serverMaxWindowBits: 10 },
    ['permessage-deflate; server_max_window_bits=12'],
    'permessage-deflate; server_max_window_bits=10',
  ],
  // A client that does not name client_max_window_bits compresses with 15, whatever the server's limit.
  [{ clientMaxWindowBits: 10 }, ['permessage-deflate'], 'permessage-deflate'],
  [{ clientMaxWindowBits: 10 }, [OFFER], 'permessage-deflate; client_max_window_bits=10'],
  [
    { serverNoContextTakeover: true, clientNoContextTakeover: true },
    ['permessage-deflate'],
    'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
  ],
]

describe("on the wire: the offers of a raw client to abio's server", () => {
  it.each(OFFERS)('perMessageDeflate %j, offers %j → %s', async (perMessageDeflate, offers, answer) => {
    const srv = await server({ perMessageDeflate })
    const p = await rawClientWith(
      srv.port,
      offers.map((o) => ['Sec-WebSocket-Extensions', o]),
      async () => {
        const [{ code, reason }] = await srv.closes.until(1, 'the close handler')
        return { code, reason }
      },
    )
    expect(headerValues(p.head, 'sec-websocket-extensions')).toEqual(answer === null ? [] : [answer])
    expect((await nth(srv, 0)).extensions).toBe(answer ?? '')
    const bits = (name) => Number(new RegExp(`${name}=(\\d+)`).exec(answer)?.[1] ?? 15)
    // 4 copies of 8 KiB of random bytes, twice: references as far back as the window allows.
    const m = Buffer.concat(Array(4).fill(randomBytes(8 * KiB, 1)))
    if (answer === null) {
      await p.send(p.frame(BINARY, m), p.frame(BINARY, m))
      const got = await readFrames(p, 2, () => {
        throw new Error('a compressed frame')
      })
      expect(got.map((f) => f.view)).toEqual([message(m, false), message(m, false)])
    } else {
      const z = deflated(Buffer.concat([m, m]), { windowBits: bits('client_max_window_bits') })
      await p.send(p.frame(BINARY, z, { rsv: RSV1 }), p.frame(BINARY, deflated(m, { windowBits: 9 }), { rsv: RSV1 }))
      expect(await views(p, 2, inflaterOf(bits('server_max_window_bits')))).toEqual([
        message(Buffer.concat([m, m]), true),
        message(m, true),
      ])
    }
    await closeCleanly(p)
  })
})

describe('publish, broadcast, call order, many connections', () => {
  it('reach a mix of deflate and non-deflate subscribers: each gets the exact message, RSV1 only where agreed', async () => {
    const srv = await server({
      perMessageDeflate: true,
      open(ws) {
        ws.subscribe('t')
      },
    })
    // Paths tell the server's connections apart: /a and /c agreed to it, /b and /d did not.
    const rawDeflate = await rawClientWith(srv.port, [['Sec-WebSocket-Extensions', OFFER]], undefined, '/a')
    const rawPlain = await rawClientWith(
      srv.port,
      [['Sec-WebSocket-Extensions', 'x-unknown-extension']],
      undefined,
      '/b',
    )
    const wsDeflate = await wsConnect(srv.url + 'c', { perMessageDeflate: true })
    const wsPlain = await wsConnect(srv.url + 'd', { perMessageDeflate: false })
    const conns = (await srv.opened.until(4, 'opens')).sort((x, y) => (x.req.path < y.req.path ? -1 : 1))
    expect(conns.map((c) => [c.req.path, c.ws.extensions])).toEqual([
      ['/a', 'permessage-deflate'],
      ['/b', ''],
      ['/c', 'permessage-deflate'],
      ['/d', ''],
    ])
    expect(headerValues(rawPlain.head, 'sec-websocket-extensions')).toEqual([])

    const big = compressibleText(8 * KiB, 1)
    const bin = compressibleBytes(200 * KiB, 2)
    const small = 'small ✓'
    const rnd = randomBytes(3000, 3)
    expect(srv.server.publish('t', big)).toBe(4)
    expect(srv.server.publish('t', big)).toBe(4) // again: the deflate ones take their context over
    expect(srv.server.publish('t', bin)).toBe(4)
    expect(srv.server.publish('t', small)).toBe(4)
    expect(srv.server.broadcast(rnd)).toBe(4)
    // ws.publish from the plain raw client's connection: every subscriber but it.
    expect(conns[1].ws.publish('t', bin)).toBe(3)
    const sent = [big, big, bin, small, rnd, bin]

    // The deflate raw client: RSV1 on those at or over the threshold (the random bytes may go
    // either way), the repeated one much smaller (its own context).
    const got = await readFrames(rawDeflate, 6, inflaterOf())
    const rsvAny = (v, i) => (i === 4 ? { ...v, rsv: 'any' } : v)
    expect(got.map((f) => f.view).map(rsvAny)).toEqual(sent.map((m) => echo(m)).map(rsvAny))
    expect(got[1].wire).toBeLessThan(got[0].wire / 2)
    // The plain raw client: never RSV1.
    const plain = await readFrames(rawPlain, 5, () => {
      throw new Error('a compressed frame to a connection without permessage-deflate')
    })
    expect(plain.map((f) => f.view)).toEqual(sent.slice(0, 5).map((m) => message(m, false)))
    for (const c of [wsDeflate, wsPlain]) {
      const ms = await c.inbox.until(6, 'messages')
      sent.forEach((m, i) => expectWsMessage(`message ${i}`, ms[i], m))
    }
    await expectStillServing(srv.url)
  })

  it('server.publish, ws.publish and broadcast of every kind of Data (threshold 0): byte-exact, compressed', async () => {
    const srv = await server({
      perMessageDeflate: { threshold: 0 },
      open(ws) {
        ws.subscribe('t')
      },
    })
    const p = await rawClientWith(srv.port, [['Sec-WebSocket-Extensions', OFFER]], undefined, '/raw')
    await wsConnect(srv.url + 'other')
    const conns = await srv.opened.until(2, 'opens')
    const other = conns.find((c) => c.req.path === '/other').ws
    const kinds = dataKinds()
    const wants = kinds.map(([, v]) => (typeof v === 'string' ? v : bytesOf(v)))
    for (const [, v] of kinds) expect(srv.server.publish('t', v)).toBe(2)
    for (const [, v] of kinds) expect(other.publish('t', v)).toBe(1)
    for (const [, v] of kinds) expect(srv.server.broadcast(v)).toBe(2)
    expect(await views(p, 3 * kinds.length, inflaterOf())).toEqual(
      [...wants, ...wants, ...wants].map((w) => message(w, true)),
    )
  })

  it('call order holds across send, publish and broadcast, compressed or not', async () => {
    const srv = await server({
      perMessageDeflate: true,
      open(ws) {
        ws.subscribe('t')
      },
    })
    const p = await rawClientWith(srv.port, [['Sec-WebSocket-Extensions', OFFER]])
    const ws = await nth(srv, 0)
    const m = (i, n) => compressibleText(n, 100 + i)
    const sent = []
    for (let i = 0; i < 60; i++) {
      const n = [10, 2000, 70 * KiB][i % 3]
      const data = m(i, n)
      if (i % 4 === 0) ws.send(data)
      else if (i % 4 === 1) ws.send(data, { compress: false })
      else if (i % 4 === 2) srv.server.publish('t', data)
      else srv.server.broadcast(data)
      sent.push([data, i % 4 !== 1 && n >= 1024])
    }
    expect(await views(p, sent.length, inflaterOf())).toEqual(
      sent.map(([data, compressed]) => message(data, compressed)),
    )
  })

  it('10 `ws` clients at once, each with its own context both ways: every message of each byte-exact', async () => {
    const srv = await server({ perMessageDeflate: true })
    const clients = await Promise.all(Array.from({ length: 10 }, () => wsConnect(srv.url, { perMessageDeflate: true })))
    const lists = clients.map((_, k) =>
      Array.from({ length: 40 }, (_, i) => [`client ${k} message ${i}`, compressibleText(1500 + 37 * i, 1000 * k + i)]),
    )
    for (let i = 0; i < 40; i++) clients.forEach((c, k) => c.send(lists[k][i][1]))
    for (const [k, c] of clients.entries())
      expectWsReceived(await c.inbox.until(40, `echoes at client ${k}`, 30000), lists[k])
  }, 60000)
})

// ---------------------------------------------------------------------------
// 3. Bad input

/** 16 MiB of zeros compressed (about 16 KiB): the zip bomb. */
let bombBytes
function bomb() {
  bombBytes ??= deflated(Buffer.alloc(16 * MiB))
  return bombBytes
}

const HELLO = 'Hello, world!'
const KOSME = Buffer.from('cebae1bdb9cf83cebcceb5', 'hex') // κόσμε
const chop = (b, ...at) => [0, ...at].map((from, i) => b.subarray(from, at[i]))

// Each: { name, options (abio's connection options), send(p), want() (the views of what abio
// sends back: echoes inflated, or want.failure) }.
const BAD = [
  {
    name: 'a corrupt stream (a block of the reserved type 3), after a good compressed text in the same write → its echo, then 1007',
    send: (p) =>
      p.send(
        p.frame(TEXT, deflated(HELLO), { rsv: RSV1 }),
        p.frame(BINARY, Buffer.from([0xff, 0xff, 0xff]), { rsv: RSV1 }),
      ),
    want: () => [echo(HELLO), want.failure(1007)],
  },
  {
    name: 'a corrupt stream (a stored block whose NLEN is not the complement of LEN) → 1007',
    send: (p) => p.send(p.frame(TEXT, Buffer.from([0x00, 0x05, 0x00, 0x00, 0x00, 0x61, 0x62]), { rsv: RSV1 })),
    want: () => [want.failure(1007)],
  },
  {
    name: 'a corrupt stream in the middle of a fragmented message → 1007',
    send(p) {
      // A whole stream, its flush's empty stored block completed, then a block of type 3.
      const z = deflated(compressibleText(4000, 1))
      return p.send(
        p.frame(TEXT, z, { rsv: RSV1, fin: false }),
        p.frame(CONTINUATION, Buffer.concat([TRAILER, Buffer.from([0xff, 0xff, 0xff])])),
      )
    },
    want: () => [want.failure(1007)],
  },
  {
    name: 'RSV1 on a continuation frame (the first fragment compressed) → 1002',
    send(p) {
      const [a, b] = chop(deflated(compressibleText(2000, 1)), 10)
      return p.send(p.frame(TEXT, a, { rsv: RSV1, fin: false }), p.frame(CONTINUATION, b, { rsv: RSV1 }))
    },
    want: () => [want.failure(1002)],
  },
  {
    name: 'RSV1 on a continuation frame (the first fragment not compressed) → 1002',
    send: (p) => p.send(p.frame(TEXT, 'abc', { fin: false }), p.frame(CONTINUATION, deflated('def'), { rsv: RSV1 })),
    want: () => [want.failure(1002)],
  },
  {
    name: 'RSV1 on a ping → 1002',
    send: (p) => p.send(p.frame(PING, 'ping', { rsv: RSV1 })),
    want: () => [want.failure(1002)],
  },
  {
    name: 'RSV1 on a pong → 1002',
    send: (p) => p.send(p.frame(PONG, 'pong', { rsv: RSV1 })),
    want: () => [want.failure(1002)],
  },
  {
    name: 'RSV1 on a close → 1002',
    send: (p) => p.send(p.frame(CLOSE, closePayload(1000), { rsv: RSV1 })),
    want: () => [want.failure(1002)],
  },
  ...[
    ['RSV2', RSV2],
    ['RSV3', RSV3],
    ['RSV1 + RSV2', RSV1 | RSV2],
    ['RSV1 + RSV3', RSV1 | RSV3],
  ].map(([bits, rsv]) => ({
    name: `${bits} on a text (deflate agreed), after a good one in the same write → its echo, then 1002`,
    send: (p) => p.send(p.frame(TEXT, HELLO), p.frame(TEXT, rsv & RSV1 ? deflated(HELLO) : HELLO, { rsv })),
    want: () => [echo(HELLO), want.failure(1002)],
  })),
  {
    name: 'RSV2 on a ping (deflate agreed) → 1002',
    send: (p) => p.send(p.frame(PING, 'x', { rsv: RSV2 })),
    want: () => [want.failure(1002)],
  },
  {
    name: 'a compressed message in 3 fragments (RSV1 on the first only), a ping between them → the pong, then the echo',
    send(p) {
      const m = compressibleText(64 * KiB, 2)
      const [a, b, c] = chop(deflated(m), 7, 500)
      return p.send(
        p.frame(TEXT, a, { rsv: RSV1, fin: false }),
        p.frame(CONTINUATION, b, { fin: false }),
        p.frame(PING, 'between'),
        p.frame(CONTINUATION, c),
      )
    },
    want: () => [want.pong('between'), echo(compressibleText(64 * KiB, 2))],
  },
  {
    name: 'a compressed message whose first fragment is empty, its payload a byte per frame after → echoed',
    send(p) {
      const m = compressibleBytes(1500, 3)
      const z = deflated(m)
      const frames = [p.frame(BINARY, Buffer.alloc(0), { rsv: RSV1, fin: false })]
      for (let i = 0; i < z.length; i++)
        frames.push(p.frame(CONTINUATION, z.subarray(i, i + 1), { fin: i === z.length - 1 }))
      return p.sendEach(frames)
    },
    want: () => [echo(compressibleBytes(1500, 3))],
  },
  {
    name: 'a compressed message a byte per write → echoed',
    send: (p) => p.sendInPieces(p.frame(TEXT, deflated(compressibleText(1200, 4)), { rsv: RSV1 }), 1),
    want: () => [echo(compressibleText(1200, 4))],
  },
  {
    name: 'compressed text that is not UTF-8 once inflated (κόσμε ED A0 80 "edited") → 1007',
    send: (p) =>
      p.send(
        p.frame(TEXT, deflated(Buffer.concat([KOSME, Buffer.from('eda080', 'hex'), Buffer.from('edited')])), {
          rsv: RSV1,
        }),
      ),
    want: () => [want.failure(1007)],
  },
  {
    name: 'compressed text cut inside a character (κόσμε then CE) → 1007',
    send: (p) => p.send(p.frame(TEXT, deflated(Buffer.concat([KOSME, Buffer.from([0xce])])), { rsv: RSV1 })),
    want: () => [want.failure(1007)],
  },
  {
    name: 'compressed text whose characters are split between fragments → echoed',
    send(p) {
      const m = 'κόσμε ✓ \u{1F600} '.repeat(200)
      const z = deflated(m, { level: 0 }) // stored: the fragments split the text where they split the payload
      return p.send(
        chop(z, 6, 300, 301, 302, 1000).map((part, i, all) =>
          p.frame(i === 0 ? TEXT : CONTINUATION, part, { rsv: i === 0 ? RSV1 : 0, fin: i === all.length - 1 }),
        ),
      )
    },
    want: () => [echo('κόσμε ✓ \u{1F600} '.repeat(200))],
  },
  {
    name: 'maxPayload 64 KiB: a compressed message inflating to exactly 64 KiB → echoed',
    options: { maxPayload: 64 * KiB },
    send: (p) => p.send(p.frame(BINARY, deflated(Buffer.alloc(64 * KiB)), { rsv: RSV1 })),
    want: () => [echo(Buffer.alloc(64 * KiB))],
  },
  {
    // The typings: maxPayload "applies to the decompressed size". Random bytes grow a little
    // when compressed (a peer such as Chromium compresses every message).
    name: 'maxPayload 64 KiB: 64 KiB of random bytes, more than 64 KiB once compressed by the peer → echoed (the limit is on the decompressed size)',
    options: { maxPayload: 64 * KiB },
    send(p) {
      const z = deflated(randomBytes(64 * KiB, 7))
      expect(z.length).toBeGreaterThan(64 * KiB)
      return p.send(p.frame(BINARY, z, { rsv: RSV1 }))
    },
    want: () => [{ ...echo(randomBytes(64 * KiB, 7)), rsv: expect.any(Number) }],
  },
  {
    name: 'maxPayload 64 KiB: a compressed message inflating to 64 KiB + 1 → 1009',
    options: { maxPayload: 64 * KiB },
    send: (p) => p.send(p.frame(BINARY, deflated(Buffer.alloc(64 * KiB + 1)), { rsv: RSV1 })),
    want: () => [want.failure(1009)],
  },
  {
    name: 'maxPayload 64 KiB: the zip bomb (16 MiB of zeros in ~16 KiB) in 16 fragments → 1009',
    options: { maxPayload: 64 * KiB },
    send(p) {
      const z = bomb()
      const step = Math.ceil(z.length / 16)
      const parts = Array.from({ length: 16 }, (_, i) => z.subarray(i * step, (i + 1) * step))
      return p.send(
        parts.map((part, i) =>
          p.frame(i === 0 ? BINARY : CONTINUATION, part, { rsv: i === 0 ? RSV1 : 0, fin: i === 15 }),
        ),
      )
    },
    want: () => [want.failure(1009)],
  },
  {
    name: 'maxPayload 64 KiB: compressed text inflating past it in its first fragment (the rest never sent) → 1009',
    options: { maxPayload: 64 * KiB },
    send: (p) => p.send(p.frame(TEXT, deflated(Buffer.alloc(MiB, 'a')), { rsv: RSV1, fin: false })),
    want: () => [want.failure(1009)],
  },
]

describe.each(ROLES)('bad input: %s', (role) => {
  it.each(BAD)('$name', async (row) => {
    const { peer: p, url } = await rawFacing(role, { options: { perMessageDeflate: true, ...row.options } })
    await row.send(p)
    const wanted = row.want()
    expect(await views(p, wanted.length, inflaterOf())).toEqual(wanted)
    const last = wanted.at(-1)
    if (isFailure(last)) await expectFailed(p, last)
    else await closeCleanly(p)
    if (role === 'server') await expectStillServing(url)
  })
})

// The zip bomb, with abio in a child process (what it holds is measured alone): abio's server, or
// its client connected to argv[3]; maxPayload 64 KiB. It prints JSON lines: { port } or { open },
// { closed }; and answers the commands on its stdin: 'reset' (gc, the peak RSS reset, then
// { mem }), 'mem' ({ mem: { rss, peak } }: the RSS now and its peak since the reset), 'exit'.
const BOMB_CHILD = `
'use strict'
const fs = require('fs')
const abio = require(process.argv[1])
const [role, url] = [process.argv[2], process.argv[3]]
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n')
const peak = () => 1024 * Number(/VmHWM:\\s*(\\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1])
const options = { maxPayload: 64 * 1024, perMessageDeflate: true }
let server
;(async () => {
  if (role === 'server') {
    server = await abio.serve({ host: '127.0.0.1', port: 0, websocket: { ...options,
      message(ws, data) { ws.send(data) },
      close(ws, code, reason) { out({ closed: { code, reason } }) },
    } })
    out({ port: server.port })
  } else {
    const ws = await abio.connectWebSocket(url, options)
    out({ open: ws.extensions })
    ws.closed.then((c) => out({ closed: c }))
    for await (const m of ws) ws.send(m)
  }
})().catch((e) => out({ error: String(e && e.stack) }))
let buf = ''
process.stdin.setEncoding('utf8')
process.stdin.on('data', (d) => {
  buf += d
  for (let i; (i = buf.indexOf('\\n')) >= 0; ) {
    const cmd = buf.slice(0, i)
    buf = buf.slice(i + 1)
    if (cmd === 'reset') {
      global.gc()
      fs.writeFileSync('/proc/self/clear_refs', '5')
    }
    if (cmd === 'reset' || cmd === 'mem') out({ mem: { rss: process.memoryUsage().rss, peak: peak() } })
    if (cmd === 'exit') (server ? server.close() : Promise.resolve()).then(() => process.exit(0))
  }
})
`

/** abio in a child process running BOMB_CHILD: `next(key)` is its next line with `key`; `command(c)`. */
function bombChild(role, url = '') {
  const child = track(
    'child',
    cp.spawn(process.execPath, ['--expose-gc', '-e', BOMB_CHILD, path.join(__dirname, '..'), role, url], {
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  )
  const inboxes = {}
  const inbox = (key) => (inboxes[key] ??= new Inbox())
  const taken = {}
  let fail
  const failed = new Promise((resolve, reject) => (fail = reject))
  failed.catch(() => {})
  let out = ''
  child.stdout.on('data', (d) => {
    out += d
    for (let i; (i = out.indexOf('\n')) >= 0;) {
      const line = JSON.parse(out.slice(0, i))
      out = out.slice(i + 1)
      for (const [key, value] of Object.entries(line)) inbox(key).push(value)
      if ('error' in line) fail(new Error(`the child failed: ${line.error}`))
    }
  })
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  exited.then(({ code, signal }) => fail(new Error(`the child exited (${code ?? signal})`)))
  const next = async (key) => {
    taken[key] = (taken[key] ?? 0) + 1
    const got = await Promise.race([inbox(key).until(taken[key], `the child's ${key}`), failed])
    return got[taken[key] - 1]
  }
  return {
    next,
    command(c) {
      child.stdin.write(`${c}\n`)
      return c === 'exit' ? waitFor(exited, 'the child to exit') : next('mem')
    },
  }
}

const canMeasure = process.platform === 'linux' && fs.existsSync('/proc/self/clear_refs')

describe.each(ROLES)('the zip bomb: %s', (role) => {
  it('16 MiB of zeros in one ~16 KiB frame, maxPayload 64 KiB → 1009, and the process grows by far less than 16 MiB', async () => {
    const z = bomb()
    expect(z.length).toBeLessThan(32 * KiB)
    let p
    let child
    if (role === 'server') {
      child = bombChild('server')
      const port = await child.next('port')
      p = await rawClientWith(port, [['Sec-WebSocket-Extensions', OFFER]], () => child.next('closed'))
      expect(headerValues(p.head, 'sec-websocket-extensions')).toEqual(['permessage-deflate'])
      p.url = `ws://${HOST}:${port}/`
    } else {
      const raw = await rawServerAnswering(() => ['Sec-WebSocket-Extensions: permessage-deflate'])
      child = bombChild('client', raw.url)
      const [{ peer }] = await raw.accepted.until(1, 'the upgrade')
      expect(await child.next('open')).toBe('permessage-deflate')
      p = peer
      p.abioClosed = () => child.next('closed')
    }
    // Warm up: a compressed message just under the limit, echoed (its buffers made once).
    const warm = compressibleBytes(60 * KiB, 1)
    await p.send(p.frame(BINARY, deflated(warm), { rsv: RSV1 }))
    expect(await views(p, 1, inflaterOf())).toEqual([echo(warm)])

    const before = canMeasure ? await child.command('reset') : null
    await p.send(p.frame(BINARY, z, { rsv: RSV1 }))
    const last = want.failure(1009)
    expect(await p.frames(1)).toEqual([last])
    await expectFailed(p, last)
    if (canMeasure) {
      const after = await child.command('mem')
      const grew = after.peak - before.rss
      expect({ grewByUnder8MiB: grew < 8 * MiB, grew }).toEqual({ grewByUnder8MiB: true, grew })
    }
    if (role === 'server') await expectStillServing(p.url)
    expect(await child.command('exit')).toEqual({ code: 0, signal: null })
  })
})

// ---------------------------------------------------------------------------
// 4. The client's check of the answer

describe("the client's check of the server's answer", () => {
  it.each([
    ['server_max_window_bits=16', true, 'permessage-deflate; server_max_window_bits=16'],
    ['server_max_window_bits=7', true, 'permessage-deflate; server_max_window_bits=7'],
    ['an extension not offered', true, 'x-webkit-deflate-frame'],
    ['an extension not offered, besides permessage-deflate', true, 'permessage-deflate, x-unknown'],
    ['permessage-deflate to a client that did not offer it', undefined, 'permessage-deflate'],
    ['permessage-deflate to a client with perMessageDeflate: false', false, 'permessage-deflate'],
    ['permessage-deflate twice', true, 'permessage-deflate, permessage-deflate'],
    ['client_max_window_bits without a value', true, 'permessage-deflate; client_max_window_bits'],
    ['an unknown parameter', true, 'permessage-deflate; foo=1'],
    ['a parameter twice', true, 'permessage-deflate; server_no_context_takeover; server_no_context_takeover'],
    ['server_no_context_takeover with a value', true, 'permessage-deflate; server_no_context_takeover=1'],
    [
      'server_max_window_bits above the offer (10)',
      { serverMaxWindowBits: 10 },
      'permessage-deflate; server_max_window_bits=12',
    ],
    [
      'client_max_window_bits above the offer (10)',
      { clientMaxWindowBits: 10 },
      'permessage-deflate; client_max_window_bits=12',
    ],
  ])('%s → rejects with ABIO_ERR_WS_HANDSHAKE, the connection closed', async (_, perMessageDeflate, answer) => {
    const raw = await rawServerAnswering(() => [`Sec-WebSocket-Extensions: ${answer}`])
    const err = await rejectionOf(abio.connectWebSocket(raw.url, { perMessageDeflate }))
    expect(err.code).toBe('ABIO_ERR_WS_HANDSHAKE')
    const [{ peer }] = await raw.accepted.until(1, 'the upgrade')
    await waitFor(peer.reader.ended, 'abio to close the connection')
  })

  it.each([
    ['server_max_window_bits=8 (compressed with 9 by zlib)', 'permessage-deflate; server_max_window_bits=8'],
    ['client_max_window_bits=8 (abio compresses with 9)', 'permessage-deflate; client_max_window_bits=8'],
    ['client_no_context_takeover not asked for', 'permessage-deflate; client_no_context_takeover'],
    ['upper case, spaces, a quoted value', 'Permessage-Deflate ;  Server_Max_Window_Bits="10"'],
  ])('%s → accepted, messages both ways', async (_, answer) => {
    const { peer: p, ws } = await rawFacing('client', { answer })
    expect(ws.extensions).toBe(answer)
    const m = compressibleText(5000, 1)
    await p.send(p.frame(TEXT, deflated(m, { windowBits: 9 }), { rsv: RSV1 }))
    // abio's echo inflates with a 9-bit window when it agreed to 8.
    expect(await views(p, 1, inflaterOf(/client_max_window_bits=8/.test(answer) ? 9 : 15))).toEqual([echo(m)])
    await closeCleanly(p)
  })
})

// ---------------------------------------------------------------------------
// 5. Options

describe('options', () => {
  const BAD_OPTIONS = [
    ['{ threshold: -1 }', { threshold: -1 }],
    ['{ threshold: 1.5 }', { threshold: 1.5 }],
    ["{ threshold: '1024' }", { threshold: '1024' }],
    ['{ serverMaxWindowBits: 7 }', { serverMaxWindowBits: 7 }],
    ['{ serverMaxWindowBits: 16 }', { serverMaxWindowBits: 16 }],
    ['{ clientMaxWindowBits: 7 }', { clientMaxWindowBits: 7 }],
    ['{ clientMaxWindowBits: 16 }', { clientMaxWindowBits: 16 }],
    ['{ clientMaxWindowBits: 9.5 }', { clientMaxWindowBits: 9.5 }],
    ["{ serverMaxWindowBits: '10' }", { serverMaxWindowBits: '10' }],
    ["{ serverNoContextTakeover: 'yes' }", { serverNoContextTakeover: 'yes' }],
    ['{ clientNoContextTakeover: 1 }', { clientNoContextTakeover: 1 }],
    ['{ bogus: 1 }', { bogus: 1 }],
    ["'yes'", 'yes'],
    ['1', 1],
    ['[]', []],
  ]

  it.each(BAD_OPTIONS)(
    'serve({ websocket: { perMessageDeflate: %s } }) throws ABIO_ERR_INVALID_ARG synchronously',
    (what, bad) => {
      expectInvalidArg(() => abio.serve({ host: HOST, port: 0, websocket: { perMessageDeflate: bad } }), what)
    },
  )

  it.each(BAD_OPTIONS)(
    'connectWebSocket(url, { perMessageDeflate: %s }) throws ABIO_ERR_INVALID_ARG synchronously',
    (what, bad) => {
      expectInvalidArg(() => abio.connectWebSocket('ws://127.0.0.1:1/', { perMessageDeflate: bad }), what)
    },
  )

  it('the edges of the ranges are taken: threshold 0, window bits 8 and 15, every field at once', async () => {
    const all = {
      threshold: 0,
      serverNoContextTakeover: true,
      clientNoContextTakeover: true,
      serverMaxWindowBits: 8,
      clientMaxWindowBits: 15,
    }
    for (const perMessageDeflate of [{ threshold: 0 }, { serverMaxWindowBits: 8, clientMaxWindowBits: 8 }, all, {}]) {
      const srv = await server({ perMessageDeflate })
      const ws = await connect(srv.url, { perMessageDeflate })
      expect(params(ws.extensions)[0]).toBe('permessage-deflate')
      const m = compressibleText(3000, 1)
      ws.send(m)
      expect(await nextMessages(ws, 1)).toEqual([m])
      ws.close()
      await ws.closed
    }
  })
})
