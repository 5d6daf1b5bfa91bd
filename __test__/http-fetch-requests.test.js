'use strict'
// Tests for abio's HTTP fetch handlers (design.md sections 7 and 12): the request as the handler
// sees it (a WHATWG Request: absolute url, Headers), request bodies (fixed-length, chunked,
// streamed to disk) and maxBodySize. The web-standard side in depth: http-web.test.js.
// Peers, checks and how the tests talk to the server: helpers/http.js.

const fs = require('fs')
const path = require('path')
const os = require('os')
const http = require('http')

const abio = require('..')
const { expectBytes } = require('./helpers/bytes')
const { closeAll } = require('./helpers/cleanup')
const { tag } = require('./helpers/throws')
const { HAS_CURL, request, curl, curlGet, parseHead, rawConnect, exchange } = require('./helpers/http-peers')
const { KiB, MiB, itCurl, serve, rawRequest, parseResponses, withZeros, stable } = require('./helpers/http')
const { fetchServer, recorder, sendChunks, rawPost } = require('./helpers/http')

jest.setTimeout(20000)

afterEach(closeAll)

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

  describe('the request as the handler sees it', () => {
    it('method, url, path and headers (lower-case names, repeated ones joined) over Node http', async () => {
      const { seen, fetch } = recorder()
      const s = await fetchServer(fetch)
      const target = '/some/path?a=1&b=%20x&c=/d'
      const url = `http://127.0.0.1:${s.port}${target}`
      const r = await request(s.port, target, {
        headers: { 'X-Custom-Header': 'Value With Caps', 'x-rep': ['one', 'two', 'three'], 'X-Empty': '' },
      })
      expect(r.status).toBe(200)
      expect(r.headers['x-method']).toBe('GET')
      expect(r.headers['x-url']).toBe(url)
      expect(seen.length).toBe(1)
      const q = seen[0]
      expect({ method: q.method, url: q.url, target: q.target, path: q.path }).toEqual({
        method: 'GET',
        url,
        target,
        path: '/some/path',
      })
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
      // The absolute url: the Host header (rawRequest sends `Host: test`) and the target.
      expect(seen.slice(0, 6).map((q) => [q.method, q.url, q.path])).toEqual([
        ['GET', 'http://t/p?q=1&q=2', '/p'],
        ['GET', 'http://test/', '/'],
        ['GET', 'http://test/a?', '/a'],
        ['GET', 'http://test/a?b?c=/d', '/a'],
        ['DELETE', 'http://test/%7Efile%20x', '/%7Efile%20x'],
        ['GET', 'http://example.com/abs?y=1', '/abs'], // absolute-form: the path and query
      ])
      // OPTIONS *: the target is no path (what its url is: http-web.test.js)
      expect([seen[6].method, seen[6].path]).toEqual(['OPTIONS', '*'])
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
        expect(seen.map((q) => [q.method, q.url, q.path])).toEqual([
          [method, `http://127.0.0.1:${s.port}/unknown?m=1`, '/unknown'],
        ])
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
      expect([q.method, q.url, q.path]).toEqual(['PATCH', url, '/up/load'])
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

    it('arrayBuffer() twice -> the second rejects with a TypeError (after the first, and while it is pending)', async () => {
      const results = []
      const s = await fetchServer(async (req) => {
        if (req.path === '/after') {
          const first = await req.arrayBuffer()
          const second = await req.arrayBuffer().then(
            () => 'resolved',
            (e) => e,
          )
          results.push({ first: Buffer.from(first), second })
        } else {
          const [a, b] = await Promise.allSettled([req.arrayBuffer(), req.arrayBuffer()])
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
        // the WHATWG rule (undici says the same): "Body is unusable"
        expect(tag(r.second)).toBe('[object Error]')
        expect(r.second.name).toBe('TypeError')
        expect(r.second.message).toMatch(/unusable/i)
      }
      expect(results[1].status).toEqual(['fulfilled', 'rejected'])
      expect(errorSpy).not.toHaveBeenCalled()
    })

    it('bodyToFile writes the exact bytes (fixed-length and chunked) and resolves with the count', async () => {
      const got = []
      const s = await fetchServer(async (req) => {
        const file = path.join(tmp, 'uploads', req.path.slice(1))
        const n = await req.bodyToFile(file, { mkdirs: true })
        const again = await req.arrayBuffer().then(
          () => 'resolved',
          (e) => e.name,
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
        [fixed.length, 'TypeError'],
        [40013, 'TypeError'],
        [0, 'TypeError'],
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
    /** A handler that catches what arrayBuffer() rejects with, records it, and answers 200 anyway. */
    function catcher() {
      const errors = []
      const fetch = async (req) => {
        try {
          const b = await req.arrayBuffer()
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

    it('content-length over it -> 413 even when the handler catches and answers 200; arrayBuffer() rejects RangeError', async () => {
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
          if (req.path === '/rethrow') await req.arrayBuffer()
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

    it('a chunked body over it (Node http) -> 413, and arrayBuffer() rejects with RangeError ABIO_ERR_BODY_TOO_LARGE', async () => {
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
})
