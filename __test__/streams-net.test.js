'use strict'
// A Socket as WHATWG and Node streams (design.md section 12): `socket.readable` and
// `socket.writable`, `Readable.fromWeb`, `Writable.fromWeb` and `Duplex.fromWeb` over them, and
// `stream.pipeline` with the socket itself, against Node's `net` on loopback, byte for byte:
// 64 MiB each way, a peer that resets mid-stream (the pipeline fails, never hangs), and
// backpressure both ways (nothing runs ahead of a slow reader by more than a bounded amount).
// Peers and checks: helpers/net.js.

const fs = require('fs')
const { Readable, Writable, Duplex } = require('stream')
const { pipeline } = require('stream/promises')

const { KiB, MiB, rnd, pair, SIDES, record, everyKind, expectSame, big64MiB } = require('./helpers/net')
const { inKernel, kernelQueued, expectClosed } = require('./helpers/net')
const { tag } = require('./helpers/throws')
const { closeAll } = require('./helpers/cleanup')
const { useTempDir, tmp } = require('./helpers/tmpdir')
const { within, steady } = require('./helpers/time')

jest.setTimeout(60000)
afterEach(closeAll)
useTempDir('abio-streams-')

// A 64 MiB file of random bytes (big64MiB()), written once.
let big
beforeAll(() => {
  big = tmp('big')
  fs.writeFileSync(big, big64MiB())
})

/** How `promise` settled: `{ value }` or `{ error }`; fails the test if it is still pending after 30 s (a hang). */
async function outcome(promise, what) {
  const r = await within(
    promise.then(
      (value) => ({ value }),
      (error) => ({ error }),
    ),
    30000,
  )
  if (r.timedOut) throw new Error(`${what}: still pending after 30 s (a hang)`)
  return r
}

/** A Node echo peer: every byte back, then its end after ours. */
const echo = (n) => n.pipe(n)

// ---------------------------------------------------------------------------
// 64 MiB each way

describe.each(SIDES)('%s', (_, side) => {
  test('pipeline(fs.createReadStream(64 MiB), Writable.fromWeb(socket.writable)): intact; close() is end(), the socket still reads', async () => {
    const { a, n } = await pair(side, { nodeOptions: { allowHalfOpen: true } })
    const rec = record(n)
    await pipeline(fs.createReadStream(big), Writable.fromWeb(a.writable))
    expectSame(await rec.all(30000), big64MiB())
    // Half-closed: the peer's answer still arrives, then its end.
    n.end('after your end')
    expect(Buffer.from(await a.read()).toString()).toBe('after your end')
    expect(await a.read()).toBeNull()
  })

  test('pipeline(Readable.fromWeb(socket.readable), fs.createWriteStream()): 64 MiB intact', async () => {
    const { a, n } = await pair(side)
    n.end(big64MiB())
    const out = tmp('out')
    await pipeline(Readable.fromWeb(a.readable), fs.createWriteStream(out))
    expectSame(fs.readFileSync(out), big64MiB())
  })

  test('Duplex.fromWeb({ readable, writable }) in pipeline(file, duplex, file) through an echo peer: 64 MiB intact', async () => {
    const { a, n } = await pair(side)
    echo(n)
    const out = tmp('echo')
    await pipeline(
      fs.createReadStream(big),
      Duplex.fromWeb({ readable: a.readable, writable: a.writable }),
      fs.createWriteStream(out),
    )
    expectSame(fs.readFileSync(out), big64MiB())
  })
})

// ---------------------------------------------------------------------------
// The socket itself in pipeline: once it hung (as a destination) or threw (as a source)

describe('the socket itself in stream.pipeline', () => {
  test('as the destination: pipeline(fs.createReadStream(64 MiB), socket) sends it all, then the end', async () => {
    const { a, n } = await pair('client')
    const rec = record(n)
    const r = await outcome(pipeline(fs.createReadStream(big), a), 'pipeline(file, socket)')
    expect(r.error).toBeUndefined()
    expectSame(await rec.all(30000), big64MiB())
  })

  test('as the source: pipeline(socket, fs.createWriteStream()) writes it all', async () => {
    const { a, n } = await pair('server')
    n.end(big64MiB())
    const out = tmp('out')
    const r = await outcome(pipeline(a, fs.createWriteStream(out)), 'pipeline(socket, file)')
    expect(r.error).toBeUndefined()
    expectSame(fs.readFileSync(out), big64MiB())
  })

  test('in the middle: pipeline(file, socket, file) through an echo peer; Duplex.fromWeb(socket) too', async () => {
    for (const wrap of [(a) => a, (a) => Duplex.fromWeb(a)]) {
      const { a, n } = await pair('client')
      echo(n)
      const out = tmp('echo')
      const r = await outcome(pipeline(fs.createReadStream(big), wrap(a), fs.createWriteStream(out)), 'pipeline')
      expect(r.error).toBeUndefined()
      expectSame(fs.readFileSync(out), big64MiB())
    }
  })
})

// ---------------------------------------------------------------------------
// A peer that resets mid-stream

describe('a peer that resets mid-stream fails the pipeline', () => {
  test.each([
    ['Readable.fromWeb(socket.readable)', (a) => Readable.fromWeb(a.readable)],
    ['socket.readable', (a) => a.readable],
    ['the socket', (a) => a],
  ])('reading through %s: ECONNRESET', async (_, source) => {
    const { a, n } = await pair('client')
    const p = pipeline(source(a), fs.createWriteStream(tmp('out')))
    // 1 MiB, then a reset (no end of stream: only the reset can settle the pipeline).
    n.write(rnd(MiB), () => n.resetAndDestroy())
    const r = await outcome(p, 'the pipeline')
    expect(r.error?.code).toBe('ECONNRESET')
  })

  test.each([
    ['Writable.fromWeb(socket.writable)', (a) => Writable.fromWeb(a.writable)],
    ['the socket', (a) => a],
  ])('writing 64 MiB through %s: ECONNRESET or EPIPE', async (_, dest) => {
    const { a, n } = await pair('client')
    const rec = record(n)
    const p = pipeline(fs.createReadStream(big), dest(a))
    await rec.until(() => rec.length >= MiB, 'the first MiB')
    n.resetAndDestroy()
    const r = await outcome(p, 'the pipeline')
    expect(['ECONNRESET', 'EPIPE']).toContain(r.error?.code)
  })

  test('echoing through Duplex.fromWeb: ECONNRESET or EPIPE', async () => {
    const { a, n } = await pair('client')
    const rec = record(n)
    echo(n)
    const p = pipeline(fs.createReadStream(big), Duplex.fromWeb(a), fs.createWriteStream(tmp('out')))
    await rec.until(() => rec.length >= MiB, 'the first MiB')
    n.resetAndDestroy()
    const r = await outcome(p, 'the pipeline')
    expect(['ECONNRESET', 'EPIPE']).toContain(r.error?.code)
  })
})

// ---------------------------------------------------------------------------
// Backpressure

describe('backpressure', () => {
  test('a peer that does not read stops the writer: what was produced is what the kernel holds, plus < 1 MiB', async () => {
    const { a, n } = await pair('client')
    n.pause()
    const data = big64MiB()
    let produced = 0
    const source = new Readable({
      read() {
        if (produced >= data.length) return this.push(null)
        const chunk = data.subarray(produced, produced + 64 * KiB)
        produced += chunk.length
        this.push(chunk)
      },
    })
    const p = pipeline(source, Writable.fromWeb(a.writable))
    const stalled = await steady(() => produced)
    const queued = kernelQueued(a.localPort, a.remotePort)
    if (queued !== null) expect(stalled - queued).toBeLessThan(MiB)
    else expect(stalled).toBeLessThan(data.length)
    expect(stalled).toBeLessThan(inKernel())
    const rec = record(n)
    n.resume()
    await p
    expectSame(await rec.all(30000), data)
  })

  test('a slow consumer of Readable.fromWeb(socket.readable) stops the reads: the peer keeps the rest', async () => {
    const { a, n } = await pair('client')
    const data = big64MiB()
    n.end(data)
    const chunks = []
    let held = []
    let slow = true
    const consumer = new Writable({
      highWaterMark: 64 * KiB,
      write(chunk, _, cb) {
        chunks.push(chunk)
        if (slow) held.push(cb)
        else cb()
      },
    })
    const rs = Readable.fromWeb(a.readable)
    const p = pipeline(rs, consumer)
    // What abio read from the kernel: in the Readable's buffer, or given to the consumer.
    const taken = () => rs.readableLength + chunks.reduce((sum, c) => sum + c.length, 0)
    const stalled = await steady(taken)
    // A read takes at most 1 MiB: a few of them, not the 64 MiB the peer has.
    expect(stalled).toBeLessThan(4 * MiB)
    const queued = kernelQueued(a.localPort, a.remotePort)
    if (queued !== null) expect(n.writableLength + queued).toBeGreaterThan(data.length - 4 * MiB)
    slow = false
    for (const cb of held) cb()
    held = []
    await p
    expectSame(Buffer.concat(chunks), data)
  })
})

// ---------------------------------------------------------------------------
// What the streams are

describe('socket.readable and socket.writable', () => {
  test('chunks are Uint8Arrays over exact ArrayBuffers; the stream is made once, reads nothing until asked', async () => {
    const { a, n } = await pair('client')
    const r = a.readable
    expect(a.readable).toBe(r)
    expect(a.writable).toBe(a.writable)
    // Nothing was read ahead: a plain read() still gets the first bytes.
    n.write('first')
    expect(Buffer.from(await a.read()).toString()).toBe('first')
    const second = rnd(100 * KiB)
    n.end(second)
    const reader = r.getReader()
    const got = []
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      expect(tag(value)).toBe('[object Uint8Array]')
      expect(tag(value.buffer)).toBe('[object ArrayBuffer]')
      expect([value.byteOffset, value.byteLength]).toEqual([0, value.buffer.byteLength])
      got.push(value)
    }
    expectSame(Buffer.concat(got), second)
  })

  test('the writable takes every kind of Data, in order', async () => {
    const { a, n } = await pair('server')
    const rec = record(n)
    const kinds = everyKind()
    const writer = a.writable.getWriter()
    for (const k of kinds) await writer.write(k.value)
    await writer.close()
    expectSame(await rec.all(), Buffer.concat(kinds.map((k) => k.bytes)))
  })

  test('a chunk that is not Data errors the writable with ABIO_ERR_INVALID_ARG', async () => {
    const { a } = await pair('client')
    const writer = a.writable.getWriter()
    const r = await outcome(writer.write(42), 'write(42)')
    expect(r.error).toMatchObject({ name: 'TypeError', code: 'ABIO_ERR_INVALID_ARG' })
    expect((await outcome(writer.closed, 'closed')).error).toBe(r.error)
  })

  test('writable.abort() and readable.cancel() close the socket: the peer sees the end', async () => {
    for (const stop of [(a) => a.writable.abort(new Error('stop')), (a) => a.readable.cancel()]) {
      const { a, n } = await pair('client')
      const rec = record(n)
      await stop(a)
      expect(a.closed).toBe(true)
      await rec.until(() => rec.ended || rec.closed, 'the end of the stream')
      expectClosed(await a.write('late').catch((e) => e))
    }
  })

  test('close() while a reader waits errors the readable with ABIO_ERR_CLOSED', async () => {
    const { a } = await pair('client')
    const reader = a.readable.getReader()
    const pending = reader.read()
    a.close()
    expectClosed((await outcome(pending, 'read()')).error)
  })
})
