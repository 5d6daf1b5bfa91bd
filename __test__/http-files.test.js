'use strict'
// File bodies over HTTP (design.md section 7): `{ file }` routes answered in Rust (small
// files kept in memory and revalidated by stat, large ones read as the client takes them),
// and `{ body: { file } }` answers of fetch handlers. Peers: Node's http client and curl.

const fs = require('fs')
const path = require('path')
const os = require('os')
const http = require('http')
const crypto = require('crypto')

const abio = require('..')
const { expectBytes } = require('./helpers/bytes')
const { track, closeAll } = require('./helpers/cleanup')
const { HAS_CURL, request, curlGet } = require('./helpers/http-peers')

const KiB = 1024
const MiB = 1024 * 1024
const itCurl = HAS_CURL ? it : it.skip

afterEach(closeAll)

let tmp
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'abio-http-files-'))
})
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

async function serve(options) {
  return track('abio-server', await abio.serve({ host: '127.0.0.1', ...options }))
}

/** `n` bytes with zeros and every other byte value in them. */
function withZeros(n, seed = 1) {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = i % 7 === 0 ? 0 : (i * seed + (i >> 8)) & 0xff
  return b
}

function write(name, data) {
  const p = path.join(tmp, name)
  fs.mkdirSync(path.dirname(p), { recursive: true })
  fs.writeFileSync(p, data)
  return p
}

const sha = (b) => crypto.createHash('sha256').update(b).digest('hex')

/** Sets a file's times `s` seconds ahead, so a rewrite is seen as a change at any clock granularity. */
function touchAhead(p, s) {
  const t = new Date(Date.now() + s * 1000)
  fs.utimesSync(p, t, t)
}

describe('file routes', () => {
  it('answer the exact bytes with the type of the extension, length, validators and route headers', async () => {
    const small = withZeros(10 * KiB + 3)
    const files = {
      '/page': write('site/index.html', '<h1>abio</h1>'),
      '/data': write('site/data.json', '{"a":1}'),
      '/mod': write('site/app.wasm', small),
      '/raw': write('site/blob', small),
    }
    const typed = write('site/custom.bin', small)
    const s = await serve({
      routes: {
        ...Object.fromEntries(Object.entries(files).map(([k, file]) => [k, { file }])),
        '/typed': { file: typed, contentType: 'image/x-abio', headers: { 'cache-control': 'max-age=60' } },
      },
    })
    const expected = {
      '/page': 'text/html; charset=utf-8',
      '/data': 'application/json',
      '/mod': 'application/wasm',
      '/raw': 'application/octet-stream',
    }
    for (const [p, type] of Object.entries(expected)) {
      const r = await request(s.port, p)
      expect([p, r.status, r.headers['content-type']]).toEqual([p, 200, type])
      expectBytes(r.body, fs.readFileSync(files[p]))
      expect(r.headers['content-length']).toBe(String(r.body.length))
      expect(r.headers.etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"$/)
      expect(new Date(r.headers['last-modified']).getTime()).toBe(
        Math.floor(fs.statSync(files[p]).mtimeMs / 1000) * 1000,
      )
      expect(r.headers['accept-ranges']).toBe('bytes')
    }
    const t = await request(s.port, '/typed')
    expect([t.headers['content-type'], t.headers['cache-control']]).toEqual(['image/x-abio', 'max-age=60'])
    expectBytes(t.body, small)
  })

  it('HEAD has the headers of GET and no body; other methods get 405 without a fetch handler', async () => {
    const file = write('head.bin', withZeros(3000))
    const s = await serve({ routes: { '/f': { file } } })
    const get = await request(s.port, '/f')
    const head = await request(s.port, '/f', { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(head.body.length).toBe(0)
    for (const h of ['content-length', 'content-type', 'etag', 'last-modified'])
      expect(head.headers[h]).toBe(get.headers[h])
    const post = await request(s.port, '/f', { method: 'POST', body: 'x' })
    expect([post.status, post.headers.allow]).toEqual([405, 'GET, HEAD'])
  })

  it('If-None-Match and If-Modified-Since give 304; If-None-Match wins when both are sent', async () => {
    const file = write('cond.txt', 'conditional')
    const s = await serve({ routes: { '/c': { file } } })
    const first = await request(s.port, '/c')
    const { etag } = first.headers
    const modified = first.headers['last-modified']
    const inm = await request(s.port, '/c', { headers: { 'if-none-match': etag } })
    expect([inm.status, inm.body.length, inm.headers.etag]).toEqual([304, 0, etag])
    const ims = await request(s.port, '/c', { headers: { 'if-modified-since': modified } })
    expect(ims.status).toBe(304)
    const older = new Date(new Date(modified).getTime() - 10_000).toUTCString()
    expect((await request(s.port, '/c', { headers: { 'if-modified-since': older } })).status).toBe(200)
    const both = await request(s.port, '/c', { headers: { 'if-none-match': '"other"', 'if-modified-since': modified } })
    expect(both.status).toBe(200)
    expect(both.body.toString()).toBe('conditional')
    const garbage = await request(s.port, '/c', { headers: { 'if-modified-since': 'not a date' } })
    expect(garbage.status).toBe(200)
  })

  it.each([
    ['kept in memory', 100 * KiB],
    ['read per request', 9 * MiB],
  ])('Range on a file %s: 206 with content-range, suffix ranges, 416 past the end', async (_, size) => {
    const body = withZeros(size, 3)
    const file = write(`range-${size}.bin`, body)
    const s = await serve({ routes: { '/r': { file } } })
    const cases = [
      ['bytes=0-9', 0, 9],
      [`bytes=${size - 5}-`, size - 5, size - 1],
      ['bytes=-100', size - 100, size - 1],
      [`bytes=1000-${size + 50}`, 1000, size - 1],
    ]
    for (const [range, start, end] of cases) {
      const r = await request(s.port, '/r', { headers: { range } })
      expect([range, r.status, r.headers['content-range']]).toEqual([range, 206, `bytes ${start}-${end}/${size}`])
      expectBytes(r.body, body.subarray(start, end + 1))
      expect(r.headers['content-length']).toBe(String(end - start + 1))
    }
    const past = await request(s.port, '/r', { headers: { range: `bytes=${size}-` } })
    expect([past.status, past.headers['content-range'], past.body.length]).toEqual([416, `bytes */${size}`, 0])
    const whole = await request(s.port, '/r')
    expect(sha(whole.body)).toBe(sha(body))
  })

  it('a file changed, replaced, removed and recreated is served as it is now', async () => {
    const file = write('live/v.txt', 'version one')
    const s = await serve({ routes: { '/v': { file } } })
    const one = await request(s.port, '/v')
    expect(one.body.toString()).toBe('version one')
    // Same size, new bytes, written in place.
    fs.writeFileSync(file, 'version two')
    touchAhead(file, 5)
    const two = await request(s.port, '/v')
    expect(two.body.toString()).toBe('version two')
    expect(two.headers.etag).not.toBe(one.headers.etag)
    expect((await request(s.port, '/v', { headers: { 'if-none-match': one.headers.etag } })).status).toBe(200)
    // Replaced by a rename (a new inode), as deploy tools do.
    const next = write('live/v.next', 'version three, longer')
    fs.renameSync(next, file)
    expect((await request(s.port, '/v')).body.toString()).toBe('version three, longer')
    fs.rmSync(file)
    const gone = await request(s.port, '/v')
    expect([gone.status, gone.body.length]).toEqual([404, 0])
    write('live/v.txt', 'back')
    expect((await request(s.port, '/v')).body.toString()).toBe('back')
  })

  it('a large file streams byte for byte to several clients at once, and 200 requests share one keep-alive connection', async () => {
    const body = withZeros(24 * MiB + 17, 5)
    const file = write('large.bin', body)
    const small = write('small.txt', 'small')
    const s = await serve({ routes: { '/large': { file }, '/small': { file: small } } })
    const all = await Promise.all([1, 2, 3].map(() => request(s.port, '/large')))
    for (const r of all) {
      expect(r.headers['content-length']).toBe(String(body.length))
      expect(sha(r.body)).toBe(sha(body))
    }
    const agent = track('agent', new http.Agent({ keepAlive: true, maxSockets: 1 }))
    const sockets = new Set()
    for (let i = 0; i < 200; i++) {
      const r = await request(s.port, '/small', { agent })
      expect(r.body.toString()).toBe('small')
      sockets.add(r.socket)
    }
    expect(sockets.size).toBe(1)
  })

  it('a large file truncated while it is sent: the client sees a cut response, and the server goes on', async () => {
    const file = write('shrinking.bin', withZeros(48 * MiB))
    const s = await serve({ routes: { '/s': { file }, '/ok': { body: 'still here' } } })
    const outcome = await new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: s.port, path: '/s', agent: false }, (res) => {
        let got = 0
        res.once('data', () => fs.truncateSync(file, 1 * MiB))
        res.on('data', (c) => (got += c.length))
        res.on('end', () => resolve({ ended: true, got, complete: res.complete }))
        res.on('aborted', () => resolve({ ended: false, got }))
        res.on('error', () => resolve({ ended: false, got }))
      })
      req.on('error', () => resolve({ ended: false, got: -1 }))
    })
    // Never a response that looks whole but is short.
    if (outcome.ended) expect(outcome.complete).toBe(false)
    expect(outcome.got).toBeLessThan(48 * MiB)
    expect((await request(s.port, '/ok')).body.toString()).toBe('still here')
  })

  itCurl('curl fetches a file route, a range and a HEAD', async () => {
    const body = withZeros(200 * KiB)
    const file = write('curl.bin', body)
    const s = await serve({ routes: { '/c': { file } } })
    const url = `http://127.0.0.1:${s.port}/c`
    const whole = await curlGet(url)
    expect(whole.status).toBe(200)
    expectBytes(whole.body, body)
    const part = await curlGet(url, ['-r', '10-19'])
    expect(part.status).toBe(206)
    expectBytes(part.body, body.subarray(10, 20))
    const head = await curlGet(url, ['-I'])
    expect([head.status, head.headers['content-length']]).toEqual([200, String(body.length)])
  })

  it('serve() and reload() reject a missing file or a directory up front; reload swaps file routes', async () => {
    await expect(abio.serve({ routes: { '/x': { file: path.join(tmp, 'missing.bin') } } })).rejects.toMatchObject({
      code: 'ENOENT',
      syscall: 'stat',
      path: path.join(tmp, 'missing.bin'),
    })
    await expect(abio.serve({ routes: { '/x': { file: tmp } } })).rejects.toMatchObject({ code: 'EISDIR' })
    const a = write('swap/a.txt', 'A')
    const b = write('swap/b.txt', 'B')
    const s = await serve({ routes: { '/f': { file: a } } })
    expect((await request(s.port, '/f')).body.toString()).toBe('A')
    expect(() => s.reload({ routes: { '/f': { file: path.join(tmp, 'missing') } } })).toThrow(
      expect.objectContaining({ code: 'ENOENT' }),
    )
    expect((await request(s.port, '/f')).body.toString()).toBe('A')
    s.reload({ routes: { '/f': { file: b }, '/g': { file: new URL(`file://${a}`) } } })
    expect((await request(s.port, '/f')).body.toString()).toBe('B')
    expect((await request(s.port, '/g')).body.toString()).toBe('A')
  })

  it('a relative path is resolved against the working directory when serve() is called', async () => {
    write('rel/r.txt', 'relative')
    const rel = path.relative(process.cwd(), path.join(tmp, 'rel/r.txt'))
    const s = await serve({ routes: { '/r': { file: rel } } })
    expect((await request(s.port, '/r')).body.toString()).toBe('relative')
  })
})

describe('fetch handlers answering { body: { file } }', () => {
  it('200: the file with its type, validators and ranges; the handler headers win', async () => {
    const body = withZeros(64 * KiB + 1)
    const file = write('answers/a.css', body)
    const s = await serve({
      fetch: (req) =>
        req.path === '/typed'
          ? { body: { file }, headers: { 'content-type': 'text/x-mine', 'x-by': 'handler' } }
          : { body: { file } },
    })
    const r = await request(s.port, '/any')
    expect([r.status, r.headers['content-type']]).toEqual([200, 'text/css; charset=utf-8'])
    expectBytes(r.body, body)
    const t = await request(s.port, '/typed')
    expect([t.headers['content-type'], t.headers['x-by']]).toEqual(['text/x-mine', 'handler'])
    const part = await request(s.port, '/any', { headers: { range: 'bytes=5-9' } })
    expect(part.status).toBe(206)
    expectBytes(part.body, body.subarray(5, 10))
    expect((await request(s.port, '/any', { headers: { 'if-none-match': r.headers.etag } })).status).toBe(304)
    const head = await request(s.port, '/any', { method: 'HEAD' })
    expect([head.status, head.headers['content-length'], head.body.length]).toEqual([200, String(body.length), 0])
  })

  it('another status sends the whole file as is; a missing file or a directory is 404, and the server goes on', async () => {
    const page = write('answers/404.html', '<p>not here</p>')
    const s = await serve({
      fetch: (req) => {
        if (req.path === '/missing') return { body: { file: path.join(tmp, 'nope') } }
        if (req.path === '/dir') return { body: { file: tmp } }
        return { status: 404, body: { file: page } }
      },
    })
    const r = await request(s.port, '/x', { headers: { range: 'bytes=0-1' } })
    expect([r.status, r.headers['content-type'], r.body.toString()]).toEqual([
      404,
      'text/html; charset=utf-8',
      '<p>not here</p>',
    ])
    const agent = track('agent', new http.Agent({ keepAlive: true, maxSockets: 1 }))
    for (const p of ['/missing', '/dir']) {
      const m = await request(s.port, p, { agent })
      expect([p, m.status, m.body.length]).toEqual([p, 404, 0])
    }
    expect((await request(s.port, '/x', { agent })).status).toBe(404)
  })

  it('an async handler streams a large file to disk-backed bytes identical by sha256', async () => {
    const body = withZeros(20 * MiB, 9)
    const file = write('answers/big.bin', body)
    const s = await serve({
      fetch: async () => {
        await new Promise((resolve) => setImmediate(resolve))
        return { status: 200, body: { file } }
      },
    })
    const r = await request(s.port, '/big')
    expect(r.headers['content-length']).toBe(String(body.length))
    expect(sha(r.body)).toBe(sha(body))
  })
})
