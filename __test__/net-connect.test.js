'use strict'
// Tests for abio's TCP API (design.md section 6, with sections 2, 3 and 9): connect and listen
// over TCP IPv4, IPv6 and Unix domain sockets, interop with Node's net both ways, abio against abio.
// Peers, checks and how the tests talk: helpers/net.js.

const fs = require('fs')
const os = require('os')
const path = require('path')
const net = require('net')

const abio = require('..')
const { ab } = require('./helpers/inputs')
const { bufferOver, expectBytes, bytesOf } = require('./helpers/bytes')
const { tag } = require('./helpers/throws')
const { closeAll } = require('./helpers/cleanup')
const { useTempDir, tmp } = require('./helpers/tmpdir')
const { KiB, MiB, sleep, rnd, nodeServer, abioServer, nodeConnect, abioConnect, pair } = require('./helpers/net')
const { abioPair, SIDES, record, writeInPieces, everyKind, expectArrayBuffer, expectSame } = require('./helpers/net')
const { frameOf, parseFrames } = require('./helpers/net')

jest.setTimeout(20000)

afterEach(closeAll)

useTempDir('abio-net-')

const HAS_V6 = Object.values(os.networkInterfaces())
  .flat()
  .some((i) => i && i.address === '::1')
if (!HAS_V6) console.warn('SKIPPING the IPv6 tests: this machine has no ::1 loopback')

// ---------------------------------------------------------------------------
// 1. connect and listen: IPv4, IPv6, Unix; addresses
// ---------------------------------------------------------------------------
describe('connect and listen', () => {
  /** abio socket addresses mirror what the Node socket at the other end sees. */
  function expectMirrored(a, n, family) {
    expect({
      remoteAddress: a.remoteAddress,
      remotePort: a.remotePort,
      localAddress: a.localAddress,
      localPort: a.localPort,
      remoteFamily: a.remoteFamily,
    }).toEqual({
      remoteAddress: n.localAddress,
      remotePort: n.localPort,
      localAddress: n.remoteAddress,
      localPort: n.remotePort,
      remoteFamily: family,
    })
    expect(n.remoteFamily).toBe(family)
  }
  async function roundTrip(a, n) {
    const rec = record(n)
    const out = rnd(3000)
    await a.write(out)
    await rec.until(() => rec.length >= out.length, 'abio -> Node bytes')
    expectSame(rec.bytes(), out)
    const back = rnd(5000)
    n.write(back)
    expectArrayBuffer(await a.readExactly(back.length), back)
  }

  test.each([
    ['IPv4', '127.0.0.1'],
    ['IPv6', '::1'],
  ])('abio connects to a Node server over %s; addresses match what Node sees', async (family, host) => {
    if (family === 'IPv6' && !HAS_V6) return console.warn('skipped: no IPv6 loopback')
    const srv = await nodeServer({ host, port: 0 })
    const [a, n] = await Promise.all([abioConnect({ host, port: srv.port }), srv.next()])
    expect(a.remoteAddress).toBe(host)
    expect(a.remotePort).toBe(srv.port)
    expectMirrored(a, n, family)
    expect(a.closed).toBe(false)
    await roundTrip(a, n)
  })

  test.each([
    ['IPv4', '127.0.0.1'],
    ['IPv6', '::1'],
  ])('a Node client connects to an abio server over %s; server.host/port and addresses', async (family, host) => {
    if (family === 'IPv6' && !HAS_V6) return console.warn('skipped: no IPv6 loopback')
    const srv = await abioServer({ host, port: 0 })
    expect(srv.server.host).toBe(host)
    expect(Number.isInteger(srv.server.port) && srv.server.port > 0).toBe(true)
    const [n, a] = await Promise.all([nodeConnect({ host, port: srv.port }), srv.next()])
    expect(n.remotePort).toBe(srv.server.port)
    expect(a.localPort).toBe(srv.server.port)
    expectMirrored(a, n, family)
    await roundTrip(a, n)
  })

  test('connect with host "localhost" (the default host) reaches a Node server', async () => {
    const srv = await nodeServer({ host: '127.0.0.1', port: 0 })
    const [a, n] = await Promise.all([abioConnect({ port: srv.port }), srv.next()])
    expect(a.remotePort).toBe(srv.port)
    await roundTrip(a, n)
  })

  test("listen({port: 0}) defaults to dual-stack '::': IPv4 and IPv6 clients connect, seen as Node's server sees them", async () => {
    const srv = await abioServer({ port: 0 })
    expect(srv.server.host).toBe('::')
    // The same client against Node's own dual-stack server, for the expected view of it.
    const ref = await nodeServer({ host: '::', port: 0 })
    const [, refSock] = await Promise.all([nodeConnect({ host: '127.0.0.1', port: ref.port }), ref.next()])

    const [n4, a4] = await Promise.all([nodeConnect({ host: '127.0.0.1', port: srv.port }), srv.next()])
    expect({ remoteAddress: a4.remoteAddress, remoteFamily: a4.remoteFamily, localAddress: a4.localAddress }).toEqual({
      remoteAddress: refSock.remoteAddress,
      remoteFamily: refSock.remoteFamily,
      localAddress: refSock.localAddress,
    })
    expect(a4.remotePort).toBe(n4.localPort)
    expect(a4.localPort).toBe(srv.port)
    await roundTrip(a4, n4)

    const a4abio = await abioConnect({ host: '127.0.0.1', port: srv.port })
    const peer = await srv.next()
    await a4abio.write('from an abio IPv4 client')
    expectArrayBuffer(await peer.readExactly(24), 'from an abio IPv4 client')

    if (HAS_V6) {
      const [n6, a6] = await Promise.all([nodeConnect({ host: '::1', port: srv.port }), srv.next()])
      expect(a6.remoteAddress).toBe('::1')
      expect(a6.remoteFamily).toBe('IPv6')
      await roundTrip(a6, n6)
    }
  })

  test('Unix domain sockets: abio server <- Node client, Node server <- abio client, abio <-> abio', async () => {
    const p1 = tmp('abio.sock')
    const srv = await abioServer({ path: p1 })
    expect(srv.server.host).toBe(p1)
    expect(srv.server.port).toBe(0)
    expect(fs.statSync(p1).isSocket()).toBe(true)
    const [n1, a1] = await Promise.all([nodeConnect({ path: p1 }), srv.next()])
    expect(a1.remoteFamily).toBe('Unix')
    await roundTrip(a1, n1)

    const p2 = tmp('node.sock')
    const nsrv = await nodeServer({ path: p2 })
    const [a2, n2] = await Promise.all([abioConnect({ path: p2 }), nsrv.next()])
    expect(a2.remoteFamily).toBe('Unix')
    expect(a2.remoteAddress).toBe(p2)
    await roundTrip(a2, n2)

    const c = await abioConnect({ path: p1 })
    const s = await srv.next()
    const data = rnd(100 * KiB)
    await Promise.all([c.writeFrame(data), c.write('tail')])
    expectArrayBuffer(await s.readFrame(), data)
    expectArrayBuffer(await s.readExactly(4), 'tail')
  })

  test('connect accepts a file: URL as the Unix socket path', async () => {
    const p = tmp('url.sock')
    const nsrv = await nodeServer({ path: p })
    const [a, n] = await Promise.all([abioConnect({ path: new URL('file://' + p) }), nsrv.next()])
    await roundTrip(a, n)
  })
})

// ---------------------------------------------------------------------------
// 2. Interop with Node's net, both ways
// ---------------------------------------------------------------------------
describe.each(SIDES)('interop: %s', (_, side) => {
  test('write() of every Bytes type, one at a time, arrives exactly', async () => {
    const { a, n } = await pair(side)
    const rec = record(n)
    const kinds = everyKind()
    for (const k of kinds) await expect(a.write(k.value)).resolves.toBeUndefined()
    await a.end()
    expectSame(await rec.all(), Buffer.concat(kinds.map((k) => k.bytes)))
  })

  test.each(everyKind().map((k) => [k.name, k]))('write(%s) alone arrives exactly', async (_, k) => {
    const { a, n } = await pair(side)
    const rec = record(n)
    await a.write(k.value)
    await a.end()
    expectBytes(await rec.all(), k.bytes)
  })

  test('writev() of every Bytes type (and an empty writev) arrives exactly, in order', async () => {
    const { a, n } = await pair(side)
    const rec = record(n)
    const kinds = everyKind()
    await expect(a.writev([])).resolves.toBeUndefined()
    await expect(a.writev(kinds.map((k) => k.value))).resolves.toBeUndefined()
    await a.writev([kinds[6].value, kinds[0].value])
    await a.end()
    const parts = kinds.map((k) => k.bytes)
    expectBytes(await rec.all(), Buffer.concat([...parts, parts[6], parts[0]]))
  })

  test('read() returns exact ArrayBuffers, honours maxBytes, then null at the end (again and again)', async () => {
    const { a, n } = await pair(side)
    const data = rnd(300 * KiB + 7)
    n.end(data)
    const chunks = []
    for (;;) {
      const c = await a.read({ maxBytes: 50000 })
      if (c === null) break
      expect(tag(c)).toBe('[object ArrayBuffer]')
      expect(c.byteLength).toBeGreaterThan(0)
      expect(c.byteLength).toBeLessThanOrEqual(50000)
      chunks.push(Buffer.from(c))
    }
    expectSame(Buffer.concat(chunks), data)
    expect(await a.read()).toBeNull()
    expect(await a.read()).toBeNull()
  })

  test('readExactly across chunk boundaries (Node writes odd pieces with delays)', async () => {
    const { a, n } = await pair(side)
    const data = rnd(200 * KiB)
    const pieces = [1, 3, 7, 2, 4099, 5, 13, 65537, 1, 11]
    const reads = [2, 0, 9, 1, 5000, 70001, 3, 1, 31, 130000]
    const writing = writeInPieces(n, data, pieces)
    let off = 0
    for (const k of reads) {
      const want = Math.min(k, data.length - off)
      const got = await a.readExactly(want)
      expectArrayBuffer(got, data.subarray(off, off + want))
      off += want
    }
    expectArrayBuffer(await a.readExactly(data.length - off), data.subarray(off))
    await writing
  })

  test('writeFrame: an array of parts is one frame (u32 BE length + the bytes), parsed by hand by Node', async () => {
    const { a, n } = await pair(side)
    const rec = record(n)
    const kinds = everyKind()
    const single = ab(70000)
    await a.writeFrame(kinds.map((k) => k.value))
    await a.writeFrame(single)
    await a.writeFrame('')
    await a.writeFrame([])
    await a.writeFrame('strings too ✓')
    await a.writeFrame([new Uint8Array(0), 'x', new ArrayBuffer(0)])
    const bigParts = ['é'.repeat(20000), ab(20000), '✓'.repeat(10000)]
    await a.writeFrame(bigParts)
    await a.end()
    const frames = parseFrames(await rec.all())
    expect(frames.map((f) => f.length)).toEqual([
      kinds.reduce((s, k) => s + k.bytes.length, 0),
      70000,
      0,
      0,
      Buffer.byteLength('strings too ✓'),
      1,
      40000 + 20000 + 30000,
    ])
    expectBytes(frames[0], Buffer.concat(kinds.map((k) => k.bytes)))
    expectBytes(frames[1], single)
    expectBytes(frames[4], 'strings too ✓')
    expectBytes(frames[5], 'x')
    // Strings over the 16 KiB that are copied are encoded, never held as JS memory.
    expectBytes(frames[6], Buffer.concat(bigParts.map((p) => (typeof p === 'string' ? Buffer.from(p) : bufferOver(p)))))
  })

  test('readFrame of frames Node wrote by hand: empty, split across writes, many in one write, 10 MiB', async () => {
    const { a, n } = await pair(side)
    n.setNoDelay(true)
    const many = Array.from({ length: 300 }, (_, i) => rnd(i % 5 === 0 ? 0 : (i * 37) % 400))
    const split = rnd(100000)
    const huge = rnd(10 * MiB)
    const expected = [Buffer.alloc(0), split, ...many, huge, Buffer.alloc(0)]
    const writing = (async () => {
      n.write(frameOf(Buffer.alloc(0)))
      await sleep(5)
      const f = frameOf(split)
      // header split 1+3 bytes, then the body in three pieces
      for (const [s, e] of [
        [0, 1],
        [1, 4],
        [4, 10],
        [10, 60000],
        [60000, f.length],
      ]) {
        n.write(f.subarray(s, e))
        await sleep(5)
      }
      n.write(Buffer.concat(many.map(frameOf)))
      n.write(frameOf(huge))
      n.end(frameOf(Buffer.alloc(0)))
    })()
    for (const e of expected) expectArrayBuffer(await a.readFrame(), e)
    expect(await a.readFrame()).toBeNull()
    await writing
  })

  test('for await (const chunk of socket) collects exactly what Node sent before end()', async () => {
    const { a, n } = await pair(side)
    const data = rnd(1 * MiB + 3)
    const writing = writeInPieces(n, data, [1, 1000, 300000, 17], 2).then(() => n.end())
    const chunks = []
    for await (const c of a) {
      expect(tag(c)).toBe('[object ArrayBuffer]')
      chunks.push(Buffer.from(c))
    }
    await writing
    expectSame(Buffer.concat(chunks), data)
    expect(await a.read()).toBeNull()
  })

  test('reads issued together (read, readExactly, readFrame) complete in call order', async () => {
    const { a, n } = await pair(side)
    const body = rnd(70000)
    const reads = [a.readExactly(3), a.readFrame(), a.readExactly(0), a.read({ maxBytes: 2 }), a.readExactly(5)]
    await writeInPieces(n, Buffer.concat([Buffer.from('abc'), frameOf(body), Buffer.from('xy12345')]), [2, 9000, 3])
    const [r1, r2, r3, r4, r5] = await Promise.all(reads)
    expectArrayBuffer(r1, 'abc')
    expectArrayBuffer(r2, body)
    expectArrayBuffer(r3, '')
    expectArrayBuffer(r4, 'xy')
    expectArrayBuffer(r5, '12345')
  })

  test('writev of 3000 parts and writeFrame of 2000 parts (more than IOV_MAX) arrive exactly', async () => {
    const { a, n } = await pair(side)
    const rec = record(n)
    const parts = Array.from({ length: 3000 }, (_, i) => (i % 3 === 0 ? `<${i}>` : new Uint8Array(ab(i % 50), 0)))
    const frameParts = parts.slice(0, 2000)
    await Promise.all([a.writev(parts), a.writeFrame(frameParts), a.write('|end')])
    await a.end()
    const got = await rec.all()
    const v = bytesOf(parts)
    const f = bytesOf(frameParts)
    expectSame(got, Buffer.concat([v, frameOf(f), Buffer.from('|end')]))
  })

  test('breaking out of for-await does not close the socket', async () => {
    const { a, n } = await pair(side)
    n.write('first')
    for await (const c of a) {
      expectBytes(c, 'first')
      break
    }
    expect(a.closed).toBe(false)
    n.write('second')
    expectArrayBuffer(await a.readExactly(6), 'second')
  })
})

// ---------------------------------------------------------------------------
// 2b. abio against itself
// ---------------------------------------------------------------------------
describe('abio against abio', () => {
  test('write/writev/writeFrame of every Bytes type read back by readExactly/readFrame/read', async () => {
    const { c, s } = await abioPair()
    const kinds = everyKind()
    const all = Buffer.concat(kinds.map((k) => k.bytes))
    for (const k of kinds) c.write(k.value)
    c.writev(kinds.map((k) => k.value))
    c.writeFrame(kinds.map((k) => k.value))
    c.writeFrame(new Float64Array([1, 2, 3]))
    await c.end()
    for (const k of kinds) expectArrayBuffer(await s.readExactly(k.bytes.length), k.bytes)
    expectArrayBuffer(await s.readExactly(all.length), all)
    expectArrayBuffer(await s.readFrame(), all)
    expectArrayBuffer(await s.readFrame(), bytesOf(new Float64Array([1, 2, 3])))
    expect(await s.readFrame()).toBeNull()
    expect(await s.read()).toBeNull()
  })

  test('both directions at once, 8 MiB each way, while the other side also writes', async () => {
    const { c, s } = await abioPair()
    const x = rnd(8 * MiB)
    const y = rnd(8 * MiB)
    const [, , gotX, gotY] = await Promise.all([
      c.write(x),
      s.write(y),
      s.readExactly(x.length),
      c.readExactly(y.length),
    ])
    expectArrayBuffer(gotX, x)
    expectArrayBuffer(gotY, y)
  })
})
