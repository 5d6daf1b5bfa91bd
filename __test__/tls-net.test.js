'use strict'
// Tests for TLS sockets (design.md sections 6 and 11): abio listen({ tls }) against Node's
// tls.connect, and abio connect({ tls }) against Node's tls.createServer, with certificates made
// at test time (helpers/tls.js). write, writev, read, readExactly and iteration carry exact
// bytes both ways (1 MiB and odd sizes around TLS's 16 KiB records), frames, sendFile of a
// 32 MiB file (read and encrypted; sha256 on the Node side), half-close, and the TLS facts a
// socket tells: encrypted, alpnProtocol, getProtocol(). Then verification on connect
// (Node's codes), client certificates on listen, and abio to abio.

const fs = require('fs')
const crypto = require('crypto')

const abio = require('..')
const { expectBytes, bytesOf } = require('./helpers/bytes')
const { rejectionOf } = require('./helpers/throws')
const { closeAll } = require('./helpers/cleanup')
const { useTempDir, tmp } = require('./helpers/tmpdir')
const { MiB, sleep, rnd, record, expectArrayBuffer, expectSame, frameOf, parseFrames } = require('./helpers/net')
const { abioServer, abioConnect, nodeServer, nodeConnect, writeInPieces } = require('./helpers/net')
const { certs, tlsServer, tlsConnect, TLS_SIDES, tlsPair, expectCodedError } = require('./helpers/tls')

jest.setTimeout(30000)

afterEach(closeAll)

useTempDir('abio-tls-net-')

const sha256 = (x) => crypto.createHash('sha256').update(x).digest('hex')
const ODD_SIZES = [1, 7, 16383, 16384, 16385, 100003]

/** Reads exactly `n` bytes from an abio socket with read() (whatever chunks it gives). */
async function readAll(a, n) {
  const chunks = []
  let got = 0
  while (got < n) {
    const c = await a.read()
    if (c === null) break
    chunks.push(Buffer.from(c))
    got += c.byteLength
  }
  return Buffer.concat(chunks)
}

describe.each(TLS_SIDES)('bytes: %s', (_, side) => {
  test('write: 1 MiB and odd sizes (1 B .. 100,003 B, across 16 KiB records) arrive exactly; writev of mixed kinds', async () => {
    const { a, n } = await tlsPair(side)
    const rec = record(n)
    const writes = [rnd(MiB), ...ODD_SIZES.map((k) => rnd(k))]
    for (const w of writes) await a.write(w)
    // several in flight at once, then writev of every kind of Data
    await Promise.all(writes.map((w) => a.write(new Uint8Array(w.buffer, w.byteOffset, w.length))))
    const f32 = new Float32Array([1.5, NaN, -0])
    const parts = [
      'héllo ✓',
      rnd(16385),
      new DataView(rnd(100).buffer, 3, 50),
      f32,
      new ArrayBuffer(0),
      rnd(MiB).buffer,
    ]
    await a.writev(parts)
    await a.end()
    const want = Buffer.concat([...writes, ...writes, bytesOf(parts)])
    expectSame(await rec.all(), want)
  })

  test('read, readExactly and iteration: what Node writes in odd pieces arrives exactly', async () => {
    const { a, n } = await tlsPair(side, { abioOptions: { allowHalfOpen: true }, nodeOptions: { allowHalfOpen: true } })
    const first = rnd(MiB + 3)
    n.write(first)
    expectArrayBuffer(await a.readExactly(first.length), first)
    const second = rnd(300000)
    await writeInPieces(n, second, ODD_SIZES, 0)
    expectSame(await readAll(a, second.length), second)
    // iteration to the end of the stream
    const third = rnd(MiB / 2)
    n.end(third)
    const chunks = []
    for await (const c of a) chunks.push(Buffer.from(c))
    expectSame(Buffer.concat(chunks), third)
    expect(await a.read()).toBeNull()
  })

  test('frames: writeFrame (one part and several) arrive as u32 length + bytes; readFrame reads those Node writes in odd pieces', async () => {
    const { a, n } = await tlsPair(side)
    const rec = record(n)
    const bodies = [rnd(0), rnd(1), rnd(16384), rnd(MiB)]
    for (const b of bodies) await a.writeFrame(b)
    await a.writeFrame(['several ', rnd(20000), 'parts'])
    // Node -> abio
    const toAbio = [rnd(5), rnd(70000), Buffer.alloc(0), rnd(MiB + 1)]
    await writeInPieces(n, Buffer.concat(toAbio.map(frameOf)), ODD_SIZES, 0)
    for (const b of toAbio) expectArrayBuffer(await a.readFrame(), b)
    await a.end()
    const frames = parseFrames(await rec.all())
    expect(frames.length).toBe(bodies.length + 1)
    bodies.forEach((b, i) => expectSame(frames[i], b))
    expect(frames[4].length).toBe(8 + 20000 + 5)
    expectBytes(frames[4].subarray(0, 8), 'several ')
    expectBytes(frames[4].subarray(8 + 20000), 'parts')
  })

  test('sendFile: a 32 MiB file arrives byte-exact (sha256 on the Node side); a part by offset and length too', async () => {
    const { a, n } = await tlsPair(side)
    const content = rnd(32 * MiB + 5)
    const file = tmp('send.bin')
    fs.writeFileSync(file, content)
    const hash = crypto.createHash('sha256')
    let length = 0
    n.on('data', (c) => {
      hash.update(c)
      length += c.length
    })
    const ended = new Promise((resolve) => n.once('end', resolve))
    expect(await a.sendFile(file)).toBe(content.length)
    expect(await a.sendFile(file, { offset: 1000, length: 70000 })).toBe(70000)
    await a.end()
    await ended
    expect(length).toBe(content.length + 70000)
    expect(hash.digest('hex')).toBe(sha256(Buffer.concat([content, content.subarray(1000, 71000)])))
  })

  test('half-close: abio end() is seen by Node (after every byte); Node ending is read() === null, then abio ends', async () => {
    // abio ends first; Node (allowHalfOpen) still writes back
    const p1 = await tlsPair(side, { nodeOptions: { allowHalfOpen: true } })
    const rec = record(p1.n)
    await p1.a.write('before the end')
    await p1.a.end()
    await rec.until(() => rec.ended, "Node's 'end'")
    expectBytes(rec.bytes(), 'before the end')
    p1.n.end('reply after your end')
    expectArrayBuffer(await p1.a.readExactly(20), 'reply after your end')
    expect(await p1.a.read()).toBeNull()

    // Node ends first: abio reads null and (allowHalfOpen false, the default) ends its side
    const p2 = await tlsPair(side)
    const rec2 = record(p2.n)
    p2.n.end('bye')
    expectArrayBuffer(await p2.a.read(), 'bye')
    expect(await p2.a.read()).toBeNull()
    await rec2.until(() => rec2.ended || rec2.closed, 'abio to end its side')
  })

  test('encrypted, getProtocol(), alpnProtocol (none offered: false); remote address and ports as on plain sockets', async () => {
    const { a, n } = await tlsPair(side)
    expect(a.encrypted).toBe(true)
    expect(a.getProtocol()).toBe('TLSv1.3')
    expect(a.alpnProtocol).toBe(false)
    expect(n.alpnProtocol).toBe(false)
    expect(a.remoteAddress).toBe('127.0.0.1')
    expect(a.remotePort).toBe(n.localPort)
    expect(a.localPort).toBe(n.remotePort)
  })

  test('ALPNProtocols on both sides agree; TLS 1.2 when Node allows only 1.2', async () => {
    const both = { abioTls: { ALPNProtocols: ['x-abio', 'http/1.1'] }, nodeOptions: { ALPNProtocols: ['x-abio'] } }
    const { a, n } = await tlsPair(side, both)
    expect([a.alpnProtocol, n.alpnProtocol]).toEqual(['x-abio', 'x-abio'])
    const t12 = await tlsPair(side, { nodeOptions: { maxVersion: 'TLSv1.2' } })
    expect([t12.a.getProtocol(), t12.n.getProtocol()]).toEqual(['TLSv1.2', 'TLSv1.2'])
    await t12.a.write('over 1.2')
    const rec = record(t12.n)
    await rec.until(() => rec.length === 8, '8 bytes')
    expectBytes(rec.bytes(), 'over 1.2')
  })
})

test('plain sockets say encrypted === false', async () => {
  const srv = await nodeServer()
  const [a] = await Promise.all([abioConnect({ host: '127.0.0.1', port: srv.port }), srv.next()])
  expect(a.encrypted).toBe(false)
  const asrv = await abioServer()
  const [, s] = await Promise.all([nodeConnect({ host: '127.0.0.1', port: asrv.port }), asrv.next()])
  expect(s.encrypted).toBe(false)
})

// ---------------------------------------------------------------------------

describe('connect({ tls }): verification', () => {
  it("tls: true trusts Mozilla's roots only: the test CA's leaf is refused (UNABLE_TO_VERIFY_LEAF_SIGNATURE, as Node)", async () => {
    const srv = await tlsServer()
    const node = await rejectionOf(tlsConnect({ port: srv.port }))
    expect(node.code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE')
    const e = await rejectionOf(abio.connect({ host: '127.0.0.1', port: srv.port, tls: true }))
    expect(e.code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE')
  })

  it.each([
    ['selfSigned', 'DEPTH_ZERO_SELF_SIGNED_CERT'],
    ['expired', 'CERT_HAS_EXPIRED'],
    ['wrongHost', 'ERR_TLS_CERT_ALTNAME_INVALID'],
  ])('a %s server certificate: %s (as Node); rejectUnauthorized: false connects', async (id, code) => {
    const c = certs()[id]
    const srv = await tlsServer({ cert: c.cert, key: c.key })
    expect((await rejectionOf(tlsConnect({ port: srv.port, ca: certs().ca.cert }))).code).toBe(code)
    const e = await rejectionOf(abio.connect({ host: '127.0.0.1', port: srv.port, tls: { ca: certs().ca.cert } }))
    expect(e.code).toBe(code)
    const ok = await abioConnect({ host: '127.0.0.1', port: srv.port, tls: { rejectUnauthorized: false } })
    const n = await srv.next()
    n.write('accepted anyway')
    expectArrayBuffer(await ok.readExactly(15), 'accepted anyway')
  })

  it('servername: sent as SNI (Node picks the other.test certificate by it) and verified against', async () => {
    const srv = await tlsServer()
    srv.server.addContext('other.test', { cert: certs().other.cert, key: certs().other.key })
    const a = await abioConnect({
      host: '127.0.0.1',
      port: srv.port,
      tls: { ca: certs().ca.cert, servername: 'other.test' },
    })
    const n = await srv.next()
    expect(n.servername).toBe('other.test')
    await a.write('sni')
    const rec = record(n)
    await rec.until(() => rec.length === 3, '3 bytes')
    // to an IP without servername no SNI is sent (as Node): the server's default certificate answers
    const b = await abioConnect({ host: '127.0.0.1', port: srv.port, tls: { ca: certs().ca.cert } })
    expect((await srv.next()).servername).toBe(false)
    b.close()
  })

  it('a client certificate (cert + key) for a Node server with requestCert; without one the server refuses', async () => {
    const { ca, client } = certs()
    const srv = await tlsServer({ ca: ca.cert, requestCert: true, rejectUnauthorized: true })
    const a = await abioConnect({
      host: '127.0.0.1',
      port: srv.port,
      tls: { ca: ca.cert, cert: client.cert, key: client.key },
    })
    const n = await srv.next()
    expect(n.authorized).toBe(true)
    expect(n.getPeerCertificate().subject.CN).toBe('abio test client')
    await a.write('with a certificate')
    const rec = record(n)
    await rec.until(() => rec.length === 18, '18 bytes')
    // without: TLS 1.3 lets the client finish first; the server's alert or close then fails the socket
    const refused = await abio.connect({ host: '127.0.0.1', port: srv.port, tls: { ca: ca.cert } }).then(
      async (s) => {
        try {
          return await rejectionOf(s.read())
        } finally {
          s.close()
        }
      },
      (e) => e,
    )
    expectCodedError(refused)
  })
})

describe('listen({ tls }): client certificates and a failed handshake', () => {
  it('requestCert + ca: a Node client with a certificate is accepted, one without is refused and never reaches onConnection', async () => {
    const { ca, leaf, client } = certs()
    const accepted = []
    const srv = await abioServer({
      host: '127.0.0.1',
      port: 0,
      tls: { cert: leaf.cert, key: leaf.key, ca: ca.cert, requestCert: true },
    })
    const without = await tlsConnect({ port: srv.port, ca: ca.cert }).then(
      (s) =>
        new Promise((resolve) => {
          // TLS 1.3: the client finishes first, then the server's alert or close arrives
          s.once('error', (e) => resolve(e))
          s.once('close', () => resolve(s.lastError || { code: 'closed' }))
          s.resume()
        }),
      (e) => e,
    )
    expect(typeof without.code).toBe('string')
    const n = await tlsConnect({ port: srv.port, ca: ca.cert, cert: client.cert, key: client.key })
    const a = await srv.next()
    accepted.push(a)
    n.write('hello with a certificate')
    expectArrayBuffer(await a.readExactly(24), 'hello with a certificate')
    await sleep(50)
    expect(accepted.length).toBe(1)
  })

  it('a plain TCP client sending an HTTP request is dropped; the server goes on', async () => {
    const srv = await abioServer({
      host: '127.0.0.1',
      port: 0,
      tls: { cert: certs().leaf.cert, key: certs().leaf.key },
    })
    const plain = await nodeConnect({ host: '127.0.0.1', port: srv.port })
    const rec = record(plain)
    plain.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    await rec.until(() => rec.ended || rec.closed, 'the server to drop the plain client')
    const n = await tlsConnect({ port: srv.port, ca: certs().ca.cert })
    const a = await srv.next()
    n.write('next')
    expectArrayBuffer(await a.readExactly(4), 'next')
  })
})

// ---------------------------------------------------------------------------

test('abio to abio: listen({ tls }) and connect({ tls: { ca } }), 4 MiB each way, frames, end', async () => {
  const { leaf, ca } = certs()
  const srv = await abioServer({ host: '127.0.0.1', port: 0, tls: { cert: leaf.cert, key: leaf.key } })
  const [c, s] = await Promise.all([
    abioConnect({ host: '127.0.0.1', port: srv.port, tls: { ca: ca.cert } }),
    srv.next(),
  ])
  expect([c.encrypted, s.encrypted]).toEqual([true, true])
  expect([c.getProtocol(), s.getProtocol()]).toEqual(['TLSv1.3', 'TLSv1.3'])
  const up = rnd(4 * MiB)
  const down = rnd(4 * MiB + 1)
  const [gotUp, gotDown] = await Promise.all([
    s.readExactly(up.length),
    c.readExactly(down.length),
    c.write(up),
    s.write(down),
  ])
  expectArrayBuffer(gotUp, up)
  expectArrayBuffer(gotDown, down)
  await c.writeFrame(['a', 'b'])
  expectArrayBuffer(await s.readFrame(), 'ab')
  await c.end()
  expect(await s.read()).toBeNull()
})
