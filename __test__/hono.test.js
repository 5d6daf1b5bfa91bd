'use strict'
// A real Hono app (the published `hono` package), unmodified, served by abio with
// `serve({ fetch: app.fetch })` (design.md section 12): routing with path params and queries,
// middleware (a logger-like one that sets headers after `next()`, `hono/cors` with a preflight,
// `hono/basic-auth` and `hono/bearer-auth` refusing with 401), JSON in and out, `c.body()` with
// an ArrayBuffer, `c.text`/`c.html`/`c.redirect`/`c.notFound`, `app.onError`, `c.stream()` and
// `streamSSE()` (each event read by the client before the next is written; a client that leaves
// aborts the stream), cookies, multipart `parseBody()`, and `@hono/node-server/serve-static`.
//
// Every test runs first with the same app on `@hono/node-server` (Node's http): that proves the
// expectations are what Hono does on Node, so a failure on abio is abio's. The client is Node's
// fetch (undici), or Node's http client where the raw header lines matter. Last, abio's own
// file routes beside the app: the fast way to serve static files.

const fs = require('fs')
const path = require('path')
const { once } = require('events')
const { createHash } = require('crypto')

const { Hono } = require('hono')
const { HTTPException } = require('hono/http-exception')
const { cors } = require('hono/cors')
const { basicAuth } = require('hono/basic-auth')
const { bearerAuth } = require('hono/bearer-auth')
const { stream, streamSSE } = require('hono/streaming')
const { setCookie, getCookie } = require('hono/cookie')
const { serve: nodeServe } = require('@hono/node-server')
const { serveStatic } = require('@hono/node-server/serve-static')

const abio = require('..')
const { ab } = require('./helpers/inputs')
const { expectBytes } = require('./helpers/bytes')
const { request } = require('./helpers/http-peers')
const { useTempDir, tmpDir } = require('./helpers/tmpdir')

jest.setTimeout(30000)

useTempDir('abio-hono-')

const sha256 = (bytes) => createHash('sha256').update(new Uint8Array(bytes)).digest('hex')
const BYTES = ab(70001) // c.body() sends this ArrayBuffer as it is
const UPLOAD = ab(200003) // a multipart file part
const BIG_FILE = ab((1 << 20) + 3) // a static file, more than one chunk
const EVENTS = [
  { id: '1', data: 'hello' },
  { id: '2', event: 'note', data: 'héllo ✓ \u{1F600}' },
  { id: '3', data: 'line 1\nline 2\n\nline 4' },
  { id: '4', data: JSON.stringify({ n: 4, list: [1, 2] }) },
]

/** A promise with its resolve function. */
function deferred() {
  let resolve
  const promise = new Promise((r) => (resolve = r))
  return { promise, resolve }
}

/**
 * The app under test, made fresh per server. `hooks.afterEvent(i)` is awaited after the SSE
 * event i is written; `hooks.aborted` resolves when a stream's client goes away.
 */
function makeApp(staticRoot, hooks) {
  const app = new Hono()

  // Logger-like: runs around every request and says what it saw in response headers.
  app.use('*', async (c, next) => {
    const start = performance.now()
    await next()
    c.header('x-seen', `${c.req.method} ${c.req.path}`)
    c.header('x-response-time', `${Math.round(performance.now() - start)}ms`)
  })
  app.use('/api/*', cors({ origin: 'http://app.example', allowHeaders: ['content-type'], maxAge: 600 }))
  app.use('/api/private/*', bearerAuth({ token: 'sesame' }))
  app.use('/admin/*', basicAuth({ username: 'admin', password: 'pässword' }))

  app.get('/users/:id', (c) =>
    c.json({ id: c.req.param('id'), sort: c.req.query('sort') ?? null, tags: c.req.queries('tag') ?? [] }),
  )
  app.get('/users/:id/posts/:post', (c) => c.json(c.req.param()))
  app.post('/api/items', async (c) => c.json({ created: await c.req.json(), url: c.req.url }, 201))
  app.get('/api/private/me', (c) => c.json({ user: 'me' }))
  app.get('/admin/panel', (c) => c.text('welcome, admin'))
  app.get('/bytes', (c) => c.body(BYTES, 200, { 'content-type': 'application/octet-stream' }))
  app.get('/text', (c) => c.text('héllo ✓'))
  app.get('/html', (c) => c.html('<p>héllo</p>'))
  app.get('/old', (c) => c.redirect('/users/1'))
  app.get('/moved', (c) => c.redirect('/users/2', 301))
  app.get('/hidden', (c) => c.notFound())
  app.get('/boom', () => {
    throw new Error('boom')
  })
  app.get('/teapot', () => {
    throw new HTTPException(418, { message: 'short and stout' })
  })
  app.get('/stream', (c) =>
    stream(c, async (s) => {
      await s.write('text first, ')
      await s.write(new Uint8Array(BYTES, 1, 1000))
      await s.write('then more text')
    }),
  )
  app.get('/sse', (c) =>
    streamSSE(c, async (s) => {
      let gone = false
      s.onAbort(() => {
        gone = true
        hooks.aborted.resolve()
      })
      for (const [i, event] of EVENTS.entries()) {
        if (gone) return
        await s.writeSSE(event)
        await Promise.race([hooks.afterEvent(i), hooks.aborted.promise])
      }
    }),
  )
  app.get('/cookies', (c) => {
    setCookie(c, 'session', 'abc123', { httpOnly: true, path: '/' })
    setCookie(c, 'theme', 'dark', { path: '/', maxAge: 3600, sameSite: 'Lax' })
    return c.text('two cookies')
  })
  app.get('/cookies/echo', (c) => c.json(getCookie(c)))
  app.post('/upload', async (c) => {
    const form = await c.req.parseBody()
    const file = /** @type {File} */ (form.file)
    const bytes = await file.arrayBuffer()
    return c.json({ name: form.name, fileName: file.name, type: file.type, size: bytes.byteLength, sha: sha256(bytes) })
  })
  app.use('/static/*', serveStatic({ root: staticRoot, rewriteRequestPath: (p) => p.replace(/^\/static/, '') }))

  app.notFound((c) => c.text(`nothing at ${c.req.path}`, 404))
  app.onError((err, c) => (err instanceof HTTPException ? err.getResponse() : c.json({ error: err.message }, 500)))
  return app
}

/** The app on @hono/node-server; its globals left alone, so abio's tests see abio's. */
async function onNode(fetch) {
  const server = nodeServe({ fetch, port: 0, hostname: '127.0.0.1', overrideGlobalObjects: false })
  if (!server.listening) await once(server, 'listening')
  return {
    port: server.address().port,
    close: () => {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

/** The app on abio. */
async function onAbio(fetch) {
  const server = await abio.serve({ host: '127.0.0.1', port: 0, fetch })
  return { port: server.port, close: () => server.close() }
}

/** Reads server-sent events from a fetch response's body: `{ event, id, data }` each, in order. */
async function* sseEvents(body) {
  const decoder = new TextDecoder()
  let text = ''
  for await (const chunk of body) {
    text += decoder.decode(chunk, { stream: true })
    for (let end = text.indexOf('\n\n'); end >= 0; end = text.indexOf('\n\n')) {
      const block = text.slice(0, end)
      text = text.slice(end + 2)
      const e = { event: 'message', id: undefined, data: [] }
      for (const line of block.split('\n')) {
        const at = line.indexOf(':')
        const field = line.slice(0, at)
        const value = line.slice(at + 1).replace(/^ /, '')
        if (field === 'data') e.data.push(value)
        else if (field === 'event') e.event = value
        else if (field === 'id') e.id = value
      }
      yield { ...e, data: e.data.join('\n') }
    }
  }
}

function writeFixtures(root) {
  fs.mkdirSync(path.join(root, 'docs'), { recursive: true })
  fs.writeFileSync(path.join(root, 'hello.txt'), 'hello, static world\n')
  fs.writeFileSync(path.join(root, 'big.bin'), new Uint8Array(BIG_FILE))
  fs.writeFileSync(path.join(root, 'docs', 'index.html'), '<h1>docs</h1>\n')
  fs.writeFileSync(path.join(root, 'style.css'), 'body { color: red }\n')
}

const IMPLS = [
  ['@hono/node-server (reference: proves the expectations)', onNode],
  ['abio', onAbio],
]

describe.each(IMPLS)('a Hono app on %s', (_, start) => {
  let server
  let base
  let root
  const hooks = { afterEvent: async () => {}, aborted: deferred() }

  beforeAll(async () => {
    root = path.join(tmpDir(), start === onNode ? 'node' : 'abio')
    writeFixtures(root)
    server = await start(makeApp(root, hooks).fetch)
    base = `http://127.0.0.1:${server.port}`
  })
  afterAll(async () => {
    await server?.close()
  })
  beforeEach(() => {
    hooks.afterEvent = async () => {}
    hooks.aborted = deferred()
  })

  /** GET (or `init`) through Node's fetch, redirects not followed. */
  const get = (p, init = {}) => fetch(base + p, { redirect: 'manual', ...init })

  it('routes with path params and queries; the logger-like middleware sets headers after next()', async () => {
    const r = await get('/users/42?sort=desc&tag=a&tag=b%20c')
    expect(r.status).toBe(200)
    expect(r.headers.get('content-type')).toBe('application/json')
    expect(await r.json()).toEqual({ id: '42', sort: 'desc', tags: ['a', 'b c'] })
    expect(r.headers.get('x-seen')).toBe('GET /users/42')
    expect(r.headers.get('x-response-time')).toMatch(/^\d+ms$/)

    const p = await get('/users/%C3%A9t%C3%A9/posts/7')
    expect(await p.json()).toEqual({ id: 'été', post: '7' })
    expect(p.headers.get('x-seen')).toBe('GET /users/été/posts/7') // c.req.path is decoded
  })

  it('JSON in with c.req.json() and out with c.json(), status 201; c.req.url is absolute', async () => {
    const item = { name: 'ünïcode \u{1F680}', n: [1, 2.5, null], nested: { ok: true } }
    const r = await get('/api/items', {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'http://app.example' },
      body: JSON.stringify(item),
    })
    expect(r.status).toBe(201)
    expect(await r.json()).toEqual({ created: item, url: `${base}/api/items` })
    expect(r.headers.get('access-control-allow-origin')).toBe('http://app.example')
    expect(r.headers.get('vary')).toBe('Origin')
  })

  it('hono/cors answers an OPTIONS preflight with 204 and the CORS headers', async () => {
    const r = await get('/api/items', {
      method: 'OPTIONS',
      headers: {
        origin: 'http://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    })
    expect(r.status).toBe(204)
    expect(await r.text()).toBe('')
    expect(r.headers.get('access-control-allow-origin')).toBe('http://app.example')
    expect(r.headers.get('access-control-allow-methods')).toContain('POST')
    expect(r.headers.get('access-control-allow-headers')).toBe('content-type')
    expect(r.headers.get('access-control-max-age')).toBe('600')
  })

  it('basic-auth and bearer-auth refuse with 401 and let the right credentials in', async () => {
    const refused = await get('/admin/panel')
    expect(refused.status).toBe(401)
    expect(refused.headers.get('www-authenticate')).toBe('Basic realm="Secure Area"')
    await refused.arrayBuffer()
    const wrong = await get('/admin/panel', {
      headers: { authorization: `Basic ${Buffer.from('admin:nope').toString('base64')}` },
    })
    expect(wrong.status).toBe(401)
    await wrong.arrayBuffer()
    const ok = await get('/admin/panel', {
      headers: { authorization: `Basic ${Buffer.from('admin:pässword').toString('base64')}` },
    })
    expect([ok.status, await ok.text()]).toEqual([200, 'welcome, admin'])

    const noToken = await get('/api/private/me')
    expect(noToken.status).toBe(401)
    expect(noToken.headers.get('www-authenticate')).toMatch(/^Bearer realm="/)
    await noToken.arrayBuffer()
    const badToken = await get('/api/private/me', { headers: { authorization: 'Bearer open' } })
    expect(badToken.status).toBe(401)
    await badToken.arrayBuffer()
    const token = await get('/api/private/me', { headers: { authorization: 'Bearer sesame' } })
    expect([token.status, await token.json()]).toEqual([200, { user: 'me' }])
  })

  it('c.body() with an ArrayBuffer arrives byte for byte; c.text and c.html with their types', async () => {
    const r = await get('/bytes')
    expect(r.headers.get('content-type')).toBe('application/octet-stream')
    expectBytes(await r.arrayBuffer(), BYTES)

    const t = await get('/text')
    expect([t.headers.get('content-type'), await t.text()]).toEqual(['text/plain;charset=UTF-8', 'héllo ✓']) // Response's own
    const h = await get('/html')
    expect([h.headers.get('content-type'), await h.text()]).toEqual(['text/html; charset=UTF-8', '<p>héllo</p>'])
  })

  it('c.redirect (302, 301), c.notFound and app.notFound, app.onError (500 and an HTTPException)', async () => {
    const r302 = await get('/old')
    expect([r302.status, r302.headers.get('location'), await r302.text()]).toEqual([302, '/users/1', ''])
    const r301 = await get('/moved')
    expect([r301.status, r301.headers.get('location')]).toEqual([301, '/users/2'])
    await r301.arrayBuffer()

    const hidden = await get('/hidden')
    expect([hidden.status, await hidden.text()]).toEqual([404, 'nothing at /hidden'])
    const none = await get('/no/such/page')
    expect([none.status, await none.text()]).toEqual([404, 'nothing at /no/such/page'])
    expect(none.headers.get('x-seen')).toBe('GET /no/such/page')

    const boom = await get('/boom')
    expect([boom.status, await boom.json()]).toEqual([500, { error: 'boom' }])
    const teapot = await get('/teapot')
    expect([teapot.status, await teapot.text()]).toEqual([418, 'short and stout'])
  })

  it('c.stream() sends strings and bytes in order', async () => {
    const r = await get('/stream')
    expect(r.status).toBe(200)
    expectBytes(
      await r.arrayBuffer(),
      Buffer.concat([Buffer.from('text first, '), Buffer.from(BYTES, 1, 1000), Buffer.from('then more text')]),
    )
  })

  it('streamSSE(): each event reaches the client before the next one is written, in order, exactly', async () => {
    const read = EVENTS.map(() => deferred())
    hooks.afterEvent = (i) => read[i].promise
    const r = await get('/sse')
    expect(r.status).toBe(200)
    expect(r.headers.get('content-type')).toBe('text/event-stream')
    expect(r.headers.get('cache-control')).toBe('no-cache')
    const got = []
    for await (const e of sseEvents(r.body)) {
      got.push(e)
      // The server waits for this before it writes the next event: nothing is buffered.
      read[got.length - 1].resolve()
    }
    expect(got).toEqual(EVENTS.map(({ id, event = 'message', data }) => ({ id, event, data })))
  })

  it('streamSSE(): a client that leaves aborts the stream on the server (onAbort)', async () => {
    hooks.afterEvent = () => new Promise(() => {}) // stays open after the first event
    const ac = new AbortController()
    const r = await get('/sse', { signal: ac.signal })
    const events = sseEvents(r.body)
    expect((await events.next()).value).toEqual({ id: '1', event: 'message', data: 'hello' })
    ac.abort()
    await hooks.aborted.promise
  })

  it('setCookie twice gives two Set-Cookie lines; getCookie reads them back', async () => {
    // Node's http client keeps each Set-Cookie line apart (one line joined by commas would be one entry).
    const r = await request(server.port, '/cookies')
    const lines = r.headers['set-cookie']
    expect(lines).toEqual(['session=abc123; Path=/; HttpOnly', 'theme=dark; Max-Age=3600; Path=/; SameSite=Lax'])
    expect(r.body.toString()).toBe('two cookies')

    const f = await get('/cookies')
    expect(f.headers.getSetCookie()).toEqual(lines)
    await f.arrayBuffer()
    const echo = await get('/cookies/echo', { headers: { cookie: 'session=abc123; theme=dark' } })
    expect(await echo.json()).toEqual({ session: 'abc123', theme: 'dark' })
  })

  it('c.req.parseBody() reads a multipart form with a file part, byte for byte', async () => {
    const form = new FormData()
    form.append('name', 'tëst')
    form.append('file', new Blob([UPLOAD], { type: 'application/x-thing' }), 'data.bin')
    const r = await get('/upload', { method: 'POST', body: form })
    expect(r.status).toBe(200)
    expect(await r.json()).toEqual({
      name: 'tëst',
      fileName: 'data.bin',
      type: 'application/x-thing',
      size: UPLOAD.byteLength,
      sha: sha256(UPLOAD),
    })
  })

  it('serveStatic from @hono/node-server: files with their types, byte for byte, a range, an index, a miss', async () => {
    const hello = await get('/static/hello.txt')
    expect(hello.status).toBe(200)
    expect(hello.headers.get('content-type')).toBe('text/plain; charset=utf-8')
    expect(hello.headers.get('content-length')).toBe('20')
    expect(hello.headers.get('last-modified')).toBe(fs.statSync(path.join(root, 'hello.txt')).mtime.toUTCString())
    expect(await hello.text()).toBe('hello, static world\n')

    const big = await get('/static/big.bin')
    expect(big.headers.get('content-length')).toBe(String(BIG_FILE.byteLength))
    expectBytes(await big.arrayBuffer(), BIG_FILE)

    const part = await get('/static/big.bin', { headers: { range: 'bytes=1000-70999' } })
    expect(part.status).toBe(206)
    expect(part.headers.get('content-range')).toBe(`bytes 1000-70999/${BIG_FILE.byteLength}`)
    expectBytes(await part.arrayBuffer(), Buffer.from(BIG_FILE, 1000, 70000))

    const docs = await get('/static/docs/')
    expect([docs.headers.get('content-type'), await docs.text()]).toEqual([
      'text/html; charset=utf-8',
      '<h1>docs</h1>\n',
    ])
    const css = await get('/static/style.css')
    expect([css.headers.get('content-type'), await css.text()]).toEqual([
      'text/css; charset=utf-8',
      'body { color: red }\n',
    ])

    const miss = await get('/static/missing.txt')
    expect([miss.status, await miss.text()]).toEqual([404, 'nothing at /static/missing.txt'])
  })

  // A Content-Length in a HEAD answer must be the one GET would send (RFC 9110 section 8.6).
  it('HEAD: serveStatic sends the Content-Length of the file; a GET route (Hono answers HEAD) no wrong one', async () => {
    const r = await request(server.port, '/static/hello.txt', { method: 'HEAD' })
    expect(r.status).toBe(200)
    expect(r.headers['content-type']).toBe('text/plain; charset=utf-8')
    expect(r.headers['content-length']).toBe('20')
    expect(r.body.length).toBe(0)

    const text = await request(server.port, '/text', { method: 'HEAD' })
    expect(text.status).toBe(200)
    expect([undefined, String(Buffer.byteLength('héllo ✓'))]).toContain(text.headers['content-length'])
    expect(text.body.length).toBe(0)
  })
})

describe('abio file routes and file answers beside a Hono app (the fast way to serve static files)', () => {
  let server
  let base
  let root

  /** A file route per file under `dir`, at `prefix` + its relative path (`index.html` also at its directory). */
  function fileRoutes(dir, prefix) {
    const routes = {}
    for (const rel of fs.readdirSync(dir, { recursive: true })) {
      const file = path.join(dir, rel)
      if (!fs.statSync(file).isFile()) continue
      const url = `${prefix}/${rel.split(path.sep).join('/')}`
      routes[url] = { file }
      if (path.basename(rel) === 'index.html') routes[url.slice(0, -'index.html'.length)] = { file }
    }
    return routes
  }

  beforeAll(async () => {
    root = path.join(tmpDir(), 'routes')
    writeFixtures(root)
    const app = makeApp(root, { afterEvent: async () => {}, aborted: deferred() })
    // Files known at start are routes, answered in Rust (ETag, Last-Modified, 304, ranges). Files
    // looked up per request are a `{ body: { file } }` answer in front of the app (a Hono handler
    // must return a Response). Everything else goes to Hono.
    const fetch = (request, srv) => {
      const name = request.path.startsWith('/dl/') ? request.path.slice(4) : ''
      if (/^[\w-][\w.-]*$/.test(name)) return { body: { file: path.join(root, name) } }
      return app.fetch(request, srv)
    }
    const s = await abio.serve({ host: '127.0.0.1', port: 0, routes: fileRoutes(root, '/files'), fetch })
    server = s
    base = `http://127.0.0.1:${s.port}`
  })
  afterAll(async () => {
    await server?.close()
  })

  it('serves the same files byte for byte, with ETag, 304, ranges and HEAD; other paths reach Hono', async () => {
    const hello = await fetch(`${base}/files/hello.txt`)
    expect(hello.headers.get('content-type')).toBe('text/plain; charset=utf-8')
    expect(await hello.text()).toBe('hello, static world\n')
    const etag = hello.headers.get('etag')
    expect(etag).toMatch(/^"/)
    const again = await fetch(`${base}/files/hello.txt`, { headers: { 'if-none-match': etag } })
    expect(again.status).toBe(304)
    await again.arrayBuffer()

    const big = await fetch(`${base}/files/big.bin`)
    expectBytes(await big.arrayBuffer(), BIG_FILE)
    const part = await fetch(`${base}/files/big.bin`, { headers: { range: 'bytes=1000-70999' } })
    expect(part.status).toBe(206)
    expectBytes(await part.arrayBuffer(), Buffer.from(BIG_FILE, 1000, 70000))
    const head = await request(server.port, '/files/big.bin', { method: 'HEAD' })
    expect([head.status, head.headers['content-length'], head.body.length]).toEqual([
      200,
      String(BIG_FILE.byteLength),
      0,
    ])

    const docs = await fetch(`${base}/files/docs/`)
    expect([docs.headers.get('content-type'), await docs.text()]).toEqual([
      'text/html; charset=utf-8',
      '<h1>docs</h1>\n',
    ])

    const user = await fetch(`${base}/users/9`)
    expect(await user.json()).toEqual({ id: '9', sort: null, tags: [] })
    const miss = await fetch(`${base}/files/missing.txt`)
    expect([miss.status, await miss.text()]).toEqual([404, 'nothing at /files/missing.txt'])
  })

  it('a { body: { file } } answer in front of the app: the file byte for byte, its type, ETag and ranges; a miss is 404', async () => {
    const big = await fetch(`${base}/dl/big.bin`)
    expect([big.status, big.headers.get('content-type')]).toEqual([200, 'application/octet-stream'])
    expect(big.headers.get('content-length')).toBe(String(BIG_FILE.byteLength))
    expectBytes(await big.arrayBuffer(), BIG_FILE)
    const again = await fetch(`${base}/dl/big.bin`, { headers: { 'if-none-match': big.headers.get('etag') } })
    expect(again.status).toBe(304)
    await again.arrayBuffer()
    const part = await fetch(`${base}/dl/big.bin`, { headers: { range: 'bytes=-5' } })
    expect([part.status, part.headers.get('content-range')]).toEqual([
      206,
      `bytes ${BIG_FILE.byteLength - 5}-${BIG_FILE.byteLength - 1}/${BIG_FILE.byteLength}`,
    ])
    expectBytes(await part.arrayBuffer(), Buffer.from(BIG_FILE, BIG_FILE.byteLength - 5))
    const css = await fetch(`${base}/dl/style.css`)
    expect([css.headers.get('content-type'), await css.text()]).toEqual([
      'text/css; charset=utf-8',
      'body { color: red }\n',
    ])

    const miss = await fetch(`${base}/dl/missing.txt`)
    expect(miss.status).toBe(404)
    await miss.arrayBuffer()
    const sneaky = await fetch(`${base}/dl/..%2Fsecret`)
    expect([sneaky.status, await sneaky.text()]).toEqual([404, 'nothing at /dl/..%2Fsecret'])
  })
})
