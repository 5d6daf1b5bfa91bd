'use strict'
// Tests for the web-standard side of abio's fetch handlers (design.md section 12, issue 16): the
// WHATWG `Request` a handler gets (absolute url, Headers, the body readers and the body stream,
// signal, clone), the `Response` (or plain answer) it returns with every body kind, streamed
// response bodies (backpressure, a failing stream, a client that leaves), serve({ signal }) and
// unknown option names.
//
// Every test talks to a real peer: Node's http/https clients and fetch, curl where the bytes on
// the wire matter (skipped with a message when curl is missing), raw `net` sockets for what
// clients hide (odd Host headers, repeated Set-Cookie lines, a cut chunked body). Bodies are
// compared byte for byte.

const fs = require('fs')
const http = require('http')
const crypto = require('crypto')

const abio = require('..')
const { expectBytes } = require('./helpers/bytes')
const { closeAll } = require('./helpers/cleanup')
const { tag } = require('./helpers/throws')
const { within } = require('./helpers/time')
const { useTempDir, tmp } = require('./helpers/tmpdir')
const { HAS_CURL, request, curl, curlGet, rawConnect, exchange } = require('./helpers/http-peers')
const { KiB, MiB, sleep, itCurl, HAS_V6, serve, rawRequest, refused, nodeChild } = require('./helpers/http')
const { expectInvalidArg, withZeros, fetchServer, sendChunks } = require('./helpers/http')
const { certs, httpsGet } = require('./helpers/tls')

jest.setTimeout(60000)
afterEach(closeAll)
useTempDir('abio-http-web-')

let errorSpy
beforeEach(() => {
  errorSpy = jest.spyOn(console, 'error').mockImplementation(() => {})
})
afterEach(() => errorSpy.mockRestore())

const itV6 = HAS_V6 ? it : it.skip
if (!HAS_V6) console.warn('SKIPPING the IPv6 tests: no ::1 on this machine')

const sha256 = (x) => crypto.createHash('sha256').update(x).digest('hex')

/** Resolves true once `cond()` holds (checked every 20 ms), false after `ms`. */
async function until(cond, ms = 10000) {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) return false
    await sleep(20)
  }
  return true
}

/** The status line and the raw header lines (in order, as sent) of a raw response. */
function headOf(buf) {
  const end = buf.indexOf('\r\n\r\n')
  expect(end).toBeGreaterThan(0)
  const [statusLine, ...lines] = buf.subarray(0, end).toString('latin1').split('\r\n')
  return { statusLine, lines, rest: buf.subarray(end + 4) }
}

/** The body of a chunked response (the bytes after the head), and whether it ended properly. */
function dechunk(rest) {
  const parts = []
  let at = 0
  for (;;) {
    const eol = rest.indexOf('\r\n', at)
    if (eol < 0) return { body: Buffer.concat(parts), ended: false }
    const n = parseInt(rest.subarray(at, eol).toString('latin1'), 16)
    if (n === 0) return { body: Buffer.concat(parts), ended: rest.subarray(eol, eol + 4).toString() === '\r\n\r\n' }
    if (eol + 2 + n + 2 > rest.length) {
      parts.push(rest.subarray(eol + 2))
      return { body: Buffer.concat(parts), ended: false }
    }
    parts.push(rest.subarray(eol + 2, eol + 2 + n))
    at = eol + 2 + n + 2
  }
}

/** A handler that records each request's url (and path) and answers 200 'ok'. */
function urlRecorder() {
  const seen = []
  const fetch = (req) => {
    seen.push({ url: req.url, path: req.path })
    return { body: 'ok' }
  }
  return { seen, fetch }
}

/** Sends one raw request per entry of `heads` (each its request line and header lines) on one connection. */
async function rawAll(port, heads, host = '127.0.0.1') {
  const s = await rawConnect(port, host)
  const chunks = []
  s.on('data', (c) => chunks.push(c))
  const closed = new Promise((resolve) => s.once('close', resolve))
  s.write(
    Buffer.from(
      heads.map((h, i) => `${h}\r\n${i === heads.length - 1 ? 'Connection: close\r\n' : ''}\r\n`).join(''),
      'latin1',
    ),
  )
  await closed
  return Buffer.concat(chunks).toString('latin1')
}

/**
 * A GET with Node's http client that reports how it ended: `{ status, headers, body, complete,
 * error }` (`complete` false, or an `error`, when the body was cut).
 */
function outcome(port, urlPath) {
  return new Promise((resolve) => {
    const chunks = []
    let res
    const done = (error) =>
      resolve({
        status: res && res.statusCode,
        headers: res && res.headers,
        body: Buffer.concat(chunks),
        complete: Boolean(res && res.complete),
        error,
      })
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (r) => {
      res = r
      r.on('data', (c) => chunks.push(c))
      r.on('end', () => done(undefined))
      r.on('error', (e) => done(e))
      r.on('close', () => done(new Error('closed before its end')))
    })
    req.on('error', (e) => done(e))
  })
}

// ---------------------------------------------------------------------------
// The Request

describe('the Request a fetch handler gets', () => {
  it('is a WHATWG Request with an absolute url from the Host header (with its port), method, Headers', async () => {
    const seen = []
    const s = await fetchServer((req) => {
      seen.push({
        isRequest: req instanceof Request,
        tag: tag(req),
        url: req.url,
        method: req.method,
        headers: tag(req.headers),
        href: new URL(req.url).href,
      })
      return { body: req.url }
    })
    const r = await request(s.port, '/a/b?c=1&d=%20e')
    const url = `http://127.0.0.1:${s.port}/a/b?c=1&d=%20e`
    expect([r.status, r.body.toString()]).toEqual([200, url])
    expect(seen[0]).toEqual({
      isRequest: true,
      tag: '[object Request]',
      url,
      method: 'GET',
      headers: '[object Headers]',
      href: url,
    })
    // Host headers with and without a port, as a proxy or a browser sends them.
    const { seen: urls, fetch } = urlRecorder()
    const t = await fetchServer(fetch)
    await rawAll(t.port, [
      'GET /x HTTP/1.1\r\nHost: example.com:8080',
      'GET /y?z HTTP/1.1\r\nHost: localhost',
      'GET / HTTP/1.1\r\nHost: [::1]:99',
    ])
    expect(urls.map((u) => u.url)).toEqual(['http://example.com:8080/x', 'http://localhost/y?z', 'http://[::1]:99/'])
  })

  it('https: the url of a request on a TLS server is https://', async () => {
    const seen = []
    const s = await fetchServer(
      (req) => {
        seen.push(req.url)
        return { body: req.url }
      },
      { tls: { cert: certs().leaf.cert, key: certs().leaf.key } },
    )
    const r = await httpsGet(`https://127.0.0.1:${s.port}/secure/p?q=1`)
    expect([r.status, r.body.toString()]).toEqual([200, `https://127.0.0.1:${s.port}/secure/p?q=1`])
    expect(seen).toEqual([`https://127.0.0.1:${s.port}/secure/p?q=1`])
  })

  itV6('an IPv6 server: the url has the bracketed Host, or the server address when no Host is sent', async () => {
    const { seen, fetch } = urlRecorder()
    const s = await serve({ host: '::1', fetch })
    const r = await request(s.port, '/v6?a', { host: '::1' })
    expect(r.status).toBe(200)
    await rawAll(s.port, ['GET /none HTTP/1.1'], '::1')
    expect(seen.map((q) => q.url)).toEqual([`http://[::1]:${s.port}/v6?a`, `http://[::1]:${s.port}/none`])
  })

  it('a missing or unusable Host header: the server address stands in, nothing throws', async () => {
    const { seen, fetch } = urlRecorder()
    const s = await fetchServer(fetch)
    const out = await rawAll(s.port, [
      'GET /x?y=1 HTTP/1.1',
      'GET /x?y=1 HTTP/1.1\r\nHost: bad host',
      'GET /x?y=1 HTTP/1.1\r\nHost: [::1',
      'GET /x?y=1 HTTP/1.1\r\nHost: a<b>',
    ])
    expect(out.match(/HTTP\/1\.1 200 OK/g).length).toBe(4)
    expect(seen.map((q) => q.url)).toEqual(Array(4).fill(`http://127.0.0.1:${s.port}/x?y=1`))
    expect(errorSpy).not.toHaveBeenCalled()
  })

  it('a Host header with /, ?, #, \\, @, a bad port, or empty cannot change the path or break new URL', async () => {
    const hosts = ['', 'h/evil', 'h?q', 'h#x', 'h\\x', 'user@h', 'h:99999']
    const { seen, fetch } = urlRecorder()
    const s = await fetchServer(fetch)
    await rawAll(
      s.port,
      hosts.map((h) => `GET /x?y=1 HTTP/1.1\r\nHost: ${h}`),
    )
    expect(seen.map((q, i) => [hosts[i], q.url])).toEqual(hosts.map((h) => [h, `http://127.0.0.1:${s.port}/x?y=1`]))
  })

  it('a target with .. or %2e segments (or a backslash) gives the url new URL makes of it; path stays the raw target', async () => {
    const targets = ['/a/../b/./c/%2e%2E/d?x=1', '/X/./y/..', '/x/%2e%2e/y', '/a\\b', '/~a!$&()*+,;=:@', '/%zz?q=[]']
    const { seen, fetch } = urlRecorder()
    const s = await fetchServer(fetch)
    await rawAll(
      s.port,
      targets.map((t) => `GET ${t} HTTP/1.1\r\nHost: h`),
    )
    expect(seen.map((q) => q.url)).toEqual(targets.map((t) => new URL(t, 'http://h').href))
    expect(seen.map((q) => q.url)).toEqual([
      'http://h/b/d?x=1',
      'http://h/X/',
      'http://h/y',
      'http://h/a/b',
      'http://h/~a!$&()*+,;=:@',
      'http://h/%zz?q=[]',
    ])
    expect(seen.map((q) => q.path)).toEqual(targets.map((t) => t.split('?')[0]))
  })

  it("the url is what new URL serializes: a host's case, a default port, a ' in the query, OPTIONS *", async () => {
    const { seen, fetch } = urlRecorder()
    const s = await fetchServer(fetch)
    await rawAll(s.port, [
      'GET /x HTTP/1.1\r\nHost: H.Example',
      'GET /x HTTP/1.1\r\nHost: h:80',
      'GET /x HTTP/1.1\r\nHost: h:0081',
      "GET /x?a'b HTTP/1.1\r\nHost: h",
      'OPTIONS * HTTP/1.1\r\nHost: h',
    ])
    expect(seen.map((q) => q.url)).toEqual([
      'http://h.example/x',
      'http://h/x',
      'http://h:81/x',
      'http://h/x?a%27b',
      expect.stringMatching(/^http:\/\/h\//),
    ])
  })

  it('method as sent; Headers with repeated headers joined in order, lower-case names, values as sent', async () => {
    const seen = []
    const s = await fetchServer(async (req) => {
      seen.push({
        method: req.method,
        rep: req.headers.get('x-rep'),
        has: [req.headers.has('X-Rep'), req.headers.has('x-missing')],
        keys: [...req.headers.keys()].filter((k) => k.startsWith('x-')),
        cookie: req.headers.get('cookie'),
        body: await req.text(),
      })
      return { body: req.method }
    })
    for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'PURGE']) {
      const body = method === 'GET' ? undefined : `${method} body`
      const headers = { 'X-Rep': ['one', 'two, three'], 'x-single': 'v', cookie: 'a=1; b=2' }
      if (body) headers['content-length'] = Buffer.byteLength(body)
      const r = await request(s.port, '/m', { method, headers, body })
      expect([r.status, r.body.toString()]).toEqual([200, method])
    }
    expect(seen.map((q) => q.method)).toEqual(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'PURGE'])
    for (const q of seen) {
      expect(q.rep).toBe('one, two, three')
      expect(q.has).toEqual([true, false])
      expect(q.keys).toEqual(['x-rep', 'x-single'])
      expect(q.cookie).toBe('a=1; b=2')
      expect(q.body).toBe(q.method === 'GET' ? '' : `${q.method} body`)
    }
  })

  it('arrayBuffer(), bytes(), text(), json(), blob() read the exact body', async () => {
    const seen = {}
    const s = await fetchServer(async (req) => {
      const kind = req.path.slice(1)
      const v = await req[kind]()
      seen[kind] = v
      if (kind === 'json') return Response.json(v)
      if (kind === 'text') return new Response(v)
      if (kind === 'blob')
        return { headers: { 'x-type': v.type, 'x-size': String(v.size) }, body: await v.arrayBuffer() }
      return { body: v }
    })
    const bin = withZeros(300 * KiB)
    for (const kind of ['arrayBuffer', 'bytes']) {
      const r = await request(s.port, `/${kind}`, { method: 'POST', body: bin })
      expectBytes(r.body, bin)
    }
    expect(tag(seen.arrayBuffer)).toBe('[object ArrayBuffer]')
    expect(tag(seen.bytes)).toBe('[object Uint8Array]')
    expectBytes(seen.bytes, bin)
    // A character split across two chunks of a chunked body.
    const text = Buffer.from('héllo ✓ \u{1F600} end')
    const t = await sendChunks(s.port, '/text', [text.subarray(0, 2), text.subarray(2, 9), text.subarray(9)], {
      headers: { 'transfer-encoding': 'chunked' },
    })
    expect(t.body.toString()).toBe('héllo ✓ \u{1F600} end')
    expect(seen.text).toBe('héllo ✓ \u{1F600} end')
    const j = await request(s.port, '/json', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":[1,"é",null],"b":{"c":true}}',
    })
    expect(JSON.parse(j.body.toString())).toEqual({ a: [1, 'é', null], b: { c: true } })
    expect(seen.json).toEqual({ a: [1, 'é', null], b: { c: true } })
    const b = await request(s.port, '/blob', {
      method: 'POST',
      headers: { 'content-type': 'application/x-thing' },
      body: bin,
    })
    expect([b.headers['x-type'], b.headers['x-size']]).toEqual(['application/x-thing', String(bin.length)])
    expectBytes(b.body, bin)
    expect(tag(seen.blob)).toBe('[object Blob]')
  })

  it('json() of a body that is no JSON rejects with a SyntaxError', async () => {
    let err
    const s = await fetchServer(async (req) => {
      err = await req.json().catch((e) => e)
      return { body: 'x' }
    })
    await request(s.port, '/', { method: 'POST', body: '{"a":' })
    expect([tag(err), err.name]).toEqual(['[object Error]', 'SyntaxError'])
  })

  it('formData(): urlencoded (repeated names, + and %XX) and multipart from Node fetch with a file part, byte-exact', async () => {
    const s = await fetchServer(async (req) => {
      const fd = await req.formData()
      const out = {}
      for (const [k, v] of fd) {
        out[k] ??= []
        out[k].push(
          typeof v === 'string'
            ? v
            : { name: v.name, type: v.type, size: v.size, sha: sha256(Buffer.from(await v.arrayBuffer())) },
        )
      }
      return Response.json(out)
    })
    const u = await request(s.port, '/u', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'a=1&b=%C3%A9+x&a=2&empty=&c=%26%3D',
    })
    expect(JSON.parse(u.body.toString())).toEqual({ a: ['1', '2'], b: ['é x'], empty: [''], c: ['&='] })
    // A file part with CRLF, dashes and zero bytes inside: the boundary must be found exactly.
    const file = Buffer.concat([withZeros(100 * KiB), Buffer.from('\r\n--\r\n------formdata\r\n'), withZeros(5)])
    const fd = new FormData()
    fd.append('note', 'héllo ✓')
    fd.append('file', new Blob([file], { type: 'application/x-bin' }), 'data.bin')
    fd.append('note', 'second')
    const m = await fetch(`http://127.0.0.1:${s.port}/m`, { method: 'POST', body: fd })
    expect(m.status).toBe(200)
    expect(await m.json()).toEqual({
      note: ['héllo ✓', 'second'],
      file: [{ name: 'data.bin', type: 'application/x-bin', size: file.length, sha: sha256(file) }],
    })
  })

  itCurl('formData(): multipart from curl -F, the file part echoed back byte for byte', async () => {
    const s = await fetchServer(async (req) => {
      const fd = await req.formData()
      const f = fd.get('upload')
      return {
        headers: { 'x-name': f.name, 'x-type': f.type, 'x-note': encodeURIComponent(fd.get('note')) },
        body: await f.arrayBuffer(),
      }
    })
    const bytes = Buffer.concat([Buffer.from('--\r\n\r\n'), withZeros(2 * MiB + 3), Buffer.from('\r\n--')])
    const path = tmp('upload.bin')
    fs.writeFileSync(path, bytes)
    const c = await curlGet(`http://127.0.0.1:${s.port}/up`, [
      '-H',
      'Expect:',
      '-F',
      'note=a note é',
      '-F',
      `upload=@${path};type=application/x-abio;filename=up.bin`,
    ])
    expect(c.status).toBe(200)
    expect([c.headers['x-name'], c.headers['x-type'], decodeURIComponent(c.headers['x-note'])]).toEqual([
      'up.bin',
      'application/x-abio',
      'a note é',
    ])
    expectBytes(c.body, bytes)
  })

  it('for await (const chunk of request.body) over a 4 MiB chunked upload: Uint8Array chunks, sum and sha256 match', async () => {
    const s = await fetchServer(async (req) => {
      const h = crypto.createHash('sha256')
      let n = 0
      let chunks = 0
      const tags = new Set()
      for await (const chunk of req.body) {
        tags.add(tag(chunk))
        h.update(chunk)
        n += chunk.byteLength
        chunks++
      }
      return Response.json({ n, sha: h.digest('hex'), chunks, tags: [...tags] })
    })
    const body = withZeros(4 * MiB)
    const pieces = []
    for (let at = 0, i = 0; at < body.length; i++) {
      const len = Math.min(body.length - at, 1 + ((i * 7919) % (200 * KiB)))
      pieces.push(body.subarray(at, at + len))
      at += len
    }
    const r = await sendChunks(s.port, '/stream', pieces, { headers: { 'transfer-encoding': 'chunked' } })
    const got = JSON.parse(r.body.toString())
    expect({ n: got.n, sha: got.sha, tags: got.tags }).toEqual({
      n: body.length,
      sha: sha256(body),
      tags: ['[object Uint8Array]'],
    })
    expect(got.chunks).toBeGreaterThan(1)
  })

  it('request.body is null for GET and HEAD; reading twice rejects a TypeError; bodyUsed says when it was read', async () => {
    const seen = []
    const s = await fetchServer(async (req) => {
      if (req.method === 'GET' || req.method === 'HEAD') {
        seen.push({ method: req.method, body: req.body, used: req.bodyUsed, text: await req.text() })
        return {}
      }
      const before = req.bodyUsed
      const text = await req.text()
      const after = req.bodyUsed
      const again = await Promise.all(
        ['text', 'json', 'arrayBuffer', 'blob', 'formData'].map((k) => req[k]().catch((e) => e)),
      )
      seen.push({ method: req.method, before, text, after, again: again.map((e) => [tag(e), e.name]) })
      return {}
    })
    await request(s.port, '/g')
    await request(s.port, '/h', { method: 'HEAD' })
    await request(s.port, '/p', { method: 'POST', body: 'once' })
    expect(seen).toEqual([
      { method: 'GET', body: null, used: false, text: '' },
      { method: 'HEAD', body: null, used: false, text: '' },
      {
        method: 'POST',
        before: false,
        text: 'once',
        after: true,
        again: Array(5).fill(['[object Error]', 'TypeError']),
      },
    ])
    // While a reader holds the stream, text() rejects; bodyUsed stays false until a read, as
    // undici's Request says (locked is not disturbed).
    const locked = []
    const t = await fetchServer(async (req) => {
      const reader = req.body.getReader()
      locked.push(req.bodyUsed, await req.text().catch((e) => e.name))
      let n = 0
      for (let r = await reader.read(); !r.done; r = await reader.read()) n += r.value.byteLength
      return { body: String(n) }
    })
    const r = await request(t.port, '/', { method: 'POST', body: withZeros(100 * KiB) })
    expect([r.body.toString(), ...locked]).toEqual([String(100 * KiB), false, 'TypeError'])
  })

  it('after the body stream was read to its end, or taken by new Request(request), bodyUsed is true and text() rejects', async () => {
    const seen = []
    const s = await fetchServer(async (req) => {
      if (req.path === '/iterated') {
        for await (const c of req.body) void c
      } else {
        await new Request(req).text()
      }
      seen.push({
        path: req.path,
        used: req.bodyUsed,
        again: await req.text().then(
          (t) => `resolved '${t}'`,
          (e) => e.name,
        ),
      })
      return {}
    })
    await request(s.port, '/iterated', { method: 'POST', body: 'abc' })
    await request(s.port, '/taken', { method: 'POST', body: 'abc' })
    expect(seen).toEqual([
      { path: '/iterated', used: true, again: 'TypeError' },
      { path: '/taken', used: true, again: 'TypeError' },
    ])
  })

  it('new Request(request) (the globals installed) has its url, method, headers and body', async () => {
    const seen = []
    const s = await fetchServer(async (req) => {
      const copy = new Request(req)
      const derived = new Request(req.url, { method: 'PUT', headers: req.headers })
      seen.push({
        isRequest: copy instanceof Request,
        url: copy.url === req.url,
        method: copy.method,
        header: copy.headers.get('x-h'),
        derived: [derived.url === req.url, derived.method, derived.headers.get('x-h')],
        body: Buffer.from(await copy.arrayBuffer()),
      })
      return {}
    })
    const body = withZeros(256 * KiB)
    await request(s.port, '/copy?q', { method: 'POST', headers: { 'x-h': 'v' }, body })
    expect(seen.length).toBe(1)
    const q = seen[0]
    expect([q.isRequest, q.url, q.method, q.header, q.derived]).toEqual([true, true, 'POST', 'v', [true, 'PUT', 'v']])
    expectBytes(q.body, body)
  })

  it('request.clone() has the url, headers and the whole body', async () => {
    const seen = []
    const s = await fetchServer(async (req) => {
      const c = req.clone()
      seen.push({ url: c.url === req.url, method: c.method, h: c.headers.get('x-h'), body: await c.text() })
      return {}
    })
    await request(s.port, '/c', { method: 'POST', headers: { 'x-h': 'v' }, body: 'cloned body' })
    expect(seen).toEqual([{ url: true, method: 'POST', h: 'v', body: 'cloned body' }])
  })

  it('after request.clone() the original reads the whole body too', async () => {
    const seen = []
    const s = await fetchServer(async (req) => {
      const c = req.clone()
      seen.push(await c.text(), await req.text().catch((e) => e.message))
      return {}
    })
    await request(s.port, '/c', { method: 'POST', body: 'both' })
    expect(seen).toEqual(['both', 'both'])
  })

  it('request.signal aborts (AbortError) when the client leaves while the handler waits; not after an answer', async () => {
    const signals = {}
    let entered = 0
    const s = await fetchServer(async (req) => {
      const signal = req.signal
      signals[req.path] = signal
      entered++
      if (req.path === '/answered') return { body: 'fine' }
      if (req.method === 'POST') await req.arrayBuffer()
      await within(new Promise((resolve) => signal.addEventListener('abort', resolve)), 20000)
      return { body: 'too late' }
    })
    const r = await request(s.port, '/answered')
    expect([r.status, r.body.toString()]).toEqual([200, 'fine'])
    // A GET, and a POST whose body was read, then the client goes away.
    for (const [p, head] of [
      ['/wait-get', rawRequest('GET', '/wait-get')],
      ['/wait-post', rawRequest('POST', '/wait-post', { 'Content-Length': 3 }) + 'abc'],
    ]) {
      const before = entered
      const c = await rawConnect(s.port)
      c.write(head)
      expect(await until(() => entered > before)).toBe(true)
      await sleep(50)
      c.destroy()
      expect(await until(() => signals[p].aborted, 20000)).toBe(true)
      expect([tag(signals[p].reason), signals[p].reason.name]).toEqual(['[object DOMException]', 'AbortError'])
    }
    await sleep(200)
    expect(signals['/answered'].aborted).toBe(false)
    expect(errorSpy).not.toHaveBeenCalled()
  })

  it('a handler reading only url and method answers while a large body stays unread; the server goes on', async () => {
    const s = await fetchServer((req) => ({ body: `${req.method} ${req.url}` }), { maxBodySize: 64 * MiB })
    const c = await rawConnect(s.port)
    const chunks = []
    c.on('data', (d) => chunks.push(d))
    const closed = new Promise((resolve) => c.once('close', resolve))
    c.write(rawRequest('POST', '/big?x', { 'Content-Length': 32 * MiB }))
    // The body goes out meanwhile; the server may close the connection before it is all sent.
    const big = Buffer.alloc(MiB, 7)
    ;(async () => {
      for (let i = 0; i < 32 && !c.destroyed; i++)
        if (!c.write(big)) await new Promise((r) => c.once('drain', r).once('close', r))
    })()
    const want = 'POST http://test/big?x' // rawRequest sends `Host: test`
    expect(await until(() => Buffer.concat(chunks).toString('latin1').endsWith(want))).toBe(true)
    const { statusLine, rest } = headOf(Buffer.concat(chunks))
    expect([statusLine, rest.toString('latin1')]).toEqual(['HTTP/1.1 200 OK', want])
    c.destroy()
    await closed
    const again = await request(s.port, '/after')
    expect([again.status, again.body.toString()]).toEqual([200, `GET http://127.0.0.1:${s.port}/after`])
    expect(errorSpy).not.toHaveBeenCalled()
  })
})

// ---------------------------------------------------------------------------
// The Response

describe('the Response a fetch handler returns', () => {
  it('every body kind Response takes arrives exactly, with the content-type Response gives it', async () => {
    const backing = new ArrayBuffer(1000)
    new Uint8Array(backing).forEach((_, i, a) => (a[i] = i & 255))
    const ab = withZeros(70 * KiB)
    const cases = {
      string: [() => new Response('héllo ✓ \0 end'), Buffer.from('héllo ✓ \0 end'), 'text/plain;charset=UTF-8'],
      arraybuffer: [() => new Response(new Uint8Array(ab).slice().buffer), ab, undefined],
      view: [() => new Response(new Uint8Array(backing, 100, 37)), Buffer.from(backing, 100, 37), undefined],
      dataview: [() => new Response(new DataView(backing, 999, 1)), Buffer.from(backing, 999, 1), undefined],
      blob: [
        () => new Response(new Blob(['<b>', ab], { type: 'text/html' })),
        Buffer.concat([Buffer.from('<b>'), ab]),
        'text/html',
      ],
      params: [
        () => new Response(new URLSearchParams({ a: '1 2', b: 'é&=' })),
        Buffer.from('a=1+2&b=%C3%A9%26%3D'),
        'application/x-www-form-urlencoded;charset=UTF-8',
      ],
      empty: [() => new Response(), Buffer.alloc(0), undefined],
      typed: [() => new Response('x', { headers: { 'content-type': 'text/x-mine' } }), Buffer.from('x'), 'text/x-mine'],
    }
    const s = await fetchServer((req) => cases[req.path.slice(1)][0]())
    for (const [name, [, want, type]] of Object.entries(cases)) {
      const r = await request(s.port, `/${name}`)
      expect({ name, status: r.status, type: r.headers['content-type'] }).toEqual({ name, status: 200, type })
      expectBytes(r.body, want)
      if (HAS_CURL) expectBytes((await curlGet(`http://127.0.0.1:${s.port}/${name}`)).body, want)
    }
    expect(errorSpy).not.toHaveBeenCalled()
  })

  it('a FormData body is multipart/form-data that Node fetch parses back, file part byte-exact', async () => {
    const file = Buffer.concat([withZeros(64 * KiB), Buffer.from('\r\n--x--\r\n')])
    const s = await fetchServer(() => {
      const fd = new FormData()
      fd.append('t', 'text é')
      fd.append('f', new Blob([file], { type: 'application/x-bin' }), 'f.bin')
      return new Response(fd)
    })
    const r = await fetch(`http://127.0.0.1:${s.port}/fd`)
    expect(r.headers.get('content-type')).toMatch(/^multipart\/form-data; boundary=/)
    const fd = await r.formData()
    expect(fd.get('t')).toBe('text é')
    const f = fd.get('f')
    expect([f.name, f.type]).toEqual(['f.bin', 'application/x-bin'])
    expectBytes(Buffer.from(await f.arrayBuffer()), file)
  })

  it('a ReadableStream body is sent chunked, in order, as it is produced', async () => {
    const parts = ['one ', Buffer.from('two '), new Uint8Array(withZeros(100 * KiB)), 'four']
    const s = await fetchServer(
      () =>
        new Response(
          new ReadableStream({
            async start(c) {
              for (const p of parts) {
                c.enqueue(typeof p === 'string' ? new TextEncoder().encode(p) : p)
                await sleep(10)
              }
              c.close()
            },
          }),
        ),
    )
    const want = Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))))
    const r = await request(s.port, '/s')
    expect([r.status, r.headers['transfer-encoding'], r.headers['content-length']]).toEqual([200, 'chunked', undefined])
    expectBytes(r.body, want)
    const raw = await exchange(s.port, rawRequest('GET', '/s', { Connection: 'close' }))
    const { body, ended } = dechunk(headOf(raw).rest)
    expect(ended).toBe(true)
    expectBytes(body, want)
  })

  it('Response.json, Response.redirect, status; Response.error() is a 500 (and logged)', async () => {
    const s = await fetchServer((req) => {
      const p = req.path
      if (p === '/json') return Response.json({ a: [1, 'é'], n: null }, { status: 201, headers: { 'x-a': '1' } })
      if (p === '/redirect') return Response.redirect('http://127.0.0.1/elsewhere?x=1')
      if (p.startsWith('/redirect/')) return Response.redirect(new URL('/to', req.url), Number(p.slice(10)))
      if (p === '/status') return new Response('made', { status: 299, statusText: 'Custom Text' })
      if (p === '/status-real') return new Response(new URLSearchParams('a=1'), { status: 203, statusText: 'Custom' })
      if (p === '/no-content') return new Response(null, { status: 204 })
      return Response.error()
    })
    const j = await request(s.port, '/json')
    expect([j.status, j.headers['content-type'], j.headers['x-a'], JSON.parse(j.body.toString())]).toEqual([
      201,
      'application/json',
      '1',
      { a: [1, 'é'], n: null },
    ])
    const r = await request(s.port, '/redirect')
    expect([r.status, r.headers.location, r.body.length]).toEqual([302, 'http://127.0.0.1/elsewhere?x=1', 0])
    for (const st of [301, 303, 307, 308]) {
      const x = await request(s.port, `/redirect/${st}`)
      expect([x.status, x.headers.location]).toEqual([st, `http://127.0.0.1:${s.port}/to`])
    }
    // The status goes out; statusText does not (the reason phrase is hyper's: the canonical one,
    // none for a status without one), as in Deno.
    const raw = await exchange(s.port, rawRequest('GET', '/status', { Connection: 'close' }))
    expect(headOf(raw).statusLine).toMatch(/^HTTP\/1\.1 299 /)
    expect(headOf(raw).statusLine).not.toMatch(/Custom/)
    expect(headOf(raw).rest.toString()).toBe('made')
    const real = await exchange(s.port, rawRequest('GET', '/status-real', { Connection: 'close' }))
    expect(headOf(real).statusLine).toBe('HTTP/1.1 203 Non Authoritative Information')
    const n = await request(s.port, '/no-content')
    expect([n.status, n.body.length]).toEqual([204, 0])
    // Response.error() is a network error (status 0): no HTTP answer is one, so a 500.
    expect(errorSpy).not.toHaveBeenCalled()
    const e = await request(s.port, '/error')
    expect([e.status, e.body.length]).toEqual([500, 0])
    expect(errorSpy).toHaveBeenCalledTimes(1)
  })

  it('several Set-Cookie lines: Headers.append in a Response, a string[] in a plain answer, a Headers in a plain answer', async () => {
    const s = await fetchServer((req) => {
      if (req.path === '/response') {
        const h = new Headers({ 'x-a': '1' })
        h.append('set-cookie', 'a=1; Path=/')
        h.append('Set-Cookie', 'b=2, with a comma; HttpOnly')
        return new Response('r', { headers: h })
      }
      if (req.path === '/record') return { headers: { 'set-cookie': ['a=1', 'b=2'], 'x-a': '1' }, body: 'p' }
      const h = new Headers({ 'x-a': '1', 'content-type': 'text/x-h' })
      h.append('set-cookie', 'a=1')
      h.append('set-cookie', 'b=2')
      return { status: 202, headers: h, body: 'h' }
    })
    const cookies = async (p) => {
      const { statusLine, lines, rest } = headOf(await exchange(s.port, rawRequest('GET', p, { Connection: 'close' })))
      const named = (n) =>
        lines.filter((l) => l.toLowerCase().startsWith(`${n}:`)).map((l) => l.slice(n.length + 1).trim())
      return {
        statusLine,
        cookies: named('set-cookie'),
        xa: named('x-a'),
        type: named('content-type'),
        body: rest.toString(),
      }
    }
    expect(await cookies('/response')).toEqual({
      statusLine: 'HTTP/1.1 200 OK',
      cookies: ['a=1; Path=/', 'b=2, with a comma; HttpOnly'],
      xa: ['1'],
      type: ['text/plain;charset=UTF-8'],
      body: 'r',
    })
    expect(await cookies('/record')).toEqual({
      statusLine: 'HTTP/1.1 200 OK',
      cookies: ['a=1', 'b=2'],
      xa: ['1'],
      type: [],
      body: 'p',
    })
    expect(await cookies('/headers')).toEqual({
      statusLine: 'HTTP/1.1 202 Accepted',
      cookies: ['a=1', 'b=2'],
      xa: ['1'],
      type: ['text/x-h'],
      body: 'h',
    })
    // Node's client keeps them apart too.
    const r = await request(s.port, '/response')
    expect(r.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2, with a comma; HttpOnly'])
    if (HAS_CURL) {
      const { code, stdout } = await curl(['-i', `http://127.0.0.1:${s.port}/record`])
      expect(code).toBe(0)
      expect(stdout.toString('latin1').match(/^set-cookie: .*$/gim)).toEqual(['set-cookie: a=1', 'set-cookie: b=2'])
    }
    expect(errorSpy).not.toHaveBeenCalled()
  })

  it("undici's own Response with overrideGlobalObjects: false (the globals untouched), and one made before serve()", async () => {
    // In a child process: this suite's globals were replaced by its first serve().
    const code = `
      const http = require('http')
      const abio = require('./')
      const { Request: R0, Response: S0, Headers: H0 } = globalThis
      const early = new Response('made before serve', { status: 202, headers: { 'x-early': '1' } })
      const get = (port, p) => new Promise((resolve, reject) =>
        http.get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
          const c = []
          res.on('data', (d) => c.push(d))
          res.on('end', () => resolve([res.statusCode, res.headers['x-h'] || res.headers['x-early'], res.headers['transfer-encoding'] || null, Buffer.concat(c).toString()]))
        }).on('error', reject))
      ;(async () => {
        const out = {}
        const a = await abio.serve({ host: '127.0.0.1', overrideGlobalObjects: false, fetch: (req) => {
          const h = new Headers({ 'x-h': String(req instanceof Request) })
          h.append('set-cookie', 'a=1')
          return req.path === '/stream'
            ? new Response(new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('str')); c.enqueue(new Uint8Array([101, 97, 109])); c.close() } }), { headers: h })
            : new Response(req.method + ' real', { status: 201, headers: h })
        } })
        out.untouched = globalThis.Request === R0 && globalThis.Response === S0 && globalThis.Headers === H0
        out.real = await get(a.port, '/real')
        out.stream = await get(a.port, '/stream')
        await a.close()
        const b = await abio.serve({ host: '127.0.0.1', fetch: () => early })
        out.installed = globalThis.Response !== S0 && globalThis.Request !== R0
        out.earlyIsResponse = early instanceof Response
        out.early = await get(b.port, '/early')
        await b.close()
        console.log(JSON.stringify(out))
      })().catch((e) => { console.log(JSON.stringify({ error: String(e && e.stack) })); process.exitCode = 1 })
    `
    const child = nodeChild(code)
    const { code: exit, stdout, stderr } = await child.exited
    expect({ exit, stderr }).toEqual({ exit: 0, stderr: '' })
    expect(JSON.parse(stdout)).toEqual({
      untouched: true,
      real: [201, 'true', 'chunked', 'GET real'],
      stream: [200, 'true', 'chunked', 'stream'],
      installed: true,
      earlyIsResponse: true,
      early: [202, '1', 'chunked', 'made before serve'],
    })
  })
})

// ---------------------------------------------------------------------------
// Streamed response bodies

describe('streamed response bodies', () => {
  it('backpressure: a pull stream of 64 KiB chunks to a paused client stays bounded, then 256 MiB arrive intact', async () => {
    const CHUNK = 64 * KiB
    const TOTAL = 256 * MiB
    let pulled = 0
    const produced = crypto.createHash('sha256')
    const s = await fetchServer(
      () =>
        new Response(
          new ReadableStream({
            pull(c) {
              if (pulled >= TOTAL) return c.close()
              const b = new Uint8Array(CHUNK).fill((pulled / CHUNK) & 255)
              new DataView(b.buffer).setUint32(0, pulled / CHUNK) // the chunk's index: order is checked
              produced.update(b)
              pulled += CHUNK
              c.enqueue(b)
            },
          }),
        ),
    )
    const received = crypto.createHash('sha256')
    let got = 0
    let holding = true
    let res
    const ended = new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: s.port, path: '/big', agent: false }, (r) => {
        res = r
        r.on('data', (c) => {
          received.update(c)
          got += c.length
          if (holding) r.pause()
        })
        r.on('end', resolve)
        r.on('error', reject)
      })
      req.on('error', reject)
    })
    expect(await until(() => got > 0)).toBe(true)
    // Paused: the producer is pulled until the buffers on the way are full, then no more.
    let last = -1
    for (let i = 0; i < 200 && pulled !== last; i++) {
      last = pulled
      await sleep(250)
    }
    expect(pulled).toBe(last)
    expect(pulled).toBeLessThan(TOTAL)
    expect(pulled - got).toBeLessThan(64 * MiB)
    expect(res.headers['transfer-encoding']).toBe('chunked')
    holding = false
    res.resume()
    await ended
    expect(got).toBe(TOTAL)
    expect(received.digest('hex')).toBe(produced.digest('hex'))
    expect(errorSpy).not.toHaveBeenCalled()
  })

  it.each([
    [
      'a ReadableStream that errors',
      () => {
        let n = 0
        return new ReadableStream({
          async pull(c) {
            if (++n <= 4) return c.enqueue(new Uint8Array(16 * KiB).fill(n))
            await sleep(20)
            c.error(new Error('the producer failed'))
          },
        })
      },
    ],
    [
      'an async generator that throws',
      () =>
        (async function* () {
          for (let n = 1; n <= 4; n++) yield new Uint8Array(16 * KiB).fill(n)
          await sleep(20)
          throw new Error('the producer failed')
        })(),
    ],
  ])('%s midway cuts the response: the client never sees a clean end', async (_, make) => {
    const s = await fetchServer((req) => (req.path === '/ok' ? { body: 'ok' } : { body: make() }))
    const node = await outcome(s.port, '/cut')
    expect(node.status).toBe(200)
    expect(node.complete).toBe(false)
    expect(node.error).toBeDefined()
    expect(node.body.length).toBeLessThanOrEqual(64 * KiB)
    const raw = await exchange(s.port, rawRequest('GET', '/cut', { Connection: 'close' }))
    const { body, ended } = dechunk(headOf(raw).rest)
    expect(ended).toBe(false)
    expect(body.length).toBeLessThanOrEqual(64 * KiB)
    if (HAS_CURL) {
      const c = await curl(['-o', '/dev/null', `http://127.0.0.1:${s.port}/cut`])
      expect(c.code).not.toBe(0)
    }
    expect(String(errorSpy.mock.calls[0][0])).toMatch(/stream failed/)
    expect((await request(s.port, '/ok')).body.toString()).toBe('ok')
  })

  it.each([
    [
      'a ReadableStream: its cancel() is called',
      (done) =>
        new ReadableStream({
          pull(c) {
            c.enqueue(new Uint8Array(64 * KiB))
          },
          cancel(reason) {
            done(reason)
          },
        }),
    ],
    [
      'an async generator: its finally runs (return())',
      (done) =>
        (async function* () {
          try {
            for (;;) yield new Uint8Array(64 * KiB)
          } finally {
            done('returned')
          }
        })(),
    ],
  ])('the client leaving mid-stream stops the producer, %s; the server goes on', async (_, make) => {
    let stopped
    const s = await fetchServer((req) =>
      req.path === '/ok' ? { body: 'ok' } : new Response(make((r) => (stopped = r))),
    )
    const c = await rawConnect(s.port)
    let n = 0
    c.on('data', (d) => {
      n += d.length
      if (n >= 2 * MiB) c.destroy()
    })
    c.write(rawRequest('GET', '/endless'))
    expect(await until(() => stopped !== undefined, 20000)).toBe(true)
    // The reason: an AbortError when the client is seen gone first, abio's ABIO_ERR_CLOSED when
    // a write finds it gone.
    if (typeof stopped !== 'string')
      expect(stopped.name === 'AbortError' || stopped.code === 'ABIO_ERR_CLOSED').toBe(true)
    expect((await request(s.port, '/ok')).body.toString()).toBe('ok')
    expect(errorSpy).not.toHaveBeenCalled()
  })

  it('an async generator body: strings and bytes, sent chunked in order as they are yielded', async () => {
    const s = await fetchServer(() => ({
      headers: { 'content-type': 'text/event-stream' },
      body: (async function* () {
        for (let i = 0; i < 5; i++) {
          yield `data: ${i}\n\n`
          await sleep(5)
          yield Buffer.from(`: ${i} bytes\n\n`)
        }
      })(),
    }))
    let want = ''
    for (let i = 0; i < 5; i++) want += `data: ${i}\n\n: ${i} bytes\n\n`
    const r = await request(s.port, '/events')
    expect([r.status, r.headers['content-type'], r.headers['transfer-encoding']]).toEqual([
      200,
      'text/event-stream',
      'chunked',
    ])
    expect(r.body.toString()).toBe(want)
  })

  it('an idle stream (no chunk for 1 s) whose client leaves is cancelled', async () => {
    let cancelled
    const s = await fetchServer(
      () =>
        new Response(
          new ReadableStream({
            start(c) {
              c.enqueue(new TextEncoder().encode('first'))
            },
            pull: () => new Promise(() => {}), // never another chunk
            cancel(reason) {
              cancelled = reason
            },
          }),
        ),
    )
    const c = await rawConnect(s.port)
    const chunks = []
    c.on('data', (d) => chunks.push(d))
    c.write(rawRequest('GET', '/idle'))
    expect(await until(() => Buffer.concat(chunks).includes('first'))).toBe(true)
    await sleep(1000)
    expect(cancelled).toBeUndefined()
    c.destroy()
    expect(await until(() => cancelled !== undefined, 20000)).toBe(true)
    expect([tag(cancelled), cancelled.name]).toEqual(['[object DOMException]', 'AbortError'])
  })
})

// ---------------------------------------------------------------------------
// serve({ signal }) and unknown names

describe('serve({ signal })', () => {
  it('aborting closes the server: its port refuses connections after', async () => {
    const ac = new AbortController()
    const s = await fetchServer(() => ({ body: 'up' }), { signal: ac.signal })
    expect((await request(s.port, '/')).body.toString()).toBe('up')
    ac.abort()
    let closed = false
    for (let i = 0; i < 100 && !closed; i++) {
      closed = (await refused(s.port)) === true
      if (!closed) await sleep(50)
    }
    expect(closed).toBe(true)
  })

  it('an already aborted signal: serve() resolves with a closed server', async () => {
    const s = await fetchServer(() => ({ body: 'never' }), { signal: AbortSignal.abort() })
    expect(await refused(s.port)).toBe(true)
  })
})

describe('unknown names', () => {
  it('serve({ prot: 1 }) throws ABIO_ERR_INVALID_ARG naming it', () => {
    const e = expectInvalidArg(() => abio.serve({ prot: 1, fetch: () => ({}) }))
    expect(e.message).toMatch(/prot/)
  })

  it('an answer { stauts: 404 } is a 500 (logged, naming it); the server goes on', async () => {
    const s = await fetchServer((req) => (req.path === '/typo' ? { stauts: 404, body: 'x' } : { body: 'fine' }))
    const r = await request(s.port, '/typo')
    expect([r.status, r.body.length]).toEqual([500, 0])
    expect(errorSpy).toHaveBeenCalledTimes(1)
    expect(errorSpy.mock.calls[0].map(String).join(' ')).toMatch(/stauts/)
    expect((await request(s.port, '/ok')).body.toString()).toBe('fine')
  })
})
