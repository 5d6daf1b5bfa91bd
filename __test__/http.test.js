'use strict'
// Tests for abio's HTTP server, first increment (design.md section 7): serve({ routes }) with
// Bytes routes answered in Rust (GET, HEAD, Range, ETag/If-None-Match, 404, 405), keep-alive
// and pipelining, header size and header timeout limits, reload(), close(), ref()/unref().
//
// Every test talks to a real peer: curl (skipped with a message when it is not installed),
// Node's `http` client, or a raw `net` socket for what clients hide (the bytes after the
// headers of HEAD and 304, pipelining). Bodies are checked byte for byte against the input.
// Lifecycle tests run in child processes. Jest runs this file in its own realm, so values are
// recognised by their tag, not by `instanceof`.

const fs = require('fs')
const path = require('path')
const os = require('os')
const net = require('net')
const http = require('http')
const cp = require('child_process')

const abio = require('..')
const { ab, sab, poolSlice } = require('./helpers/inputs')
const { bufferOver, expectBytes, copyOf } = require('./helpers/bytes')
const { within } = require('./helpers/time')

jest.setTimeout(20000)

const ROOT = path.join(__dirname, '..')
const KiB = 1024
const MiB = 1024 * 1024
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const { HAS_CURL } = require('./helpers/http-peers')
if (!HAS_CURL) console.warn('SKIPPING the curl tests: curl is not installed (apt-get install -y curl)')
const itCurl = HAS_CURL ? it : it.skip

const HAS_V6 = Object.values(os.networkInterfaces())
  .flat()
  .some((i) => i && i.address === '::1')

// ---------------------------------------------------------------------------
// Cleanup: everything opened by a test is closed after it, so jest exits.

const { track, closeAll } = require('./helpers/cleanup')
const { thrownBy } = require('./helpers/throws')
afterEach(closeAll)

async function serve(options) {
  return track('abio-server', await abio.serve(options))
}

// ---------------------------------------------------------------------------
// Peers

const { request, curl, curlGet, parseHead, rawConnect, exchange, closedAfter } = require('./helpers/http-peers')

/** A raw HTTP/1.1 request. */
function rawRequest(method, urlPath, headers = {}) {
  let s = `${method} ${urlPath} HTTP/1.1\r\nHost: test\r\n`
  for (const [k, v] of Object.entries(headers)) s += `${k}: ${v}\r\n`
  return s + '\r\n'
}

/**
 * Parses the responses in `buf`, one per method of `methods` (in order): HEAD, 304 and 416
 * heads tell the body length as HTTP says; others need content-length. Returns the responses
 * and the bytes left over after the last one.
 */
function parseResponses(buf, methods) {
  const out = []
  let at = 0
  for (const method of methods) {
    const end = buf.indexOf('\r\n\r\n', at)
    if (end < 0) throw new Error(`response ${out.length + 1} has no complete head`)
    const { status, headers } = parseHead(buf.subarray(at, end).toString('latin1'))
    let len = 0
    if (method !== 'HEAD' && status !== 304 && status !== 204) {
      if (headers['content-length'] === undefined) throw new Error(`response ${out.length + 1} has no content-length`)
      len = Number(headers['content-length'])
    }
    const body = buf.subarray(end + 4, end + 4 + len)
    if (body.length !== len) throw new Error(`response ${out.length + 1} is cut short`)
    out.push({ status, headers, body })
    at = end + 4 + len
  }
  return { responses: out, rest: buf.subarray(at) }
}

/** Whether a TCP connect to `port` is refused. */
function refused(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const s = net.connect({ port, host })
    s.once('connect', () => {
      s.destroy()
      resolve(false)
    })
    s.once('error', (e) => resolve(e.code === 'ECONNREFUSED' ? true : e.code))
  })
}

/** Runs `node [nodeArgs] -e code`; resolves with `{ code, signal, stdout, stderr }`; `proc` is the child. */
function nodeChild(code, nodeArgs = []) {
  const proc = track('child', cp.spawn(process.execPath, [...nodeArgs, '-e', code], { cwd: ROOT }))
  let stdout = ''
  let stderr = ''
  const lineWaiters = []
  proc.stdout.setEncoding('utf8').on('data', (d) => {
    stdout += d
    for (const w of lineWaiters.splice(0)) w()
  })
  proc.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
  const exited = new Promise((resolve) =>
    proc.once('close', (code, signal) => resolve({ code, signal, stdout, stderr: stderr.slice(0, 4000) })),
  )
  /** The first stdout line. */
  const firstLine = () =>
    new Promise((resolve, reject) => {
      const check = () => {
        const i = stdout.indexOf('\n')
        if (i >= 0) return resolve(stdout.slice(0, i))
        if (proc.exitCode !== null || proc.signalCode !== null)
          return reject(new Error(`child exited: ${stderr.slice(0, 2000)}`))
        lineWaiters.push(check)
      }
      check()
      proc.once('close', check)
    })
  return { proc, exited, firstLine }
}

/** Whether a child process is still running after `ms`. */
async function stillRunningAfter(proc, ms) {
  await sleep(ms)
  return proc.exitCode === null && proc.signalCode === null
}

function expectInvalidArg(fn, name = 'TypeError') {
  const e = thrownBy(fn)
  expect(Object.prototype.toString.call(e)).toBe('[object Error]')
  expect({ name: e.name, code: e.code }).toEqual({ name, code: 'ABIO_ERR_INVALID_ARG' })
  return e
}

/** Bytes `n` random bytes with zero bytes inside. */
function withZeros(n) {
  const b = Buffer.from(ab(n))
  for (let i = 0; i < n; i += 7) b[i] = 0
  return b
}

/** Headers of a response without those that vary per response or per method. */
function stable(headers) {
  const h = { ...headers }
  delete h.date
  delete h.connection
  delete h['keep-alive']
  return h
}

const ETAG = /^"[0-9a-f]+-[0-9a-f]{8}"$/

// ---------------------------------------------------------------------------
// 1. Bodies

describe('route bodies', () => {
  /** Every kind of Bytes, with zero bytes inside, as [name, value]. */
  function bodies() {
    const u8 = new Uint8Array(ab(300), 17, 200)
    u8.fill(0, 10, 20)
    const dvBuf = ab(64)
    new Uint8Array(dvBuf).fill(0, 40, 44)
    const shared = sab(1000)
    new Uint8Array(shared).fill(0, 0, 5)
    const i16 = new Int16Array(ab(400)).subarray(10, 150)
    i16.fill(0, 3, 6)
    return [
      ['ArrayBuffer', new Uint8Array(withZeros(4096)).slice().buffer],
      ['SharedArrayBuffer', shared],
      ['Buffer (a pool slice, byteOffset > 0)', poolSlice('hello\0world\0\0')],
      ['Uint8Array with byteOffset', u8],
      ['Int16Array subarray', i16],
      ['Uint8ClampedArray', new Uint8ClampedArray(withZeros(99))],
      ['Float64Array', new Float64Array([0, -0, 1.5, NaN, Infinity, 0])],
      ['BigUint64Array', new BigUint64Array([0n, 2n ** 64n - 1n, 0n])],
      ['DataView with byteOffset', new DataView(dvBuf, 8, 48)],
      ['1 MiB Buffer', withZeros(MiB)],
      ['empty ArrayBuffer', new ArrayBuffer(0)],
      ['empty view with byteOffset', new Uint8Array(ab(10), 5, 0)],
    ]
  }

  let server
  let cases
  beforeAll(async () => {
    cases = bodies().map(([name, value], i) => ({ name, value, path: `/b/${i}`, want: copyOf(value) }))
    const routes = {}
    for (const c of cases) routes[c.path] = c.value
    server = await abio.serve({ host: '127.0.0.1', routes })
  })
  afterAll(() => server.close())

  it('every Bytes type arrives exactly over Node http, with content-length and application/octet-stream', async () => {
    for (const c of cases) {
      const r = await request(server.port, c.path)
      expect({ name: c.name, status: r.status }).toEqual({ name: c.name, status: 200 })
      expect(r.headers['content-type']).toBe('application/octet-stream')
      expect(r.headers['content-length']).toBe(String(c.want.length))
      expect(r.headers['accept-ranges']).toBe('bytes')
      expect(r.headers.etag).toMatch(ETAG)
      expectBytes(r.body, c.want)
    }
  })

  itCurl('every Bytes type arrives exactly over curl', async () => {
    for (const c of cases) {
      const r = await curlGet(`http://127.0.0.1:${server.port}${c.path}`)
      expect({ name: c.name, status: r.status }).toEqual({ name: c.name, status: 200 })
      expect(r.headers['content-type']).toBe('application/octet-stream')
      expect(r.headers['content-length']).toBe(String(c.want.length))
      expectBytes(r.body, c.want)
    }
  })

  it('the same bytes get the same strong etag whatever their type; one changed byte changes it', async () => {
    const bytes = withZeros(777)
    const changed = Buffer.from(bytes)
    changed[500] ^= 1
    const s = await serve({
      host: '127.0.0.1',
      routes: {
        '/buf': bytes,
        '/ab': new Uint8Array(bytes).buffer,
        '/view': new Uint8Array(Buffer.concat([Buffer.alloc(3), bytes], 780 + 4 * KiB).buffer, 3, 777),
        '/obj': { body: bytes, contentType: 'x/y' },
        '/changed': changed,
      },
    })
    const tags = {}
    for (const p of ['/buf', '/ab', '/view', '/obj', '/changed']) tags[p] = (await request(s.port, p)).headers.etag
    expect(tags['/buf']).toMatch(ETAG)
    expect(tags['/ab']).toBe(tags['/buf'])
    expect(tags['/view']).toBe(tags['/buf'])
    expect(tags['/obj']).toBe(tags['/buf'])
    expect(tags['/changed']).toMatch(ETAG)
    expect(tags['/changed']).not.toBe(tags['/buf'])
  })

  it('string bodies are UTF-8 text/plain; contentType and headers arrive (names lower-case)', async () => {
    const png = withZeros(100)
    const s = await serve({
      host: '127.0.0.1',
      routes: {
        '/s': { body: 'héllo' },
        '/emoji': { body: 'a\u{1F600}b\uD800c' },
        '/json': { body: '{"a":1}', contentType: 'application/json' },
        '/png': { body: png, contentType: 'image/png', headers: { 'X-Custom': 'yes', 'Cache-Control': 'max-age=60' } },
        '/bytes': { body: png },
        '/ab': { body: png.buffer.slice(png.byteOffset, png.byteOffset + 100), headers: { 'x-a': '', 'X-B': 'b c' } },
      },
    })
    let r = await request(s.port, '/s')
    expect(r.headers['content-type']).toBe('text/plain; charset=utf-8')
    expect(r.headers['content-length']).toBe('6')
    expectBytes(r.body, Buffer.from('héllo', 'utf8'))

    r = await request(s.port, '/emoji')
    expect(r.headers['content-type']).toBe('text/plain; charset=utf-8')
    expectBytes(r.body, Buffer.from('a\u{1F600}b\uD800c', 'utf8')) // a lone surrogate becomes U+FFFD

    r = await request(s.port, '/json')
    expect(r.headers['content-type']).toBe('application/json')
    expectBytes(r.body, Buffer.from('{"a":1}'))

    r = await request(s.port, '/png')
    expect(r.headers['content-type']).toBe('image/png')
    expect(r.headers['x-custom']).toBe('yes')
    expect(r.headers['cache-control']).toBe('max-age=60')
    expectBytes(r.body, png)

    r = await request(s.port, '/bytes')
    expect(r.headers['content-type']).toBe('application/octet-stream')
    expectBytes(r.body, png)

    r = await request(s.port, '/ab')
    expect(r.headers['content-type']).toBe('application/octet-stream')
    expect(r.headers['x-a']).toBe('')
    expect(r.headers['x-b']).toBe('b c')
    expectBytes(r.body, png)

    if (HAS_CURL) {
      const c = await curlGet(`http://127.0.0.1:${s.port}/png`)
      expect(c.headers['content-type']).toBe('image/png')
      expect(c.headers['x-custom']).toBe('yes')
      expectBytes(c.body, png)
      const t = await curlGet(`http://127.0.0.1:${s.port}/s`)
      expectBytes(t.body, Buffer.from('héllo'))
    }
  })
  // BUG (reported): a route header that frames the body (content-length, transfer-encoding)
  // replaces the real one, and hyper then sends the whole body under it: with
  // content-length: 5 on a 20-byte body, a keep-alive client reads 5 bytes and takes the other
  // 15 as the start of the next response. serve() should refuse such headers, or the real
  // framing should win.
  it('a route header content-length cannot make the response lie about its length', async () => {
    const body = 'x'.repeat(20)
    let s
    try {
      s = await serve({ host: '127.0.0.1', routes: { '/a': { body, headers: { 'content-length': '5' } } } })
    } catch (e) {
      expect(e.code).toBe('ABIO_ERR_INVALID_ARG') // refusing it is fine too
      return
    }
    const out = await exchange(s.port, rawRequest('GET', '/a') + rawRequest('GET', '/a', { Connection: 'close' }))
    const { responses, rest } = parseResponses(out, ['GET', 'GET'])
    expect(responses.map((r) => [r.status, r.headers['content-length'], r.body.toString()])).toEqual([
      [200, '20', body],
      [200, '20', body],
    ])
    expect(rest.length).toBe(0)
  })
})

// ---------------------------------------------------------------------------
// 2-5. HEAD, Range, ETag, 404, 405

describe('HEAD, Range, ETag, 404 and 405', () => {
  const body = withZeros(1000)
  const empty = new ArrayBuffer(0)
  let server
  let etag
  beforeAll(async () => {
    server = await abio.serve({
      host: '127.0.0.1',
      routes: {
        '/a': body,
        '/empty': empty,
        '/t': { body: 'héllo', headers: { 'x-extra': '1' } },
      },
    })
    etag = (await request(server.port, '/a')).headers.etag
  })
  afterAll(() => server.close())
  const url = (p) => `http://127.0.0.1:${server.port}${p}`

  describe('HEAD', () => {
    it('has the headers of GET (content-length of the whole body) and no body, over Node http', async () => {
      for (const p of ['/a', '/t']) {
        const g = await request(server.port, p)
        const h = await request(server.port, p, { method: 'HEAD' })
        expect(h.status).toBe(200)
        expect(stable(h.headers)).toEqual(stable(g.headers))
        expect(h.body.length).toBe(0)
      }
      const h = await request(server.port, '/a', { method: 'HEAD' })
      expect(h.headers['content-length']).toBe('1000')
    })

    // BUG (reported): hyper leaves content-length out of a HEAD response whose body is empty,
    // so HEAD of an empty route does not say its length (GET says content-length: 0).
    it('HEAD of an empty route has the headers of GET, content-length: 0 included', async () => {
      const g = await request(server.port, '/empty')
      expect(g.headers['content-length']).toBe('0')
      const out = await exchange(server.port, rawRequest('HEAD', '/empty', { Connection: 'close' }))
      const { responses, rest } = parseResponses(out, ['HEAD'])
      expect(rest.length).toBe(0)
      expect(stable(responses[0].headers)).toEqual(stable(g.headers))
    })

    itCurl('curl -I sees the headers of GET', async () => {
      const { code, stdout } = await curl(['-I', url('/a')])
      expect(code).toBe(0)
      const text = stdout.toString('latin1')
      expect(text.endsWith('\r\n\r\n')).toBe(true)
      const h = parseHead(text.slice(0, -4))
      expect(h.status).toBe(200)
      expect(h.headers['content-length']).toBe('1000')
      expect(h.headers['content-type']).toBe('application/octet-stream')
      expect(h.headers.etag).toBe(etag)
      expect(h.headers['accept-ranges']).toBe('bytes')
    })

    it('on a raw socket, nothing follows the head of a HEAD response', async () => {
      const out = await exchange(server.port, rawRequest('HEAD', '/a', { Connection: 'close' }))
      const text = out.toString('latin1')
      expect(text.indexOf('\r\n\r\n')).toBe(text.length - 4)
      const h = parseHead(text.slice(0, -4))
      expect(h.status).toBe(200)
      expect(h.headers['content-length']).toBe('1000')
    })

    it('HEAD with a Range has the 206 headers and no body', async () => {
      const out = await exchange(server.port, rawRequest('HEAD', '/a', { Range: 'bytes=10-19', Connection: 'close' }))
      const { responses, rest } = parseResponses(out, ['HEAD'])
      expect(rest.length).toBe(0)
      expect(responses[0].status).toBe(206)
      expect(responses[0].headers['content-range']).toBe('bytes 10-19/1000')
      expect(responses[0].headers['content-length']).toBe('10')
    })
  })

  describe('Range', () => {
    const partial = [
      ['bytes=0-9', 0, 9],
      ['bytes=0-0', 0, 0],
      ['bytes=999-999', 999, 999],
      ['bytes=990-', 990, 999],
      ['bytes=0-', 0, 999],
      ['bytes=-10', 990, 999],
      ['bytes=-1', 999, 999],
      ['bytes=900-5000', 900, 999], // the end is clamped
      ['bytes=-5000', 0, 999], // the suffix is clamped
      ['bytes=500-999', 500, 999],
    ]
    it.each(partial)('%s -> 206 with those bytes and content-range', async (range, start, end) => {
      const r = await request(server.port, '/a', { headers: { Range: range } })
      expect(r.status).toBe(206)
      expect(r.headers['content-range']).toBe(`bytes ${start}-${end}/1000`)
      expect(r.headers['content-length']).toBe(String(end - start + 1))
      expect(r.headers.etag).toBe(etag)
      expectBytes(r.body, body.subarray(start, end + 1))
    })

    it.each([
      ['/a', 'bytes=1000-', 1000],
      ['/a', 'bytes=5000-6000', 1000],
      ['/a', 'bytes=-0', 1000],
      ['/empty', 'bytes=0-', 0],
      ['/empty', 'bytes=-5', 0],
    ])('%s %s -> 416 with content-range bytes */len and no body', async (p, range, len) => {
      const r = await request(server.port, p, { headers: { Range: range } })
      expect(r.status).toBe(416)
      expect(r.headers['content-range']).toBe(`bytes */${len}`)
      expect(r.body.length).toBe(0)
    })

    it.each([
      'bytes=0-1,5-6', // several ranges: the whole body
      'bytes=0-1, 990-',
      'bytes=5-2', // end before start
      'bytes=abc',
      'bytes=x-1',
      'bytes=',
      'bytes=-',
      'items=0-1',
      'bytes 0-1',
    ])('%s -> 200 with the whole body', async (range) => {
      const r = await request(server.port, '/a', { headers: { Range: range } })
      expect(r.status).toBe(200)
      expect(r.headers['content-range']).toBeUndefined()
      expect(r.headers['content-length']).toBe('1000')
      expectBytes(r.body, body)
    })

    itCurl('curl -r: a-b, a-, -n, and a 416', async () => {
      for (const [r, start, end] of [
        ['0-9', 0, 9],
        ['990-', 990, 999],
        ['-10', 990, 999],
        ['900-5000', 900, 999],
      ]) {
        const c = await curlGet(url('/a'), ['-r', r])
        expect(c.status).toBe(206)
        expect(c.headers['content-range']).toBe(`bytes ${start}-${end}/1000`)
        expectBytes(c.body, body.subarray(start, end + 1))
      }
      const c = await curlGet(url('/a'), ['-r', '2000-'])
      expect(c.status).toBe(416)
      expect(c.headers['content-range']).toBe('bytes */1000')
      expect(c.body.length).toBe(0)
      const m = await curlGet(url('/a'), ['-r', '0-1,5-6'])
      expect(m.status).toBe(200)
      expectBytes(m.body, body)
    })
  })

  describe('ETag and If-None-Match', () => {
    it('GET has a strong etag; If-None-Match with it -> 304 without a body', async () => {
      expect(etag).toMatch(ETAG)
      const r = await request(server.port, '/a', { headers: { 'If-None-Match': etag } })
      expect(r.status).toBe(304)
      expect(r.headers.etag).toBe(etag)
      expect(r.body.length).toBe(0)
    })

    it.each([
      ['the tag', (t) => t],
      ['W/ and the tag', (t) => `W/${t}`],
      ['*', () => '*'],
      ['a list with it', (t) => `"nope", ${t}, "other"`],
      ['a list with W/ and it', (t) => `"nope",W/${t}`],
    ])('If-None-Match: %s -> 304', async (_, make) => {
      const r = await request(server.port, '/a', { headers: { 'If-None-Match': make(etag) } })
      expect(r.status).toBe(304)
      expect(r.body.length).toBe(0)
    })

    it.each([['"other"'], ['"1-00000000"'], ['W/"nope", "no"'], [`"${'0'.repeat(10)}"`]])(
      'If-None-Match: %s -> 200 with the body',
      async (tag) => {
        const r = await request(server.port, '/a', { headers: { 'If-None-Match': tag } })
        expect(r.status).toBe(200)
        expect(r.headers.etag).toBe(etag)
        expectBytes(r.body, body)
      },
    )

    it('If-None-Match wins over Range (304)', async () => {
      const r = await request(server.port, '/a', { headers: { 'If-None-Match': etag, Range: 'bytes=0-9' } })
      expect(r.status).toBe(304)
    })

    it('on a raw socket, nothing follows the head of a 304', async () => {
      const out = await exchange(server.port, rawRequest('GET', '/a', { 'If-None-Match': etag, Connection: 'close' }))
      const text = out.toString('latin1')
      expect(text.startsWith('HTTP/1.1 304')).toBe(true)
      expect(text.indexOf('\r\n\r\n')).toBe(text.length - 4)
    })

    itCurl('curl with If-None-Match -> 304', async () => {
      const c = await curlGet(url('/a'), ['-H', `If-None-Match: ${etag}`])
      expect(c.status).toBe(304)
      expect(c.body.length).toBe(0)
    })

    it('after reload() with different bytes the etag changes and the old tag gets 200', async () => {
      const s = await serve({ host: '127.0.0.1', routes: { '/x': Buffer.from('one') } })
      const t1 = (await request(s.port, '/x')).headers.etag
      expect((await request(s.port, '/x', { headers: { 'If-None-Match': t1 } })).status).toBe(304)
      s.reload({ routes: { '/x': Buffer.from('two') } })
      const r = await request(s.port, '/x', { headers: { 'If-None-Match': t1 } })
      expect(r.status).toBe(200)
      expect(r.headers.etag).toMatch(ETAG)
      expect(r.headers.etag).not.toBe(t1)
      expectBytes(r.body, Buffer.from('two'))
      expect((await request(s.port, '/x', { headers: { 'If-None-Match': r.headers.etag } })).status).toBe(304)
    })
  })

  describe('404 and 405', () => {
    it.each(['/nope', '/a/', '/A', '/a/b', '//a', '/'])('%s -> 404', async (p) => {
      const r = await request(server.port, p)
      expect(r.status).toBe(404)
      expect(r.headers.etag).toBeUndefined()
    })

    it('the query string is ignored', async () => {
      for (const p of ['/a?x=1', '/a?', '/a?x=1&y=%20#f']) {
        const r = await request(server.port, p)
        expect(r.status).toBe(200)
        expectBytes(r.body, body)
      }
      expect((await request(server.port, '/nope?x=/a')).status).toBe(404)
    })

    it.each(['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'])('%s on a route -> 405 with allow: GET, HEAD', async (m) => {
      const r = await request(server.port, '/a', { method: m, body: m === 'DELETE' ? undefined : 'some body' })
      expect(r.status).toBe(405)
      expect(r.headers.allow).toBe('GET, HEAD')
    })

    it('POST on an unknown path -> 404', async () => {
      expect((await request(server.port, '/nope', { method: 'POST', body: 'x' })).status).toBe(404)
    })

    it('after a 405 with an unread body, the same connection serves the next request', async () => {
      const out = await exchange(
        server.port,
        'POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello' +
          rawRequest('GET', '/a', { Connection: 'close' }),
      )
      const { responses, rest } = parseResponses(out, ['POST', 'GET'])
      expect(responses.map((r) => r.status)).toEqual([405, 200])
      expectBytes(responses[1].body, body)
      expect(rest.length).toBe(0)
    })

    itCurl('curl -X POST/PUT/DELETE -> 405; an unknown path -> 404', async () => {
      for (const m of ['POST', 'PUT', 'DELETE']) {
        const c = await curlGet(url('/a'), ['-X', m, ...(m === 'DELETE' ? [] : ['-d', 'data'])])
        expect(c.status).toBe(405)
        expect(c.headers.allow).toBe('GET, HEAD')
      }
      expect((await curlGet(url('/nope'))).status).toBe(404)
      const q = await curlGet(url('/t?lang=fr'))
      expect(q.status).toBe(200)
      expect(q.headers['x-extra']).toBe('1')
      expectBytes(q.body, Buffer.from('héllo'))
    })
  })
})

// ---------------------------------------------------------------------------
// 6. Keep-alive and pipelining

describe('keep-alive and pipelining', () => {
  it('200 sequential requests over one keep-alive connection', async () => {
    const bodyA = withZeros(3000)
    const bodyB = Buffer.from('b')
    const s = await serve({ host: '127.0.0.1', routes: { '/a': bodyA, '/b': bodyB } })
    const agent = track('agent', new http.Agent({ keepAlive: true, maxSockets: 1 }))
    const sockets = new Set()
    const ports = new Set()
    for (let i = 0; i < 200; i++) {
      const p = i % 2 ? '/b' : '/a'
      const r = await request(s.port, p, { agent, method: i % 10 === 9 ? 'HEAD' : 'GET' })
      expect(r.status).toBe(200)
      if (i % 10 !== 9) expectBytes(r.body, p === '/a' ? bodyA : bodyB)
      sockets.add(r.socket)
      ports.add(r.socket.localPort)
    }
    expect(sockets.size).toBe(1)
    expect(ports.size).toBe(1)
  })

  it('3 pipelined requests in one write get 3 responses in order', async () => {
    const one = withZeros(500)
    const two = Buffer.from('second')
    const s = await serve({ host: '127.0.0.1', routes: { '/1': one, '/2': two } })
    const out = await exchange(
      s.port,
      rawRequest('GET', '/1') + rawRequest('GET', '/nope') + rawRequest('GET', '/2', { Connection: 'close' }),
    )
    const { responses, rest } = parseResponses(out, ['GET', 'GET', 'GET'])
    expect(responses.map((r) => r.status)).toEqual([200, 404, 200])
    expectBytes(responses[0].body, one)
    expectBytes(responses[2].body, two)
    expect(rest.length).toBe(0)
  })

  it('pipelined HEAD, Range, 304 and GET keep their order and lengths', async () => {
    const one = withZeros(500)
    const s = await serve({ host: '127.0.0.1', routes: { '/1': one } })
    const tag = (await request(s.port, '/1')).headers.etag
    const out = await exchange(
      s.port,
      rawRequest('HEAD', '/1') +
        rawRequest('GET', '/1', { Range: 'bytes=10-19' }) +
        rawRequest('GET', '/1', { 'If-None-Match': tag }) +
        rawRequest('GET', '/1', { Connection: 'close' }),
    )
    const { responses, rest } = parseResponses(out, ['HEAD', 'GET', 'GET', 'GET'])
    expect(responses.map((r) => r.status)).toEqual([200, 206, 304, 200])
    expectBytes(responses[1].body, one.subarray(10, 20))
    expectBytes(responses[3].body, one)
    expect(rest.length).toBe(0)
  })
})

// ---------------------------------------------------------------------------
// 7. Limits

describe('limits', () => {
  it('a 20 KiB header -> 431 with the default 16 KiB limit; 15 KiB passes', async () => {
    const s = await serve({ host: '127.0.0.1', routes: { '/a': Buffer.from('ok') } })
    const big = await request(s.port, '/a', { headers: { 'X-Big': 'y'.repeat(20 * KiB) } })
    expect(big.status).toBe(431)
    const out = await exchange(s.port, rawRequest('GET', '/a', { 'X-Big': 'y'.repeat(20 * KiB) }))
    expect(out.toString('latin1')).toMatch(/^HTTP\/1\.1 431 /)
    const fits = await request(s.port, '/a', { headers: { 'X-Big': 'y'.repeat(15 * KiB) } })
    expect(fits.status).toBe(200)
    expectBytes(fits.body, Buffer.from('ok'))
    if (HAS_CURL) {
      const c = await curlGet(`http://127.0.0.1:${s.port}/a`, ['-H', `X-Big: ${'y'.repeat(20 * KiB)}`])
      expect(c.status).toBe(431)
    }
  })

  it('a custom maxHeaderSize, smaller or larger', async () => {
    const small = await serve({ host: '127.0.0.1', maxHeaderSize: 2048, routes: { '/a': Buffer.from('ok') } })
    expect((await request(small.port, '/a', { headers: { 'X-Big': 'y'.repeat(4 * KiB) } })).status).toBe(431)
    expect((await request(small.port, '/a', { headers: { 'X-Big': 'y'.repeat(KiB) } })).status).toBe(200)
    const large = await serve({ host: '127.0.0.1', maxHeaderSize: 64 * KiB, routes: { '/a': Buffer.from('ok') } })
    const r = await request(large.port, '/a', { headers: { 'X-Big': 'y'.repeat(20 * KiB) } })
    expect(r.status).toBe(200)
    expectBytes(r.body, Buffer.from('ok'))
    expect((await request(large.port, '/a', { headers: { 'X-Big': 'y'.repeat(70 * KiB) } })).status).toBe(431)
  })

  it('headersTimeout: a slow-loris socket is closed within ~headersTimeout while others are served', async () => {
    const s = await serve({ host: '127.0.0.1', headersTimeout: 500, routes: { '/a': Buffer.from('ok') } })
    const slow = await rawConnect(s.port)
    const got = []
    slow.on('data', (c) => got.push(c))
    const t0 = Date.now()
    const closed = closedAfter(slow, t0)
    slow.write('GET /a HTTP/1.1\r\nHost: t\r\nX-Slow: ')
    const drip = track(
      'timer',
      setInterval(() => {
        if (!slow.destroyed) slow.write('a')
      }, 100),
    )
    // Meanwhile other clients are served, on fresh connections.
    const served = []
    for (let i = 0; i < 4; i++) {
      await sleep(80)
      const r = await request(s.port, '/a')
      served.push([r.status, r.body.toString()])
    }
    const ms = await closed
    clearInterval(drip)
    expect(served).toEqual(Array(4).fill([200, 'ok']))
    expect(ms).toBeGreaterThanOrEqual(400)
    expect(ms).toBeLessThan(5000) // 10x headersTimeout: it fired, on a busy machine too
    expect(Buffer.concat(got).toString('latin1')).not.toMatch(/^HTTP\/1\.1 200/)
  })

  it('idleTimeout: a silent connection, and a keep-alive connection idle after its answer, are closed', async () => {
    const s = await serve({
      host: '127.0.0.1',
      headersTimeout: 5000,
      idleTimeout: 500,
      routes: { '/a': Buffer.from('ok') },
    })
    const silent = await rawConnect(s.port)
    const idle = await rawConnect(s.port)
    const t0 = Date.now()
    const got = []
    idle.on('data', (c) => got.push(c))
    const silentMs = closedAfter(silent, t0)
    const idleMs = closedAfter(idle, t0)
    idle.write(rawRequest('GET', '/a'))
    const [a, b] = await Promise.all([silentMs, idleMs])
    expect(a).toBeGreaterThanOrEqual(400)
    expect(a).toBeLessThan(5000) // 10x idleTimeout
    expect(b).toBeGreaterThanOrEqual(400)
    expect(b).toBeLessThan(5000)
    const { responses } = parseResponses(Buffer.concat(got), ['GET'])
    expect(responses[0].status).toBe(200)
  })

  it('headersTimeout does not cut an idle keep-alive connection, nor a request whose handler is slow', async () => {
    const s = await serve({
      host: '127.0.0.1',
      headersTimeout: 300,
      idleTimeout: 3000,
      routes: { '/a': Buffer.from('ok') },
      fetch: async () => {
        await sleep(1000)
        return { body: 'slow' }
      },
    })
    const agent = track('agent', new http.Agent({ keepAlive: true, maxSockets: 1 }))
    const first = await request(s.port, '/a', { agent })
    await sleep(800) // idle, longer than headersTimeout
    const second = await request(s.port, '/a', { agent })
    expect(second.socket).toBe(first.socket)
    const slow = await request(s.port, '/slow', { agent })
    expect([slow.status, slow.body.toString()]).toEqual([200, 'slow'])
    expect(slow.socket).toBe(first.socket)
  })
})

// ---------------------------------------------------------------------------
// 8. reload() and argument checks

describe('reload() and validation', () => {
  it('reload({ routes }) swaps the routes: a new path appears, an old one disappears', async () => {
    const s = await serve({ host: '127.0.0.1', routes: { '/old': Buffer.from('old'), '/both': Buffer.from('1') } })
    expect((await request(s.port, '/old')).status).toBe(200)
    expect((await request(s.port, '/new')).status).toBe(404)
    expect(s.reload({ routes: { '/new': { body: 'new' }, '/both': Buffer.from('2') } })).toBeUndefined()
    expect((await request(s.port, '/old')).status).toBe(404)
    const n = await request(s.port, '/new')
    expect(n.status).toBe(200)
    expect(n.headers['content-type']).toBe('text/plain; charset=utf-8')
    expectBytes(n.body, Buffer.from('new'))
    expectBytes((await request(s.port, '/both')).body, Buffer.from('2'))
    s.reload({ routes: {} })
    expect((await request(s.port, '/new')).status).toBe(404)
  })

  it('requests racing reloads see one table or the other, never a mix (body and etag agree)', async () => {
    const X = withZeros(64 * KiB)
    const Y = withZeros(32 * KiB)
    const tableX = { '/r': X, '/only-x': Buffer.from('x') }
    const tableY = { '/r': { body: Y, headers: { 'x-table': 'y' } } }
    const s = await serve({ host: '127.0.0.1', routes: tableX })
    const agent = track('agent', new http.Agent({ keepAlive: true, maxSockets: 8 }))
    let stop = false
    const flipper = (async () => {
      let i = 0
      while (!stop) {
        s.reload({ routes: i++ % 2 ? tableX : tableY })
        await sleep(1)
      }
    })()
    const results = await Promise.all(Array.from({ length: 200 }, () => request(s.port, '/r', { agent })))
    stop = true
    await flipper
    const tags = new Map()
    let sawX = 0
    let sawY = 0
    for (const r of results) {
      expect(r.status).toBe(200)
      const isX = r.body.length === X.length
      if (isX) {
        sawX++
        expect(r.headers['x-table']).toBeUndefined()
        expectBytes(r.body, X)
      } else {
        sawY++
        expect(r.headers['x-table']).toBe('y')
        expectBytes(r.body, Y)
      }
      const key = isX ? 'X' : 'Y'
      if (!tags.has(key)) tags.set(key, r.headers.etag)
      expect(r.headers.etag).toBe(tags.get(key))
    }
    expect(sawX + sawY).toBe(200)
  })

  it('a bad reload throws synchronously and leaves the routes as they were', async () => {
    const s = await serve({ host: '127.0.0.1', routes: { '/a': Buffer.from('kept') } })
    expectInvalidArg(() => s.reload())
    expectInvalidArg(() => s.reload(5))
    expectInvalidArg(() => s.reload({ routes: { nope: Buffer.from('x') } }))
    expectInvalidArg(() => s.reload({ routes: { '/b': 'a string' } }))
    expectInvalidArg(() => s.reload({ routes: { '/b': { file: '/etc/hosts', body: 'x' } } }))
    expectInvalidArg(() => s.reload({ routes: { '/b': { body: 'x', headers: { 'bad name': 'v' } } } }))
    expectInvalidArg(() => s.reload({ routes: { '/b': { body: 'x', headers: { 'x-h': 'a\r\nb' } } } }))
    const r = await request(s.port, '/a')
    expect(r.status).toBe(200)
    expectBytes(r.body, Buffer.from('kept'))
    expect((await request(s.port, '/b')).status).toBe(404)
  })

  describe('serve() argument checks throw synchronously', () => {
    const ok = Buffer.from('x')
    it.each([
      ['port -1', { port: -1 }, 'RangeError'],
      ['port 65536', { port: 65536 }, 'RangeError'],
      ['port 1.5', { port: 1.5 }, 'RangeError'],
      ['port NaN', { port: NaN }, 'RangeError'],
      ['port "80"', { port: '80' }, 'TypeError'],
      ['host 5', { host: 5 }, 'TypeError'],
      ['options 5', 5, 'TypeError'],
      ['routes 5', { routes: 5 }, 'TypeError'],
      ['a path without /', { routes: { a: ok } }, 'TypeError'],
      ['an empty path', { routes: { '': ok } }, 'TypeError'],
      ['a string as a bare route', { routes: { '/a': 'text' } }, 'TypeError'],
      ['a number as a route', { routes: { '/a': 5 } }, 'TypeError'],
      ['null as a route', { routes: { '/a': null } }, 'TypeError'],
      ['a body of type number', { routes: { '/a': { body: 5 } } }, 'TypeError'],
      ['a route without a body', { routes: { '/a': { contentType: 'x/y' } } }, 'TypeError'],
      ['a non-string contentType', { routes: { '/a': { body: ok, contentType: 5 } } }, 'TypeError'],
      ['a non-string header value', { routes: { '/a': { body: ok, headers: { 'x-n': 5 } } } }, 'TypeError'],
      ['headers not an object', { routes: { '/a': { body: ok, headers: 'x' } } }, 'TypeError'],
      ['fetch not a function', { fetch: {} }, 'TypeError'],
      ['maxBodySize -1', { maxBodySize: -1 }, 'RangeError'],
      ['websocket not an object', { websocket: 1 }, 'TypeError'],
      ['websocket.path without /', { websocket: { path: 'ws' } }, 'TypeError'],
      ['websocket.message not a function', { websocket: { message: 1 } }, 'TypeError'],
      ['websocket.maxPayload -1', { websocket: { maxPayload: -1 } }, 'RangeError'],
      ['a file route with a body too', { routes: { '/f': { file: __filename, body: 'x' } } }, 'TypeError'],
      ['a file route whose file is a number', { routes: { '/f': { file: 1 } } }, 'TypeError'],
      [
        'a file route with an etag header',
        { routes: { '/f': { file: __filename, headers: { etag: '"x"' } } } },
        'TypeError',
      ],
      ['maxHeaderSize 0', { maxHeaderSize: 0 }, 'RangeError'],
      ['maxHeaderSize -1', { maxHeaderSize: -1 }, 'RangeError'],
      ['maxHeaderSize "1"', { maxHeaderSize: '1' }, 'TypeError'],
      ['headersTimeout 0', { headersTimeout: 0 }, 'RangeError'],
      ['headersTimeout 1.5', { headersTimeout: 1.5 }, 'RangeError'],
      ['idleTimeout 0', { idleTimeout: 0 }, 'RangeError'],
      ['idleTimeout "1"', { idleTimeout: '1' }, 'TypeError'],
      ['bodyTimeout 0', { bodyTimeout: 0 }, 'RangeError'],
      ['bodyTimeout "1"', { bodyTimeout: '1' }, 'TypeError'],
      ['reusePort "yes"', { reusePort: 'yes' }, 'TypeError'],
    ])('%s', (_, options, name) => {
      expectInvalidArg(() => abio.serve(options), name)
    })

    it.each([
      ['a header name with a space', { 'bad name': 'v' }],
      ['an empty header name', { '': 'v' }],
      ['a header name with a colon', { 'x:y': 'v' }],
      ['a non-ASCII header name', { 'x-é': 'v' }],
      ['a header value with CRLF', { 'x-h': 'a\r\nInjected: 1' }],
      ['a header value with NUL', { 'x-h': 'a\0b' }],
    ])('%s -> TypeError ABIO_ERR_INVALID_ARG, thrown (not a rejection)', (_, headers) => {
      const e = expectInvalidArg(() => abio.serve({ routes: { '/a': { body: 'x', headers } } }))
      expect(e.message).toMatch(/header/)
    })

    it('a content type with CRLF -> TypeError thrown', () => {
      expectInvalidArg(() => abio.serve({ routes: { '/a': { body: 'x', contentType: 'text/html\r\nX: 1' } } }))
    })
  })

  it('serve() on a port in use rejects with EADDRINUSE', async () => {
    const node = track('node-server', net.createServer())
    await new Promise((resolve) => node.listen(0, '127.0.0.1', resolve))
    const port = node.address().port
    const p = abio.serve({ host: '127.0.0.1', port, routes: {} })
    expect(typeof p.then).toBe('function')
    await expect(p).rejects.toMatchObject({ code: 'EADDRINUSE' })
  })
})

// ---------------------------------------------------------------------------
// 9. close(), ref()/unref(), host

describe('close(), ref()/unref() and host', () => {
  it('close() resolves; new connections are refused; the port is free for a Node server', async () => {
    const s = await abio.serve({ routes: { '/a': Buffer.from('x') } })
    const port = s.port
    expect((await request(port, '/a')).status).toBe(200)
    expect(await s.close()).toBeUndefined()
    expect(await refused(port)).toBe(true)
    const node = track('node-server', net.createServer())
    await new Promise((resolve, reject) => {
      node.once('error', reject)
      node.listen(port, resolve) // '::', as abio's default
    })
    expect(node.address().port).toBe(port)
  })

  it('a response in flight when close() is called completes; then the connection closes', async () => {
    const big = withZeros(32 * MiB)
    const s = await abio.serve({ host: '127.0.0.1', routes: { '/big': big } })
    const port = s.port
    const done = new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/big', agent: false }, (res) => {
        res.pause()
        const chunks = []
        resolve({
          res,
          socket: res.socket,
          all: new Promise((ok, ko) => {
            res.on('data', (c) => chunks.push(c))
            res.on('end', () => ok(Buffer.concat(chunks)))
            res.on('error', ko)
          }),
        })
      })
      req.on('error', reject)
    })
    const { res, socket, all } = await done
    await sleep(50) // the server is blocked on a full socket now
    await s.close()
    expect(await refused(port)).toBe(true)
    const closed = closedAfter(socket, Date.now())
    res.resume()
    const got = await all
    expect(res.statusCode).toBe(200)
    expectBytes(got, big)
    expect(await closed).toBeLessThan(10000)
  })

  it('a request whose head is half sent when close() is called is still answered', async () => {
    const s = await abio.serve({ host: '127.0.0.1', routes: { '/a': Buffer.from('late') } })
    const sock = await rawConnect(s.port)
    const chunks = []
    sock.on('data', (c) => chunks.push(c))
    const closed = new Promise((resolve) => sock.once('close', resolve))
    sock.write('GET /a HTTP/1.1\r\nHost: t\r\n')
    await sleep(50)
    await s.close()
    sock.write('\r\n')
    await closed
    const { responses } = parseResponses(Buffer.concat(chunks), ['GET'])
    expect(responses[0].status).toBe(200)
    expectBytes(responses[0].body, Buffer.from('late'))
  })

  it('an idle keep-alive connection is closed by close()', async () => {
    const s = await abio.serve({ host: '127.0.0.1', routes: { '/a': Buffer.from('x') } })
    const agent = track('agent', new http.Agent({ keepAlive: true, maxSockets: 1 }))
    const r = await request(s.port, '/a', { agent })
    const closed = closedAfter(r.socket, Date.now())
    await s.close()
    expect(await closed).toBeLessThan(10000)
  })

  it('close() twice resolves both times', async () => {
    const s = await abio.serve({ routes: {} })
    await Promise.all([s.close(), s.close()])
    await expect(s.close()).resolves.toBeUndefined()
  })

  it('a serve()d server keeps a child process alive; unref() lets it exit; ref() holds it again', async () => {
    const lib = JSON.stringify(ROOT)
    const alive = nodeChild(
      `require(${lib}).serve({ routes: { '/a': Buffer.from('child') } }).then((s) => console.log(s.port))`,
    )
    const unrefd = nodeChild(`require(${lib}).serve({ routes: {} }).then((s) => { s.unref(); console.log('ready') })`)
    const rerefd = nodeChild(
      `require(${lib}).serve({ routes: {} }).then((s) => { s.unref(); s.ref(); console.log('ready') })`,
    )
    const closes = nodeChild(
      `require(${lib}).serve({ routes: {} }).then((s) => s.close()).then(() => console.log('closed'))`,
    )

    const port = Number(await alive.firstLine())
    const r = await request(port, '/a')
    expect(r.status).toBe(200)
    expectBytes(r.body, Buffer.from('child'))

    const u = await within(unrefd.exited, 10000)
    expect(u).toMatchObject({ code: 0, stdout: 'ready\n' })
    const c = await within(closes.exited, 10000)
    expect(c).toMatchObject({ code: 0, stdout: 'closed\n' })
    expect(await rerefd.firstLine()).toBe('ready')
    expect(await stillRunningAfter(alive.proc, 1000)).toBe(true)
    expect(await stillRunningAfter(rerefd.proc, 0)).toBe(true)
  })

  it("host defaults to '::' and accepts IPv4 (and IPv6) clients", async () => {
    const s = await serve({ routes: { '/a': Buffer.from('v4 and v6') } })
    expect(typeof s.host).toBe('string')
    if (HAS_V6) expect(s.host).toBe('::')
    const v4 = await request(s.port, '/a', { host: '127.0.0.1' })
    expect(v4.status).toBe(200)
    expectBytes(v4.body, Buffer.from('v4 and v6'))
    if (HAS_V6) {
      const v6 = await request(s.port, '/a', { host: '::1' })
      expectBytes(v6.body, Buffer.from('v4 and v6'))
    }
    const only4 = await serve({ host: '127.0.0.1', routes: {} })
    expect(only4.host).toBe('127.0.0.1')
    expect(only4.port).toBeGreaterThan(0)
  })
})

// ---------------------------------------------------------------------------
// 10. Memory: routes hold the caller's memory

describe('memory', () => {
  it('a 64 MiB ArrayBuffer route is held, not copied: RSS stays flat over 20 ranged GETs', async () => {
    const big = new ArrayBuffer(64 * MiB)
    const view = new Uint8Array(big)
    for (let i = 0; i < view.length; i += 4096) view[i] = i & 0xff // touch every page
    view.set([1, 2, 3, 4], 1000)
    const before = process.memoryUsage().rss
    const s = await serve({ host: '127.0.0.1', routes: { '/big': big } })
    const agent = track('agent', new http.Agent({ keepAlive: true, maxSockets: 1 }))
    for (let i = 0; i < 20; i++) {
      const r = await request(s.port, '/big', { agent, headers: { Range: 'bytes=1000-66535' } })
      expect(r.status).toBe(206)
      expect(r.headers['content-range']).toBe(`bytes 1000-66535/${64 * MiB}`)
      if (i === 0) expectBytes(r.body, view.subarray(1000, 66536))
    }
    const h = await request(s.port, '/big', { agent, method: 'HEAD' })
    expect(h.headers['content-length']).toBe(String(64 * MiB))
    const grown = process.memoryUsage().rss - before
    expect(grown).toBeLessThan(24 * MiB)
  })

  it('changing the ArrayBuffer after serve() changes what is served (the route holds that memory)', async () => {
    const buf = new ArrayBuffer(4096)
    const view = new Uint8Array(buf)
    view.fill(1)
    const s = await serve({ host: '127.0.0.1', routes: { '/m': buf } })
    expectBytes((await request(s.port, '/m', { headers: { Range: 'bytes=0-3' } })).body, Buffer.from([1, 1, 1, 1]))
    view.set([9, 8, 7, 6], 0)
    const r = await request(s.port, '/m', { headers: { Range: 'bytes=0-3' } })
    expectBytes(r.body, Buffer.from([9, 8, 7, 6]))
  })

  // BUG (reported): the route keeps a reference to the JS view, not to the memory behind it.
  // Transferring the ArrayBuffer away (structuredClone / postMessage with transfer) and letting
  // the new owner be collected frees that memory while the server still serves it: GET then
  // returns whatever reuses those pages (other JS data), or the connection dies (EFAULT).
  it('a route whose ArrayBuffer is transferred away and collected serves its bytes, not freed memory', async () => {
    const code = `
      const abio = require(${JSON.stringify(ROOT)})
      const http = require('http')
      const get = (port) => new Promise((resolve) => {
        http.get({ host: '127.0.0.1', port, path: '/a' }, (res) => {
          const c = []
          res.on('data', (d) => c.push(d))
          res.on('end', () => resolve(Buffer.concat(c)))
          res.on('error', (e) => resolve(e.code))
        }).on('error', (e) => resolve(e.code))
      })
      ;(async () => {
        let buf = new ArrayBuffer(64 << 20)
        new Uint8Array(buf).fill(7)
        const s = await abio.serve({ host: '127.0.0.1', routes: { '/a': buf } })
        // abio marks a route's buffer untransferable: Node 20 then clones it, Node 21+ throws.
        try { structuredClone(buf, { transfer: [buf] }) } catch {}
        for (let i = 0; i < 5; i++) { global.gc(); await new Promise((r) => setTimeout(r, 20)) }
        const junk = []
        for (let i = 0; i < 4; i++) { const x = new ArrayBuffer(64 << 20); new Uint8Array(x).fill(9); junk.push(x) }
        const b = await get(s.port)
        let r
        if (typeof b === 'string') r = { error: b }
        else {
          const seen = {}
          for (let i = 0; i < b.length; i += 4096) seen[b[i]] = (seen[b[i]] || 0) + 1
          r = { length: b.length, sampledByteValues: seen }
        }
        console.log(JSON.stringify(r))
        await s.close()
      })()`
    const child = nodeChild(code, ['--expose-gc'])
    const out = await within(child.exited, 15000)
    const line = out.stdout && out.stdout.trim()
    const result = line ? JSON.parse(line) : out
    // Either the original bytes (the memory is held) - anything else is a use after free.
    expect(result).toEqual({ length: 64 * MiB, sampledByteValues: { 7: (64 * MiB) / 4096 } })
  })
})

// ---------------------------------------------------------------------------
// 11. fetch handlers: serve({ fetch, maxBodySize })

describe('fetch handlers', () => {
  let errorSpy
  let tmp
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'abio-http-'))
  })
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))
  beforeEach(() => {
    errorSpy = jest.spyOn(console, 'error').mockImplementation(() => {})
  })
  afterEach(() => errorSpy.mockRestore())

  const fetchServer = (fetch, options = {}) => serve({ host: '127.0.0.1', fetch, ...options })
  const tag = (x) => Object.prototype.toString.call(x)

  /** A handler that reads the body, records what it saw, and echoes the exact bytes back. */
  function recorder() {
    const seen = []
    const fetch = async (req) => {
      const body = await req.body()
      seen.push({
        method: req.method,
        url: req.url,
        path: req.path,
        headers: req.headers,
        type: tag(body),
        body: Buffer.from(body),
      })
      return { headers: { 'x-method': req.method, 'x-url': req.url }, body }
    }
    return { seen, fetch }
  }

  /** A request with Node's http client that writes `chunks` one write each, then ends. */
  function sendChunks(port, urlPath, chunks, { method = 'POST', headers = {}, agent = false } = {}) {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path: urlPath, method, headers, agent }, (res) => {
        const out = []
        res.on('data', (c) => out.push(c))
        res.on('error', reject)
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(out) }))
      })
      req.on('error', reject)
      for (const c of chunks) req.write(c)
      req.end()
    })
  }

  /** A raw request with a body: fixed-length, or chunked when `chunks` is an array of pieces. */
  function rawPost(urlPath, body, headers = {}) {
    if (Array.isArray(body)) {
      let s = rawRequest('POST', urlPath, { ...headers, 'Transfer-Encoding': 'chunked' })
      const parts = [Buffer.from(s, 'latin1')]
      for (const c of body) parts.push(Buffer.from(`${c.length.toString(16)}\r\n`), Buffer.from(c), Buffer.from('\r\n'))
      parts.push(Buffer.from('0\r\n\r\n'))
      return Buffer.concat(parts)
    }
    const b = Buffer.from(body)
    return Buffer.concat([
      Buffer.from(rawRequest('POST', urlPath, { ...headers, 'Content-Length': b.length }), 'latin1'),
      b,
    ])
  }

  describe('the request as the handler sees it', () => {
    it('method, url, path and headers (lower-case names, repeated ones joined) over Node http', async () => {
      const { seen, fetch } = recorder()
      const s = await fetchServer(fetch)
      const url = '/some/path?a=1&b=%20x&c=/d'
      const r = await request(s.port, url, {
        headers: { 'X-Custom-Header': 'Value With Caps', 'x-rep': ['one', 'two', 'three'], 'X-Empty': '' },
      })
      expect(r.status).toBe(200)
      expect(r.headers['x-method']).toBe('GET')
      expect(r.headers['x-url']).toBe(url)
      expect(seen.length).toBe(1)
      const q = seen[0]
      expect({ method: q.method, url: q.url, path: q.path }).toEqual({ method: 'GET', url, path: '/some/path' })
      expect(q.headers).toEqual({
        host: `127.0.0.1:${s.port}`,
        connection: 'close',
        'x-custom-header': 'Value With Caps',
        'x-rep': 'one, two, three',
        'x-empty': '',
      })
      expect(q.type).toBe('[object ArrayBuffer]')
      expect(q.body.length).toBe(0)
    })

    it('on a raw socket: repeated headers in any case are joined in order; odd urls', async () => {
      const { seen, fetch } = recorder()
      const s = await fetchServer(fetch)
      const head =
        'GET /p?q=1&q=2 HTTP/1.1\r\nHost: t\r\nX-Rep: 1\r\nX-Other: o\r\nx-rep: 2\r\nX-REP: 3, 4\r\n' +
        'Accept: */*\r\n\r\n'
      const out = await exchange(
        s.port,
        head +
          rawRequest('GET', '/') +
          rawRequest('GET', '/a?') +
          rawRequest('GET', '/a?b?c=/d') +
          rawRequest('DELETE', '/%7Efile%20x') +
          'GET http://example.com/abs?y=1 HTTP/1.1\r\nHost: example.com\r\n\r\n' +
          rawRequest('OPTIONS', '*', { Connection: 'close' }),
      )
      const { responses, rest } = parseResponses(out, ['GET', 'GET', 'GET', 'GET', 'DELETE', 'GET', 'OPTIONS'])
      expect(rest.length).toBe(0)
      expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200, 200])
      expect(seen[0].headers).toEqual({ host: 't', 'x-rep': '1, 2, 3, 4', 'x-other': 'o', accept: '*/*' })
      expect(seen.map((q) => [q.method, q.url, q.path])).toEqual([
        ['GET', '/p?q=1&q=2', '/p'],
        ['GET', '/', '/'],
        ['GET', '/a?', '/a'],
        ['GET', '/a?b?c=/d', '/a'],
        ['DELETE', '/%7Efile%20x', '/%7Efile%20x'],
        ['GET', '/abs?y=1', '/abs'], // absolute-form: the path and query
        ['OPTIONS', '*', '*'],
      ])
    })

    it.each(['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'GET', 'PURGE'])(
      '%s on an unknown path reaches the handler with its body',
      async (method) => {
        const { seen, fetch } = recorder()
        const s = await fetchServer(fetch)
        const body = method === 'GET' ? undefined : Buffer.from(`${method} b\0dy`)
        // Node frames a DELETE or OPTIONS body only when told its length
        const headers = body ? { 'content-length': body.length } : {}
        const r = await request(s.port, '/unknown?m=1', { method, headers, body })
        expect(r.status).toBe(200)
        expect(r.headers['x-method']).toBe(method)
        expect(seen.map((q) => [q.method, q.url, q.path])).toEqual([[method, '/unknown?m=1', '/unknown']])
        expectBytes(r.body, body ?? Buffer.alloc(0))
        expectBytes(seen[0].body, body ?? Buffer.alloc(0))
      },
    )

    it('HEAD reaches the handler and gets its headers (with the length of its body) without a body', async () => {
      const methods = []
      const s = await fetchServer((req) => {
        methods.push(req.method)
        return { status: 200, headers: { 'x-h': 'v' }, body: 'hello' }
      })
      const g = await request(s.port, '/x')
      const h = await request(s.port, '/x', { method: 'HEAD' })
      expect(h.status).toBe(200)
      expect(h.headers['x-h']).toBe('v')
      expect(h.headers['content-length']).toBe('5')
      expect(stable(h.headers)).toEqual(stable(g.headers))
      expect(h.body.length).toBe(0)
      const out = await exchange(s.port, rawRequest('HEAD', '/x') + rawRequest('GET', '/x', { Connection: 'close' }))
      const { responses, rest } = parseResponses(out, ['HEAD', 'GET'])
      expect(rest.length).toBe(0)
      expect(responses[0].headers['content-length']).toBe('5')
      expectBytes(responses[1].body, Buffer.from('hello'))
      expect(methods).toEqual(['GET', 'HEAD', 'HEAD', 'GET'])
      if (HAS_CURL) {
        const { code, stdout } = await curl(['-I', `http://127.0.0.1:${s.port}/x`])
        expect(code).toBe(0)
        const text = stdout.toString('latin1')
        expect(text.endsWith('\r\n\r\n')).toBe(true)
        expect(parseHead(text.slice(0, -4)).headers['x-h']).toBe('v')
      }
    })

    itCurl('curl: PATCH with repeated headers, a query and a binary body', async () => {
      const { seen, fetch } = recorder()
      const s = await fetchServer(fetch)
      const body = withZeros(300 * KiB)
      const file = path.join(tmp, 'curl-upload.bin')
      fs.writeFileSync(file, body)
      const url = `http://127.0.0.1:${s.port}/up/load?x=1&y=2`
      const c = await curlGet(url, [
        '-X',
        'PATCH',
        '-H',
        'X-A: 1',
        '-H',
        'X-A: 2',
        '-H',
        'Content-Type: application/x-thing',
        '-H',
        'Expect:',
        '--data-binary',
        `@${file}`,
      ])
      expect(c.status).toBe(200)
      expectBytes(c.body, body)
      expect(seen.length).toBe(1)
      const q = seen[0]
      expect([q.method, q.url, q.path]).toEqual(['PATCH', '/up/load?x=1&y=2', '/up/load'])
      expect(q.headers['x-a']).toBe('1, 2')
      expect(q.headers['content-type']).toBe('application/x-thing')
      expect(q.headers['content-length']).toBe(String(body.length))
      expectBytes(q.body, body)
    })
  })

  describe('request bodies', () => {
    it('fixed-length bodies with zero bytes inside arrive exactly as an ArrayBuffer', async () => {
      const { seen, fetch } = recorder()
      const s = await fetchServer(fetch)
      const sizes = [0, 1, 7, 1000, 64 * KiB + 3, MiB]
      for (const n of sizes) {
        const body = n === 1 ? Buffer.from([0]) : withZeros(n)
        const r = await request(s.port, '/fixed', { method: 'POST', body })
        expect(r.status).toBe(200)
        expectBytes(r.body, body)
        const q = seen[seen.length - 1]
        expect(q.type).toBe('[object ArrayBuffer]')
        expect(q.headers['content-length']).toBe(String(n))
        expectBytes(q.body, body)
      }
      expect(seen.length).toBe(sizes.length)
    })

    it('chunked bodies from Node http (transfer-encoding: chunked) arrive exactly', async () => {
      const { seen, fetch } = recorder()
      const s = await fetchServer(fetch)
      const chunks = [withZeros(1), Buffer.from([0, 0, 0]), withZeros(1000), withZeros(70000), Buffer.from('end\0')]
      const r = await sendChunks(s.port, '/chunked', chunks, { headers: { 'transfer-encoding': 'chunked' } })
      expect(r.status).toBe(200)
      const all = Buffer.concat(chunks)
      expectBytes(r.body, all)
      expect(seen[0].headers['transfer-encoding']).toBe('chunked')
      expect(seen[0].headers['content-length']).toBeUndefined()
      expect(seen[0].type).toBe('[object ArrayBuffer]')
      expectBytes(seen[0].body, all)
    })

    it('empty bodies: GET without one, content-length: 0, an empty chunked body; chunk extensions and trailers', async () => {
      const { seen, fetch } = recorder()
      const s = await fetchServer(fetch)
      const out = await exchange(
        s.port,
        Buffer.concat([
          Buffer.from(rawRequest('GET', '/none')),
          rawPost('/zero', ''),
          rawPost('/chunked-empty', []),
          Buffer.from(
            rawRequest('POST', '/ext', { 'Transfer-Encoding': 'chunked', Connection: 'close' }) +
              '5;name=value\r\nhe\0lo\r\n1\r\n\0\r\n0\r\nX-Trailer: t\r\n\r\n',
            'latin1',
          ),
        ]),
      )
      const { responses, rest } = parseResponses(out, ['GET', 'POST', 'POST', 'POST'])
      expect(rest.length).toBe(0)
      expect(responses.map((r) => [r.status, r.body.length])).toEqual([
        [200, 0],
        [200, 0],
        [200, 0],
        [200, 6],
      ])
      expect(seen.map((q) => [q.path, q.type, q.body.length])).toEqual([
        ['/none', '[object ArrayBuffer]', 0],
        ['/zero', '[object ArrayBuffer]', 0],
        ['/chunked-empty', '[object ArrayBuffer]', 0],
        ['/ext', '[object ArrayBuffer]', 6],
      ])
      expectBytes(seen[3].body, Buffer.from('he\0lo\0', 'latin1'))
    })

    it('a 10 MiB body, fixed-length and chunked, arrives exactly', async () => {
      const { seen, fetch } = recorder()
      const s = await fetchServer(fetch)
      const big = withZeros(10 * MiB)
      const r = await request(s.port, '/big', { method: 'PUT', body: big })
      expect(r.status).toBe(200)
      expectBytes(r.body, big)
      const pieces = []
      for (let i = 0; i < big.length; i += MiB + 17) pieces.push(big.subarray(i, i + MiB + 17))
      const c = await sendChunks(s.port, '/big-chunked', pieces, { headers: { 'transfer-encoding': 'chunked' } })
      expect(c.status).toBe(200)
      expectBytes(c.body, big)
      expect(seen.map((q) => q.body.length)).toEqual([10 * MiB, 10 * MiB])
      expectBytes(seen[1].body, big)
    })

    it('body() twice -> the second rejects with ABIO_ERR_CLOSED (after the first, and while it is pending)', async () => {
      const results = []
      const s = await fetchServer(async (req) => {
        if (req.path === '/after') {
          const first = await req.body()
          const second = await req.body().then(
            () => 'resolved',
            (e) => e,
          )
          results.push({ first: Buffer.from(first), second })
        } else {
          const [a, b] = await Promise.allSettled([req.body(), req.body()])
          results.push({ first: Buffer.from(a.value), second: b.reason, status: [a.status, b.status] })
        }
        return { body: 'ok' }
      })
      const body = withZeros(5000)
      expect((await request(s.port, '/after', { method: 'POST', body })).status).toBe(200)
      expect((await request(s.port, '/pending', { method: 'POST', body })).status).toBe(200)
      expect(results.length).toBe(2)
      for (const r of results) {
        expectBytes(r.first, body)
        expect(tag(r.second)).toBe('[object Error]')
        expect({ name: r.second.name, code: r.second.code }).toEqual({ name: 'Error', code: 'ABIO_ERR_CLOSED' })
      }
      expect(results[1].status).toEqual(['fulfilled', 'rejected'])
      expect(errorSpy).not.toHaveBeenCalled()
    })

    it('bodyToFile writes the exact bytes (fixed-length and chunked) and resolves with the count', async () => {
      const got = []
      const s = await fetchServer(async (req) => {
        const file = path.join(tmp, 'uploads', req.path.slice(1))
        const n = await req.bodyToFile(file, { mkdirs: true })
        const again = await req.body().then(
          () => 'resolved',
          (e) => e.code,
        )
        got.push({ n, again, file })
        return { status: 201, body: String(n) }
      })
      const fixed = withZeros(100 * KiB + 5)
      const r = await request(s.port, '/fixed.bin', { method: 'POST', body: fixed })
      expect(r.status).toBe(201)
      expect(r.body.toString()).toBe(String(fixed.length))
      const pieces = [withZeros(10), Buffer.alloc(3), withZeros(40000)]
      const c = await sendChunks(s.port, '/chunked.bin', pieces, { headers: { 'transfer-encoding': 'chunked' } })
      expect(c.status).toBe(201)
      const empty = await request(s.port, '/empty.bin', { method: 'POST', body: Buffer.alloc(0) })
      expect(empty.status).toBe(201)
      expect(got.map((g) => [g.n, g.again])).toEqual([
        [fixed.length, 'ABIO_ERR_CLOSED'],
        [40013, 'ABIO_ERR_CLOSED'],
        [0, 'ABIO_ERR_CLOSED'],
      ])
      expectBytes(fs.readFileSync(got[0].file), fixed)
      expectBytes(fs.readFileSync(got[1].file), Buffer.concat(pieces))
      expect(fs.readFileSync(got[2].file).length).toBe(0)
    })

    it('bodyToFile: a client gone mid-body or a body over maxBodySize rejects and leaves the old file whole, no temp file', async () => {
      const dir = path.join(tmp, 'partial')
      fs.mkdirSync(dir)
      const target = path.join(dir, 'kept.bin')
      fs.writeFileSync(target, 'old contents')
      let settle
      const outcomes = []
      const s = await fetchServer(
        async (req) => {
          try {
            outcomes.push({ path: req.path, n: await req.bodyToFile(target) })
          } catch (e) {
            outcomes.push({ path: req.path, name: e.name, code: e.code })
          }
          if (outcomes.length === 2) settle()
          return { body: 'done' }
        },
        { maxBodySize: 64 * KiB },
      )
      // 60 KiB announced, 40 KiB sent, then the client vanishes.
      let done = new Promise((resolve) => (settle = resolve))
      const c = await rawConnect(s.port)
      c.write(rawRequest('POST', '/gone', { 'Content-Length': 60 * KiB }))
      c.write(withZeros(40 * KiB))
      await new Promise((resolve) => setTimeout(resolve, 50))
      c.destroy()
      // Over maxBodySize, found while reading a chunked body.
      const big = await sendChunks(s.port, '/big', [withZeros(40 * KiB), withZeros(40 * KiB)], {
        headers: { 'transfer-encoding': 'chunked' },
      })
      await done
      expect(big.status).toBe(413)
      outcomes.sort((a, b) => a.path.localeCompare(b.path))
      expect(outcomes[0]).toEqual({ path: '/big', name: 'RangeError', code: 'ABIO_ERR_BODY_TOO_LARGE' })
      expect(outcomes[1]).toEqual({ path: '/gone', name: 'Error', code: 'ABIO_ERR_CLOSED' })
      expect(fs.readFileSync(target, 'latin1')).toBe('old contents')
      expect(fs.readdirSync(dir)).toEqual(['kept.bin'])
      // Asked for in place (atomic: false) on a new file: a failed body leaves no file.
      const fresh = path.join(dir, 'fresh.bin')
      const s2 = await fetchServer(async (req) => {
        await req.bodyToFile(fresh, { atomic: false }).catch((e) => outcomes.push({ path: 'fresh', code: e.code }))
        settle()
        return {}
      })
      done = new Promise((resolve) => (settle = resolve))
      const c2 = await rawConnect(s2.port)
      c2.write(rawRequest('POST', '/gone', { 'Content-Length': MiB }))
      c2.write(withZeros(40 * KiB))
      await new Promise((resolve) => setTimeout(resolve, 50))
      c2.destroy()
      await done
      expect(outcomes[2]).toEqual({ path: 'fresh', code: 'ABIO_ERR_CLOSED' })
      expect(fs.readdirSync(dir)).toEqual(['kept.bin'])
    })

    it('bodyToFile streams: 48 MiB lands on disk byte for byte with less memory than the body', async () => {
      const body = withZeros(48 * MiB)
      const file = path.join(tmp, 'stream-48m.bin')
      let rssGrowth = -1
      const s = await fetchServer(
        async (req) => {
          const before = process.memoryUsage().rss
          const n = await req.bodyToFile(file)
          rssGrowth = process.memoryUsage().rss - before
          return { body: String(n) }
        },
        { maxBodySize: 64 * MiB },
      )
      const pieces = []
      for (let at = 0; at < body.length; at += 4 * MiB) pieces.push(body.subarray(at, at + 4 * MiB))
      const r = await sendChunks(s.port, '/up', pieces, { headers: { 'content-length': String(body.length) } })
      expect(r.body.toString()).toBe(String(body.length))
      expectBytes(fs.readFileSync(file), body)
      // Read whole, the body alone would add 48 MiB.
      expect(rssGrowth).toBeLessThan(32 * MiB)
      fs.rmSync(file)
    })

    itCurl('curl --data-binary: the handler reads the exact bytes', async () => {
      const { seen, fetch } = recorder()
      const s = await fetchServer(fetch)
      const body = withZeros(2 * MiB + 1)
      const file = path.join(tmp, 'curl-2m.bin')
      fs.writeFileSync(file, body)
      const c = await curlGet(`http://127.0.0.1:${s.port}/post`, ['-H', 'Expect:', '--data-binary', `@${file}`])
      expect(c.status).toBe(200)
      expectBytes(c.body, body)
      const t = await curlGet(`http://127.0.0.1:${s.port}/post`, [
        '-H',
        'Expect:',
        '-H',
        'Transfer-Encoding: chunked',
        '--data-binary',
        `@${file}`,
      ])
      expect(t.status).toBe(200)
      expectBytes(t.body, body)
      expect(seen.map((q) => [q.method, q.headers['transfer-encoding'], q.body.length])).toEqual([
        ['POST', undefined, body.length],
        ['POST', 'chunked', body.length],
      ])
    })
  })

  describe('maxBodySize', () => {
    /** A handler that catches what body() rejects with, records it, and answers 200 anyway. */
    function catcher() {
      const errors = []
      const fetch = async (req) => {
        try {
          const b = await req.body()
          return { body: `read ${b.byteLength}` }
        } catch (e) {
          errors.push(e)
          return { status: 200, headers: { 'x-caught': '1' }, body: 'caught' }
        }
      }
      return { errors, fetch }
    }
    const expectTooLarge = (e) => {
      expect(tag(e)).toBe('[object Error]')
      expect({ name: e.name, code: e.code }).toEqual({ name: 'RangeError', code: 'ABIO_ERR_BODY_TOO_LARGE' })
    }

    it('content-length over it -> 413 even when the handler catches and answers 200; body() rejects RangeError', async () => {
      const { errors, fetch } = catcher()
      const s = await fetchServer(fetch, { maxBodySize: 1000 })
      const out = await exchange(s.port, rawPost('/up', withZeros(1001), { Connection: 'close' }))
      const { responses, rest } = parseResponses(out, ['POST'])
      expect(rest.length).toBe(0)
      expect(responses[0].status).toBe(413)
      expect(responses[0].body.length).toBe(0)
      expect(responses[0].headers['x-caught']).toBeUndefined()
      const r = await request(s.port, '/up', { method: 'POST', body: withZeros(5000) })
      expect(r.status).toBe(413)
      expect(r.body.length).toBe(0)
      expect(errors.length).toBe(2)
      errors.forEach(expectTooLarge)
      expect(errors[0].message).toMatch(/1000/)
      expect(errorSpy).not.toHaveBeenCalled()
    })

    it('content-length over it -> 413 when the handler never reads the body, or rethrows', async () => {
      const s = await fetchServer(
        async (req) => {
          if (req.path === '/rethrow') await req.body()
          return { status: 201, body: 'never sent' }
        },
        { maxBodySize: 10 },
      )
      for (const p of ['/ignore', '/rethrow']) {
        const out = await exchange(s.port, rawPost(p, 'x'.repeat(11), { Connection: 'close' }))
        const { responses } = parseResponses(out, ['POST'])
        expect([p, responses[0].status, responses[0].body.length]).toEqual([p, 413, 0])
      }
      // a body over maxBodySize is no handler failure: nothing is logged
      expect(errorSpy).not.toHaveBeenCalled()
    })

    it('a chunked body over it (Node http) -> 413, and body() rejects with RangeError ABIO_ERR_BODY_TOO_LARGE', async () => {
      const { errors, fetch } = catcher()
      const s = await fetchServer(fetch, { maxBodySize: 1000 })
      const chunks = [withZeros(600), withZeros(600), withZeros(600)]
      const r = await sendChunks(s.port, '/c', chunks, { headers: { 'transfer-encoding': 'chunked' } })
      expect(r.status).toBe(413)
      expect(r.body.length).toBe(0)
      expect(r.headers['x-caught']).toBeUndefined()
      expect(errors.length).toBe(1)
      expectTooLarge(errors[0])
      expect(errorSpy).not.toHaveBeenCalled()
      // and on a raw socket, where the body arrives in one piece
      const out = await exchange(s.port, rawPost('/c', [withZeros(999), withZeros(2)], { Connection: 'close' }))
      expect(parseResponses(out, ['POST']).responses[0].status).toBe(413)
      expect(errors.length).toBe(2)
      expectTooLarge(errors[1])
    })

    it('exactly maxBodySize bytes are read (fixed and chunked); one more is 413; maxBodySize 0 allows empty bodies', async () => {
      const { errors, fetch } = catcher()
      const s = await fetchServer(fetch, { maxBodySize: 1000 })
      const at = withZeros(1000)
      expect((await request(s.port, '/f', { method: 'POST', body: at })).body.toString()).toBe('read 1000')
      const c = await sendChunks(s.port, '/c', [at.subarray(0, 400), at.subarray(400, 800), at.subarray(800)], {
        headers: { 'transfer-encoding': 'chunked' },
      })
      expect([c.status, c.body.toString()]).toEqual([200, 'read 1000'])
      const over = await sendChunks(s.port, '/c', [at, Buffer.from([0])], {
        headers: { 'transfer-encoding': 'chunked' },
      })
      expect(over.status).toBe(413)
      expect(errors.length).toBe(1)

      const z = await fetchServer(catcher().fetch, { maxBodySize: 0 })
      expect((await request(z.port, '/e', { method: 'POST', body: Buffer.alloc(0) })).body.toString()).toBe('read 0')
      expect((await request(z.port, '/e')).body.toString()).toBe('read 0')
      expect((await request(z.port, '/e', { method: 'POST', body: Buffer.from([0]) })).status).toBe(413)
    })

    it('the default is 16 MiB: 16 MiB are read, 16 MiB + 1 (announced) is 413', async () => {
      const { errors, fetch } = catcher()
      const s = await fetchServer(fetch)
      const body = Buffer.alloc(16 * MiB, 1)
      expect((await request(s.port, '/f', { method: 'POST', body })).body.toString()).toBe(`read ${16 * MiB}`)
      const over = await request(s.port, '/f', { method: 'POST', body: Buffer.alloc(16 * MiB + 1, 2) })
      expect([over.status, over.body.length]).toEqual([413, 0])
      expect(errors.length).toBe(1)
      expectTooLarge(errors[0])
    })

    itCurl('curl uploading 2 MiB to a server with maxBodySize 1000 gets 413', async () => {
      const s = await fetchServer(catcher().fetch, { maxBodySize: 1000 })
      const file = path.join(tmp, 'curl-over.bin')
      fs.writeFileSync(file, withZeros(2 * MiB))
      const c = await curlGet(`http://127.0.0.1:${s.port}/up`, ['--data-binary', `@${file}`])
      expect(c.status).toBe(413)
      expect(c.body.length).toBe(0)
    })
  })

  describe('responses', () => {
    it('status codes: default 200, 201, 204 (no body), 302, 404 from the handler, 599', async () => {
      const s = await fetchServer((req) => {
        const status = Number(req.path.slice(1))
        if (!status) return { body: 'default' }
        return { status, headers: status === 302 ? { location: '/else' } : {}, body: `status ${status}` }
      })
      const d = await request(s.port, '/')
      expect([d.status, d.body.toString()]).toEqual([200, 'default'])
      for (const st of [201, 302, 404, 599]) {
        const r = await request(s.port, `/${st}`)
        expect([r.status, r.body.toString()]).toEqual([st, `status ${st}`])
      }
      expect((await request(s.port, '/302')).headers.location).toBe('/else')
      const n = await request(s.port, '/204')
      expect([n.status, n.body.length]).toEqual([204, 0])
      const out = await exchange(
        s.port,
        rawRequest('GET', '/204') + rawRequest('GET', '/599') + rawRequest('GET', '/404', { Connection: 'close' }),
      )
      const { responses, rest } = parseResponses(out, ['GET', 'GET', 'GET'])
      expect(rest.length).toBe(0)
      expect(responses.map((r) => [r.status, r.body.toString()])).toEqual([
        [204, ''],
        [599, 'status 599'],
        [404, 'status 404'],
      ])
      expect(out.toString('latin1')).toMatch(/^HTTP\/1\.1 204 /)
      expect(responses[0].headers['content-length']).toBeUndefined()
    })

    it('header values go out and come in as Latin-1, as Node writes and reads them; above U+00FF is a 500', async () => {
      const s = await fetchServer((req) =>
        req.path === '/wide' ? { headers: { 'x-w': 'snow ☃' } } : { headers: { 'x-echo': req.headers['x-in'] } },
      )
      const r = await request(s.port, '/echo', { headers: { 'x-in': 'café ÿ' } })
      expect(r.headers['x-echo']).toBe('café ÿ')
      const head = rawRequest('GET', '/echo', { 'x-in': 'caf\u00e9', Connection: 'close' })
      const raw = await exchange(s.port, Buffer.from(head, 'latin1'))
      expect(raw.includes(Buffer.from('x-echo: caf\xe9\r\n', 'latin1'))).toBe(true)
      expect((await request(s.port, '/wide')).status).toBe(500)
      expect(errorSpy).toHaveBeenCalledTimes(1)
    })

    it('headers arrive (string and number values); content-length and transfer-encoding are hyper’s', async () => {
      const s = await fetchServer(() => ({
        status: 200,
        headers: {
          'X-Str': 'some value',
          'x-num': 42,
          'x-zero': 0,
          'x-float': 1.5,
          'x-empty': '',
          'content-type': 'application/json',
          'Content-Length': '999',
          'transfer-encoding': 'chunked',
        },
        body: '{"a":1}',
      }))
      const r = await request(s.port, '/h')
      expect(r.status).toBe(200)
      expect(r.headers).toMatchObject({
        'x-str': 'some value',
        'x-num': '42',
        'x-zero': '0',
        'x-float': '1.5',
        'x-empty': '',
        'content-type': 'application/json',
        'content-length': '7',
      })
      expect(r.headers['transfer-encoding']).toBeUndefined()
      expectBytes(r.body, Buffer.from('{"a":1}'))
      // framing stays right on a keep-alive connection
      const out = await exchange(s.port, rawRequest('GET', '/h') + rawRequest('GET', '/h', { Connection: 'close' }))
      const { responses, rest } = parseResponses(out, ['GET', 'GET'])
      expect(rest.length).toBe(0)
      expect(responses.map((x) => x.body.toString())).toEqual(['{"a":1}', '{"a":1}'])
    })

    /** Every Data type as a response body, with the bytes expected. */
    function dataBodies() {
      const u8 = new Uint8Array(ab(300), 17, 200)
      u8.fill(0, 10, 20)
      const dvBuf = ab(64)
      new Uint8Array(dvBuf).fill(0, 40, 44)
      const shared = sab(1000)
      new Uint8Array(shared).fill(0, 0, 5)
      const i16 = new Int16Array(ab(400)).subarray(10, 150)
      i16.fill(0, 3, 6)
      const text = 'héllo \u{1F600}\0 end'
      return [
        ['string', text, Buffer.from(text, 'utf8')],
        ['empty string', '', Buffer.alloc(0)],
        ['ArrayBuffer', new Uint8Array(withZeros(4096)).slice().buffer],
        ['SharedArrayBuffer', shared],
        ['Buffer (a pool slice)', poolSlice('hello\0world\0\0')],
        ['Uint8Array with byteOffset', u8],
        ['Int16Array subarray', i16],
        ['Float64Array', new Float64Array([0, -0, 1.5, NaN, Infinity, 0])],
        ['BigUint64Array', new BigUint64Array([0n, 2n ** 64n - 1n, 0n])],
        ['DataView with byteOffset', new DataView(dvBuf, 8, 48)],
        ['empty ArrayBuffer', new ArrayBuffer(0)],
        ['1 MiB Buffer', withZeros(MiB)],
        ['null', null, Buffer.alloc(0)],
        ['absent', undefined, Buffer.alloc(0)],
      ].map(([name, value, want]) => ({ name, value, want: want ?? copyOf(value) }))
    }

    it('every Data type as a body arrives exactly (Node http and curl)', async () => {
      const cases = dataBodies()
      const s = await fetchServer((req) => {
        const c = cases[Number(req.path.slice(3))]
        return c.value === undefined ? { status: 200 } : { body: c.value }
      })
      for (let i = 0; i < cases.length; i++) {
        const c = cases[i]
        const r = await request(s.port, `/d/${i}`)
        expect({ name: c.name, status: r.status }).toEqual({ name: c.name, status: 200 })
        expect({ name: c.name, length: r.headers['content-length'] }).toEqual({
          name: c.name,
          length: String(c.want.length),
        })
        expectBytes(r.body, c.want)
        if (HAS_CURL) {
          const k = await curlGet(`http://127.0.0.1:${s.port}/d/${i}`)
          expect({ name: c.name, status: k.status }).toEqual({ name: c.name, status: 200 })
          expectBytes(k.body, c.want)
        }
      }
      expect(errorSpy).not.toHaveBeenCalled()
    })

    it('undefined, null or {} -> 200 with an empty body; a promise of a response works', async () => {
      const s = await fetchServer((req) => {
        if (req.path === '/undefined') return undefined
        if (req.path === '/null') return null
        if (req.path === '/empty') return {}
        return Promise.resolve({ status: 202, body: 'later' })
      })
      for (const p of ['/undefined', '/null', '/empty']) {
        const r = await request(s.port, p)
        expect([p, r.status, r.body.length]).toEqual([p, 200, 0])
      }
      const r = await request(s.port, '/promise')
      expect([r.status, r.body.toString()]).toEqual([202, 'later'])
      expect(errorSpy).not.toHaveBeenCalled()
    })

    it('an async handler resolving after 50 ms does not hold up requests on other connections', async () => {
      const s = await fetchServer((req) => {
        if (req.path === '/slow') return new Promise((resolve) => setTimeout(() => resolve({ body: 'slow' }), 50))
        return { body: `fast ${req.url}` }
      })
      const order = []
      const t0 = Date.now()
      const slow = request(s.port, '/slow').then((r) => {
        order.push('slow')
        return [r, Date.now() - t0]
      })
      await sleep(5)
      const fast = []
      for (let i = 0; i < 10; i++)
        fast.push(
          request(s.port, `/fast?${i}`, { method: 'POST', body: `b${i}` }).then((r) => {
            order.push(`fast ${i}`)
            return r
          }),
        )
      const fastDone = await Promise.all(fast)
      fastDone.forEach((r, i) => expect(r.body.toString()).toBe(`fast /fast?${i}`))
      const [r, ms] = await slow
      expect(r.body.toString()).toBe('slow')
      expect(ms).toBeGreaterThanOrEqual(45)
      expect(order[order.length - 1]).toBe('slow')
      expect(order.length).toBe(11)
    })
  })

  describe('handler failures -> 500, logged, and the server keeps serving', () => {
    const boom = new Error('boom')
    const failures = [
      [
        'throws',
        () => {
          throw boom
        },
      ],
      ['rejects', () => Promise.reject(boom)],
      [
        'an async handler throws',
        async () => {
          await sleep(1)
          throw boom
        },
      ],
      [
        'throws a non-Error',
        () => {
          throw 'just a string' // eslint-disable-line no-throw-literal
        },
      ],
      ['returns a string', () => 'hello'],
      ['resolves with a number', () => Promise.resolve(5)],
      ['returns an array', () => [200, 'x']],
      ['status 42', () => ({ status: 42, body: 'x' })],
      ['status 1000', () => ({ status: 1000 })],
      ['status 200.5', () => ({ status: 200.5 })],
      ["status '200'", () => ({ status: '200' })],
      ['a header value with CRLF', () => ({ headers: { 'x-h': 'a\r\nInjected: 1' }, body: 'x' })],
      ['a header name with a space', () => ({ headers: { 'bad name': 'v' } })],
      ['a header value that is an object', () => ({ headers: { 'x-h': {} } })],
      ['headers not an object', () => ({ headers: 'x-h: v' })],
      ['a body of type number', () => ({ body: 5 })],
      ['a { file } body whose file is a number', () => ({ body: { file: 42 } })],
    ]

    it.each(failures)('%s -> 500; the next request on the same keep-alive connection works', async (_, bad) => {
      const s = await fetchServer((req) => (req.path === '/bad' ? bad(req) : { body: 'fine' }))
      const agent = track('agent', new http.Agent({ keepAlive: true, maxSockets: 1 }))
      const r = await request(s.port, '/bad', { agent })
      expect(r.status).toBe(500)
      expect(r.body.length).toBe(0)
      expect(r.headers.injected).toBeUndefined()
      expect(r.headers['x-h']).toBeUndefined()
      const ok = await request(s.port, '/ok', { agent })
      expect([ok.status, ok.body.toString()]).toEqual([200, 'fine'])
      expect(ok.socket).toBe(r.socket)
      expect(errorSpy).toHaveBeenCalledTimes(1)
      expect(String(errorSpy.mock.calls[0][0])).toMatch(/fetch handler/)
    })

    it('the thrown error itself is what is logged', async () => {
      const s = await fetchServer(() => {
        throw boom
      })
      expect((await request(s.port, '/')).status).toBe(500)
      expect(errorSpy.mock.calls[0]).toContain(boom)
    })

    it('50 failures in a row, pipelined with good requests on one connection: answered in order', async () => {
      let n = 0
      const s = await fetchServer((req) => {
        n++
        if (req.path === '/throw') throw boom
        if (req.path === '/reject') return Promise.reject(boom)
        return { body: req.url }
      })
      let data = ''
      const methods = []
      const want = []
      for (let i = 0; i < 50; i++) {
        const p = ['/throw', '/reject', '/good'][i % 3]
        data += rawRequest('GET', `${p}?${i}`, i === 49 ? { Connection: 'close' } : {})
        methods.push('GET')
        want.push(p === '/good' ? [200, `/good?${i}`] : [500, ''])
      }
      const { responses, rest } = parseResponses(await exchange(s.port, data), methods)
      expect(rest.length).toBe(0)
      expect(responses.map((r) => [r.status, r.body.toString()])).toEqual(want)
      expect(n).toBe(50)
      expect(errorSpy).toHaveBeenCalledTimes(want.filter((w) => w[0] === 500).length)
    })
  })

  describe('routes and fetch together', () => {
    it('GET and HEAD on a route path are the route (query ignored); other methods and paths reach fetch', async () => {
      const { seen, fetch } = recorder()
      const routeBody = withZeros(100)
      const s = await fetchServer(fetch, { routes: { '/r': routeBody } })
      const g = await request(s.port, '/r?x=1')
      expect(g.status).toBe(200)
      expect(g.headers.etag).toMatch(ETAG)
      expectBytes(g.body, routeBody)
      const h = await request(s.port, '/r', { method: 'HEAD' })
      expect([h.status, h.headers['content-length'], h.body.length]).toEqual([200, '100', 0])
      expect(seen.length).toBe(0)
      for (const m of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
        const body = Buffer.from(`${m}\0`)
        const r = await request(s.port, '/r?q', { method: m, headers: { 'content-length': body.length }, body })
        expect([m, r.status, r.headers['x-method'], r.headers.allow]).toEqual([m, 200, m, undefined])
        expectBytes(r.body, body)
      }
      const o = await request(s.port, '/other')
      expect([o.status, o.headers['x-method']]).toEqual([200, 'GET'])
      const oh = await request(s.port, '/other', { method: 'HEAD' })
      expect([oh.status, oh.headers['x-method']]).toEqual([200, 'HEAD'])
      expect(seen.map((q) => [q.method, q.url, q.path])).toEqual([
        ['POST', '/r?q', '/r'],
        ['PUT', '/r?q', '/r'],
        ['PATCH', '/r?q', '/r'],
        ['DELETE', '/r?q', '/r'],
        ['OPTIONS', '/r?q', '/r'],
        ['GET', '/other', '/other'],
        ['HEAD', '/other', '/other'],
      ])
    })
  })

  describe('keep-alive and pipelining', () => {
    it('200 sequential fetch-handled requests (POST, chunked PUT, GET, HEAD) over one connection', async () => {
      const seen = []
      const s = await fetchServer(async (req) => {
        const body = await req.body()
        seen.push(req.headers)
        // HEAD and GET answer a non-empty body: see the HEAD content-length bug below
        return { headers: { 'x-url': req.url }, body: body.byteLength ? body : `got ${req.url}` }
      })
      const agent = track('agent', new http.Agent({ keepAlive: true, maxSockets: 1 }))
      const sockets = new Set()
      for (let i = 0; i < 200; i++) {
        const kind = i % 4
        const body = kind < 2 ? withZeros(1 + ((i * 37) % 3000)) : undefined
        const method = ['POST', 'PUT', 'GET', 'HEAD'][kind]
        const headers = kind === 1 ? { 'transfer-encoding': 'chunked' } : {}
        const r = await request(s.port, `/k/${i}?i=${i}`, { agent, method, headers, body })
        expect([i, r.status, r.headers['x-url']]).toEqual([i, 200, `/k/${i}?i=${i}`])
        if (body) expectBytes(r.body, body)
        else expect(r.body.toString()).toBe(method === 'GET' ? `got /k/${i}?i=${i}` : '')
        sockets.add(r.socket)
      }
      expect(sockets.size).toBe(1)
      expect(seen.length).toBe(200)
      expect(seen[1]['transfer-encoding']).toBe('chunked')
    })

    it('3 pipelined POSTs with bodies in one write are answered in order, even when the first is slowest', async () => {
      const s = await fetchServer(async (req) => {
        const body = await req.body()
        const delay = { '/1': 60, '/2': 20, '/3': 0 }[req.path]
        await sleep(delay)
        return { headers: { 'x-path': req.path }, body }
      })
      const one = withZeros(5000)
      const two = [withZeros(10), Buffer.alloc(4), withZeros(300)]
      const three = Buffer.from('three\0')
      const out = await exchange(
        s.port,
        Buffer.concat([rawPost('/1', one), rawPost('/2', two), rawPost('/3', three, { Connection: 'close' })]),
      )
      const { responses, rest } = parseResponses(out, ['POST', 'POST', 'POST'])
      expect(rest.length).toBe(0)
      expect(responses.map((r) => [r.status, r.headers['x-path']])).toEqual([
        [200, '/1'],
        [200, '/2'],
        [200, '/3'],
      ])
      expectBytes(responses[0].body, one)
      expectBytes(responses[1].body, Buffer.concat(two))
      expectBytes(responses[2].body, three)
    })

    /**
     * Sends `head`, then (after the handler has answered) `body`, then a GET /next on the same
     * connection. Resolves with what came back and whether the connection was closed within 1.5 s.
     */
    async function answerThenBody(port, head, body) {
      const sock = await rawConnect(port)
      const chunks = []
      sock.on('data', (c) => chunks.push(c))
      const closed = new Promise((resolve) => sock.once('close', () => resolve('closed')))
      sock.write(head)
      await sleep(30)
      sock.write(body)
      await sleep(30)
      sock.write(rawRequest('GET', '/next', { Connection: 'close' }))
      const done = await within(closed, 10000)
      return { stalled: done !== 'closed', out: Buffer.concat(chunks) }
    }
    /** The first response has `status`; then either the connection was closed or GET /next got 'yes'. */
    function expectClosedOrServed({ stalled, out }, status) {
      expect(out.toString('latin1').slice(0, 12)).toBe(`HTTP/1.1 ${status}`)
      const first = parseResponses(out, ['POST'])
      const closes = first.responses[0].headers.connection === 'close'
      // the answer to GET /next, if any came
      const next = closes || !first.rest.includes('\r\n\r\n') ? [] : parseResponses(first.rest, ['GET']).responses
      expect({ stalled, closes, next: next.map((r) => [r.status, r.body.toString()]) }).toEqual({
        stalled: false,
        closes,
        next: closes ? [] : [[200, 'yes']],
      })
    }

    // BUG (reported): when the handler answers without reading the request body (a 401, a
    // redirect, a handler that ignores uploads), hyper's side of the body is neither read nor
    // dropped (the NativeRequest holds the Incoming): hyper forwards one piece of it and then
    // waits, so unless the whole body came in one read, the keep-alive connection stalls. The
    // response goes out without `connection: close` and the next request on that connection
    // is never answered (Node's keep-alive agent hangs on it). Node's http server discards an
    // unread body once the response ends.
    it.each([
      ['a chunked body of two chunks', { 'Transfer-Encoding': 'chunked' }, '5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n'],
      ['a 64 KiB body', { 'Content-Length': 64 * KiB }, withZeros(64 * KiB)],
    ])(
      'a handler that does not read %s: the connection then serves the next request (or is closed)',
      async (_, h, body) => {
        const s = await fetchServer((req) => (req.path === '/deny' ? { status: 401, body: 'no' } : { body: 'yes' }))
        expectClosedOrServed(await answerThenBody(s.port, rawRequest('POST', '/deny', h), body), 401)
      },
    )

    // BUG (reported), the same cause: after the 413 for a body announced over maxBodySize the
    // connection neither closes nor moves on once the body has been sent.
    it('a body announced over maxBodySize: after the 413 the connection serves the next request (or is closed)', async () => {
      const s = await fetchServer(() => ({ body: 'yes' }), { maxBodySize: 1000 })
      const head = rawRequest('POST', '/up', { 'Content-Length': 256 * KiB })
      expectClosedOrServed(await answerThenBody(s.port, head, withZeros(256 * KiB)), 413)
    })

    // BUG (reported): a HEAD answered by fetch with an empty body has no content-length (GET
    // says content-length: 0, and routes say it for HEAD too), so Node's http client does not
    // reuse the keep-alive connection after it.
    it('HEAD to a handler answering an empty body has the headers of GET, content-length: 0 included', async () => {
      const s = await fetchServer(() => ({ headers: { 'x-h': 'v' } }))
      const g = await request(s.port, '/e')
      expect(g.headers['content-length']).toBe('0')
      const out = await exchange(s.port, rawRequest('HEAD', '/e', { Connection: 'close' }))
      const { responses, rest } = parseResponses(out, ['HEAD'])
      expect(rest.length).toBe(0)
      expect(stable(responses[0].headers)).toEqual(stable(g.headers))
      const agent = track('agent', new http.Agent({ keepAlive: true, maxSockets: 1 }))
      const a = await request(s.port, '/e', { agent, method: 'HEAD' })
      const b = await request(s.port, '/e', { agent })
      expect(b.socket).toBe(a.socket)
    })
  })
})
