'use strict'
// Tests for abio's WebSocket support (design.md section 8): raw `net` sockets that do the HTTP
// upgrade by hand and then misbehave (vanish, send malformed frames, unmasked frames, invalid
// UTF-8), reading the close frame the server answers with (RFC 6455 7.4); backpressure and held
// memory.
// Peers, frames and checks (and ABIO_WS_IMPL=reference): helpers/ws.js.

const crypto = require('crypto')

const { rawConnect } = require('./helpers/http-peers')
const { abio, KiB, MiB, HOST, sleep, waitFor, closeWsPeers, recordingServer, wsConnect } = require('./helpers/ws')
const { abioConnect, nextMessages, expectStillServing, RawReader, frame, TEXT, BINARY, CLOSE } = require('./helpers/ws')
const { PING, PONG, FAILED_BY_US, closePayload, rawUpgrade } = require('./helpers/ws')

jest.setTimeout(20000)

afterEach(closeWsPeers)

// ---------------------------------------------------------------------------
// 4. Misbehaving clients (raw sockets)

describe('misbehaving clients', () => {
  it('one that vanishes without a close frame: close callback with 1006; others unaffected', async () => {
    const srv = await recordingServer()
    const bystander = await wsConnect(srv.url)
    const { sock } = await rawUpgrade(srv.port)
    sock.write(frame(TEXT, 'hi'))
    const [, m] = await srv.opened.until(2, 'opens')
    await srv.messages.until(1)
    expect(srv.messages.items[0].data).toBe('hi')
    sock.destroy()
    const [cl] = await srv.closes.until(1, 'close callbacks')
    expect(cl.ws).toBe(m.ws)
    expect(cl.code).toBe(1006)
    await expectStillServing(srv.url, bystander)
  })

  const protocolErrors = [
    ['RSV1 set without an extension', () => frame(BINARY, 'x', { rsv: 4 })],
    ['RSV2 set', () => frame(TEXT, 'x', { rsv: 2 })],
    ['RSV3 set', () => frame(BINARY, 'x', { rsv: 1 })],
    ['a reserved data opcode (3)', () => frame(3, 'x')],
    ['a reserved control opcode (0xB)', () => frame(0xb, 'x')],
    ['a ping of 126 bytes (control frames are <= 125)', () => frame(PING, Buffer.alloc(126))],
    ['a fragmented ping', () => frame(PING, 'x', { fin: false })],
    ['a continuation with no message started', () => frame(0, 'x')],
    [
      'a new text frame inside a fragmented message',
      () => Buffer.concat([frame(TEXT, 'a', { fin: false }), frame(TEXT, 'b')]),
    ],
    ['an unmasked frame', () => frame(BINARY, 'x', { mask: false })],
    ['a close frame with a 1-byte payload', () => frame(CLOSE, Buffer.from([3]))],
    ['a close frame with code 1005 (never sent on the wire)', () => frame(CLOSE, closePayload(1005))],
    ['a close frame with code 999', () => frame(CLOSE, closePayload(999))],
  ]

  it.each(protocolErrors)('%s: closed with 1002; the server and the others go on', async (_, bytes) => {
    const srv = await recordingServer()
    const bystander = await wsConnect(srv.url)
    const { sock, reader } = await rawUpgrade(srv.port)
    sock.write(frame(TEXT, 'fine'))
    await srv.messages.until(1)
    sock.write(bytes())
    const cf = await reader.closeFrame()
    expect(cf && cf.code).toBe(1002)
    await waitFor(reader.ended, 'the server to close the socket')
    const [cl] = await srv.closes.until(1, 'close callbacks')
    expect(FAILED_BY_US(1002)).toContain(cl.code)
    expect(srv.messages.items.map((m) => m.data)).toEqual(['fine'])
    await expectStillServing(srv.url, bystander)
  })

  const invalidUtf8 = [
    ['a text message with 0xFF', () => frame(TEXT, Buffer.from([0x61, 0xff, 0x62]))],
    ['a text message ending inside a UTF-8 sequence', () => frame(TEXT, Buffer.from([0x61, 0xe2, 0x82]))],
    ['an overlong encoding', () => frame(TEXT, Buffer.from([0xc0, 0xaf]))],
    ['a UTF-16 surrogate encoded in UTF-8', () => frame(TEXT, Buffer.from([0xed, 0xa0, 0x80]))],
    [
      'fragments whose whole is invalid',
      () => Buffer.concat([frame(TEXT, Buffer.from([0xe2, 0x82]), { fin: false }), frame(0, Buffer.from([0x61]))]),
    ],
    ['a close reason that is not UTF-8', () => frame(CLOSE, Buffer.concat([closePayload(1000), Buffer.from([0xff])]))],
  ]

  it.each(invalidUtf8)('%s: closed with 1007; the server and the others go on', async (_, bytes) => {
    const srv = await recordingServer()
    const bystander = await wsConnect(srv.url)
    const { sock, reader } = await rawUpgrade(srv.port)
    sock.write(bytes())
    const cf = await reader.closeFrame()
    expect(cf && cf.code).toBe(1007)
    await waitFor(reader.ended, 'the server to close the socket')
    expect(srv.messages.items.length).toBe(0)
    await expectStillServing(srv.url, bystander)
  })

  it('a raw client doing the close handshake right gets its code echoed, then the server closes TCP', async () => {
    const srv = await recordingServer()
    const { sock, reader } = await rawUpgrade(srv.port)
    sock.write(frame(PING, 'p'))
    const pong = await reader.frame()
    expect([pong.opcode, pong.payload.toString(), pong.masked]).toEqual([PONG, 'p', false])
    sock.write(frame(CLOSE, closePayload(4005, 'raw')))
    const cf = await reader.closeFrame()
    expect(cf.code).toBe(4005)
    await waitFor(reader.ended, 'the server to close the socket')
    const [cl] = await srv.closes.until(1, 'close callbacks')
    expect([cl.code, cl.reason]).toEqual([4005, 'raw'])
  })

  it('an empty close frame: the close callback gets 1005', async () => {
    const srv = await recordingServer()
    const { sock, reader } = await rawUpgrade(srv.port)
    sock.write(frame(CLOSE))
    expect(await reader.closeFrame()).not.toBeNull()
    const [cl] = await srv.closes.until(1, 'close callbacks')
    expect(cl.code).toBe(1005)
  })
})

// ---------------------------------------------------------------------------
// 6. Backpressure

describe('backpressure', () => {
  it('send() returns false over backpressureLimit against a client that does not read; drained() resolves once it reads', async () => {
    const LIMIT = 256 * KiB
    const SIZE = 64 * KiB
    const srv = await recordingServer({ backpressureLimit: LIMIT })
    const c = await wsConnect(srv.url)
    const [{ ws }] = await srv.opened.until(1, 'opens')
    c._socket.pause()
    let seq = 0
    const send = () => {
      const m = Buffer.alloc(SIZE, seq & 0xff)
      m.writeUInt32LE(seq++)
      return ws.send(m)
    }
    expect(ws.bufferedAmount).toBe(0)
    expect(send()).toBe(true)
    // Fill the kernel's buffers, then abio's queue: rounds of sends until send() says false,
    // until bufferedAmount stays put (nothing more is taken while the client does not read).
    let still = 0
    let falses = 0
    while (still < 5) {
      while (send()) if (seq > 2048) throw new Error('128 MiB sent and send() never returned false')
      falses++
      const before = ws.bufferedAmount
      await sleep(20)
      still = before > LIMIT && ws.bufferedAmount === before ? still + 1 : 0
      if (seq > 2048) throw new Error(`128 MiB sent and bufferedAmount never settled (${ws.bufferedAmount})`)
    }
    expect(falses).toBeGreaterThan(0)
    expect(ws.bufferedAmount).toBeGreaterThan(LIMIT)
    expect(send()).toBe(false) // still queued: it must arrive too
    let drained = false
    ws.drained().then(() => (drained = true))
    await sleep(200)
    expect(drained).toBe(false)
    c._socket.resume()
    await waitFor(ws.drained(), 'drained() after the client reads again', 10000)
    expect(ws.bufferedAmount).toBeLessThanOrEqual(LIMIT)
    const got = await c.inbox.until(seq, 'every message sent, the refused ones too', 10000)
    got.forEach((m, i) => {
      if (m.data.length !== SIZE || m.data.readUInt32LE(0) !== i) expect({ i, len: m.data.length }).toBe('in order')
    })
    expect(ws.bufferedAmount).toBe(0)
    expect(send()).toBe(true)
    await waitFor(ws.drained(), 'drained() with nothing queued')
  })
})

describe('held memory and order (issue: trust)', () => {
  it('send() copies a payload of up to 16 KiB at the call: a scratch buffer reused in one turn sends each content', async () => {
    const srv = await recordingServer({ echo: false })
    const c = await wsConnect(srv.url)
    const [{ ws }] = await srv.opened.until(1, 'opens')
    for (const size of [1, 1000, 16 * KiB]) {
      const scratch = new Uint8Array(size)
      const before = c.inbox.items.length
      for (let i = 0; i < 5; i++) {
        scratch.fill(i + 1)
        ws.send(scratch)
      }
      // Overwritten before the flush at the end of the turn: what was sent must not change.
      scratch.fill(0xee)
      const got = (await c.inbox.until(before + 5, `5 messages of ${size} B`)).slice(before)
      expect(got.map((m) => [m.data.length, [...new Set(m.data)]])).toEqual([1, 2, 3, 4, 5].map((v) => [size, [v]]))
    }
    // The client side too (its frames are masked copies, made at the call as well).
    const srv2 = await recordingServer({ echo: true })
    const client = await abioConnect(srv2.url)
    const dv = new DataView(new ArrayBuffer(64), 8, 32)
    for (let i = 0; i < 3; i++) {
      new Uint8Array(dv.buffer).fill(i + 10)
      client.send(dv)
    }
    new Uint8Array(dv.buffer).fill(0)
    const back = await nextMessages(client, 3)
    expect(back.map((m) => [...new Set(new Uint8Array(m))])).toEqual([[10], [11], [12]])
  })

  it("ws.send('A'); server.broadcast('B'); ws.send('C') in one turn arrive A, B, C", async () => {
    const srv = await recordingServer({ echo: false })
    const c = await wsConnect(srv.url)
    const [{ ws }] = await srv.opened.until(1, 'opens')
    const other = await wsConnect(srv.url)
    await srv.opened.until(2, 'opens')
    ws.send('A')
    srv.server.broadcast('B')
    ws.send('C')
    srv.server.broadcast(new Uint8Array([68]))
    ws.send('E')
    const got = await c.inbox.until(5, 'five messages')
    expect(got.map((m) => m.data.toString())).toEqual(['A', 'B', 'C', 'D', 'E'])
    const theirs = await other.inbox.until(2, 'two broadcasts')
    expect(theirs.map((m) => m.data.toString())).toEqual(['B', 'D'])
  })

  it('a client that floods pings and never reads keeps the server bounded (pongs count against backpressureLimit); others are served', async () => {
    const LIMIT = 64 * KiB
    const srv = await recordingServer({ backpressureLimit: LIMIT })
    const { sock } = await rawUpgrade(srv.port)
    const [{ ws }] = await srv.opened.until(1, 'opens')
    sock.pause() // never reads: every pong stays queued
    const ping = frame(PING, Buffer.alloc(125, 7))
    const burst = Buffer.concat(Array.from({ length: 1024 }, () => ping)) // 131 KiB of pings
    // 16 MiB of pings (as fast as the server takes them), with the server watched meanwhile.
    // Ends when 16 MiB are written or the server has stopped taking them (5 waits for 'drain'
    // in a row time out: it no longer reads, which is the point).
    let written = 0
    let peak = 0
    let stalls = 0
    while (written < 16 * MiB && stalls < 5) {
      if (!sock.write(burst)) {
        const drained = await Promise.race([
          new Promise((r) => sock.once('drain', () => r(true))),
          sleep(100).then(() => false),
        ])
        stalls = drained ? 0 : stalls + 1
      }
      written += burst.length
      peak = Math.max(peak, ws.bufferedAmount)
    }
    await sleep(300)
    peak = Math.max(peak, ws.bufferedAmount)
    // Bounded by the limit plus what one read (64 KiB of pings) answers; before the fix the
    // server queued a pong for every ping it read (tens of MiB).
    expect(peak).toBeLessThan(LIMIT + 256 * KiB)
    await expectStillServing(srv.url)
    // A throttled connection still notices that its peer is gone.
    sock.destroy()
    const [closed] = await srv.closes.until(1, 'the close of the flooding client', 15000)
    expect(closed.ws).toBe(ws)
  })

  it("open()'s request headers have no prototype: a peer's constructor and __proto__ headers are headers", async () => {
    const srv = await recordingServer()
    const sock = await rawConnect(srv.port)
    const reader = new RawReader(sock)
    const key = crypto.randomBytes(16).toString('base64')
    sock.write(
      `GET / HTTP/1.1\r\nHost: ${HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nconstructor: x\r\n__proto__: y\r\n\r\n`,
    )
    expect(await reader.head()).toMatch(/^HTTP\/1\.1 101 /)
    const [{ req }] = await srv.opened.until(1, 'opens')
    expect(Object.getPrototypeOf(req.headers)).toBe(null)
    expect(req.headers.constructor).toBe('x')
    expect(req.headers['__proto__']).toBe('y')
  })

  it('a view of a resizable ArrayBuffer or growable SharedArrayBuffer is copied at the call (send, broadcast)', async () => {
    const srv = await recordingServer({ echo: false })
    const c = await wsConnect(srv.url)
    const [{ ws }] = await srv.opened.until(1, 'opens')
    const N = 1 * MiB
    const rab = new ArrayBuffer(N, { maxByteLength: 2 * N })
    new Uint8Array(rab).fill(0x5a)
    ws.send(new Uint8Array(rab))
    rab.resize(0)
    const gsab = new SharedArrayBuffer(N, { maxByteLength: 2 * N })
    new Uint8Array(gsab).fill(0x6b)
    srv.server.broadcast(gsab)
    new Uint8Array(gsab).fill(0)
    const got = await c.inbox.until(2, 'two messages', 10000)
    expect(got.map((m) => [m.data.length, [...new Set(m.data)]])).toEqual([
      [N, [0x5a]],
      [N, [0x6b]],
    ])
  })
})
