'use strict'
// Tests for abio's HTTP client (design.md section 7): request() and download() against real
// peers: Node's `http.createServer` in this process (and abio's own `serve` once), a raw
// `net` server for what Node's server hides (a socket destroyed mid-body), and a child
// process for the lifecycle (an idle pooled connection must not keep a process alive).
// Bodies are checked byte for byte, zero bytes included. Jest runs this file in its own
// realm, so values are recognised by their tag, not by `instanceof`.

const fs = require('fs')
const os = require('os')
const path = require('path')
const net = require('net')
const http = require('http')
const cp = require('child_process')
const crypto = require('crypto')

const abio = require('..')
const { expectBytes } = require('./helpers/bytes')
const { tag, syncThrowOf } = require('./helpers/throws')
const { track, closeAll } = require('./helpers/cleanup')
const { nodeHttpServer: nodeServer } = require('./helpers/http-peers')

jest.setTimeout(20000)

const ROOT = path.join(__dirname, '..')
const KiB = 1024
const MiB = 1024 * 1024
const sha256 = (x) => crypto.createHash('sha256').update(x).digest('hex')

/** `n` bytes with zero bytes spread through (every 7th), the rest varied. */
function withZeros(n) {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = i % 7 === 0 ? 0 : (i * 31 + 7) & 0xff
  return b
}

afterEach(closeAll)

let tmp
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'abio-client-'))
})
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

/** An echo server: answers 200 with the request body, and its method in `x-method`. */
const echo = () =>
  nodeServer((req, res, body) => {
    res.setHeader('x-method', req.method)
    res.end(body)
  })

// ---------------------------------------------------------------------------

describe('request', () => {
  it('sends every kind of body without changing a byte, and reads the exact response', async () => {
    const s = await echo()
    const bytes = withZeros(4099)
    const ab = new ArrayBuffer(300)
    new Uint8Array(ab).set(withZeros(300))
    const wide = new Uint8Array(ab)
    const f32 = new Float32Array([1.5, 0, -2, Math.PI])
    const file = path.join(tmp, 'body.bin')
    fs.writeFileSync(file, bytes)
    const sab = new SharedArrayBuffer(17)
    new Uint8Array(sab).set(withZeros(17))
    const cases = [
      ['string', 'héllo\0wörld', Buffer.from('héllo\0wörld')],
      ['ArrayBuffer', ab, Buffer.from(ab)],
      ['Uint8Array at an offset', wide.subarray(5, 250), Buffer.from(ab, 5, 245)],
      ['Float32Array', f32, Buffer.from(f32.buffer)],
      ['DataView', new DataView(ab, 3, 100), Buffer.from(ab, 3, 100)],
      ['Buffer', bytes, bytes],
      ['SharedArrayBuffer', sab, Buffer.from(new Uint8Array(sab))],
      ['empty', new Uint8Array(0), Buffer.alloc(0)],
      ['file', { file }, bytes],
    ]
    for (const [, body, expected] of cases) {
      const r = await abio.request(`${s.url}/echo`, { method: 'POST', body })
      expect(r.status).toBe(200)
      expect(tag(r.body)).toBe('[object ArrayBuffer]')
      expectBytes(r.body, expected)
      expect(r.headers.get('content-length')).toBe(String(expected.length))
    }
    // What the server received, and its content-length.
    s.seen.requests.forEach((q, i) => {
      expectBytes(q.body, cases[i][2])
      expect(q.headers['content-length']).toBe(String(cases[i][2].length))
    })
  })

  it('a {file} body of several chunks arrives whole (sha256), with its content-length', async () => {
    const s = await nodeServer((req, res, body) => res.end(sha256(body)))
    const file = path.join(tmp, 'upload.bin')
    const bytes = crypto.randomBytes(3 * MiB + 5)
    bytes.fill(0, 0, 1000)
    fs.writeFileSync(file, bytes)
    const r = await abio.request(`${s.url}/up`, { method: 'PUT', body: { file } })
    expect(Buffer.from(r.body).toString()).toBe(sha256(bytes))
    expect(s.seen.requests[0].headers['content-length']).toBe(String(bytes.length))
  })

  it('GET by default; response headers a Headers, repeats joined by get(); request headers sent', async () => {
    const s = await nodeServer((req, res) => {
      res.setHeader('X-Multi', ['a', 'b'])
      res.setHeader('Content-Type', 'text/plain')
      res.end(`hi ${req.headers['x-token']}`)
    })
    const r = await abio.request(new URL(`${s.url}/p?q=1`), { headers: { 'X-Token': 'abc', 'x-num': 5 } })
    expect(r.status).toBe(200)
    expect(Buffer.from(r.body).toString()).toBe('hi abc')
    expect(r.headers.get('x-multi')).toBe('a, b')
    expect(r.headers.get('content-type')).toBe('text/plain')
    expect(tag(r.headers)).toBe('[object Headers]')
    expect([...r.headers.keys()].every((k) => k === k.toLowerCase())).toBe(true)
    expect(r.url).toBe(`${s.url}/p?q=1`)
    expect(s.seen.requests[0]).toMatchObject({ method: 'GET', url: '/p?q=1' })
    expect(s.seen.requests[0].headers['x-num']).toBe('5')
    expect(s.seen.requests[0].headers.host).toBe(`127.0.0.1:${s.port}`)
  })

  it('HEAD, 204 and 304 have empty bodies whatever content-length says', async () => {
    const s = await nodeServer((req, res) => {
      if (req.url === '/204') return res.writeHead(204).end()
      if (req.url === '/304') return res.writeHead(304, { etag: '"x"' }).end()
      res.setHeader('content-length', 1000)
      res.end(req.method === 'HEAD' ? undefined : Buffer.alloc(1000))
    })
    const head = await abio.request(s.url, { method: 'head' })
    expect([head.status, head.body.byteLength, head.headers.get('content-length')]).toEqual([200, 0, '1000'])
    const nc = await abio.request(`${s.url}/204`)
    expect([nc.status, nc.body.byteLength]).toEqual([204, 0])
    const nm = await abio.request(`${s.url}/304`)
    expect([nm.status, nm.body.byteLength, nm.headers.get('etag')]).toEqual([304, 0, '"x"'])
  })

  it('reads chunked responses exactly', async () => {
    const pieces = [withZeros(10), Buffer.alloc(3), withZeros(70000), Buffer.from('end')]
    const s = await nodeServer(async (req, res) => {
      for (const p of pieces) {
        res.write(p)
        await new Promise((resolve) => setImmediate(resolve))
      }
      res.end()
    })
    const seen = []
    const r = await abio.request(s.url, { onProgress: (d, t) => seen.push([d, t]) })
    expect(r.headers.get('transfer-encoding')).toBe('chunked')
    expectBytes(r.body, Buffer.concat(pieces))
    // The total is unknown (null) until the end; the last call has done === total.
    const last = seen[seen.length - 1]
    expect(last).toEqual([70016, 70016])
    expect(seen.slice(0, -1).every(([, t]) => t === null)).toBe(true)
  })

  it('32 MiB with content-length: sha256 matches; onProgress monotonic, last call done === total', async () => {
    const big = crypto.randomBytes(32 * MiB)
    big.fill(0, 1000, 5000)
    const s = await nodeServer((req, res) => res.end(big))
    const seen = []
    const r = await abio.request(s.url, { onProgress: (d, t) => seen.push([d, t]) })
    expect(r.body.byteLength).toBe(big.length)
    expect(sha256(Buffer.from(r.body))).toBe(sha256(big))
    expect(seen.length).toBeGreaterThan(0)
    for (let i = 1; i < seen.length; i++) expect(seen[i][0]).toBeGreaterThanOrEqual(seen[i - 1][0])
    expect(seen.every(([, t]) => t === big.length)).toBe(true)
    expect(seen[seen.length - 1]).toEqual([big.length, big.length])
  })

  it('maxSize: refused by content-length before reading, and found while reading chunks', async () => {
    const s = await nodeServer((req, res) => {
      if (req.url === '/chunked') {
        res.write(withZeros(600))
        res.end(withZeros(600))
      } else res.end(withZeros(2000))
    })
    const fixed = await abio.request(s.url, { maxSize: 1000 }).catch((e) => e)
    expect(fixed.name).toBe('RangeError')
    expect(fixed).toMatchObject({ code: 'ABIO_ERR_BODY_TOO_LARGE', maxSize: 1000, size: 2000 })
    const chunked = await abio.request(`${s.url}/chunked`, { maxSize: 1000 }).catch((e) => e)
    expect(chunked.name).toBe('RangeError')
    expect(chunked).toMatchObject({ code: 'ABIO_ERR_BODY_TOO_LARGE', maxSize: 1000 })
    // At the limit is fine.
    const ok = await abio.request(s.url, { maxSize: 2000 })
    expect(ok.body.byteLength).toBe(2000)
  })

  it('signal: aborted before the call rejects at once; aborted mid-body drops the connection', async () => {
    const ac = new AbortController()
    ac.abort()
    const before = await abio.request('http://127.0.0.1:1/', { signal: ac.signal }).catch((e) => e)
    expect(before).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' })
    let closed
    const gone = new Promise((resolve) => (closed = resolve))
    const s = await nodeServer((req, res) => {
      res.writeHead(200, { 'content-length': 10 * MiB })
      res.write(withZeros(64 * KiB))
      res.on('close', closed)
    })
    const mid = new AbortController()
    const p = abio.request(s.url, {
      signal: mid.signal,
      onProgress: () => mid.abort(),
    })
    const err = await p.catch((e) => e)
    expect(err).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' })
    await gone // the server saw the connection go
  })

  it('aborted while waiting for the answer; a missing {file} body rejects with ENOENT and its path', async () => {
    let arrived
    const waiting = new Promise((resolve) => (arrived = resolve))
    const s = await nodeServer(() => arrived()) // never answers
    const ac = new AbortController()
    const p = abio.request(s.url, { signal: ac.signal })
    await waiting
    ac.abort(new Error('changed my mind'))
    const err = await p.catch((e) => e)
    expect(err).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' })
    expect(err.cause.message).toBe('changed my mind')
    const missing = path.join(tmp, 'missing.bin')
    const enoent = await abio.request(s.url, { method: 'PUT', body: { file: missing } }).catch((e) => e)
    expect(enoent).toMatchObject({ code: 'ENOENT', syscall: 'open', path: missing })
  })

  it('a server that destroys the socket mid-body: a clear ABIO_ERR_CLOSED, never a short body', async () => {
    const raw = net.createServer((sock) => {
      track('node-socket', sock)
      sock.once('data', () => {
        sock.write('HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n')
        sock.write(withZeros(40000), () => setTimeout(() => sock.destroy(), 20))
      })
    })
    track('node-server', raw)
    await new Promise((resolve) => raw.listen(0, '127.0.0.1', resolve))
    const err = await abio.request(`http://127.0.0.1:${raw.address().port}/`).catch((e) => e)
    expect(err.name).toBe('Error')
    expect(['ABIO_ERR_CLOSED', 'ECONNRESET']).toContain(err.code)
    if (err.code === 'ABIO_ERR_CLOSED') expect(err.message).toMatch(/of the body's 100000 bytes/)
  })

  it('ECONNREFUSED and ENOTFOUND are shaped like Node', async () => {
    const srv = net.createServer()
    await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve))
    const port = srv.address().port
    await new Promise((resolve) => srv.close(resolve))
    const refused = await abio.request(`http://127.0.0.1:${port}/`).catch((e) => e)
    expect(refused).toMatchObject({ code: 'ECONNREFUSED', syscall: 'connect', address: '127.0.0.1', port })
    expect(refused.message).toBe(`connect ECONNREFUSED 127.0.0.1:${port}`)
    const unknown = await abio.request('http://no-such-host.invalid/').catch((e) => e)
    expect(unknown).toMatchObject({ code: 'ENOTFOUND', hostname: 'no-such-host.invalid' })
  })

  it('keeps the connection alive: sequential requests use one connection', async () => {
    const s = await nodeServer((req, res) => res.end(req.url))
    for (let i = 0; i < 5; i++) {
      const r = await abio.request(`${s.url}/${i}`)
      expect(Buffer.from(r.body).toString()).toBe(`/${i}`)
    }
    expect(s.seen.requests.length).toBe(5)
    expect(s.seen.connections).toBe(1)
  })

  it("round trip with abio's own serve", async () => {
    const body = withZeros(100 * KiB)
    const server = track('abio-server', await abio.serve({ port: 0, host: '127.0.0.1', routes: { '/blob': body } }))
    const r = await abio.request(`http://127.0.0.1:${server.port}/blob`)
    expect(r.status).toBe(200)
    expectBytes(r.body, body)
    expect(r.headers.get('content-type')).toBe('application/octet-stream')
  })

  it('an idle pooled connection does not keep the process alive', () => {
    const script = `
      const http = require('http'); const abio = require(${JSON.stringify(ROOT)});
      const s = http.createServer((q, r) => r.end('ok')).listen(0, '127.0.0.1', async () => {
        const r = await abio.request('http://127.0.0.1:' + s.address().port + '/');
        s.close(); // idle keep-alive sockets stay open on the server side: unref them
        s.closeIdleConnections && s.closeIdleConnections();
        s.unref();
        console.log(Buffer.from(r.body).toString());
      });`
    const started = Date.now()
    const out = cp.spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10000 })
    expect(out.stderr).toBe('')
    expect(out.stdout.trim()).toBe('ok')
    expect(out.status).toBe(0)
    expect(Date.now() - started).toBeLessThan(9000) // exited by itself, before spawnSync's 10 s kill
  })

  it('a pending request keeps the process alive until it settles', () => {
    const script = `
      const http = require('http'); const abio = require(${JSON.stringify(ROOT)});
      const s = http.createServer((q, r) => setTimeout(() => r.end('late'), 300).unref())
      s.listen(0, '127.0.0.1', () => {
        s.unref()
        abio.request('http://127.0.0.1:' + s.address().port + '/').then((r) => console.log(Buffer.from(r.body).toString()))
      });`
    const out = cp.spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10000 })
    expect(out.stdout.trim()).toBe('late')
  })
})

// ---------------------------------------------------------------------------

describe('redirects', () => {
  /** A server whose `/to/<status>` redirects to `/final` (the `Location` given by `loc`). */
  async function redirecting(loc = () => '/final') {
    return nodeServer((req, res, body) => {
      const m = /^\/to\/(\d+)/.exec(req.url)
      if (m) return res.writeHead(Number(m[1]), { location: loc(req) }).end('redirect body')
      res.setHeader('x-method', req.method)
      res.end(JSON.stringify({ method: req.method, body: body.toString(), headers: req.headers }))
    })
  }
  const json = (r) => JSON.parse(Buffer.from(r.body).toString())

  it.each([
    [301, 'POST', 'GET', ''],
    [302, 'POST', 'GET', ''],
    [303, 'POST', 'GET', ''],
    [303, 'PUT', 'GET', ''],
    [301, 'PUT', 'PUT', 'payload'],
    [302, 'DELETE', 'DELETE', 'payload'],
    [307, 'POST', 'POST', 'payload'],
    [308, 'PUT', 'PUT', 'payload'],
  ])('%i after %s -> %s (body %j)', async (status, method, after, body) => {
    const s = await redirecting()
    const r = await abio.request(`${s.url}/to/${status}`, {
      method,
      body: 'payload',
      headers: { 'content-type': 'text/plain' },
    })
    expect(r.status).toBe(200)
    expect(r.url).toBe(`${s.url}/final`)
    const got = json(r)
    expect([got.method, got.body]).toEqual([after, body])
    // Turned into GET: the body's headers go with it.
    expect(got.headers['content-type']).toBe(after === 'GET' ? undefined : 'text/plain')
  })

  it('303 after GET stays GET; a {file} body is reopened for 307', async () => {
    const s = await redirecting()
    expect(json(await abio.request(`${s.url}/to/303`)).method).toBe('GET')
    const file = path.join(tmp, 'redirected.bin')
    fs.writeFileSync(file, withZeros(3000))
    const r = await abio.request(`${s.url}/to/307`, { method: 'POST', body: { file } })
    expect(json(r).body).toBe(withZeros(3000).toString())
  })

  it('relative Location is resolved against the current URL', async () => {
    const s = await redirecting((req) => (req.url === '/to/302/a/b' ? '../../final?x=1' : '/final'))
    const r = await abio.request(`${s.url}/to/302/a/b`)
    expect(r.url).toBe(`${s.url}/to/final?x=1`)
  })

  it('a redirect to another origin drops authorization and cookie; the same origin keeps them', async () => {
    const target = await redirecting()
    const s = await redirecting((req) => (req.url === '/to/302/same' ? '/final' : `${target.url}/final`))
    const headers = { authorization: 'Bearer x', cookie: 'a=b', 'x-keep': '1' }
    const cross = json(await abio.request(`${s.url}/to/302`, { headers }))
    expect(cross.headers.authorization).toBeUndefined()
    expect(cross.headers.cookie).toBeUndefined()
    expect(cross.headers['x-keep']).toBe('1')
    expect(cross.headers.host).toBe(`127.0.0.1:${target.port}`)
    const same = json(await abio.request(`${s.url}/to/302/same`, { headers }))
    expect([same.headers.authorization, same.headers.cookie]).toEqual(['Bearer x', 'a=b'])
  })

  it('20 redirects are followed, the 21st rejects with ABIO_ERR_TOO_MANY_REDIRECTS', async () => {
    const s = await nodeServer((req, res) => {
      const n = Number(req.url.slice(1))
      if (n > 0) return res.writeHead(302, { location: `/${n - 1}` }).end()
      res.end('landed')
    })
    const ok = await abio.request(`${s.url}/20`)
    expect(Buffer.from(ok.body).toString()).toBe('landed')
    const err = await abio.request(`${s.url}/21`).catch((e) => e)
    expect(err).toMatchObject({ code: 'ABIO_ERR_TOO_MANY_REDIRECTS' })
  })

  it("redirect: 'manual' returns the 3xx; a redirect to ftp: rejects", async () => {
    const s = await redirecting((req) => (req.url === '/to/301/ftp' ? 'ftp://127.0.0.1/' : '/final'))
    const r = await abio.request(`${s.url}/to/301`, { redirect: 'manual' })
    expect([r.status, r.headers.get('location'), Buffer.from(r.body).toString()]).toEqual([
      301,
      '/final',
      'redirect body',
    ])
    const err = await abio.request(`${s.url}/to/301/ftp`).catch((e) => e)
    expect(err).toMatchObject({ code: 'ABIO_ERR_BAD_REDIRECT', location: 'ftp://127.0.0.1/' })
  })
})

// ---------------------------------------------------------------------------

describe('download', () => {
  const leftovers = (dir) => fs.readdirSync(dir)

  it('streams 32 MiB to disk: sha256 matches, atomic by default, progress ends at total', async () => {
    const big = crypto.randomBytes(32 * MiB)
    const s = await nodeServer((req, res) => res.end(big))
    const dir = fs.mkdtempSync(path.join(tmp, 'dl-'))
    const file = path.join(dir, 'big.bin')
    const seen = []
    const n = await abio.download(s.url, file, { onProgress: (d, t) => seen.push([d, t]) })
    expect(n).toBe(big.length)
    expect(sha256(fs.readFileSync(file))).toBe(sha256(big))
    expect(seen[seen.length - 1]).toEqual([big.length, big.length])
    expect(leftovers(dir)).toEqual(['big.bin'])
  })

  it('chunked, empty, atomic: false, mkdirs', async () => {
    const pieces = [withZeros(1000), Buffer.alloc(10), withZeros(99999)]
    const s = await nodeServer((req, res) => {
      if (req.url === '/empty') return res.end()
      for (const p of pieces) res.write(p)
      res.end()
    })
    const file = path.join(tmp, 'nested', 'deeper', 'chunked.bin')
    expect(await abio.download(s.url, file, { mkdirs: true, atomic: false })).toBe(101009)
    expectBytes(fs.readFileSync(file), Buffer.concat(pieces))
    const empty = path.join(tmp, 'empty.bin')
    expect(await abio.download(`${s.url}/empty`, empty)).toBe(0)
    expect(fs.readFileSync(empty).length).toBe(0)
  })

  it('a non-2xx status rejects with ABIO_ERR_HTTP_STATUS and writes nothing', async () => {
    const s = await nodeServer((req, res) => res.writeHead(404).end('not here'))
    const dir = fs.mkdtempSync(path.join(tmp, 'dl-'))
    const err = await abio.download(`${s.url}/x`, path.join(dir, 'x.bin')).catch((e) => e)
    expect(err).toMatchObject({ code: 'ABIO_ERR_HTTP_STATUS', status: 404, url: `${s.url}/x` })
    expect(leftovers(dir)).toEqual([])
  })

  it('a server gone mid-body, an abort, or maxSize: rejects, no file and no temp file; an old file stays whole', async () => {
    const raw = net.createServer((sock) => {
      track('node-socket', sock)
      sock.once('data', () => {
        sock.write('HTTP/1.1 200 OK\r\ncontent-length: 500000\r\n\r\n')
        sock.write(withZeros(200000), () => setTimeout(() => sock.destroy(), 20))
      })
    })
    track('node-server', raw)
    await new Promise((resolve) => raw.listen(0, '127.0.0.1', resolve))
    const rawUrl = `http://127.0.0.1:${raw.address().port}/`
    const dir = fs.mkdtempSync(path.join(tmp, 'dl-'))
    for (const atomic of [true, false]) {
      const err = await abio.download(rawUrl, path.join(dir, `cut-${atomic}.bin`), { atomic }).catch((e) => e)
      expect(['ABIO_ERR_CLOSED', 'ECONNRESET']).toContain(err.code)
    }
    expect(leftovers(dir)).toEqual([])
    // An existing file is left as it was (atomic).
    const kept = path.join(dir, 'kept.bin')
    fs.writeFileSync(kept, 'old')
    await expect(abio.download(rawUrl, kept)).rejects.toThrow()
    expect(fs.readFileSync(kept, 'utf8')).toBe('old')
    expect(leftovers(dir)).toEqual(['kept.bin'])
    // Abort mid-body.
    const slow = await nodeServer((req, res) => {
      res.writeHead(200, { 'content-length': 10 * MiB })
      res.write(withZeros(256 * KiB))
    })
    const ac = new AbortController()
    const aborted = await abio
      .download(slow.url, path.join(dir, 'aborted.bin'), { signal: ac.signal, onProgress: () => ac.abort() })
      .catch((e) => e)
    expect(aborted).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' })
    // maxSize, announced and found while reading.
    const s = await nodeServer((req, res) => {
      if (req.url === '/chunked') {
        res.write(withZeros(600))
        res.end(withZeros(600))
      } else res.end(withZeros(2000))
    })
    for (const u of ['/', '/chunked']) {
      const e = await abio.download(s.url + u, path.join(dir, 'big.bin'), { maxSize: 1000 }).catch((x) => x)
      expect(e).toMatchObject({ code: 'ABIO_ERR_BODY_TOO_LARGE' })
    }
    expect(leftovers(dir)).toEqual(['kept.bin'])
  })

  it('follows redirects, and accepts method and headers', async () => {
    const s = await nodeServer((req, res) => {
      if (req.url === '/start') return res.writeHead(302, { location: '/file' }).end()
      res.end(`${req.method} ${req.headers['x-a']}`)
    })
    const file = path.join(tmp, 'redirected.txt')
    await abio.download(`${s.url}/start`, file, { headers: { 'x-a': 'b' } })
    expect(fs.readFileSync(file, 'utf8')).toBe('GET b')
  })
})

// ---------------------------------------------------------------------------

describe('invalid arguments throw synchronously with ABIO_ERR_INVALID_ARG', () => {
  it.each([
    ['a number url', () => abio.request(42), TypeError],
    ['a relative url', () => abio.request('/x'), TypeError],
    ['https with a ca that is a number', () => abio.request('https://127.0.0.1:1/', { ca: 42 }), TypeError],
    ['https with a ca that is not PEM', () => abio.request('https://127.0.0.1:1/', { ca: 'not pem' }), TypeError],
    [
      'https with rejectUnauthorized a string',
      () => abio.request('https://127.0.0.1:1/', { rejectUnauthorized: 'no' }),
      TypeError,
    ],
    ['https with cert but no key', () => abio.request('https://127.0.0.1:1/', { cert: 'x' }), TypeError],
    ['ftp', () => abio.request('ftp://example.com/'), TypeError],
    ['credentials', () => abio.request('http://u:p@example.com/'), TypeError],
    ['a bad method', () => abio.request('http://x/', { method: 'GE T' }), TypeError],
    ['a non-string method', () => abio.request('http://x/', { method: 1 }), TypeError],
    ['a bad header name', () => abio.request('http://x/', { headers: { 'a b': '1' } }), TypeError],
    ['a header value with CRLF', () => abio.request('http://x/', { headers: { a: 'x\r\ny: z' } }), TypeError],
    ['an object header value', () => abio.request('http://x/', { headers: { a: {} } }), TypeError],
    ['content-length', () => abio.request('http://x/', { headers: { 'Content-Length': '1' } }), TypeError],
    ['a body with GET', () => abio.request('http://x/', { body: 'x' }), TypeError],
    ['a bad body', () => abio.request('http://x/', { method: 'POST', body: 42 }), TypeError],
    ['a bad file body', () => abio.request('http://x/', { method: 'POST', body: { file: 1 } }), TypeError],
    ['a negative maxSize', () => abio.request('http://x/', { maxSize: -1 }), RangeError],
    ['a bad signal', () => abio.request('http://x/', { signal: {} }), TypeError],
    ['a bad onProgress', () => abio.request('http://x/', { onProgress: 1 }), TypeError],
    ['a bad redirect', () => abio.request('http://x/', { redirect: 'error' }), TypeError],
    ['download without a path', () => abio.download('http://x/'), TypeError],
    ['download append + atomic', () => abio.download('http://x/', '/tmp/x', { append: true, atomic: true }), TypeError],
    ['download https with a bad servername', () => abio.download('https://x/', '/tmp/x', { servername: 5 }), TypeError],
  ])('%s', (_, call, Kind) => {
    // By name: an error made in Rust (a PEM that does not parse) is of the main realm's
    // constructor, not this suite's.
    const thrown = syncThrowOf(call)
    expect([thrown.name, thrown.code]).toEqual([Kind.name, 'ABIO_ERR_INVALID_ARG'])
  })

  it('another scheme says which are supported', () => {
    expect(() => abio.request('ftp://127.0.0.1/')).toThrow(/only http: and https: URLs are supported/)
  })
})
