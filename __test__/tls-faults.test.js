'use strict'
// Faults around TLS (design.md sections 3 and 11), with certificates made at test time
// (helpers/tls.js): a client that stalls in the handshake (nothing, or half a ClientHello) is
// dropped after handshakeTimeout while others are served; garbage instead of a ClientHello is
// dropped at once; a peer that resets mid-record fails abio's reading side with a code; no
// descriptor is leaked over 50 bad handshakes; bad TLS options are TypeErrors with
// ABIO_ERR_INVALID_ARG. Every time, the server goes on serving.

const net = require('net')
const tls = require('tls')
const crypto = require('crypto')

const abio = require('..')
const { track, closeAll } = require('./helpers/cleanup')
const { rejectionOf } = require('./helpers/throws')
const { within } = require('./helpers/time')
const { closedAfter } = require('./helpers/http-peers')
const { serve } = require('./helpers/http')
const { sleep, abioServer, abioConnect, expectArrayBuffer } = require('./helpers/net')
const { certs, httpsGet, tlsConnect, tlsOverRaw, tcpConnect, clientHello, openFds } = require('./helpers/tls')
const { failureOf, expectInvalidArg } = require('./helpers/tls')

jest.setTimeout(30000)

afterEach(closeAll)

const leafTls = () => ({ cert: certs().leaf.cert, key: certs().leaf.key })

/** serve({ tls }) with one route; `options` added. */
async function httpsServe(options = {}) {
  const s = await serve({
    host: '127.0.0.1',
    port: 0,
    tls: leafTls(),
    routes: { '/x': { body: 'served' } },
    ...options,
  })
  return { s, url: `https://127.0.0.1:${s.port}/x` }
}

/** The server still answers an https GET (Node's client, trusting the test CA). */
async function expectServing(url) {
  const r = await httpsGet(url)
  expect([r.status, r.body.toString()]).toEqual([200, 'served'])
}

/** A TLS application_data record header announcing 100 bytes, and 10 of them: a record cut short. */
const HALF_RECORD = Buffer.concat([Buffer.from([0x17, 0x03, 0x03, 0x00, 0x64]), crypto.randomBytes(10)])

/** Writes `bytes` on a plain socket, lets them reach the peer, then resets the connection (RST). */
async function writeThenReset(raw, bytes) {
  await new Promise((resolve) => raw.write(bytes, resolve))
  await sleep(50)
  raw.resetAndDestroy()
}

// ---------------------------------------------------------------------------

describe('a client that stalls in the handshake', () => {
  it('serve({ tls, handshakeTimeout: 300 }): silent and half-ClientHello clients are dropped after ~300 ms; others are served meanwhile', async () => {
    const { s, url } = await httpsServe({ handshakeTimeout: 300 })
    const hello = await clientHello()
    const since = Date.now()
    const silent = await tcpConnect(s.port)
    const half = await tcpConnect(s.port)
    half.write(hello.subarray(0, Math.floor(hello.length / 2)))
    const closes = [closedAfter(silent, since), closedAfter(half, since)]
    // served while the two stall
    await expectServing(url)
    await expectServing(url)
    const [a, b] = await within(Promise.all(closes), 10000)
    for (const ms of [a, b]) {
      expect(ms).toBeGreaterThanOrEqual(250)
      expect(ms).toBeLessThan(5000)
    }
    await expectServing(url)
  })

  it('listen({ tls, handshakeTimeout: 300 }): a silent client is dropped and never reaches onConnection', async () => {
    const srv = await abioServer({ host: '127.0.0.1', port: 0, tls: leafTls(), handshakeTimeout: 300 })
    const accepted = []
    const since = Date.now()
    const silent = await tcpConnect(srv.port)
    srv.next().then((a) => accepted.push(a))
    const ms = await within(closedAfter(silent, since), 10000)
    expect(ms).toBeGreaterThanOrEqual(250)
    expect(ms).toBeLessThan(5000)
    expect(accepted.length).toBe(0)
    // the server goes on
    const n = await tlsConnect({ port: srv.port, ca: certs().ca.cert })
    await sleep(20)
    expect(accepted.length).toBe(1)
    n.write('after')
    expectArrayBuffer(await accepted[0].readExactly(5), 'after')
  })
})

describe('garbage instead of a ClientHello', () => {
  it.each([
    ['random bytes', () => Buffer.concat([Buffer.from([0xde]), crypto.randomBytes(299)])],
    ['a plain HTTP request', () => Buffer.from('GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')],
    [
      'a handshake record announcing 65,535 bytes (over the 16 KiB + 2 KiB limit)',
      () => Buffer.from([0x16, 3, 1, 0xff, 0xff, 1]),
    ],
  ])('%s: the connection is closed well before the handshake timeout; the server goes on', async (_, bytes) => {
    const { s, url } = await httpsServe() // the default handshakeTimeout (10 s)
    const since = Date.now()
    const c = await tcpConnect(s.port)
    c.resume()
    c.write(bytes())
    const ms = await within(closedAfter(c, since), 8000)
    expect(ms).toBeLessThan(5000)
    await expectServing(url)
  })
})

describe('a peer that resets mid-record', () => {
  it('serve({ tls }): a client resets after half a record; the server goes on', async () => {
    const { s, url } = await httpsServe()
    const { raw } = await tlsOverRaw(await tcpConnect(s.port), { ca: certs().ca.cert, servername: 'localhost' })
    await writeThenReset(raw, HALF_RECORD)
    await expectServing(url)
    // and mid-ClientHello
    const c = await tcpConnect(s.port)
    await writeThenReset(c, (await clientHello()).subarray(0, 40))
    await expectServing(url)
  })

  it("listen({ tls }): abio's read() rejects with ECONNRESET or ABIO_ERR_TLS; the server goes on", async () => {
    const srv = await abioServer({ host: '127.0.0.1', port: 0, tls: leafTls() })
    const [{ raw }, a] = await Promise.all([
      tcpConnect(srv.port).then((r) => tlsOverRaw(r, { ca: certs().ca.cert, servername: 'localhost' })),
      srv.next(),
    ])
    const reading = a.read()
    await writeThenReset(raw, HALF_RECORD)
    const e = await within(rejectionOf(reading), 10000)
    expect(e.timedOut).toBeUndefined()
    expect(['ECONNRESET', 'ABIO_ERR_TLS']).toContain(e.code)
    const n = await tlsConnect({ port: srv.port, ca: certs().ca.cert })
    const b = await srv.next()
    n.write('next one')
    expectArrayBuffer(await b.readExactly(8), 'next one')
  })

  it("connect({ tls }): a server resets after half a record; abio's read() rejects with ECONNRESET or ABIO_ERR_TLS", async () => {
    const context = tls.createSecureContext(leafTls())
    const server = track('node-server', net.createServer())
    const accepted = new Promise((resolve) =>
      server.once('connection', (raw) => {
        track('node-socket', raw)
        raw.on('error', () => {})
        resolve(tlsOverRaw(raw, { server: true, secureContext: context }))
      }),
    )
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
    const [a, { raw }] = await Promise.all([
      abioConnect({ host: '127.0.0.1', port: server.address().port, tls: { ca: certs().ca.cert } }),
      accepted,
    ])
    const reading = a.read()
    await writeThenReset(raw, HALF_RECORD)
    const e = await within(rejectionOf(reading), 10000)
    expect(e.timedOut).toBeUndefined()
    expect(['ECONNRESET', 'ABIO_ERR_TLS']).toContain(e.code)
  })
})

describe('descriptors', () => {
  it('50 bad handshakes (garbage, a reset mid-ClientHello, a stall past handshakeTimeout) leak no descriptor', async () => {
    const { s, url } = await httpsServe({ handshakeTimeout: 300 })
    const hello = await clientHello()
    await expectServing(url) // whatever the server opens once is open before counting
    await sleep(100)
    const before = openFds()
    const stalls = []
    for (let i = 0; i < 50; i++) {
      const c = await tcpConnect(s.port)
      c.resume()
      if (i % 5 === 4) {
        stalls.push(closedAfter(c, Date.now())) // the server drops it after 300 ms
      } else if (i % 2) {
        await writeThenReset(c, hello.subarray(0, 20 + i))
      } else {
        c.write(crypto.randomBytes(64 + i))
        await within(closedAfter(c, Date.now()), 8000)
        c.destroy()
      }
    }
    await within(Promise.all(stalls), 10000)
    await expectServing(url)
    // the server may close its side a moment after the client's: wait for the count to settle
    let after = openFds()
    for (let i = 0; i < 50 && after > before + 3; i++) {
      await sleep(100)
      after = openFds()
    }
    expect(after).toBeLessThanOrEqual(before + 3)
  })
})

// ---------------------------------------------------------------------------

describe('bad TLS options: TypeError ABIO_ERR_INVALID_ARG (thrown or rejected)', () => {
  const c = () => certs()
  const SERVER_CASES = [
    ['a cert that is not PEM', () => ({ cert: 'not a certificate', key: c().leaf.key })],
    ['a key that is not PEM', () => ({ cert: c().leaf.cert, key: 'not a key' })],
    ['no key', () => ({ cert: c().leaf.cert })],
    ['a key that does not match the cert', () => ({ cert: c().leaf.cert, key: c().mismatchedKey })],
    ['an encrypted key with the wrong passphrase', () => ({ ...c().encrypted, passphrase: 'wrong' })],
    ['an encrypted key without its passphrase', () => ({ cert: c().encrypted.cert, key: c().encrypted.key })],
    ['ca that is not PEM', () => ({ ...leafTls(), ca: 'not a certificate', requestCert: true })],
    ['an empty list of identities', () => []],
  ]

  it.each(SERVER_CASES)('serve({ tls }) and listen({ tls }) with %s', async (what, tls) => {
    expectInvalidArg(await failureOf(() => abio.serve({ host: '127.0.0.1', port: 0, tls: tls() })), `serve: ${what}`)
    expectInvalidArg(
      await failureOf(() => abio.listen({ host: '127.0.0.1', port: 0, tls: tls() }, () => {})),
      `listen: ${what}`,
    )
  })

  it.each([
    ['ca that is not PEM', () => ({ ca: 'not a certificate' })],
    ['a key that does not match the cert', () => ({ cert: c().client.cert, key: c().mismatchedKey })],
    [
      'an encrypted key with the wrong passphrase',
      () => ({ cert: c().client.cert, key: c().encrypted.key, passphrase: 'x' }),
    ],
    ['servername not a string', () => ({ servername: 42 })],
  ])('connect({ tls }) with %s', async (what, tls) => {
    const srv = await abioServer({ host: '127.0.0.1', port: 0, tls: leafTls() })
    expectInvalidArg(await failureOf(() => abio.connect({ host: '127.0.0.1', port: srv.port, tls: tls() })), what)
  })

  it('handshakeTimeout that is not a non-negative number: TypeError or RangeError', async () => {
    for (const handshakeTimeout of ['300', -1, NaN]) {
      const e = await failureOf(() => abio.serve({ host: '127.0.0.1', port: 0, tls: leafTls(), handshakeTimeout }))
      expect({ handshakeTimeout, code: e.code }).toEqual({ handshakeTimeout, code: 'ABIO_ERR_INVALID_ARG' })
      expect(['TypeError', 'RangeError']).toContain(e.name)
    }
  })
})
