'use strict'
// Tests for abio's https server (design.md sections 7 and 11): serve({ tls }) against real
// peers: curl (--cacert), Node's https client (with `ca`) and `openssl s_client`. Routes, file
// routes and fetch handlers, 10 MiB bodies both ways byte for byte, keep-alive, SNI, reload of
// the certificate, client certificates, an encrypted key, the protocol versions and ALPN.
// Certificates are made at test time (helpers/tls.js); curl and openssl tests skip with a
// message when the tool is missing.

const fs = require('fs')
const https = require('https')
const crypto = require('crypto')
const cp = require('child_process')

const abio = require('..')
const { expectBytes } = require('./helpers/bytes')
const { track, closeAll } = require('./helpers/cleanup')
const { rejectionOf } = require('./helpers/throws')
const { curl } = require('./helpers/http-peers')
const { KiB, MiB, itCurl, serve, withZeros } = require('./helpers/http')
const { useTempDir, tmp } = require('./helpers/tmpdir')
const { certs, caFile, peerCN, httpsGet, expectCodedError, failureOf, expectInvalidArg } = require('./helpers/tls')

jest.setTimeout(30000)

afterEach(closeAll)

useTempDir('abio-tls-http-')

const sha256 = (x) => crypto.createHash('sha256').update(x).digest('hex')

const HAS_OPENSSL = cp.spawnSync('openssl', ['version']).status === 0
if (!HAS_OPENSSL)
  console.warn('SKIPPING the openssl s_client tests: openssl is not installed (apt-get install -y openssl)')
const itOpenssl = HAS_OPENSSL ? it : it.skip

/** The server's identity: the leaf for localhost, 127.0.0.1 and ::1, signed by the test CA. */
const leafTls = () => ({ cert: certs().leaf.cert, key: certs().leaf.key })

/** The answer of the upload handler: the body's length and sha256, as JSON. */
async function digestOf(req) {
  const body = Buffer.from(await req.arrayBuffer())
  return {
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ length: body.length, sha256: sha256(body) }),
  }
}

/** A file of `n` bytes with zeros inside, in the suite's temp directory. */
function fileOf(n) {
  const f = tmp('body.bin')
  const content = withZeros(n)
  fs.writeFileSync(f, content)
  return { file: f, content }
}

/** Runs `openssl args` with stdin closed; resolves with `{ code, stdout, stderr }`. */
function openssl(args) {
  return new Promise((resolve, reject) => {
    const proc = track('child', cp.spawn('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] }))
    let stdout = ''
    let stderr = ''
    proc.stdout.on('data', (d) => (stdout += d))
    proc.stderr.on('data', (d) => (stderr += d))
    proc.on('error', reject)
    proc.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

// ---------------------------------------------------------------------------
// One server for the byte-exactness tests: a Bytes route, a file route, a fetch handler.

describe('https: routes, file routes and fetch handlers', () => {
  let server
  let small
  let file
  let big
  beforeAll(async () => {
    small = withZeros(64 * KiB + 3)
    file = fileOf(3 * MiB + 7)
    big = crypto.randomBytes(10 * MiB)
    server = await abio.serve({
      host: '127.0.0.1',
      port: 0,
      tls: leafTls(),
      routes: {
        '/bytes': small,
        '/text': { body: 'héllo over TLS ✓', contentType: 'text/plain; charset=utf-8' },
        '/file': { file: file.file },
        '/big': big,
      },
      async fetch(req) {
        if (req.path === '/up') return digestOf(req)
        if (req.path === '/down') return { headers: { 'x-path': req.path }, body: big }
        if (req.path === '/echo') return { headers: { 'x-method': req.method }, body: await req.arrayBuffer() }
        return { status: 404 }
      },
    })
  })
  afterAll(() => server.close())

  const url = (p) => `https://127.0.0.1:${server.port}${p}`

  itCurl(
    'curl --cacert: a Bytes route, a file route and a fetch handler, byte-exact; verify result 0, HTTP/1.1',
    async () => {
      for (const [p, want] of [
        ['/bytes', small],
        ['/file', file.content],
        ['/text', Buffer.from('héllo over TLS ✓')],
        ['/down', big],
      ]) {
        const out = tmp('curl-out')
        const r = await curl([
          '--cacert',
          caFile(),
          '-o',
          out,
          '-w',
          '%{ssl_verify_result} %{http_version} %{http_code}',
          url(p),
        ])
        expect({ p, code: r.code, w: r.stdout.toString() }).toEqual({ p, code: 0, w: '0 1.1 200' })
        expectBytes(fs.readFileSync(out), want)
      }
    },
  )

  itCurl(
    'curl by name (--resolve localhost:PORT:127.0.0.1) verifies the DNS name; without --cacert it refuses (60)',
    async () => {
      const port = server.port
      const out = tmp('curl-out')
      const r = await curl([
        '--cacert',
        caFile(),
        '--resolve',
        `localhost:${port}:127.0.0.1`,
        '-o',
        out,
        `https://localhost:${port}/bytes`,
      ])
      expect(r.code).toBe(0)
      expectBytes(fs.readFileSync(out), small)
      // the test CA is not in the system's store: curl must not get the bytes
      const refused = await curl(['-o', tmp('curl-out'), url('/bytes')])
      expect(refused.code).toBe(60) // CURLE_PEER_FAILED_VERIFICATION
    },
  )

  itCurl('curl: 10 MiB up to a fetch handler (length and sha256 come back), 10 MiB down byte-exact', async () => {
    const up = fileOf(10 * MiB)
    const r = await curl([
      '--cacert',
      caFile(),
      '-H',
      'content-type: application/octet-stream',
      '--data-binary',
      `@${up.file}`,
      url('/up'),
    ])
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout.toString())).toEqual({ length: up.content.length, sha256: sha256(up.content) })
    const out = tmp('curl-out')
    const down = await curl(['--cacert', caFile(), '-o', out, '-w', '%{size_download}', url('/big')])
    expect(down.code).toBe(0)
    expect(down.stdout.toString()).toBe(String(big.length))
    expect(sha256(fs.readFileSync(out))).toBe(sha256(big))
  })

  it("Node's https.get with ca: every route byte-exact, TLS 1.3, the leaf's certificate", async () => {
    for (const [p, want, type] of [
      ['/bytes', small, 'application/octet-stream'],
      ['/file', file.content, 'application/octet-stream'],
      ['/text', Buffer.from('héllo over TLS ✓'), 'text/plain; charset=utf-8'],
    ]) {
      const r = await httpsGet(url(p))
      expect({ p, status: r.status }).toEqual({ p, status: 200 })
      expect(r.headers['content-type']).toBe(type)
      expect(r.headers['content-length']).toBe(String(want.length))
      expectBytes(r.body, want)
      expect(r.socket.getProtocol()).toBe('TLSv1.3')
      expect(r.cn).toBe('localhost')
      expect(r.socket.authorized).toBe(true)
    }
    // by name: the DNS name localhost is in the certificate
    const byName = await httpsGet(`https://localhost:${server.port}/bytes`, { family: 4 })
    expectBytes(byName.body, small)
  })

  it("Node's https.request: 10 MiB up (length + sha256 back), 10 MiB down from a route and from a fetch handler", async () => {
    const up = crypto.randomBytes(10 * MiB)
    const r = await httpsGet(url('/up'), { method: 'POST', headers: { 'content-length': up.length }, body: up })
    expect(r.status).toBe(200)
    expect(JSON.parse(r.body.toString())).toEqual({ length: up.length, sha256: sha256(up) })
    for (const p of ['/big', '/down']) {
      const d = await httpsGet(url(p))
      expect({ p, status: d.status, length: d.body.length }).toEqual({ p, status: 200, length: big.length })
      expect(d.body.equals(big)).toBe(true)
    }
    // a POST with a body echoed back by the handler, byte for byte
    const body = withZeros(100 * KiB + 1)
    const e = await httpsGet(url('/echo'), { method: 'PUT', body })
    expect(e.headers['x-method']).toBe('PUT')
    expectBytes(e.body, body)
  })

  it('ALPN: a client offering http/1.1 gets it; TLS 1.2 works too; a client offering only TLS 1.1 is refused', async () => {
    const a = await httpsGet(url('/bytes'), { ALPNProtocols: ['http/1.1'] })
    expect(a.socket.alpnProtocol).toBe('http/1.1')
    const t12 = await httpsGet(url('/bytes'), { maxVersion: 'TLSv1.2', ALPNProtocols: ['http/1.1'] })
    expect(t12.socket.getProtocol()).toBe('TLSv1.2')
    expect(t12.socket.alpnProtocol).toBe('http/1.1')
    expectBytes(t12.body, small)
    // TLS 1.0 and 1.1 are not spoken (the client has to lower OpenSSL's security level to offer them)
    const old = { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }
    expectCodedError(await rejectionOf(httpsGet(url('/bytes'), old)))
    // ... and the server still answers
    expectBytes((await httpsGet(url('/bytes'))).body, small)
  })

  it('keep-alive: an https.Agent with keepAlive and maxSockets 1 makes 20 requests over one TLS connection', async () => {
    const agent = track('agent', new https.Agent({ keepAlive: true, maxSockets: 1, ca: certs().ca.cert }))
    const sockets = new Set()
    let handshakes = 0
    const results = []
    for (let i = 0; i < 20; i++) {
      const r = await new Promise((resolve, reject) => {
        const req = https.get(url(i % 2 ? '/bytes' : '/text'), { agent }, (res) => {
          const chunks = []
          res.on('data', (c) => chunks.push(c))
          res.on('end', () => resolve(Buffer.concat(chunks)))
          res.on('error', reject)
        })
        req.on('socket', (s) => {
          if (!sockets.has(s)) s.once('secureConnect', () => handshakes++)
          sockets.add(s)
        })
        req.on('error', reject)
      })
      results.push(r)
    }
    expect(sockets.size).toBe(1)
    expect(handshakes).toBe(1)
    results.forEach((r, i) => expectBytes(r, i % 2 ? small : Buffer.from('héllo over TLS ✓')))
  })

  itOpenssl(
    'openssl s_client -alpn http/1.1 -CAfile: TLSv1.3, verification OK, ALPN http/1.1; -tls1_2 too',
    async () => {
      const base = [
        's_client',
        '-connect',
        `127.0.0.1:${server.port}`,
        '-alpn',
        'http/1.1',
        '-CAfile',
        caFile(),
        '-verify_return_error',
      ]
      const brief = await openssl([...base, '-brief'])
      const briefOut = brief.stdout + brief.stderr
      expect({ code: brief.code, out: briefOut }).toEqual({
        code: 0,
        out: expect.stringContaining('Protocol version: TLSv1.3'),
      })
      expect(briefOut).toContain('Verification: OK')
      expect(briefOut).toMatch(/Peer certificate: CN ?= ?localhost/)
      // -brief does not print the ALPN protocol: the full output does
      const full = await openssl(base)
      expect(full.code).toBe(0)
      expect(full.stdout).toContain('ALPN protocol: http/1.1')
      expect(full.stdout).toMatch(/New, TLSv1\.3, Cipher is /)
      expect(full.stdout).toContain('Verify return code: 0 (ok)')
      const t12 = await openssl([...base, '-tls1_2'])
      expect(t12.code).toBe(0)
      expect(t12.stdout).toMatch(/New, TLSv1\.2, Cipher is /)
      expect(t12.stdout).toContain('ALPN protocol: http/1.1')
    },
  )
})

// ---------------------------------------------------------------------------

describe('https: identities', () => {
  /** Two identities chosen by SNI: localhost (first) and other.test. */
  const sniTls = () => [
    { serverName: 'localhost', cert: certs().leaf.cert, key: certs().leaf.key },
    { serverName: 'other.test', cert: certs().other.cert, key: certs().other.key },
  ]

  it("SNI: tls: [two identities] — each servername gets its certificate (Node's https), no SNI gets the first", async () => {
    const s = await serve({ host: '127.0.0.1', port: 0, tls: sniTls(), routes: { '/x': { body: 'x' } } })
    const url = `https://127.0.0.1:${s.port}/x`
    const other = await httpsGet(url, { servername: 'other.test' })
    expect(other.cn).toBe('other.test')
    expect(other.body.toString()).toBe('x')
    const local = await httpsGet(url, { servername: 'localhost' })
    expect(local.cn).toBe('localhost')
    // Node sends no SNI to an IP address: the first identity answers
    const none = await httpsGet(url)
    expect(none.cn).toBe('localhost')
    // a name neither identity has: the first answers, and its certificate does not verify for that name
    const unknown = await rejectionOf(httpsGet(url, { servername: 'nobody.test' }))
    expect(unknown.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID')
  })

  itCurl('SNI with curl: other.test and localhost by name, each verified against its own certificate', async () => {
    const s = await serve({ host: '127.0.0.1', port: 0, tls: sniTls(), routes: { '/x': { body: 'sni' } } })
    for (const name of ['other.test', 'localhost']) {
      const r = await curl([
        '--cacert',
        caFile(),
        '--resolve',
        `${name}:${s.port}:127.0.0.1`,
        '-w',
        ' %{ssl_verify_result}',
        `https://${name}:${s.port}/x`,
      ])
      expect({ name, code: r.code, out: r.stdout.toString() }).toEqual({ name, code: 0, out: 'sni 0' })
    }
  })

  it('reload({ tls }): an open keep-alive connection still answers; a new connection gets the new certificate', async () => {
    const s = await serve({ host: '127.0.0.1', port: 0, tls: leafTls(), routes: { '/x': { body: 'same route' } } })
    const url = `https://127.0.0.1:${s.port}/x`
    const agent = track('agent', new https.Agent({ keepAlive: true, maxSockets: 1, ca: certs().ca.cert }))
    const first = await httpsGet(url, { agent })
    expect(first.cn).toBe('localhost')
    await s.reload({ tls: { cert: certs().renewed.cert, key: certs().renewed.key } })
    const again = await httpsGet(url, { agent })
    expect(again.socket).toBe(first.socket) // the same TLS connection, not a new handshake
    expect(again.cn).toBe('localhost')
    expect(again.body.toString()).toBe('same route')
    const fresh = await httpsGet(url)
    expect(fresh.cn).toBe('localhost renewed')
    expect(fresh.body.toString()).toBe('same route')
  })

  it('reload({ tls }) with a key that does not match: ABIO_ERR_INVALID_ARG, the old certificate stays', async () => {
    const s = await serve({ host: '127.0.0.1', port: 0, tls: leafTls(), routes: { '/x': { body: 'x' } } })
    const bad = { cert: certs().renewed.cert, key: certs().mismatchedKey }
    expectInvalidArg(await failureOf(() => s.reload({ tls: bad })))
    expect((await httpsGet(`https://127.0.0.1:${s.port}/x`)).cn).toBe('localhost')
  })

  it('requestCert + ca: a client with a certificate signed by ca is served; one without, or self-signed, is refused', async () => {
    const { ca, client, selfSigned } = certs()
    const s = await serve({
      host: '127.0.0.1',
      port: 0,
      tls: { ...leafTls(), ca: ca.cert, requestCert: true },
      routes: { '/x': { body: 'for clients with a certificate' } },
    })
    const url = `https://127.0.0.1:${s.port}/x`
    const ok = await httpsGet(url, { cert: client.cert, key: client.key })
    expect(ok.status).toBe(200)
    expect(ok.body.toString()).toBe('for clients with a certificate')
    // without a certificate: TLS 1.3 finishes the client's handshake first, then the server's
    // alert (certificate_required) or its close ends the request; either way an error with a code
    const none = await rejectionOf(httpsGet(url))
    expectCodedError(none)
    const untrusted = await rejectionOf(httpsGet(url, { cert: selfSigned.cert, key: selfSigned.key }))
    expectCodedError(untrusted)
    // the server goes on
    expect((await httpsGet(url, { cert: client.cert, key: client.key })).status).toBe(200)
  })

  it('an encrypted PKCS#8 key with its passphrase; PEM given as string, Buffer, Uint8Array at an offset or ArrayBuffer', async () => {
    const { encrypted, leaf } = certs()
    const s = await serve({ host: '127.0.0.1', port: 0, tls: encrypted, routes: { '/x': { body: 'encrypted key' } } })
    const r = await httpsGet(`https://127.0.0.1:${s.port}/x`)
    expect(r.cn).toBe('localhost')
    expect(r.body.toString()).toBe('encrypted key')

    const atOffset = (str) => {
      const b = Buffer.from(`garbage${str}`)
      return new Uint8Array(b.buffer, b.byteOffset + 7, b.length - 7)
    }
    const bytes = await serve({
      host: '127.0.0.1',
      port: 0,
      tls: { cert: atOffset(leaf.cert), key: new Uint8Array(Buffer.from(leaf.key)).buffer },
      routes: { '/x': { body: 'bytes' } },
    })
    expect((await httpsGet(`https://127.0.0.1:${bytes.port}/x`)).body.toString()).toBe('bytes')
    const buf = await serve({
      host: '127.0.0.1',
      port: 0,
      tls: { cert: Buffer.from(leaf.cert), key: Buffer.from(leaf.key) },
      routes: { '/x': { body: 'buf' } },
    })
    expect((await httpsGet(`https://127.0.0.1:${buf.port}/x`)).body.toString()).toBe('buf')
    expect(peerCN((await httpsGet(`https://127.0.0.1:${buf.port}/x`)).socket)).toBe('localhost')
  })

  it('an http:// request to the https port is not served (an error or a 4xx); the server goes on', async () => {
    const s = await serve({ host: '127.0.0.1', port: 0, tls: leafTls(), routes: { '/x': { body: 'x' } } })
    const http = require('http')
    const plain = await new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: s.port, path: '/x', agent: false }, (res) => {
        res.resume()
        resolve({ status: res.statusCode })
      })
      req.on('error', (e) => resolve({ code: e.code }))
    })
    if (plain.status !== undefined) expect(plain.status).toBeGreaterThanOrEqual(400)
    else expect(typeof plain.code).toBe('string')
    expect((await httpsGet(`https://127.0.0.1:${s.port}/x`)).body.toString()).toBe('x')
  })
})
