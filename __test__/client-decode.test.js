'use strict'
// request() and download() decode gzip, x-gzip, deflate (zlib-wrapped and raw) and br bodies
// as fetch does (design.md section 12), against Node http servers sending bodies compressed
// with node:zlib; every decoded body is compared byte for byte with what was compressed.
// `maxSize` counts decoded bytes: bombs (1 GiB of zeros in ~1 MiB of gzip, ~200 KiB of br)
// are refused without the decoded size ever being allocated (the process's peak RSS says so).

const fs = require('fs')
const os = require('os')
const path = require('path')
const zlib = require('zlib')

const abio = require('..')
const { expectBytes } = require('./helpers/bytes')
const { closeAll } = require('./helpers/cleanup')
const { nodeHttpServer } = require('./helpers/http-peers')

jest.setTimeout(60000)

const KiB = 1024
const MiB = 1024 * KiB

/** `n` bytes with zero bytes spread through (every 7th), the rest varied: compressible, not trivially. */
function withZeros(n) {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = i % 7 === 0 ? 0 : (i * 31 + ((i >> 10) & 0xff)) & 0xff
  return b
}

/** brotli at quality 5: the default (11) takes seconds per MiB. */
const brotli = (b) => zlib.brotliCompressSync(b, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5 } })

/** Each coding as a server sends it: the `content-encoding` value and node:zlib's encoder. */
const CODINGS = {
  gzip: ['gzip', (b) => zlib.gzipSync(b)],
  'x-gzip': ['x-gzip', (b) => zlib.gzipSync(b)],
  deflate: ['deflate', (b) => zlib.deflateSync(b)],
  'raw deflate': ['deflate', (b) => zlib.deflateRawSync(b)],
  br: ['br', brotli],
}

/**
 * A server answering with `plain` encoded as CODINGS[name] says, in pieces of `piece` bytes
 * (one per event-loop turn), chunked, or with a content-length when the query has `length`.
 */
async function encodingServer(plain, name, piece = 7 * KiB) {
  const [coding, encode] = CODINGS[name]
  const body = encode(plain)
  return nodeHttpServer(async (req, res) => {
    const headers = { 'content-encoding': coding, 'content-type': 'application/octet-stream' }
    if (req.url.includes('length')) headers['content-length'] = body.length
    res.writeHead(200, headers)
    for (let at = 0; at < body.length; at += piece) {
      res.write(body.subarray(at, at + piece))
      await new Promise((resolve) => setImmediate(resolve))
    }
    res.end()
  })
}

/**
 * A gzip stream of `mib` MiB of zeros, made without compressing them all: one MiB deflated
 * with a full flush (byte-aligned, no reference before it) repeated, then a final empty
 * block and the trailer. ~1 KiB per MiB.
 */
function gzipZeros(mib) {
  const zeros = Buffer.alloc(MiB)
  const segment = zlib.deflateRawSync(zeros, { level: 9, finishFlush: zlib.constants.Z_FULL_FLUSH })
  let crc = 0
  for (let i = 0; i < mib; i++) crc = zlib.crc32(zeros, crc)
  const trailer = Buffer.alloc(8)
  trailer.writeUInt32LE(crc >>> 0, 0)
  trailer.writeUInt32LE((mib * MiB) % 2 ** 32, 4)
  const header = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff])
  const end = Buffer.from([0x03, 0x00]) // a final fixed-Huffman block with no data
  return Buffer.concat([header, ...Array(mib).fill(segment), end, trailer])
}

/** `mib` MiB of zeros in brotli (quality 1: fast), streamed through node:zlib. */
function brotliZeros(mib) {
  return new Promise((resolve, reject) => {
    const zeros = Buffer.alloc(MiB)
    const enc = zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 1 } })
    const out = []
    enc.on('data', (c) => out.push(c))
    enc.on('error', reject)
    enc.on('end', () => resolve(Buffer.concat(out)))
    let i = 0
    const write = () => {
      while (i < mib) {
        i++
        if (!enc.write(zeros)) return enc.once('drain', write)
      }
      enc.end()
    }
    write()
  })
}

/** A server answering every request with `body` as is, under `headers`. */
const rawBodyServer = (headers, body) => nodeHttpServer((req, res) => res.writeHead(200, headers).end(body))

const peakRss = () => process.resourceUsage().maxRSS * 1024

let tmp
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'abio-decode-'))
})
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))
afterEach(closeAll)

// ---------------------------------------------------------------------------

describe('request() decodes like fetch', () => {
  const plain = withZeros(3 * MiB + 123)

  it.each(Object.keys(CODINGS))('%s, chunked and with a content-length: byte-exact', async (name) => {
    const s = await encodingServer(plain, name)
    for (const query of ['', '?length']) {
      const r = await abio.request(`${s.url}/${query}`)
      expect(r.status).toBe(200)
      expectBytes(r.body, plain)
      // The headers describe the body as given: no content-encoding, no content-length.
      expect(r.headers.get('content-encoding')).toBeNull()
      expect(r.headers.get('content-length')).toBeNull()
      expect(r.headers.get('content-type')).toBe('application/octet-stream')
    }
    // What fetch sends, since the caller gave no accept-encoding.
    expect(s.seen.requests.map((q) => q.headers['accept-encoding'])).toEqual(['gzip, deflate, br', 'gzip, deflate, br'])
  })

  it.each(Object.keys(CODINGS))('%s in one-byte pieces, and a body of 1 byte and of 0 bytes', async (name) => {
    for (const small of [Buffer.from('x'), Buffer.alloc(0), withZeros(300)]) {
      const s = await encodingServer(small, name, 1)
      const r = await abio.request(s.url)
      expectBytes(r.body, small)
    }
  })

  it('several gzip members in one body, and stacked codings (gzip, then br) are undone in reverse order', async () => {
    const a = withZeros(100 * KiB)
    const b = Buffer.from('second member')
    const members = Buffer.concat([zlib.gzipSync(a), zlib.gzipSync(b)])
    const s1 = await rawBodyServer({ 'content-encoding': 'gzip' }, members)
    expectBytes((await abio.request(s1.url)).body, Buffer.concat([a, b]))
    const stacked = brotli(zlib.gzipSync(a))
    const s2 = await rawBodyServer({ 'content-encoding': 'gzip, br' }, stacked)
    const r = await abio.request(s2.url)
    expectBytes(r.body, a)
    expect(r.headers.has('content-encoding')).toBe(false)
  })

  it('decompress: false gives the bytes as sent, keeps content-encoding and content-length, asks for no coding', async () => {
    const encoded = zlib.gzipSync(withZeros(50 * KiB))
    const s = await rawBodyServer({ 'content-encoding': 'gzip', 'content-length': encoded.length }, encoded)
    const r = await abio.request(s.url, { decompress: false })
    expectBytes(r.body, encoded)
    expect(r.headers.get('content-encoding')).toBe('gzip')
    expect(r.headers.get('content-length')).toBe(String(encoded.length))
    expect(s.seen.requests[0].headers['accept-encoding']).toBeUndefined()
  })

  it("the caller's accept-encoding is sent as given; an unknown coding is returned as sent", async () => {
    const encoded = zlib.gzipSync(Buffer.from('hello'))
    const s = await rawBodyServer({ 'content-encoding': 'gzip' }, encoded)
    const r = await abio.request(s.url, { headers: { 'Accept-Encoding': 'gzip' } })
    expect(Buffer.from(r.body).toString()).toBe('hello')
    expect(s.seen.requests[0].headers['accept-encoding']).toBe('gzip')
    const odd = await rawBodyServer({ 'content-encoding': 'zstd' }, Buffer.from('not zstd at all'))
    const o = await abio.request(odd.url)
    expect(Buffer.from(o.body).toString()).toBe('not zstd at all')
    expect(o.headers.get('content-encoding')).toBe('zstd')
  })

  it('HEAD and 204 answers with a content-encoding are empty and keep their headers', async () => {
    const s = await nodeHttpServer((req, res) => {
      if (req.url === '/204') return res.writeHead(204, { 'content-encoding': 'gzip' }).end()
      res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': 20 }).end()
    })
    const head = await abio.request(s.url, { method: 'HEAD' })
    expect([head.body.byteLength, head.headers.get('content-encoding'), head.headers.get('content-length')]).toEqual([
      0,
      'gzip',
      '20',
    ])
    const nc = await abio.request(`${s.url}/204`)
    expect([nc.status, nc.body.byteLength, nc.headers.get('content-encoding')]).toEqual([204, 0, 'gzip'])
  })

  it('onProgress counts decoded bytes, total unknown until the last call (done === total)', async () => {
    const body = withZeros(2 * MiB)
    const s = await rawBodyServer({ 'content-encoding': 'br' }, brotli(body))
    const seen = []
    const r = await abio.request(s.url, { onProgress: (done, total) => seen.push([done, total]) })
    expectBytes(r.body, body)
    expect(seen[seen.length - 1]).toEqual([body.length, body.length])
    expect(seen.slice(0, -1).every(([, total]) => total === null)).toBe(true)
    for (let i = 1; i < seen.length; i++) expect(seen[i][0]).toBeGreaterThanOrEqual(seen[i - 1][0])
  })

  it('maxSize applies to the decoded size: at the limit passes, a byte over rejects', async () => {
    const body = withZeros(100 * KiB)
    const encoded = zlib.gzipSync(body)
    const s = await rawBodyServer({ 'content-encoding': 'gzip', 'content-length': encoded.length }, encoded)
    const ok = await abio.request(s.url, { maxSize: body.length })
    expectBytes(ok.body, body)
    // The compressed length is far under the limit: only the decoded bytes count.
    expect(encoded.length).toBeLessThan(body.length - 1)
    const err = await abio.request(s.url, { maxSize: body.length - 1 }).catch((e) => e)
    expect(err.name).toBe('RangeError')
    expect(err).toMatchObject({ code: 'ABIO_ERR_BODY_TOO_LARGE', maxSize: body.length - 1 })
  })

  it('gzipZeros makes valid gzip (checked small with node:zlib and abio)', async () => {
    const small = gzipZeros(4)
    expectBytes(zlib.gunzipSync(small), Buffer.alloc(4 * MiB))
    const s = await rawBodyServer({ 'content-encoding': 'gzip' }, small)
    expectBytes((await abio.request(s.url)).body, Buffer.alloc(4 * MiB))
  })

  it('a gzip bomb (1 GiB of zeros in ~1 MiB) and a br bomb reject with ABIO_ERR_BODY_TOO_LARGE, without allocating 1 GiB', async () => {
    const gz = gzipZeros(1024)
    expect(gz.length).toBeLessThan(1.1 * MiB)
    const br = await brotliZeros(1024)
    const before = peakRss()
    for (const [coding, bomb] of [
      ['gzip', gz],
      ['br', br],
    ]) {
      const s = await rawBodyServer({ 'content-encoding': coding, 'content-length': bomb.length }, bomb)
      const err = await abio.request(s.url, { maxSize: 16 * MiB }).catch((e) => e)
      expect(err).toMatchObject({ name: 'RangeError', code: 'ABIO_ERR_BODY_TOO_LARGE', maxSize: 16 * MiB })
      const file = path.join(tmp, `bomb-${coding}.bin`)
      const dl = await abio.download(s.url, file, { maxSize: 16 * MiB }).catch((e) => e)
      expect(dl).toMatchObject({ code: 'ABIO_ERR_BODY_TOO_LARGE' })
      expect(fs.existsSync(file)).toBe(false)
    }
    // The peak grew by far less than the 1 GiB each bomb decodes to.
    expect(peakRss() - before).toBeLessThan(256 * MiB)
  })

  it.each([
    ['gzip with a byte flipped (its CRC fails)', 'gzip', () => flip(zlib.gzipSync(withZeros(20000)), 500)],
    ['gzip cut before its trailer', 'gzip', () => zlib.gzipSync(withZeros(20000)).subarray(0, -6)],
    ['not gzip at all', 'gzip', () => Buffer.from('plain text, not gzip')],
    ['deflate cut short', 'deflate', () => zlib.deflateSync(withZeros(20000)).subarray(0, 100)],
    ['not deflate', 'deflate', () => Buffer.from('hello world, not deflate')],
    ['brotli garbage', 'br', () => Buffer.from([0xff, 0xff, 0xff, 0xff, 0x10, 0x20])],
    ['brotli cut short', 'br', () => brotli(withZeros(20000)).subarray(0, 50)],
  ])('%s rejects with ABIO_ERR_HTTP_PARSE naming the coding', async (_, coding, make) => {
    const s = await rawBodyServer({ 'content-encoding': coding }, make())
    const err = await abio.request(s.url).catch((e) => e)
    expect(err).toMatchObject({ code: 'ABIO_ERR_HTTP_PARSE' })
    expect(err.message).toContain(`not valid ${coding}`)
  })
})

/** `b` with the byte at `at` inverted. */
function flip(b, at) {
  const c = Buffer.from(b)
  c[at] ^= 0xff
  return c
}

// ---------------------------------------------------------------------------

describe('download() decodes too', () => {
  const plain = withZeros(5 * MiB + 7)

  it.each(['gzip', 'raw deflate', 'br'])(
    '%s to a file, byte-exact; decompress: false writes the bytes as sent',
    async (name) => {
      const s = await encodingServer(plain, name, 64 * KiB)
      const file = path.join(tmp, `decoded-${name.replace(' ', '-')}.bin`)
      const n = await abio.download(`${s.url}/?length`, file)
      expect(n).toBe(plain.length)
      expectBytes(fs.readFileSync(file), plain)
      const raw = path.join(tmp, `raw-${name.replace(' ', '-')}.bin`)
      const m = await abio.download(s.url, raw, { decompress: false })
      expectBytes(fs.readFileSync(raw), CODINGS[name][1](plain))
      expect(m).toBe(fs.statSync(raw).size)
    },
  )

  it('a corrupt body rejects with ABIO_ERR_HTTP_PARSE and leaves no file', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'corrupt-'))
    const s = await rawBodyServer({ 'content-encoding': 'gzip' }, flip(zlib.gzipSync(plain), 4000))
    const err = await abio.download(s.url, path.join(dir, 'x.bin')).catch((e) => e)
    expect(err).toMatchObject({ code: 'ABIO_ERR_HTTP_PARSE' })
    expect(fs.readdirSync(dir)).toEqual([])
  })
})
