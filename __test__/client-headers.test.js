'use strict'
// request() results speak fetch's language (design.md section 12): `ok`, `text()`, `json()`,
// `arrayBuffer()`, `headers` as a WHATWG Headers (several Set-Cookie lines kept apart); and
// request headers are taken in every form fetch takes (Headers, [name, value] pairs, a Map,
// objects with arrays for repeated names), a repeated name sent as several lines. Checked
// against Node http servers, whose `req.rawHeaders` shows each line as it arrived.

const abio = require('..')
const { tag, syncThrowOf } = require('./helpers/throws')
const { closeAll } = require('./helpers/cleanup')
const { nodeHttpServer } = require('./helpers/http-peers')
const fs = require('fs')
const os = require('os')
const path = require('path')

jest.setTimeout(20000)

afterEach(closeAll)

/** The [name, value] lines of a Node request, names lower-cased, in arrival order. */
function lines(req) {
  const out = []
  for (let i = 0; i < req.rawHeaders.length; i += 2) out.push([req.rawHeaders[i].toLowerCase(), req.rawHeaders[i + 1]])
  return out
}

/** A server that records each request's header lines and answers 200 'ok'. */
async function recorder() {
  const got = []
  const s = await nodeHttpServer((req, res) => {
    got.push(lines(req))
    res.end('ok')
  })
  return { ...s, got, only: (i, name) => got[i].filter(([n]) => n === name).map(([, v]) => v) }
}

// ---------------------------------------------------------------------------

describe('results as fetch has them', () => {
  it('ok, text(), json(), arrayBuffer(): UTF-8 with a BOM, JSON, the exact body', async () => {
    const s = await nodeHttpServer((req, res) => {
      if (req.url === '/json') return res.end(JSON.stringify({ n: 1, s: 'héllo ✓' }))
      if (req.url === '/bom') return res.end(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('café')]))
      if (req.url === '/bad') return res.end(Buffer.from([0x61, 0xff, 0x62]))
      if (req.url === '/299') return res.writeHead(299).end()
      res.writeHead(404).end('not json')
    })
    const j = await abio.request(`${s.url}/json`)
    expect([j.status, j.ok]).toEqual([200, true])
    expect(await j.json()).toEqual({ n: 1, s: 'héllo ✓' })
    expect(await j.text()).toBe('{"n":1,"s":"héllo ✓"}') // may be read again
    const ab = await j.arrayBuffer()
    expect(tag(ab)).toBe('[object ArrayBuffer]')
    expect(ab).toBe(j.body) // the same buffer: no copy
    expect(await (await abio.request(`${s.url}/bom`)).text()).toBe('café')
    expect(await (await abio.request(`${s.url}/bad`)).text()).toBe('a\ufffdb')
    expect((await abio.request(`${s.url}/299`)).ok).toBe(true)
    const missing = await abio.request(`${s.url}/nope`)
    expect([missing.status, missing.ok]).toEqual([404, false])
    const err = await missing.json().catch((e) => e)
    expect(err.name).toBe('SyntaxError')
    const redirect = await abio.request(`${s.url}/nope`, { redirect: 'manual' })
    expect(redirect.ok).toBe(false)
  })

  it('headers is a Headers, made once: get(), has(), iteration, names lower-case', async () => {
    const s = await nodeHttpServer((req, res) => {
      res.setHeader('X-Multi', ['a', 'b'])
      res.setHeader('Content-Type', 'text/plain')
      res.end('x')
    })
    const r = await abio.request(s.url)
    const h = r.headers
    expect(tag(h)).toBe('[object Headers]')
    expect(r.headers).toBe(h)
    expect(h.get('content-type')).toBe('text/plain')
    expect(h.get('Content-Type')).toBe('text/plain')
    expect(h.get('x-multi')).toBe('a, b')
    expect(h.has('x-none')).toBe(false)
    expect([...h].find(([n]) => n === 'x-multi')).toEqual(['x-multi', 'a, b'])
  })

  it('three Set-Cookie lines come back apart, exactly as sent (commas and all)', async () => {
    const cookies = ['a=1; Path=/', 'b=2; Expires=Wed, 21 Oct 2015 07:28:00 GMT; HttpOnly', 'c=three, with a comma']
    const s = await nodeHttpServer((req, res) => {
      res.setHeader('Set-Cookie', cookies)
      res.end()
    })
    const r = await abio.request(s.url)
    expect(r.headers.getSetCookie()).toEqual(cookies)
    expect([...r.headers].filter(([n]) => n === 'set-cookie').map(([, v]) => v)).toEqual(cookies)
  })
})

// ---------------------------------------------------------------------------

describe('request headers in every form fetch takes', () => {
  it('a Headers (Set-Cookie apart, other repeats joined as fetch sends them)', async () => {
    const s = await recorder()
    const h = new Headers({ 'X-A': '1' })
    h.append('x-b', '1')
    h.append('x-b', '2')
    h.append('set-cookie', 'a=1')
    h.append('set-cookie', 'b=2')
    await abio.request(s.url, { headers: h })
    expect(s.only(0, 'x-a')).toEqual(['1'])
    expect(s.only(0, 'x-b')).toEqual(['1, 2'])
    expect(s.only(0, 'set-cookie')).toEqual(['a=1', 'b=2'])
  })

  it('pairs, a Map, and objects with arrays: a repeated name is sent as several lines, in order', async () => {
    const s = await recorder()
    await abio.request(s.url, {
      headers: [
        ['X-A', '1'],
        ['cookie', 'a=1'],
        ['x-a', 2],
        ['cookie', 'b=2'],
      ],
    })
    expect(s.only(0, 'x-a')).toEqual(['1', '2'])
    expect(s.only(0, 'cookie')).toEqual(['a=1', 'b=2'])
    await abio.request(s.url, { headers: new Map([['x-m', 'v']]) })
    expect(s.only(1, 'x-m')).toEqual(['v'])
    await abio.request(s.url, { headers: { 'x-a': ['1', '2', 3], 'x-n': 5 } })
    expect(s.only(2, 'x-a')).toEqual(['1', '2', '3'])
    expect(s.only(2, 'x-n')).toEqual(['5'])
    await abio.request(s.url, { headers: [] })
    expect(s.only(3, 'x-a')).toEqual([])
  })

  it('download() takes them too', async () => {
    const s = await nodeHttpServer((req, res) =>
      res.end(JSON.stringify(lines(req).filter(([n]) => n.startsWith('x-')))),
    )
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'abio-headers-'))
    try {
      const file = path.join(dir, 'h.json')
      await abio.download(s.url, file, { headers: new Headers([['x-h', '1']]) })
      expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual([['x-h', '1']])
      await abio.download(s.url, file, {
        headers: [
          ['x-p', 'a'],
          ['x-p', 'b'],
        ],
      })
      expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual([
        ['x-p', 'a'],
        ['x-p', 'b'],
      ])
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it.each([
    ['a number', 42],
    ['a string', 'x-a: 1'],
    ['a pair of one', [['x-a']]],
    ['a pair of three', [['x-a', '1', '2']]],
    ['a pair that is not an array', ['x-a']],
    ['a non-string name in a pair', [[1, 'x']]],
    ['an object value in a pair', [['x-a', {}]]],
    ['an object value', { a: {} }],
    ['an object in an array value', { a: [{}] }],
    ['a bad name in a pair', [['a b', '1']]],
    ['a CR LF value in a pair', [['a', 'x\r\ny: z']]],
    ['content-length in a Headers', new Headers({ 'content-length': '1' })],
    ['transfer-encoding in pairs', [['Transfer-Encoding', 'chunked']]],
  ])('%s throws ABIO_ERR_INVALID_ARG synchronously', (_, headers) => {
    const thrown = syncThrowOf(() => abio.request('http://127.0.0.1:1/', { headers }))
    expect([thrown.name, thrown.code]).toEqual(['TypeError', 'ABIO_ERR_INVALID_ARG'])
    const dl = syncThrowOf(() => abio.download('http://127.0.0.1:1/', '/tmp/never', { headers }))
    expect(dl.code).toBe('ABIO_ERR_INVALID_ARG')
  })

  it('decompress must be a boolean', () => {
    const thrown = syncThrowOf(() => abio.request('http://127.0.0.1:1/', { decompress: 'no' }))
    expect([thrown.name, thrown.code]).toEqual(['TypeError', 'ABIO_ERR_INVALID_ARG'])
  })
})
