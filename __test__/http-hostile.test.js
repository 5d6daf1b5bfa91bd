'use strict'
// Tests for what a hostile or broken HTTP peer can do to abio's server and client (design.md
// section 7, "slow or hostile clients are bounded"; issue 13): a client that stalls its body
// or never reads the answer (`bodyTimeout`), header names that are Object.prototype's own
// (`constructor`, `__proto__`), malformed chunked bodies both ways (`ABIO_ERR_HTTP_PARSE`),
// and `file:` URLs with `%00`.
//
// The peers are raw `net` sockets and servers, so that the bytes on the wire are exactly the
// ones under test. Time limits in the server are short (300 ms); assertions allow 10x.

const fs = require('fs')
const os = require('os')
const path = require('path')
const net = require('net')

const abio = require('..')
const { track, closeAll } = require('./helpers/cleanup')
const { thrownBy, tag } = require('./helpers/throws')
const { within } = require('./helpers/time')
const { request, parseHead, rawConnect, exchange, closedAfter } = require('./helpers/http-peers')

jest.setTimeout(30000)
afterEach(closeAll)

const MiB = 1024 * 1024
const LIMIT = 300 // ms: bodyTimeout in these tests
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function serve(options) {
  return track('abio-server', await abio.serve({ host: '127.0.0.1', ...options }))
}

/** `exchange()`'s bytes as Latin-1 text. */
const exchangeText = async (port, data) => (await exchange(port, data)).toString('latin1')

/** A raw `net` server answering each connection's first request with `answer` (bytes). */
function rawServer(answer) {
  return new Promise((resolve) => {
    const srv = track(
      'node-server',
      net.createServer((sock) => {
        track('node-socket', sock)
        sock.on('error', () => {})
        let head = ''
        sock.on('data', (c) => {
          head += c.toString('latin1')
          if (head.includes('\r\n\r\n')) sock.end(answer)
        })
      }),
    )
    srv.listen(0, '127.0.0.1', () => resolve(srv.address().port))
  })
}

// ---------------------------------------------------------------------------
// bodyTimeout

describe('bodyTimeout: a request that makes no progress while it waits on the client', () => {
  it('a client announcing a body and sending nothing is closed, its req.arrayBuffer() rejects ABIO_ERR_TIMEOUT, others are served', async () => {
    const errors = []
    const s = await serve({
      bodyTimeout: LIMIT,
      routes: { '/a': Buffer.from('ok') },
      fetch: async (req) => {
        try {
          await req.arrayBuffer()
        } catch (e) {
          errors.push(e)
          throw e
        }
        return { body: 'read' }
      },
    })
    const t0 = Date.now()
    const stalled = []
    for (let i = 0; i < 5; i++) {
      const sock = await rawConnect(s.port)
      const got = []
      sock.on('data', (c) => got.push(c))
      // Part of the body, or none of it.
      sock.write(`POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n${i % 2 ? 'abc' : ''}`)
      stalled.push({ closed: closedAfter(sock, t0), got })
    }
    // Meanwhile another client is served.
    const r = await request(s.port, '/a')
    expect([r.status, r.body.toString()]).toEqual([200, 'ok'])
    const ms = await within(Promise.all(stalled.map((x) => x.closed)), 10 * LIMIT)
    expect(ms).not.toEqual({ timedOut: true })
    for (const t of ms) expect(t).toBeGreaterThanOrEqual(LIMIT - 50)
    for (const x of stalled) expect(Buffer.concat(x.got).toString('latin1')).not.toMatch(/^HTTP\/1\.1 200/)
    await within(
      (async () => {
        while (errors.length < 5) await sleep(20)
      })(),
      10 * LIMIT,
    )
    expect(errors.map((e) => [e.name, e.code])).toEqual(Array(5).fill(['Error', 'ABIO_ERR_TIMEOUT']))
    expect(errors[0].message).toMatch(/bodyTimeout/)
    // And after them too.
    expect((await request(s.port, '/a')).status).toBe(200)
  })

  it('bodyToFile() of a stalled body rejects ABIO_ERR_TIMEOUT and leaves no file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'abio-hostile-'))
    const target = path.join(dir, 'up.bin')
    let failed
    const s = await serve({
      bodyTimeout: LIMIT,
      fetch: (req) =>
        req.bodyToFile(target).then(
          () => ({ body: 'stored' }),
          (e) => {
            failed = e
            return { status: 500 }
          },
        ),
    })
    const sock = await rawConnect(s.port)
    const t0 = Date.now()
    sock.write('POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n' + 'x'.repeat(100))
    expect(await within(closedAfter(sock, t0), 10 * LIMIT)).not.toEqual({ timedOut: true })
    await within(
      (async () => {
        while (!failed) await sleep(20)
      })(),
      10 * LIMIT,
    )
    expect(failed && failed.code).toBe('ABIO_ERR_TIMEOUT')
    expect(fs.readdirSync(dir)).toEqual([])
    fs.rmSync(dir, { recursive: true })
  })

  it('a client that never reads a large answer is closed (a bytes route and a handler), while others are served', async () => {
    const big = Buffer.alloc(64 * MiB, 7)
    const s = await serve({
      bodyTimeout: LIMIT,
      routes: { '/big': big, '/a': Buffer.from('ok') },
      fetch: () => ({ body: big }),
    })
    const readers = []
    for (const p of ['/big', '/big', '/from-handler', '/from-handler']) {
      const sock = await rawConnect(s.port)
      sock.pause() // the receive window fills, then the server's send buffer
      sock.write(`GET ${p} HTTP/1.1\r\nHost: t\r\n\r\n`)
      readers.push(sock)
    }
    const r = await request(s.port, '/a')
    expect([r.status, r.body.toString()]).toEqual([200, 'ok'])
    // Well past the limit (10x), read what the kernels still hold: the server has closed, so
    // far less than the answer arrives, then the end.
    await sleep(10 * LIMIT)
    const got = await Promise.all(
      readers.map(
        (sock) =>
          new Promise((resolve) => {
            let n = 0
            sock.on('data', (c) => (n += c.length))
            sock.once('close', () => resolve(n))
            sock.resume()
          }),
      ),
    )
    for (const n of got) {
      expect(n).toBeGreaterThan(0)
      expect(n).toBeLessThan(big.length)
    }
    expect((await request(s.port, '/a')).status).toBe(200)
  })

  it('is progress, not a deadline: a slow handler, a dripping body and a reader that keeps reading are not cut', async () => {
    const big = Buffer.alloc(16 * MiB, 9)
    const limit = 1000
    const s = await serve({
      bodyTimeout: limit,
      idleTimeout: limit,
      routes: { '/big': big },
      fetch: async (req) => {
        if (req.path === '/slow') await sleep(2 * limit) // before reading the body, sent whole
        const b = await req.arrayBuffer()
        return { body: `${req.path} ${b.byteLength}` }
      },
    })
    const slow = exchangeText(
      s.port,
      'POST /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc',
    )

    // A body of 10 bytes, one every limit / 5 ms: twice the limit in all.
    const drip = await rawConnect(s.port)
    const dripped = []
    drip.on('data', (c) => dripped.push(c))
    const dripClosed = new Promise((resolve) => drip.once('close', resolve))
    drip.write('POST /drip HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\nConnection: close\r\n\r\n')
    for (let i = 0; i < 10; i++) {
      await sleep(limit / 5)
      drip.write('d')
    }

    // A reader that stops for a fifth of the limit after each MiB it reads. (Progress is the
    // kernel taking bytes, which it signals once half its send buffer is free: a reader that
    // drains a loopback socket's megabytes of buffers slower than that is cut.)
    const reader = await rawConnect(s.port)
    let n = 0
    let paused = 0
    const readerClosed = new Promise((resolve) => reader.once('close', resolve))
    reader.on('data', (c) => {
      n += c.length
      if (n - paused < MiB) return
      paused = n
      reader.pause()
      setTimeout(() => reader.resume(), limit / 5)
    })
    reader.write('GET /big HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n')

    expect(await slow).toMatch(/^HTTP\/1\.1 200 OK[^]*\r\n\r\n\/slow 3$/)
    await dripClosed
    expect(Buffer.concat(dripped).toString('latin1')).toMatch(/^HTTP\/1\.1 200 OK[^]*\r\n\r\n\/drip 10$/)
    await readerClosed
    expect(n).toBeGreaterThan(big.length) // the head, then the whole body
    expect(reader.lastError).toBeUndefined()
  })
})

// ---------------------------------------------------------------------------
// Header objects

describe("header names that are Object.prototype's own are headers like any other", () => {
  const RAW = 'constructor: x\r\n__proto__: y\r\ntoString: z\r\nhasOwnProperty: w\r\n'

  function expectOwnHeaders(h) {
    expect(Object.getPrototypeOf(h)).toBeNull()
    expect(h.constructor).toBe('x')
    expect(h['__proto__']).toBe('y')
    expect(h.tostring).toBe('z')
    expect(h.hasownproperty).toBe('w')
    expect(Object.keys(h)).toEqual(expect.arrayContaining(['constructor', '__proto__', 'tostring', 'hasownproperty']))
  }

  it("req.headers: a client's constructor, __proto__, toString and hasOwnProperty headers are ordinary entries of the Headers", async () => {
    let seen
    const s = await serve({
      fetch: (req) => {
        seen = req.headers
        return { body: 'ok' }
      },
    })
    const res = await exchangeText(s.port, `GET /h HTTP/1.1\r\nHost: t\r\n${RAW}Connection: close\r\n\r\n`)
    expect(res).toMatch(/^HTTP\/1\.1 200 OK/)
    expect(tag(seen)).toBe('[object Headers]')
    expect(['constructor', '__proto__', 'tostring', 'hasownproperty', 'host'].map((n) => seen.get(n))).toEqual([
      'x',
      'y',
      'z',
      'w',
      't',
    ])
    expect([...seen.keys()]).toEqual(
      expect.arrayContaining(['constructor', '__proto__', 'tostring', 'hasownproperty', 'host']),
    )
    // entries, not properties: the Headers' own members are untouched
    expect(typeof seen.get).toBe('function')
    expect(typeof seen.toString).toBe('function')
    expect(typeof seen.hasOwnProperty).toBe('function')
    expect(seen.constructor.name).toBe('Headers')
    const record = Object.fromEntries(seen)
    expect([record.constructor, record['__proto__'], record.tostring, record.hasownproperty]).toEqual([
      'x',
      'y',
      'z',
      'w',
    ])
  })

  it("request(): a server's constructor, __proto__, toString and hasOwnProperty headers are plain headers", async () => {
    const port = await rawServer(`HTTP/1.1 200 OK\r\n${RAW}Content-Length: 2\r\nConnection: close\r\n\r\nok`)
    const res = await abio.request(`http://127.0.0.1:${port}/`)
    expect(Buffer.from(res.body).toString()).toBe('ok')
    // A WHATWG Headers: such names are headers like any other.
    const h = res.headers
    expect([h.get('constructor'), h.get('__proto__'), h.get('tostring'), h.get('hasownproperty')]).toEqual([
      'x',
      'y',
      'z',
      'w',
    ])
    expect([...h.keys()]).toEqual(expect.arrayContaining(['constructor', '__proto__', 'tostring', 'hasownproperty']))
    expect(h.get('content-length')).toBe('2')
  })
})

// ---------------------------------------------------------------------------
// Malformed chunked bodies

describe('a malformed chunked body is ABIO_ERR_HTTP_PARSE', () => {
  const BAD = 'Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n'

  it('req.arrayBuffer() and bodyToFile() reject ABIO_ERR_HTTP_PARSE, and the client gets 400', async () => {
    const errors = []
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'abio-hostile-'))
    const s = await serve({
      fetch: async (req) => {
        try {
          if (req.path === '/file') await req.bodyToFile(path.join(dir, 'f'))
          else await req.arrayBuffer()
        } catch (e) {
          errors.push(e)
          throw e
        }
        return { body: 'read' }
      },
    })
    for (const p of ['/mem', '/file']) {
      const res = await exchangeText(s.port, `POST ${p} HTTP/1.1\r\nHost: t\r\n${BAD}`)
      const { status } = parseHead(res.slice(0, res.indexOf('\r\n\r\n')))
      expect(status).toBe(400)
    }
    expect(errors.map((e) => [e.name, e.code])).toEqual([
      ['Error', 'ABIO_ERR_HTTP_PARSE'],
      ['Error', 'ABIO_ERR_HTTP_PARSE'],
    ])
    expect(errors[0].message).toMatch(/chunk/)
    expect(fs.readdirSync(dir)).toEqual([])
    fs.rmSync(dir, { recursive: true })
  })

  it('request() and download() reject ABIO_ERR_HTTP_PARSE (and download leaves no file)', async () => {
    const port = await rawServer(`HTTP/1.1 200 OK\r\nConnection: close\r\n${BAD}`)
    const url = `http://127.0.0.1:${port}/`
    const e = await abio.request(url).catch((err) => err)
    expect([e.name, e.code]).toEqual(['Error', 'ABIO_ERR_HTTP_PARSE'])
    expect(e.message).toMatch(/chunk/)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'abio-hostile-'))
    const d = await abio.download(url, path.join(dir, 'f')).catch((err) => err)
    expect(d.code).toBe('ABIO_ERR_HTTP_PARSE')
    expect(fs.readdirSync(dir)).toEqual([])
    fs.rmSync(dir, { recursive: true })
  })
})

// ---------------------------------------------------------------------------
// file: URLs with %00

describe('a file: URL with %00 is a TypeError ABIO_ERR_INVALID_ARG, thrown', () => {
  const NUL = new URL('file:///tmp/a%00b')

  function expectNulRefused(fn) {
    const e = thrownBy(fn)
    expect(e).toBeInstanceOf(TypeError)
    expect(e.code).toBe('ABIO_ERR_INVALID_ARG')
    expect(e.message).toMatch(/null bytes/)
  }

  it('download(url, path) and request(url, { body: { file } })', () => {
    expectNulRefused(() => abio.download('http://127.0.0.1:1/', NUL))
    expectNulRefused(() => abio.request('http://127.0.0.1:1/', { method: 'PUT', body: { file: NUL } }))
  })

  it('serve() routes { file }, a response body { file } and req.bodyToFile()', async () => {
    expectNulRefused(() => abio.serve({ routes: { '/f': { file: NUL } } }))
    const caught = []
    const s = await serve({
      fetch: (req) => {
        if (req.path === '/to-file') {
          caught.push(thrownBy(() => req.bodyToFile(NUL)))
          return { body: 'x' }
        }
        return { body: { file: NUL } }
      },
    })
    const quiet = jest.spyOn(console, 'error').mockImplementation(() => {})
    const r = await request(s.port, '/answer')
    quiet.mockRestore()
    expect(r.status).toBe(500) // the handler's answer is invalid
    await request(s.port, '/to-file', { method: 'POST', body: 'abc' })
    expect(caught.map((e) => [e.constructor.name, e.code])).toEqual([['TypeError', 'ABIO_ERR_INVALID_ARG']])
  })
})
