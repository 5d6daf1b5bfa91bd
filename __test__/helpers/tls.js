'use strict'
// What the TLS suites (tls-*.test.js) share: certificates made at test time (never committed),
// Node's https/tls peers (tracked, closed after each test), the CA as a file for curl and
// NODE_EXTRA_CA_CERTS, and the checks of Node's own error codes.
//
// Certificates are made with node-forge from RSA 2048 keys of Node's
// crypto.generateKeyPairSync (forge's own key generation is slow): measured here, the whole set
// takes ~1 s, most of it the three key pairs; the openssl CLI takes as long, cannot back-date a
// certificate without an `openssl ca` database, and would make every TLS test need a binary.
// The set is made once per test process: jest gives every suite file its own module registry,
// but core modules are shared, so the PEMs (strings) are kept under a symbol on `tls`.
//
// The set (all PEM strings):
//   ca            a test CA                                     { cert, key }
//   leaf          CN localhost, DNS localhost, IP 127.0.0.1, ::1, signed by ca
//   renewed       CN localhost renewed, same names as leaf, signed by ca (reload tests)
//   other         CN other.test, DNS other.test, signed by ca (SNI tests)
//   expired       as leaf, valid from 2 years ago to 1 year ago, signed by ca
//   selfSigned    as leaf, self-signed
//   wrongHost     CN wrong.example, DNS wrong.example, signed by ca
//   client        CN abio test client, clientAuth, signed by ca
//   otherCa       a second CA nothing is signed by: trusting only it makes ca's leaves untrusted
//   encrypted     leaf's certificate with its key as an encrypted PKCS#8 PEM { cert, key, passphrase }
//   mismatchedKey a key PEM that matches none of the leaves
//   leafSpki      base64 sha256 of leaf's SubjectPublicKeyInfo (Chromium's
//                 --ignore-certificate-errors-spki-list)

const fs = require('fs')
const path = require('path')
const net = require('net')
const tls = require('tls')
const https = require('https')
const crypto = require('crypto')
const forge = require('node-forge')

const { track } = require('./cleanup')
const { tmpDir } = require('./tmpdir')
const { tag } = require('./throws')
const { quiet } = require('./net')
const { abioServer, abioConnect } = require('./net')

const DAY = 24 * 3600 * 1000
const CACHE = Symbol.for('abio.test.tlsCertificates')

/** A fresh RSA 2048 key pair from Node, as forge keys and as a PKCS#8 PEM. */
function keyPair() {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' })
  return {
    pem,
    keyObject: privateKey,
    priv: forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs1', format: 'pem' })),
    pub: forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' })),
  }
}

/**
 * One X.509 v3 certificate. `issuer` is `{ cert, keys }` (forge) or null for self-signed.
 * `isCa` makes a CA (keyCertSign); otherwise a leaf for `usage` ('serverAuth' or 'clientAuth')
 * with the names `dns` and `ips` in its subjectAltName.
 */
function certificate({ cn, keys, issuer = null, isCa = false, dns = [], ips = [], usage = 'serverAuth', from, to }) {
  const cert = forge.pki.createCertificate()
  cert.publicKey = keys.pub
  cert.serialNumber = '01' + crypto.randomBytes(8).toString('hex') // positive, unique
  cert.validity.notBefore = from || new Date(Date.now() - DAY)
  cert.validity.notAfter = to || new Date(Date.now() + 30 * DAY)
  const subject = [
    { name: 'commonName', value: cn },
    { name: 'organizationName', value: 'abio tests' },
  ]
  cert.setSubject(subject)
  cert.setIssuer(issuer ? issuer.cert.subject.attributes : subject)
  const ext = [
    { name: 'basicConstraints', cA: isCa, critical: true },
    { name: 'subjectKeyIdentifier' },
    {
      name: 'authorityKeyIdentifier',
      keyIdentifier: (issuer ? issuer.cert : cert).generateSubjectKeyIdentifier().getBytes(),
    },
  ]
  if (isCa) ext.push({ name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true })
  else {
    ext.push({ name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true })
    ext.push({ name: 'extKeyUsage', [usage]: true })
    const altNames = [...dns.map((value) => ({ type: 2, value })), ...ips.map((ip) => ({ type: 7, ip }))]
    if (altNames.length) ext.push({ name: 'subjectAltName', altNames })
  }
  cert.setExtensions(ext)
  cert.sign(issuer ? issuer.keys.priv : keys.priv, forge.md.sha256.create())
  return cert
}

function make() {
  const caKeys = keyPair()
  const leafKeys = keyPair() // the leaves' key (they differ by certificate, not by key)
  const otherCaKeys = keyPair() // the second CA's, and the key that matches no leaf
  const pem = (c) => forge.pki.certificateToPem(c)

  const caCert = certificate({ cn: 'abio test CA', keys: caKeys, isCa: true })
  const ca = { cert: caCert, keys: caKeys }
  const otherCaCert = certificate({ cn: 'abio other test CA', keys: otherCaKeys, isCa: true })
  const localNames = { dns: ['localhost'], ips: ['127.0.0.1', '::1'] }
  const leaf = (o) => ({ cert: pem(certificate({ keys: leafKeys, issuer: ca, ...o })), key: leafKeys.pem })

  const leafPair = leaf({ cn: 'localhost', ...localNames })
  const passphrase = 'correct horse battery staple'
  return {
    ca: { cert: pem(caCert), key: caKeys.pem },
    otherCa: { cert: pem(otherCaCert), key: otherCaKeys.pem },
    leaf: leafPair,
    renewed: leaf({ cn: 'localhost renewed', ...localNames }),
    other: leaf({ cn: 'other.test', dns: ['other.test'] }),
    expired: leaf({
      cn: 'localhost',
      ...localNames,
      from: new Date(Date.now() - 730 * DAY),
      to: new Date(Date.now() - 365 * DAY),
    }),
    selfSigned: {
      cert: pem(certificate({ cn: 'localhost', keys: leafKeys, ...localNames })),
      key: leafKeys.pem,
    },
    wrongHost: leaf({ cn: 'wrong.example', dns: ['wrong.example'] }),
    client: leaf({ cn: 'abio test client', usage: 'clientAuth' }),
    encrypted: {
      cert: leafPair.cert,
      passphrase,
      key: leafKeys.keyObject.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase }),
    },
    mismatchedKey: otherCaKeys.pem,
    leafSpki: crypto
      .createHash('sha256')
      .update(crypto.createPublicKey(leafPair.cert).export({ type: 'spki', format: 'der' }))
      .digest('base64'),
  }
}

/** The certificate set (see the top of this file), made once per test process. */
function certs() {
  if (!tls[CACHE]) Object.defineProperty(tls, CACHE, { value: Object.freeze(make()) })
  return tls[CACHE]
}

/** The test CA's certificate in a file of this suite's temp directory (useTempDir), for curl and NODE_EXTRA_CA_CERTS. */
function caFile() {
  const f = path.join(tmpDir(), 'ca.pem')
  if (!fs.existsSync(f)) fs.writeFileSync(f, certs().ca.cert)
  return f
}

/** The subject CN of the certificate a Node TLS socket's peer presented. */
const peerCN = (sock) => sock.getPeerCertificate().subject.CN

// ---------------------------------------------------------------------------
// Node peers

/**
 * A Node `https.createServer` with `handler(req, res, body)` called once the body is read.
 * `seen.connections` counts TCP connections, `seen.secure` finished handshakes (with the SNI
 * name each asked for), `seen.requests` the requests. `options` are https.createServer's
 * (default: the leaf certificate).
 */
async function httpsServer(handler, options = {}) {
  const seen = { connections: 0, secure: [], requests: [] }
  const { leaf } = certs()
  const server = https.createServer({ cert: leaf.cert, key: leaf.key, ...options }, (req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      seen.requests.push({
        method: req.method,
        url: req.url,
        headers: req.headers,
        body,
        servername: req.socket.servername,
      })
      handler(req, res, body)
    })
  })
  server.on('connection', (sock) => {
    seen.connections++
    track('node-socket', quiet(sock))
  })
  server.on('secureConnection', (sock) => seen.secure.push({ servername: sock.servername, alpn: sock.alpnProtocol }))
  server.on('tlsClientError', () => {})
  track('node-server', server)
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = server.address().port
  return { server, port, url: `https://127.0.0.1:${port}`, seen }
}

/**
 * A Node `tls.createServer` (default: the leaf certificate); `next()` resolves with the next
 * TLS socket, after its handshake.
 */
async function tlsServer(options = {}) {
  const { leaf } = certs()
  const queue = []
  const waiters = []
  const server = tls.createServer({ cert: leaf.cert, key: leaf.key, ...options }, (s) => {
    track('node-socket', quiet(s))
    if (waiters.length) waiters.shift()(s)
    else queue.push(s)
  })
  server.on('tlsClientError', () => {})
  server.on('connection', (s) => track('node-socket', quiet(s)))
  track('node-server', server)
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    server,
    port: server.address().port,
    next: () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((resolve) => waiters.push(resolve))),
  }
}

/** A Node `tls.connect`, resolved after the handshake (rejected with its error otherwise). */
function tlsConnect(options) {
  return new Promise((resolve, reject) => {
    const s = track('node-socket', tls.connect({ host: '127.0.0.1', ...options }))
    s.once('error', reject)
    s.once('secureConnect', () => {
      s.off('error', reject)
      resolve(quiet(s))
    })
  })
}

/**
 * TLS over a plain TCP socket that the test keeps a hand on: `raw` is the net.Socket, `tls`
 * the TLSSocket running over it through a stream (so the test can write raw bytes between
 * records, or reset the TCP connection mid-record). `server` picks the side; `options` are
 * tls.connect's or TLSSocket's. Resolves after the handshake.
 */
function tlsOverRaw(raw, { server = false, ...options } = {}) {
  const { Duplex } = require('stream')
  const pipe = new Duplex({
    read() {},
    write(chunk, enc, cb) {
      if (raw.destroyed) return cb()
      raw.write(chunk, () => cb())
    },
    final(cb) {
      raw.end()
      cb()
    },
  })
  raw.on('data', (d) => pipe.push(d))
  raw.on('end', () => pipe.push(null))
  raw.on('close', () => pipe.destroy())
  const t = server ? new tls.TLSSocket(pipe, { isServer: true, ...options }) : tls.connect({ socket: pipe, ...options })
  track('node-socket', t)
  return new Promise((resolve, reject) => {
    t.once('error', reject)
    t.once(server ? 'secure' : 'secureConnect', () => {
      t.off('error', reject)
      resolve({ raw, tls: quiet(t) })
    })
  })
}

const TLS_SIDES = [
  ['abio connect({ tls }) -> Node tls.createServer', 'client'],
  ['Node tls.connect -> abio listen({ tls })', 'server'],
]

/**
 * A TLS pair over 127.0.0.1 after the handshake: `a` is abio's Socket, `n` Node's TLSSocket.
 * `side` 'client': abio connects (trusting the test CA) to a Node tls.createServer; 'server':
 * Node's tls.connect (trusting the test CA) to an abio listen({ tls }) (the leaf). `abioTls` is
 * added to abio's `tls` options, `abioOptions` to connect/listen's, `nodeOptions` to Node's.
 */
async function tlsPair(side, { abioTls = {}, abioOptions = {}, nodeOptions = {} } = {}) {
  const { ca, leaf } = certs()
  if (side === 'client') {
    const srv = await tlsServer(nodeOptions)
    const [a, n] = await Promise.all([
      abioConnect({ host: '127.0.0.1', port: srv.port, tls: { ca: ca.cert, ...abioTls }, ...abioOptions }),
      srv.next(),
    ])
    return { a, n, srv }
  }
  const srv = await abioServer({
    host: '127.0.0.1',
    port: 0,
    tls: { cert: leaf.cert, key: leaf.key, ...abioTls },
    ...abioOptions,
  })
  const [n, a] = await Promise.all([tlsConnect({ port: srv.port, ca: ca.cert, ...nodeOptions }), srv.next()])
  return { a, n, srv }
}

/** A plain TCP connection (tracked; errors kept on `lastError`). */
function tcpConnect(port, host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const s = track('node-socket', net.connect({ port, host }))
    s.once('error', reject)
    s.once('connect', () => {
      s.off('error', reject)
      resolve(quiet(s))
    })
  })
}

/** The first bytes Node's TLS client sends (a whole ClientHello record), caught by a plain TCP server. */
async function clientHello(servername = 'localhost') {
  const server = track('node-server', net.createServer())
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const got = new Promise((resolve) =>
    server.once('connection', (s) => {
      track('node-socket', quiet(s))
      let buf = Buffer.alloc(0)
      s.on('data', (d) => {
        buf = Buffer.concat([buf, d])
        if (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) {
          resolve(buf.subarray(0, 5 + buf.readUInt16BE(3)))
          s.destroy()
        }
      })
    }),
  )
  const c = quiet(track('node-socket', tls.connect({ port: server.address().port, host: '127.0.0.1', servername })))
  const hello = await got
  c.destroy()
  return hello
}

/**
 * An https GET with Node's client: `{ status, headers, body, socket, cn }` (`cn` the subject CN
 * of the server certificate). `options` are https.request's (default: trust the test CA, a
 * fresh connection).
 */
function httpsGet(url, options = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { ca: certs().ca.cert, agent: false, ...options }, (res) => {
      const socket = res.socket
      const cn = peerCN(socket)
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('error', reject)
      res.on('end', () =>
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks), socket, cn }),
      )
    })
    req.on('error', reject)
    req.end(options.body)
  })
}

/** The error Node's own https client gets from `url` with `options`: the reference for abio's codes. */
async function nodeHttpsError(url, options = {}) {
  try {
    await httpsGet(url, options)
  } catch (e) {
    return e
  }
  throw new Error(`Node's https client succeeded against ${url}`)
}

/** An error of any realm with a non-empty string `code`. */
function expectCodedError(e) {
  expect(Object.prototype.toString.call(e)).toBe('[object Error]')
  expect(typeof e.code).toBe('string')
  expect(e.code.length).toBeGreaterThan(0)
}

/**
 * The error `fn()` throws synchronously, or the rejection of the promise it returns: either is
 * accepted (bad TLS options may be found before or after the call starts). Fails the test if
 * it succeeds; a server or socket it made anyway is closed first.
 */
async function failureOf(fn) {
  let r
  try {
    r = fn()
  } catch (e) {
    return e
  }
  if (r == null || typeof r.then !== 'function') throw new Error(`expected a throw or a rejection, got ${tag(r)}`)
  let made
  try {
    made = await r
  } catch (e) {
    return e
  }
  try {
    if (made && typeof made.close === 'function') await made.close()
  } catch {}
  throw new Error('expected a throw or a rejection, the call succeeded')
}

/** `e` is abio's TypeError for a bad argument (ABIO_ERR_INVALID_ARG) with a message. */
function expectInvalidArg(e, what = '') {
  expect({ what, name: e.name, code: e.code }).toEqual({ what, name: 'TypeError', code: 'ABIO_ERR_INVALID_ARG' })
  expect(typeof e.message).toBe('string')
}

/** Descriptors this process has open now (Linux: /proc/self/fd). */
const openFds = () => fs.readdirSync('/proc/self/fd').length

module.exports = {
  certs,
  caFile,
  peerCN,
  quiet,
  httpsServer,
  tlsServer,
  tlsConnect,
  tlsOverRaw,
  TLS_SIDES,
  tlsPair,
  tcpConnect,
  clientHello,
  httpsGet,
  nodeHttpsError,
  expectCodedError,
  failureOf,
  expectInvalidArg,
  openFds,
}
