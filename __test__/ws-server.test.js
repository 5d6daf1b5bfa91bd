'use strict'
// Tests for abio's WebSocket support (design.md section 8): serve({ websocket }) against the
// `ws` package as a client: messages, close handshakes, maxPayload, broadcast, websocket.path and
// pingInterval.
// Peers, frames and checks (and ABIO_WS_IMPL=reference): helpers/ws.js.

const http = require('http')
const crypto = require('crypto')
const { WebSocket: WsClient } = require('ws')

const { ab, sab, poolSlice } = require('./helpers/inputs')
const { expectBytes, copyOf } = require('./helpers/bytes')
const { tag } = require('./helpers/throws')
const { abio, MiB, HOST, sha256, sleep, waitFor, Inbox, closeWsPeers, serve, recordingServer } = require('./helpers/ws')
const { wsConnect, wsServer, abioConnect, nextMessages, expectStillServing, frame, BINARY } = require('./helpers/ws')
const { FAILED_BY_US, rawUpgrade, dataKinds, expectAbioMessage, expectWsMessage } = require('./helpers/ws')

jest.setTimeout(20000)

afterEach(closeWsPeers)

// ---------------------------------------------------------------------------
// 1. Messages between abio's server and a ws client

describe('abio server, ws client: messages', () => {
  it('send() of every Data kind arrives as the right frame type, byte-exact; send() returns true', async () => {
    const kinds = dataKinds()
    const wants = kinds.map(([, v]) => (typeof v === 'string' ? v : copyOf(v)))
    const results = []
    const { url } = await recordingServer({
      open(ws) {
        for (const [, v] of kinds) results.push(ws.send(v))
      },
    })
    const c = await wsConnect(url)
    const got = await c.inbox.until(kinds.length)
    kinds.forEach(([name], i) => expectWsMessage(name, got[i], wants[i]))
    expect(results).toEqual(kinds.map(() => true))
    await sleep(50)
    expect(c.inbox.items.length).toBe(kinds.length)
  })

  it('messages from a ws client reach message() as exact ArrayBuffers or strings; the same ws object everywhere', async () => {
    const kinds = dataKinds()
    const wants = kinds.map(([, v]) => (typeof v === 'string' ? v : copyOf(v)))
    const srv = await recordingServer({ echo: false })
    const c = await wsConnect(srv.url)
    for (const [, v] of kinds) c.send(typeof v === 'string' ? v : copyOf(v), { binary: typeof v !== 'string' })
    const got = await srv.messages.until(kinds.length)
    kinds.forEach(([name], i) => expectAbioMessage(name, got[i].data, wants[i]))
    c.close(1000)
    const [closed] = await srv.closes.until(1, 'close callbacks')
    const [{ ws: opened }] = srv.opened.items
    expect(got.every((m) => m.ws === opened)).toBe(true)
    expect(closed.ws).toBe(opened)
  })

  it('a ws client gets back exactly what it sent through an echoing message()', async () => {
    const { url } = await recordingServer()
    const c = await wsConnect(url)
    const kinds = dataKinds()
    for (const [, v] of kinds) c.send(typeof v === 'string' ? v : copyOf(v), { binary: typeof v !== 'string' })
    const got = await c.inbox.until(kinds.length, 'echoes')
    kinds.forEach(([name, v], i) => expectWsMessage(name, got[i], typeof v === 'string' ? v : copyOf(v)))
  })

  it('16 MiB binary both ways (the default maxPayload, exactly) arrives whole (sha256)', async () => {
    const up = Buffer.from(ab(16 * MiB))
    const down = ab(16 * MiB)
    const downHash = sha256(down)
    const srv = await recordingServer({
      echo: false,
      message(ws, data) {
        srv.messages.push({ ws, data })
        ws.send(`${tag(data)} ${data.byteLength} ${sha256(data)}`)
        ws.send(down)
      },
    })
    const c = await wsConnect(srv.url)
    c.send(up)
    const [summary, big] = await c.inbox.until(2, 'the hash and 16 MiB', 15000)
    expect(summary.data.toString()).toBe(`[object ArrayBuffer] ${16 * MiB} ${sha256(up)}`)
    expect(big.isBinary).toBe(true)
    expect(big.data.length).toBe(16 * MiB)
    expect(sha256(big.data)).toBe(downHash)
  })

  it('fragmented messages from ws (binary, and text split inside a UTF-8 sequence, pings between) arrive reassembled', async () => {
    const srv = await recordingServer({ echo: false })
    const c = await wsConnect(srv.url)
    const parts = [ab(1000), ab(1), ab(0), ab(70000)].map((x) => Buffer.from(x))
    parts.forEach((p, i) => {
      c.send(p, { binary: true, fin: i === parts.length - 1 })
      if (i === 1) c.ping('between fragments')
    })
    const text = Buffer.from('aé\u{1F600}z')
    // the emoji's 4 bytes are split 1 + 3 across fragments
    c.send(text.subarray(0, 4), { binary: false, fin: false })
    c.send(text.subarray(4, 7), { binary: false, fin: false })
    c.ping()
    c.send(text.subarray(7), { binary: false, fin: true })
    c.send('after')
    const got = await srv.messages.until(3)
    expectAbioMessage('binary in 4 fragments', got[0].data, Buffer.concat(parts))
    expectAbioMessage('text in 3 fragments', got[1].data, 'aé\u{1F600}z')
    expectAbioMessage('the next message', got[2].data, 'after')
    await sleep(50)
    expect(srv.messages.items.length).toBe(3)
  })

  it('a ping from ws is answered with a pong carrying the same payload', async () => {
    const { url } = await recordingServer()
    const c = await wsConnect(url)
    const pongs = new Inbox()
    c.on('pong', (data) => pongs.push(data))
    const payloads = [Buffer.alloc(0), Buffer.from('abc'), crypto.randomBytes(125)]
    for (const p of payloads) c.ping(p)
    const got = await pongs.until(payloads.length, 'pongs')
    payloads.forEach((p, i) => expectBytes(got[i], p))
  })

  it('without a message callback, server-side async iteration gets the messages', async () => {
    const done = []
    const { port } = await serve({
      open(ws) {
        done.push(
          (async () => {
            for await (const m of ws) ws.send(typeof m === 'string' ? `text:${m}` : m)
          })(),
        )
      },
    })
    const c = await wsConnect(`ws://${HOST}:${port}/`)
    const bin = crypto.randomBytes(3000)
    c.send('one')
    c.send(bin)
    c.send('')
    const got = await c.inbox.until(3)
    expectWsMessage('text', got[0], 'text:one')
    expectWsMessage('binary', got[1], bin)
    expectWsMessage('empty text', got[2], 'text:')
    c.close(1000)
    await waitFor(Promise.all(done), 'the iteration to end when the client closes')
  })
})

// ---------------------------------------------------------------------------
// 2. Close handshakes

describe('abio server, ws client: close', () => {
  it("abio close(4001, 'bye'): ws sees 4001/'bye'; close() and closed give the same", async () => {
    const srv = await recordingServer({
      message(ws, data) {
        if (data === 'close me') ws.close(4001, 'bye')
      },
    })
    const c = await wsConnect(srv.url)
    c.send('close me')
    expect(await waitFor(c.closedP, 'the ws client to close')).toEqual({ code: 4001, reason: 'bye' })
    const [cl] = await srv.closes.until(1, 'close callbacks')
    expect([cl.code, cl.reason]).toEqual([4001, 'bye'])
    const [{ ws }] = srv.opened.items
    expect(await waitFor(ws.closed, 'ws.closed')).toEqual({ code: 4001, reason: 'bye' })
  })

  it('abio close() with no code sends 1000 (or no code: 1005)', async () => {
    const srv = await recordingServer({
      open(ws) {
        ws.close()
      },
    })
    const c = await wsConnect(srv.url)
    const { code } = await waitFor(c.closedP, 'the ws client to close')
    expect([1000, 1005]).toContain(code)
    await srv.closes.until(1, 'close callbacks')
  })

  it("ws close(4002, 'x') (and a non-ASCII reason): close callback and closed give them", async () => {
    const srv = await recordingServer()
    const a = await wsConnect(srv.url)
    const b = await wsConnect(srv.url)
    const [oa, ob] = await srv.opened.until(2, 'opens')
    a.close(4002, 'x')
    b.close(1000, 'adiós ✓')
    const closes = await srv.closes.until(2, 'close callbacks')
    const byWs = new Map(closes.map((c) => [c.ws, [c.code, c.reason]]))
    expect(byWs.get(oa.ws)).toEqual([4002, 'x'])
    expect(byWs.get(ob.ws)).toEqual([1000, 'adiós ✓'])
    expect(await waitFor(oa.ws.closed, 'closed')).toEqual({ code: 4002, reason: 'x' })
    expect(await waitFor(ob.ws.closed, 'closed')).toEqual({ code: 1000, reason: 'adiós ✓' })
    expect(await a.closedP).toEqual({ code: 4002, reason: 'x' })
  })

  it('a ws client that terminates (no close frame) gives close code 1006; the others go on', async () => {
    const srv = await recordingServer()
    const bystander = await wsConnect(srv.url)
    const c = await wsConnect(srv.url)
    const [, o] = await srv.opened.until(2, 'opens')
    c.terminate()
    const [cl] = await srv.closes.until(1, 'close callbacks')
    expect(cl.ws).toBe(o.ws)
    expect(cl.code).toBe(1006)
    expect((await o.ws.closed).code).toBe(1006)
    await expectStillServing(srv.url, bystander)
  })

  it('send() after the connection is gone does not throw; the server goes on', async () => {
    const srv = await recordingServer()
    const c = await wsConnect(srv.url)
    const [o] = await srv.opened.until(1, 'opens')
    c.close(1000)
    await o.ws.closed
    expect(() => o.ws.send('late')).not.toThrow()
    await expectStillServing(srv.url)
  })
})

// ---------------------------------------------------------------------------
// 3. maxPayload

describe('maxPayload', () => {
  it('a message over maxPayload closes that connection with 1009; exactly maxPayload passes; others go on', async () => {
    const srv = await recordingServer({ maxPayload: 1000 })
    const bystander = await wsConnect(srv.url)
    const c = await wsConnect(srv.url)
    c.send(crypto.randomBytes(1000))
    await c.inbox.until(1, 'the echo of exactly maxPayload bytes')
    c.send(crypto.randomBytes(1001))
    expect((await waitFor(c.closedP, 'the close')).code).toBe(1009)
    const [cl] = await srv.closes.until(1, 'close callbacks')
    expect(FAILED_BY_US(1009)).toContain(cl.code)
    await expectStillServing(srv.url, bystander)
    await expectStillServing(srv.url)
  })

  it('fragments each under maxPayload but over it together close with 1009', async () => {
    const srv = await recordingServer({ maxPayload: 1000 })
    const c = await wsConnect(srv.url)
    for (let i = 0; i < 4; i++) c.send(crypto.randomBytes(300), { fin: i === 3 })
    expect((await waitFor(c.closedP, 'the close')).code).toBe(1009)
    expect(srv.messages.items.length).toBe(0)
    await expectStillServing(srv.url)
  })

  it('a frame announcing 1 TiB is refused with 1009 at once, before its payload (default maxPayload)', async () => {
    const srv = await recordingServer()
    const { reader, sock } = await rawUpgrade(srv.port)
    sock.write(frame(BINARY, Buffer.alloc(0), { length: 2 ** 40 }).subarray(0, 14)) // header and mask only
    const cf = await reader.closeFrame()
    expect(cf && cf.code).toBe(1009)
    await waitFor(reader.ended, 'the server to close the socket')
    await expectStillServing(srv.url)
  })

  it("abio's client with maxPayload closes with 1009 when a bigger message comes", async () => {
    const wss = await wsServer()
    const c = await abioConnect(wss.url, { maxPayload: 1000 })
    const [{ ws }] = await wss.conns.until(1, 'connections')
    ws.send(crypto.randomBytes(1000))
    const [m] = await nextMessages(c, 1)
    expect(m.byteLength).toBe(1000)
    ws.send(crypto.randomBytes(1001))
    expect((await waitFor(ws.closedP, 'the ws server side to close')).code).toBe(1009)
    expect(FAILED_BY_US(1009)).toContain((await waitFor(c.closed, 'closed')).code)
  })
})

// ---------------------------------------------------------------------------
// 5. broadcast

describe('broadcast', () => {
  it('reaches each of 100 ws clients exactly once per message, in order; returns 100, then 90 after 10 leave', async () => {
    const srv = await recordingServer()
    const clients = await Promise.all(Array.from({ length: 100 }, () => wsConnect(srv.url)))
    await srv.opened.until(100, 'opens')
    const messages = [
      ab(1024),
      'text ✓',
      new Uint8Array(ab(5000), 100, 3000),
      poolSlice('pooled'),
      new ArrayBuffer(0),
      sab(100),
      'x✓'.repeat(30000),
    ]
    const wants = messages.map((m) => (typeof m === 'string' ? m : copyOf(m)))
    const counts = messages.map((m) => srv.server.broadcast(m))
    expect(counts).toEqual(messages.map(() => 100))
    expect(srv.server.broadcast('end')).toBe(100)
    for (const c of clients) {
      const got = await c.inbox.until(messages.length + 1)
      messages.forEach((_, i) => expectWsMessage(`message ${i}`, got[i], wants[i]))
      expectWsMessage('end', got[messages.length], 'end')
    }
    await sleep(50)
    expect(clients.map((c) => c.inbox.items.length)).toEqual(clients.map(() => messages.length + 1))

    for (const c of clients.slice(0, 10)) c.close(1000)
    await srv.closes.until(10, 'close callbacks')
    expect(srv.server.broadcast('ninety')).toBe(90)
    for (const c of clients.slice(10)) {
      const got = await c.inbox.until(messages.length + 2)
      expectWsMessage('ninety', got[messages.length + 1], 'ninety')
    }
  })

  it('with no connection, broadcast returns 0', async () => {
    const { server } = await recordingServer()
    expect(server.broadcast('nobody')).toBe(0)
  })
})

// ---------------------------------------------------------------------------
// 7. The path option, and HTTP on the same port

describe('websocket.path', () => {
  it('upgrades only on path; routes and fetch still answer HTTP on the same port; open gets the request', async () => {
    const srv = await recordingServer(
      { path: '/ws' },
      { routes: { '/hello': { body: 'hi' } }, fetch: (req) => ({ body: `fetched ${req.method} ${req.url}` }) },
    )
    const c = await wsConnect(`ws://${HOST}:${srv.port}/ws?x=1&y=%20`, { headers: { 'X-Test': 'yes v' } })
    const [{ req }] = await srv.opened.until(1, 'opens')
    expect([req.method, req.path, req.url]).toEqual(['GET', '/ws', '/ws?x=1&y=%20'])
    expect(req.headers['x-test']).toBe('yes v')
    expect(req.headers.upgrade.toLowerCase()).toBe('websocket')
    expect(req.headers['sec-websocket-version']).toBe('13')
    await expectStillServing(srv.url.replace(/\/$/, '/ws'), c)

    for (const p of ['/other', '/hello', '/', '/ws/']) {
      const err = await wsConnect(`ws://${HOST}:${srv.port}${p}`).then(
        () => ({ status: 101 }),
        (e) => e,
      )
      expect({ p, refused: err.status !== 101 && err.status !== undefined }).toEqual({ p, refused: true })
    }
    expect(srv.opened.items.length).toBe(1)

    const get = (p) =>
      new Promise((resolve, reject) =>
        http
          .get({ host: HOST, port: srv.port, path: p, agent: false }, (res) => {
            const chunks = []
            res.on('data', (d) => chunks.push(d))
            res.on('end', () => resolve([res.statusCode, Buffer.concat(chunks).toString()]))
          })
          .on('error', reject),
      )
    expect(await get('/hello')).toEqual([200, 'hi'])
    expect(await get('/x?q')).toEqual([200, `fetched GET http://${HOST}:${srv.port}/x?q`])
    await expectStillServing(`ws://${HOST}:${srv.port}/ws`, c)
  })

  it('an upgrade on another path with no fetch handler gets 404', async () => {
    const srv = await recordingServer({ path: '/ws' }, { routes: { '/r': { body: 'r' } } })
    const err = await wsConnect(`ws://${HOST}:${srv.port}/nope`).then(
      () => ({ status: 101 }),
      (e) => e,
    )
    expect(err.status).toBe(404)
    expect(srv.opened.items.length).toBe(0)
  })

  it('without path, any path upgrades and open() sees it', async () => {
    const srv = await recordingServer()
    await wsConnect(`ws://${HOST}:${srv.port}/a/b?c`)
    await wsConnect(`ws://${HOST}:${srv.port}/`)
    const opened = await srv.opened.until(2, 'opens')
    expect(opened.map((o) => [o.req.path, o.req.url]).sort()).toEqual([
      ['/', '/'],
      ['/a/b', '/a/b?c'],
    ])
  })
})

// ---------------------------------------------------------------------------
// 8. pingInterval

describe('pingInterval', () => {
  it('pings a live ws client, which stays open; drops a silent one with 1006', async () => {
    const srv = await recordingServer({ pingInterval: 100 })
    const live = await wsConnect(srv.url)
    const pings = new Inbox()
    live.on('ping', (d) => pings.push(d))
    const { reader } = await rawUpgrade(srv.port) // never answers anything
    const t0 = Date.now()
    const [cl] = await srv.closes.until(1, 'the silent client to be dropped', 3000)
    expect(cl.code).toBe(1006)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90) // a whole interval after a ping (t0 is a little after open)
    await waitFor(reader.ended, 'the silent socket to be closed')
    await pings.until(3, 'pings to the live client', 5000)
    expect(live.readyState).toBe(WsClient.OPEN)
    expect(srv.closes.items.length).toBe(1)
    await expectStillServing(srv.url, live)
  })

  it('0 (the default) sends no ping', async () => {
    const srv = await recordingServer()
    const c = await wsConnect(srv.url)
    let pings = 0
    c.on('ping', () => pings++)
    await sleep(300)
    expect(pings).toBe(0)
  })
})
