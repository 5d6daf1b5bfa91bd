'use strict'
// Tests for abio's HTTP fetch handlers (design.md section 7): the responses a handler gives,
// handler failures answered with 500 while the server keeps serving, routes and fetch on one
// server, keep-alive and pipelining.
// Peers, checks and how the tests talk to the server: helpers/http.js.

const path = require('path')
const http = require('http')

const { ab, sab, poolSlice } = require('./helpers/inputs')
const { expectBytes, copyOf } = require('./helpers/bytes')
const { within } = require('./helpers/time')
const { track, closeAll } = require('./helpers/cleanup')
const { HAS_CURL, request, curl, curlGet, rawConnect, exchange } = require('./helpers/http-peers')
const { KiB, MiB, sleep, serve, rawRequest, parseResponses, withZeros, stable, ETAG } = require('./helpers/http')
const { fetchServer, recorder, rawPost } = require('./helpers/http')

jest.setTimeout(20000)

afterEach(closeAll)

// ---------------------------------------------------------------------------
// 11. fetch handlers: serve({ fetch, maxBodySize })

describe('fetch handlers', () => {
  let errorSpy
  beforeEach(() => {
    errorSpy = jest.spyOn(console, 'error').mockImplementation(() => {})
  })
  afterEach(() => errorSpy.mockRestore())

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
        req.path === '/wide' ? { headers: { 'x-w': 'snow ☃' } } : { headers: { 'x-echo': req.headers.get('x-in') } },
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
        return { body: `fast ${new URL(req.url).search}` }
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
      fastDone.forEach((r, i) => expect(r.body.toString()).toBe(`fast ?${i}`))
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
        const u = new URL(req.url)
        return { body: u.pathname + u.search }
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
      expect(seen.map((q) => [q.method, q.target, q.path])).toEqual([
        ['POST', '/r?q', '/r'],
        ['PUT', '/r?q', '/r'],
        ['PATCH', '/r?q', '/r'],
        ['DELETE', '/r?q', '/r'],
        ['OPTIONS', '/r?q', '/r'],
        ['GET', '/other', '/other'],
        ['HEAD', '/other', '/other'],
      ])
      expect(seen[0].url).toBe(`http://127.0.0.1:${s.port}/r?q`)
    })
  })

  describe('keep-alive and pipelining', () => {
    it('200 sequential fetch-handled requests (POST, chunked PUT, GET, HEAD) over one connection', async () => {
      const seen = []
      const s = await fetchServer(async (req) => {
        const body = await req.arrayBuffer()
        seen.push(req.headers)
        const u = new URL(req.url)
        const target = u.pathname + u.search
        // HEAD and GET answer a non-empty body: see the HEAD content-length bug below
        return { headers: { 'x-url': target }, body: body.byteLength ? body : `got ${target}` }
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
      expect(seen[1].get('transfer-encoding')).toBe('chunked')
    })

    it('3 pipelined POSTs with bodies in one write are answered in order, even when the first is slowest', async () => {
      const s = await fetchServer(async (req) => {
        const body = await req.arrayBuffer()
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
