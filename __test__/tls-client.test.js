'use strict'
// Tests for abio's https client (design.md sections 7 and 11): request() and download() against
// Node's `https.createServer` with certificates made at test time (helpers/tls.js). Bodies
// byte for byte, keep-alive, ALPN, SNI (`servername`), client certificates; certificates that
// must be refused (self-signed, expired, wrong host, an untrusted CA), each with the code
// Node's own https client gets for the same server (checked first, as the reference), and
// `rejectUnauthorized: false`; NODE_EXTRA_CA_CERTS in a child process; redirects between http
// and https; a plain HTTP server at an https:// URL.

const fs = require('fs')
const net = require('net')
const crypto = require('crypto')

const abio = require('..')
const { expectBytes } = require('./helpers/bytes')
const { track, closeAll } = require('./helpers/cleanup')
const { rejectionOf, tag } = require('./helpers/throws')
const { within } = require('./helpers/time')
const { ROOT, KiB, MiB, nodeChild, withZeros } = require('./helpers/http')
const { useTempDir, tmp, tmpDir } = require('./helpers/tmpdir')
const { certs, caFile, httpsServer, nodeHttpsError, expectCodedError } = require('./helpers/tls')
const { nodeHttpServer } = require('./helpers/http-peers')
const { failureOf, expectInvalidArg } = require('./helpers/tls')

jest.setTimeout(30000)

afterEach(closeAll)

useTempDir('abio-tls-client-')

const sha256 = (x) => crypto.createHash('sha256').update(x).digest('hex')
const text = (r) => Buffer.from(r.body).toString()

/** An https echo server: 200 with the request body, its method in `x-method`. */
const echo = (options) =>
  httpsServer((req, res, body) => {
    res.setHeader('x-method', req.method)
    res.end(body)
  }, options)

// ---------------------------------------------------------------------------

describe('request() over https', () => {
  it('GET: exact bytes (1 MiB with zeros), status, lower-case headers; POST: every kind of body echoed exactly', async () => {
    const big = withZeros(MiB + 5)
    const s = await httpsServer((req, res) => {
      if (req.url === '/big') return res.writeHead(200, { 'X-Answer': 'Big' }).end(big)
      res.end('x')
    })
    const r = await abio.request(`${s.url}/big`, { ca: certs().ca.cert })
    expect(r.status).toBe(200)
    expect(r.headers.get('x-answer')).toBe('Big')
    expect(tag(r.body)).toBe('[object ArrayBuffer]')
    expectBytes(r.body, big)

    const e = await echo()
    const bodies = [
      ['string', 'héllo ✓ over TLS'],
      ['Buffer', withZeros(10 * KiB)],
      ['Uint8Array at an offset', new Uint8Array(withZeros(5000).buffer, 100, 3000)],
      ['ArrayBuffer', new Uint8Array(withZeros(777)).buffer],
      ['4 MiB', crypto.randomBytes(4 * MiB)],
    ]
    for (const [name, body] of bodies) {
      const got = await abio.request(`${e.url}/echo`, { method: 'POST', body, ca: certs().ca.cert })
      expect({ name, status: got.status, method: got.headers.get('x-method') }).toEqual({
        name,
        status: 200,
        method: 'POST',
      })
      expectBytes(got.body, typeof body === 'string' ? Buffer.from(body) : body)
    }
    expect(e.seen.requests.map((q) => q.body.length)).toEqual(
      bodies.map(([, b]) => (typeof b === 'string' ? Buffer.byteLength(b) : b.byteLength)),
    )
  })

  it('keep-alive: 10 sequential requests share one TLS connection; abio offers ALPN http/1.1 and no SNI for an IP', async () => {
    const s = await echo({ ALPNProtocols: ['http/1.1'] })
    for (let i = 0; i < 10; i++) {
      const r = await abio.request(`${s.url}/${i}`, { method: 'POST', body: `n${i}`, ca: certs().ca.cert })
      expect(text(r)).toBe(`n${i}`)
    }
    expect(s.seen.connections).toBe(1)
    expect(s.seen.secure).toEqual([{ servername: false, alpn: 'http/1.1' }])
  })

  it('servername: sent as SNI and verified against; the server picks the other.test certificate by it', async () => {
    const { other, ca } = certs()
    const s = await httpsServer((req, res) => res.end(`sni=${req.socket.servername}`))
    s.server.addContext('other.test', { cert: other.cert, key: other.key })
    const r = await abio.request(`${s.url}/`, { ca: ca.cert, servername: 'other.test' })
    expect(text(r)).toBe('sni=other.test')
    // Node's client, told the same, is the reference: it verifies other.test's certificate too
    expect(s.seen.secure.map((x) => x.servername)).toEqual(['other.test'])
    // a servername the certificate it gets does not name: refused, as Node refuses it
    const node = await nodeHttpsError(`${s.url}/`, { servername: 'nobody.test' })
    const e = await rejectionOf(abio.request(`${s.url}/`, { ca: ca.cert, servername: 'nobody.test' }))
    expect({ node: node.code, abio: e.code }).toEqual({
      node: 'ERR_TLS_CERT_ALTNAME_INVALID',
      abio: 'ERR_TLS_CERT_ALTNAME_INVALID',
    })
  })

  it('a client certificate (cert + key, and an encrypted key + passphrase) for a server that requires one', async () => {
    const { ca, client, encrypted } = certs()
    const s = await httpsServer((req, res) => res.end(`client=${req.socket.getPeerCertificate().subject.CN}`), {
      ca: ca.cert,
      requestCert: true,
      rejectUnauthorized: true,
    })
    const r = await abio.request(`${s.url}/`, { ca: ca.cert, cert: client.cert, key: client.key })
    expect(text(r)).toBe('client=abio test client')
    // the client certificate shares the leaves' key: the encrypted form of it, with its passphrase
    const r2 = await abio.request(`${s.url}/`, {
      ca: ca.cert,
      cert: client.cert,
      key: encrypted.key,
      passphrase: encrypted.passphrase,
    })
    expect(text(r2)).toBe('client=abio test client')
    // without one: refused by the server (an alert or a close), an error with a code, no hang
    const e = await within(rejectionOf(abio.request(`${s.url}/`, { ca: ca.cert })), 15000)
    expect(e.timedOut).toBeUndefined()
    expectCodedError(e)
  })
})

// ---------------------------------------------------------------------------

describe('certificates that must be refused: the code Node gets', () => {
  // [what, the server's identity, the client's ca ('default': none given), Node's code]
  const CASES = [
    ['a self-signed certificate', 'selfSigned', 'ca', 'DEPTH_ZERO_SELF_SIGNED_CERT'],
    ['an expired certificate', 'expired', 'ca', 'CERT_HAS_EXPIRED'],
    ['a certificate for another host (wrong.example)', 'wrongHost', 'ca', 'ERR_TLS_CERT_ALTNAME_INVALID'],
    [
      'a certificate from a CA the client does not trust (ca: another CA)',
      'leaf',
      'otherCa',
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    ],
    [
      "the test CA's leaf with the default trust (Mozilla's roots)",
      'leaf',
      'default',
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    ],
  ]

  it.each(CASES)(
    '%s (server: %s, client trusts: %s): request() and download() reject with %s as Node does; rejectUnauthorized: false passes',
    async (_, id, trust, code) => {
      const c = certs()
      const s = await httpsServer((req, res) => res.end('should not be read'), { cert: c[id].cert, key: c[id].key })
      const url = `${s.url}/x`
      const ca = trust === 'default' ? undefined : c[trust].cert
      const caOption = ca === undefined ? {} : { ca }

      // the reference: Node's https client with the same trust
      const node = await nodeHttpsError(url, ca === undefined ? { ca: undefined } : { ca })
      expect(node.code).toBe(code)

      const e = await rejectionOf(abio.request(url, caOption))
      expect(tag(e)).toBe('[object Error]')
      expect(e.code).toBe(code)
      expect(e.message.length).toBeGreaterThan(0)

      const file = tmp('refused.bin')
      const d = await rejectionOf(abio.download(url, file, caOption))
      expect(d.code).toBe(code)
      expect(fs.existsSync(file)).toBe(false)
      expect(fs.readdirSync(tmpDir()).filter((f) => f.startsWith('refused'))).toEqual([]) // no temp file either

      const ok = await abio.request(url, { ...caOption, rejectUnauthorized: false })
      expect(text(ok)).toBe('should not be read')
      // that connection may be kept alive, but never for a request that verifies
      expect((await rejectionOf(abio.request(url, caOption))).code).toBe(code)
    },
  )
})

// ---------------------------------------------------------------------------

describe('download() over https', () => {
  it('5 MiB to disk byte-exact (sha256), atomic, with progress', async () => {
    const content = crypto.randomBytes(5 * MiB + 11)
    const s = await httpsServer((req, res) => res.end(content))
    const file = tmp('down.bin')
    let last
    const n = await abio.download(`${s.url}/f`, file, {
      ca: certs().ca.cert,
      onProgress: (done, total) => (last = [done, total]),
    })
    expect(n).toBe(content.length)
    expect(sha256(fs.readFileSync(file))).toBe(sha256(content))
    expect(last).toEqual([content.length, content.length])
  })
})

// ---------------------------------------------------------------------------

describe('NODE_EXTRA_CA_CERTS', () => {
  /** A child process (node -e) that requests `url` with abio and no `ca`; prints the body or the error code. */
  const child = (url, env) =>
    nodeChild(
      `require(${JSON.stringify(ROOT + '/index.js')}).request(${JSON.stringify(url)})` +
        `.then((r) => console.log('body:' + Buffer.from(r.body).toString()), (e) => console.log('code:' + e.code))`,
      [],
      { env },
    )

  it('a child process started with NODE_EXTRA_CA_CERTS=<the test CA> trusts it without `ca`; without it, refused', async () => {
    const s = await httpsServer((req, res) => res.end('trusted by the environment'))
    const url = `${s.url}/`
    const trusted = await child(url, { NODE_EXTRA_CA_CERTS: caFile() }).exited
    expect({ code: trusted.code, out: trusted.stdout.trim(), err: trusted.stderr }).toEqual({
      code: 0,
      out: 'body:trusted by the environment',
      err: '',
    })
    const plain = await child(url, { NODE_EXTRA_CA_CERTS: undefined }).exited
    expect(plain.stdout.trim()).toBe('code:UNABLE_TO_VERIFY_LEAF_SIGNATURE')
  })
})

// ---------------------------------------------------------------------------

describe('redirects between http and https (fetch follows both; the origin changes, so credentials are dropped)', () => {
  const json = (r) => JSON.parse(text(r))
  const answer = (label) => (req, res, body) =>
    res.end(JSON.stringify({ label, headers: req.headers, body: body.toString() }))

  it('http -> https is followed (the `ca` option applies to the https hop); authorization is dropped', async () => {
    const target = await httpsServer(answer('https'))
    const s = await nodeHttpServer((req, res) => res.writeHead(302, { location: `${target.url}/final` }).end())
    const r = await abio.request(`${s.url}/start`, {
      ca: certs().ca.cert,
      headers: { authorization: 'Bearer x', 'x-keep': '1' },
    })
    expect(r.status).toBe(200)
    expect(r.url).toBe(`${target.url}/final`)
    const got = json(r)
    expect(got.label).toBe('https')
    expect(got.headers.authorization).toBeUndefined()
    expect(got.headers['x-keep']).toBe('1')
    // the https hop is verified: without ca it is refused
    const e = await rejectionOf(abio.request(`${s.url}/start`))
    expect(e.code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE')
  })

  it('https -> http is followed too, as fetch does (a downgrade the server asked for); 307 keeps the body', async () => {
    const target = await nodeHttpServer(answer('http'))
    const s = await httpsServer((req, res) => res.writeHead(307, { location: `${target.url}/final` }).end())
    const r = await abio.request(`${s.url}/start`, {
      method: 'POST',
      body: 'payload',
      ca: certs().ca.cert,
      headers: { authorization: 'Bearer x' },
    })
    expect(r.status).toBe(200)
    expect(r.url).toBe(`${target.url}/final`)
    const got = json(r)
    expect([got.label, got.body, got.headers.authorization]).toEqual(['http', 'payload', undefined])
  })
})

// ---------------------------------------------------------------------------

describe('peers that do not speak TLS', () => {
  it('a plain HTTP server at an https:// URL: ERR_SSL_WRONG_VERSION_NUMBER, no hang', async () => {
    const s = await nodeHttpServer((req, res) => res.end('plain'))
    const url = `https://127.0.0.1:${s.port}/`
    const r = await within(rejectionOf(abio.request(url)), 15000)
    expect(r.timedOut).toBeUndefined()
    expect(r.code).toBe('ERR_SSL_WRONG_VERSION_NUMBER')
    const d = await within(rejectionOf(abio.download(url, tmp('plain.bin'))), 15000)
    expect(d.code).toBe('ERR_SSL_WRONG_VERSION_NUMBER')
  })

  it('a server that closes the connection at once: an Error with a code, no hang', async () => {
    const server = track(
      'node-server',
      net.createServer((s) => s.destroy()),
    )
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
    const r = await within(rejectionOf(abio.request(`https://127.0.0.1:${server.address().port}/`)), 15000)
    expect(r.timedOut).toBeUndefined()
    expectCodedError(r)
  })
})

// ---------------------------------------------------------------------------

describe('bad TLS options: TypeError ABIO_ERR_INVALID_ARG (thrown or rejected)', () => {
  it.each([
    ['ca that is not PEM', () => ({ ca: 'not a certificate' })],
    ['a cert without its key', () => ({ cert: certs().client.cert })],
    ['a key that does not match the cert', () => ({ cert: certs().client.cert, key: certs().mismatchedKey })],
    [
      'an encrypted key with the wrong passphrase',
      () => ({ cert: certs().client.cert, key: certs().encrypted.key, passphrase: 'wrong' }),
    ],
    ['an encrypted key without a passphrase', () => ({ cert: certs().client.cert, key: certs().encrypted.key })],
    ['rejectUnauthorized not a boolean', () => ({ rejectUnauthorized: 'no' })],
  ])('request() and download() with %s', async (what, options) => {
    const s = await echo()
    expectInvalidArg(await failureOf(() => abio.request(`${s.url}/`, options())), `request: ${what}`)
    expectInvalidArg(await failureOf(() => abio.download(`${s.url}/`, tmp('bad.bin'), options())), `download: ${what}`)
    expect(s.seen.requests).toEqual([])
  })
})
