'use strict'
// A WebSocket as streams of messages (design.md section 12): `ws.readable` (text as strings,
// binary as exact ArrayBuffers; ends at a normal close, errors at any other) and `ws.writable`
// (each chunk one message, with the WebSocket's backpressure; close() closes with 1000), with
// Readable.fromWeb, Writable.fromWeb, Duplex.fromWeb, pipeline and pipeTo, against the `ws`
// package as the peer, both sides. Peers and checks: helpers/ws.js.

const { Readable, Writable, Duplex } = require('stream')
const { pipeline } = require('stream/promises')

const { KiB, MiB, sha256, waitFor, closeWsPeers, serve, wsConnect, wsServer, abioConnect } = require('./helpers/ws')
const { dataKinds, expectAbioMessage, expectWsMessage } = require('./helpers/ws')
const { kernelQueued, expectClosed } = require('./helpers/net')
const { steady } = require('./helpers/time')
const { rnd } = require('./helpers/net')
const { bytesOf } = require('./helpers/bytes')

jest.setTimeout(60000)
afterEach(closeWsPeers)

/** How `promise` settled: `{ value }` or `{ error }` (an Error naming `what` if it hangs). */
const outcome = (promise, what) =>
  waitFor(
    promise.then(
      (value) => ({ value }),
      (error) => ({ error }),
    ),
    what,
    30000,
  )

/** Collects the chunks of an object-mode pipeline. */
function collector() {
  const got = []
  const sink = new Writable({
    objectMode: true,
    write(chunk, _, cb) {
      got.push(chunk)
      cb()
    },
  })
  return { got, sink }
}

/** A `ws` server and an abio client connected to it: `{ wss, peer (ws's side), ws (abio's) }`. */
async function toWsServer(options) {
  const wss = await wsServer(options)
  const ws = await abioConnect(wss.url)
  const [{ ws: peer }] = await wss.conns.until(1, 'connections')
  return { wss, peer, ws }
}

const kinds = dataKinds()
// What the `ws` peer sends: the same bytes as Buffers (a bare SharedArrayBuffer did not arrive intact from it under jest).
const peerValue = (value) => (typeof value === 'string' ? value : bytesOf(value))

describe('ws.readable', () => {
  test('Readable.fromWeb(ws.readable): every message, exact (text as strings, binary as ArrayBuffers), then the end at 1000', async () => {
    const { peer, ws } = await toWsServer()
    const { got, sink } = collector()
    const p = pipeline(Readable.fromWeb(ws.readable, { objectMode: true }), sink)
    for (const [, value, binary] of kinds) peer.send(peerValue(value), { binary })
    const big = rnd(MiB)
    peer.send(big, { binary: true })
    peer.close(1000, 'done')
    expect((await outcome(p, 'the pipeline')).error).toBeUndefined()
    expect(got.length).toBe(kinds.length + 1)
    kinds.forEach(([name, value], i) => expectAbioMessage(name, got[i], value))
    expectAbioMessage('1 MiB', got[kinds.length], big)
  })

  test.each([
    ['1000', (peer) => peer.close(1000), null],
    ['1001 (going away)', (peer) => peer.close(1001), null],
    ['no code (1005)', (peer) => peer.close(), null],
    ['4001', (peer) => peer.close(4001, 'logged out'), { closeCode: 4001, reason: 'logged out' }],
    ['1011', (peer) => peer.close(1011, 'oops'), { closeCode: 1011, reason: 'oops' }],
    ['a vanished peer (1006)', (peer) => peer.terminate(), { closeCode: 1006 }],
  ])('a close with %s after two messages: both, then the end or an error', async (_, closeIt, failure) => {
    const { peer, ws } = await toWsServer()
    const reader = ws.readable.getReader()
    peer.send('one')
    peer.send(Buffer.from('two'), { binary: true }, () => closeIt(peer))
    expect((await reader.read()).value).toBe('one')
    expect(Buffer.from((await reader.read()).value).toString()).toBe('two')
    const last = await outcome(reader.read(), 'the last read')
    if (failure === null) {
      expect(last.value).toEqual({ done: true, value: undefined })
    } else {
      expectClosed(last.error)
      expect(last.error).toMatchObject(failure)
    }
  })

  test('cancel() and cancel(AbortError) close with 1000, cancel(error) with 1011', async () => {
    const aborted = new DOMException('stopped', 'AbortError')
    for (const [reason, code] of [
      [undefined, 1000],
      [aborted, 1000],
      [new Error('consumer failed'), 1011],
    ]) {
      const { peer, ws } = await toWsServer()
      await ws.readable.cancel(reason)
      expect({ reason, code: (await peer.closedP).code }).toEqual({ reason, code })
      expect((await ws.closed).code).toBe(code)
    }
  })

  test('breaking out of for await over Readable.fromWeb(ws.readable) closes with 1000', async () => {
    const { peer, ws } = await toWsServer()
    peer.send('one')
    for await (const m of Readable.fromWeb(ws.readable, { objectMode: true })) {
      expect(m).toBe('one')
      break
    }
    expect((await peer.closedP).code).toBe(1000)
  })

  test('a consumer that fails in pipeline closes with 1011; the pipeline rejects with its error', async () => {
    const { peer, ws } = await toWsServer()
    peer.send('one')
    const failure = new Error('disk full')
    const failing = new Writable({ objectMode: true, write: (_m, _e, cb) => cb(failure) })
    const r = await outcome(pipeline(Readable.fromWeb(ws.readable, { objectMode: true }), failing), 'the pipeline')
    expect(r.error).toBe(failure)
    expect((await peer.closedP).code).toBe(1011)
  })

  test("the same stream on every access; it takes from the async iterator's queue", async () => {
    const { peer, ws } = await toWsServer()
    expect(ws.readable).toBe(ws.readable)
    peer.send('a')
    peer.send('b')
    const it = ws[Symbol.asyncIterator]()
    expect((await it.next()).value).toBe('a')
    const reader = ws.readable.getReader()
    expect((await reader.read()).value).toBe('b')
  })
})

describe('ws.writable', () => {
  test('pipeline(Readable.from(messages), Writable.fromWeb(ws.writable, { objectMode: true })): each chunk one message, then 1000', async () => {
    const { peer, ws } = await toWsServer()
    const values = kinds.map(([, value]) => value)
    const r = await outcome(
      pipeline(Readable.from(values), Writable.fromWeb(ws.writable, { objectMode: true })),
      'the pipeline',
    )
    expect(r.error).toBeUndefined()
    // The pipeline settled after the closing handshake: everything arrived, then 1000.
    const got = await peer.inbox.until(kinds.length)
    kinds.forEach(([name, value], i) => expectWsMessage(name, got[i], value))
    expect(await peer.closedP).toEqual({ code: 1000, reason: '' })
    expect(await ws.closed).toEqual({ code: 1000, reason: '' })
  })

  test('a peer that does not read stops the writer: produced is what is queued, plus < 1 MiB; then all 64 MiB arrive', async () => {
    const LIMIT = 256 * KiB
    const wss = await wsServer()
    const ws = await abioConnect(wss.url, { backpressureLimit: LIMIT })
    const [{ ws: peer }] = await wss.conns.until(1, 'connections')
    peer._socket.pause()
    const data = rnd(64 * MiB)
    const SIZE = 64 * KiB
    let produced = 0
    const source = new Readable({
      read() {
        if (produced >= data.length) return this.push(null)
        const chunk = data.subarray(produced, produced + SIZE)
        produced += chunk.length
        this.push(chunk)
      },
    })
    const p = pipeline(source, Writable.fromWeb(ws.writable))
    const stalled = await steady(() => produced)
    const queued = kernelQueued(peer._socket.localPort, peer._socket.remotePort)
    if (queued !== null) expect(stalled - queued - ws.bufferedAmount).toBeLessThan(MiB)
    expect(stalled).toBeLessThan(data.length / 2)
    peer._socket.resume()
    expect((await outcome(p, 'the pipeline')).error).toBeUndefined()
    const got = await peer.inbox.until(data.length / SIZE, 'messages', 30000)
    expect(got.every((m) => m.isBinary && m.data.length === SIZE)).toBe(true)
    expect(sha256(Buffer.concat(got.map((m) => m.data)))).toBe(sha256(data))
  })

  test('abort(error) closes with 1011, abort() with 1000; a write after the close rejects with ABIO_ERR_CLOSED', async () => {
    for (const [reason, code] of [
      [new Error('producer failed'), 1011],
      [undefined, 1000],
    ]) {
      const { peer, ws } = await toWsServer()
      await ws.writable.abort(reason)
      expect((await peer.closedP).code).toBe(code)
    }

    const other = await toWsServer()
    const writer = other.ws.writable.getWriter()
    await writer.write('before')
    other.ws.close()
    expectClosed((await outcome(writer.write('after'), 'write after close')).error)
    expect((await other.peer.inbox.until(1))[0].data.toString()).toBe('before')
  })

  test('close() after the peer vanished rejects with closeCode 1006', async () => {
    const { peer, ws } = await toWsServer()
    const writer = ws.writable.getWriter()
    peer.terminate()
    await ws.closed
    const r = await outcome(writer.close(), 'close()')
    expectClosed(r.error)
    expect(r.error.closeCode).toBe(1006)
  })
})

describe('both ways', () => {
  test('Duplex.fromWeb({ readable, writable }, { objectMode: true }) through a ws echo server: every message back, in order', async () => {
    const { ws } = await toWsServer({ echo: true })
    const { got, sink } = collector()
    const values = kinds.map(([, value]) => value)
    const duplex = Duplex.fromWeb({ readable: ws.readable, writable: ws.writable }, { objectMode: true })
    const r = await outcome(pipeline(Readable.from(values), duplex, sink), 'the pipeline')
    expect(r.error).toBeUndefined()
    expect(got.length).toBe(kinds.length)
    kinds.forEach(([name, value], i) => expectAbioMessage(name, got[i], value))
  })

  test('an abio server echoing with ws.readable.pipeTo(ws.writable): a ws client gets every message back', async () => {
    const pipes = []
    const server = await serve({ open: (ws) => pipes.push(ws.readable.pipeTo(ws.writable)) })
    const c = await wsConnect(`ws://127.0.0.1:${server.port}/`)
    for (const [, value, binary] of kinds) c.send(peerValue(value), { binary })
    const got = await c.inbox.until(kinds.length)
    kinds.forEach(([name, value], i) => expectWsMessage(name, got[i], value))
    c.close(1000)
    expect((await c.closedP).code).toBe(1000)
    expect((await outcome(pipes[0], 'pipeTo')).error).toBeUndefined()
  })
})
