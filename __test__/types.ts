// The type test: `tsc --noEmit -p __test__` must pass. It pins the public typings of
// index.d.ts; every `@ts-expect-error` line is a call that must NOT type-check.
import * as abio from '..'
import type { Bytes, Data, FileHandle, Parts, ReadOptions, SystemError, Unpacked, WriteOptions } from '..'

async function files(): Promise<void> {
  const ab: ArrayBuffer = new ArrayBuffer(8)
  const parts: Data[] = [
    ab,
    new SharedArrayBuffer(4),
    Buffer.from('x'),
    new Float32Array(2),
    new DataView(ab, 1, 2),
    'text',
  ]
  const w: WriteOptions = {
    append: false,
    atomic: true,
    durable: true,
    mode: 0o600,
    mkdirs: true,
    signal: AbortSignal.timeout(1000),
  }
  const n1: number = abio.writeFileSync('/tmp/a', parts, w)
  const n2: number = await abio.writeFile(new URL('file:///tmp/a'), new BigInt64Array(1))
  const r: ReadOptions = { offset: 0, length: 8, maxSize: 1 << 20 }
  const a1: ArrayBuffer = abio.readFileSync('/tmp/a', r)
  const a2: ArrayBuffer = await abio.readFile('/tmp/a', { signal: new AbortController().signal })
  const got: number = await abio.readFileInto('/tmp/a', new Uint16Array(4), { position: 2 })
  const many: number[] = await abio.writeFiles([{ path: '/tmp/b', data: [ab, 'x'] }], { mkdirs: true })
  const all: ArrayBuffer[] = await abio.readFiles(['/tmp/a', '/tmp/b'])
  const fh: FileHandle = await abio.open('/tmp/a', 'r+', 0o644)
  const chunk: ArrayBuffer = await fh.read(0, 4)
  const k: number = (await fh.readInto(new Uint8Array(4))) + (await fh.write('x', 0)) + (await fh.writev([ab, 'y']))
  const size: number = await fh.size()
  await fh.truncate(2)
  await fh.sync()
  await fh.close()
  const fd: number = fh.fd
  const b: Bytes = abio.toArrayBuffer(new Uint8Array(ab, 2))
  const buf: Buffer = abio.toBuffer(b)
  try {
    abio.readFileSync('/nope')
  } catch (e) {
    const err = e as SystemError
    const fields: [string, number, string, string | undefined] = [err.code, err.errno, err.syscall, err.path]
    void fields
  }
  void [n1, n2, a1, a2, got, many, all, chunk, k, size, fd, buf]

  // @ts-expect-error a number is not Data
  abio.writeFileSync('/tmp/a', 42)
  // @ts-expect-error paths are strings or URLs
  await abio.readFile(7)
  // @ts-expect-error readFile resolves with an ArrayBuffer, not a Buffer
  const notBuffer: Buffer = await abio.readFile('/tmp/a')
  // @ts-expect-error unknown open flag
  await abio.open('/tmp/a', 'rs+')
  // @ts-expect-error toArrayBuffer takes Bytes, not strings
  abio.toArrayBuffer('text')
  // @ts-expect-error FileHandle is made by open(), not new
  new abio.FileHandle()
  void notBuffer

  // Node's encoding argument: a string, typed as one; bytes otherwise.
  const text: string = await abio.readFile('/tmp/a', 'utf8')
  const text2: string = abio.readFileSync('/tmp/a', { encoding: 'latin1', offset: 2, maxSize: 64 })
  const text3: string = await abio.readFile('/tmp/a', { encoding: 'base64', signal: AbortSignal.timeout(1000) })
  const bytes1: ArrayBuffer = await abio.readFile('/tmp/a', { encoding: null })
  const bytes2: ArrayBuffer = abio.readFileSync('/tmp/a', { length: 4 })
  const maybe: BufferEncoding | undefined = undefined as BufferEncoding | undefined
  const either: string | ArrayBuffer = await abio.readFile('/tmp/a', { encoding: maybe })
  void [text, text2, text3, bytes1, bytes2, either]
  // @ts-expect-error an encoding gives a string, not an ArrayBuffer
  const notBytes: ArrayBuffer = await abio.readFile('/tmp/a', 'utf8')
  // @ts-expect-error no encoding gives an ArrayBuffer, not a string
  const notText: string = abio.readFileSync('/tmp/a', {})
  // @ts-expect-error an encoding Buffer does not know
  await abio.readFile('/tmp/a', 'utf9')
  // @ts-expect-error an encoding Buffer does not know (in options)
  abio.readFileSync('/tmp/a', { encoding: 'utf9' })
  // @ts-expect-error readFiles takes no encoding argument
  await abio.readFiles(['/tmp/a'], 'utf8')
  // @ts-expect-error readFiles takes no encoding
  await abio.readFiles(['/tmp/a'], { encoding: 'utf8' })
  void [notBytes, notText]

  // Calls that throw at run time do not type-check.
  // @ts-expect-error append and atomic cannot be combined
  await abio.writeFile('/tmp/a', 'x', { atomic: true, append: true })
  // @ts-expect-error append and atomic cannot be combined (sync too)
  abio.writeFileSync('/tmp/a', 'x', { append: true, atomic: true, mkdirs: true })
  await abio.writeFile('/tmp/a', 'x', { append: true, atomic: false })
  await abio.writeFile('/tmp/a', 'x', { append: false, atomic: true })
  // @ts-expect-error unknown option name (a typo)
  await abio.writeFile('/tmp/a', 'x', { atomc: true })
  // @ts-expect-error unknown option name in read options
  await abio.readFile('/tmp/a', { offest: 4 })
  // @ts-expect-error unknown option name of readFileInto
  await abio.readFileInto('/tmp/a', new Uint8Array(4), { positon: 2 })
  // @ts-expect-error unknown option name of writeFiles
  await abio.writeFiles([], { mkdir: true })
}

void files

async function packing(): Promise<void> {
  const parts: Parts = [new Float64Array(4), new DataView(new ArrayBuffer(8)), new ArrayBuffer(3), Buffer.from('x')]
  const named: Parts = { a: new Uint16Array(2), b: new BigInt64Array(1) }
  const buf: Buffer = abio.pack(parts, { align: 64, checksum: false })
  const size: number = abio.packedSize(named)
  const n: number = abio.packInto(new Uint8Array(size), named, { checksum: true })
  const views: Unpacked = abio.unpack(buf, { verify: false })
  const saved: number = await abio.savePacked('/tmp/p', named, { align: 8, atomic: true, mkdirs: true })
  const loaded: Unpacked = await abio.loadPacked('/tmp/p', { mmap: true, verify: true })
  void [n, views, saved, loaded]
  // @ts-expect-error strings are not Bytes
  abio.pack(['text'])
  // @ts-expect-error loadPacked has no align option
  await abio.loadPacked('/tmp/p', { align: 8 })

  // Typed results without casts: unpack<P> gives what the parts P come back as.
  const given = { pos: new Float32Array(6), ids: new Uint32Array(2), raw: Buffer.from('x'), bare: new ArrayBuffer(4) }
  const got = abio.unpack<typeof given>(abio.pack(given))
  const pos: Float32Array = got.pos
  const ids: Uint32Array = got.ids
  const raw: Uint8Array = got.raw
  const bare: Uint8Array = got.bare
  interface Mesh {
    vertices: Float32Array
    meta: DataView
  }
  const mesh: Unpacked<Mesh> = await abio.loadPacked<Mesh>('/tmp/p', { mmap: true })
  const meta: DataView = mesh.meta
  const list = abio.unpack<[Float64Array, BigInt64Array]>(buf)
  const first: Float64Array = list[0]
  const second: BigInt64Array = list[1]
  void [pos, ids, raw, bare, meta, first, second]
  // @ts-expect-error a part packed as Float32Array comes back as one, not as Float64Array
  const wrongKind: Float64Array = got.pos
  // @ts-expect-error a Buffer part comes back as a Uint8Array, not a Buffer
  const notBuf: Buffer = got.raw
  // @ts-expect-error no such part
  void got.nope
  // @ts-expect-error a tuple of two parts has no third
  void list[2]
  // @ts-expect-error parts are Bytes: a string is none
  abio.unpack<{ a: string }>(buf)
  // @ts-expect-error align is a power of two from 8 to 4096
  abio.pack(parts, { align: 12 })
  // @ts-expect-error unknown option name of pack
  abio.pack(parts, { aling: 16 })
  // @ts-expect-error unknown option name of unpack
  abio.unpack(buf, { verfy: false })
  // @ts-expect-error savePacked: append and atomic cannot be combined
  await abio.savePacked('/tmp/p', named, { append: true, atomic: true })
  void [wrongKind, notBuf]
}

void packing

async function tcp(): Promise<void> {
  const server: abio.Server = await abio.listen({ port: 0, host: '127.0.0.1', backlog: 16 }, (s: abio.Socket) => {
    void s.write(new Float32Array(4))
  })
  const port: number = server.port
  const sock = await abio.connect({ port, noDelay: false, timeout: 1000, signal: AbortSignal.timeout(5000) })
  await sock.write('text')
  await sock.writev([new ArrayBuffer(2), new DataView(new ArrayBuffer(4)), 'x'])
  await sock.writeFrame([Buffer.from('a'), 'b'])
  const sent: number = await sock.sendFile('/tmp/a', {
    offset: 0,
    length: 10,
    onProgress: (n: number, t: number) => void [n, t],
  })
  const chunk: ArrayBuffer | null = await sock.read({ maxBytes: 1024 })
  const exact: ArrayBuffer = await sock.readExactly(4)
  const frame: ArrayBuffer | null = await sock.readFrame({ maxSize: 1 << 20 })
  for await (const c of sock) {
    const ab: ArrayBuffer = c
    void ab
  }
  await sock.end()
  sock.unref().ref().close()
  const addr: string = sock.remoteAddress
  void [sent, chunk, exact, frame, addr, sock.remotePort, sock.localPort]
  await server.close()
  // @ts-expect-error readExactly resolves with an ArrayBuffer, never null
  const bad: null = await sock.readExactly(1)
  // @ts-expect-error connect needs options
  await abio.connect()
  // @ts-expect-error Socket is made by connect(), not new
  new abio.Socket()
  void bad

  // A signal closes the server when it aborts (as Node's listen({ signal })).
  const ac = new AbortController()
  const stoppable: abio.Server = await abio.listen({ port: 0, signal: ac.signal }, () => {})
  const unix: abio.Server = await abio.listen({ path: '/tmp/s.sock', backlog: 8 }, () => {})
  const viaUnix: abio.Socket = await abio.connect({ path: new URL('file:///tmp/s.sock'), timeout: 100 })
  void [stoppable, unix, viaUnix]
  // @ts-expect-error connect over TCP needs a port (or a Unix socket path)
  await abio.connect({ host: '127.0.0.1' })
  // @ts-expect-error a Unix socket path with a port
  await abio.connect({ path: '/tmp/s.sock', port: 80 })
  // @ts-expect-error a Unix socket path with a host
  await abio.listen({ path: '/tmp/s.sock', host: '::' }, () => {})
  // @ts-expect-error unknown option name of listen
  await abio.listen({ prot: 8080 }, () => {})
  // @ts-expect-error unknown option name of connect
  await abio.connect({ port: 1, noDelai: true })
  // @ts-expect-error signal is an AbortSignal
  await abio.listen({ port: 0, signal: true }, () => {})
}

void tcp

async function http(): Promise<void> {
  const routes: Record<string, abio.Route> = {
    '/': new Uint8Array([65, 66, 67]).buffer,
    '/t': { body: 'text', contentType: 'text/plain', headers: { 'cache-control': 'no-cache' } },
    '/f': { file: '/srv/index.html' },
    '/u': { file: new URL('file:///srv/app.js'), contentType: 'text/javascript', headers: { 'x-a': 'b' } },
  }
  const server: abio.HttpServer = await abio.serve({
    port: 0,
    routes,
    maxHeaderSize: 8192,
    headersTimeout: 1000,
    idleTimeout: 5000,
    bodyTimeout: 30000,
    maxBodySize: 1 << 20,
    fetch: async (req: abio.ServeRequest): Promise<abio.ServeAnswer> => {
      const body: ArrayBuffer = await req.arrayBuffer()
      const n: number = await req.bodyToFile('/tmp/b', { atomic: true })
      if (req.path === '/file') return { body: { file: '/srv/page.html' } }
      return { status: 201, headers: { 'x-n': n, 'x-m': req.method }, body }
    },
  })
  // The request is a WHATWG Request; the answer a Response or a plain ServeAnswer.
  const ac = new AbortController()
  const web: abio.HttpServer = await abio.serve({
    signal: ac.signal,
    overrideGlobalObjects: false,
    fetch: async (req, server: abio.HttpServer) => {
      const asRequest: Request = req
      const url: URL = new URL(req.url)
      const type: string | null = req.headers.get('content-type')
      const aborted: boolean = req.signal.aborted
      const stream: ReadableStream<Uint8Array> | null = req.body
      void [asRequest, type, aborted, stream, server.port]
      if (url.pathname === '/json') return Response.json({ a: await req.json() })
      if (url.pathname === '/text') return new Response(await req.text(), { status: 201 })
      if (url.pathname === '/form') return new Response((await req.formData()).get('f'))
      if (url.pathname === '/cookies') return { headers: { 'set-cookie': ['a=1', 'b=2'] }, body: 'c' }
      if (url.pathname === '/pairs') return { headers: [['x-a', '1']], body: await req.blob() }
      if (url.pathname === '/headers') return { headers: new Headers({ 'x-a': '1' }), body: await req.arrayBuffer() }
      if (url.pathname === '/stream') return { body: new ReadableStream<Uint8Array>() }
      return {
        body: (async function* () {
          yield 'a'
          yield new Uint8Array(1)
        })(),
      }
    },
  })
  await web.close()
  await abio.serve({
    fetch: async (req) => {
      // @ts-expect-error the body is read with arrayBuffer() (body is a ReadableStream)
      await req.body()
      // @ts-expect-error headers are a Headers, not a record
      void req.headers['x-a'].length
      return undefined
    },
  })
  await abio.serve({
    // @ts-expect-error an answer has no `stauts`
    fetch: async () => ({ stauts: 404 }),
  })
  // @ts-expect-error an unknown option name
  await abio.serve({ prot: 8080 })
  server.reload({ routes: { '/': Buffer.from('x') } })
  const port: number = server.port
  server.unref().ref()
  await server.close()
  void port
  // @ts-expect-error a bare string is not a Route (strings need { body })
  await abio.serve({ routes: { '/': 'text' } })
  // @ts-expect-error a file route takes a path, not bytes
  await abio.serve({ routes: { '/': { file: new Uint8Array(1) } } })
  // @ts-expect-error reload takes { routes } and/or { tls }, not strings
  server.reload({ routes: 'x' })
  // @ts-expect-error a server's tls needs a key
  await abio.serve({ tls: { cert: 'pem' } })
  const tlsServer = await abio.serve({ port: 0, tls: [{ cert: 'pem', key: new Uint8Array(1), serverName: 'a.test' }] })
  tlsServer.reload({ tls: { cert: 'pem', key: 'pem', passphrase: 'p' } })
  const s: abio.Socket = await abio.connect({ port: 1, tls: { ca: ['pem'], rejectUnauthorized: false } })
  const protocol: string | null = s.getProtocol()
  const alpn: string | false = s.alpnProtocol
  const encrypted: boolean = s.encrypted
  void [protocol, alpn, encrypted]
  await abio.request('https://h/', { ca: 'pem', servername: 'h', cert: 'c', key: 'k' })
  await abio.connectWebSocket('wss://h/', { ca: new Uint8Array(1), rejectUnauthorized: true })
  // @ts-expect-error rejectUnauthorized is a boolean
  await abio.request('https://h/', { rejectUnauthorized: 'no' })
  // @ts-expect-error connect's tls is true or client options
  await abio.connect({ port: 1, tls: 'yes' })
  await abio.connect({ port: 1, tls: { cert: 'c', key: 'k', passphrase: 'p' } })
  // @ts-expect-error a client certificate needs its key
  await abio.connect({ port: 1, tls: { cert: 'c' } })
  // @ts-expect-error a client key needs its certificate
  await abio.request('https://h/', { key: 'k' })
  // @ts-expect-error unknown option name of connect's tls
  await abio.connect({ port: 1, tls: { rejectUnauthorised: false } })
  // @ts-expect-error unknown option name of a server's tls
  await abio.listen({ port: 0, tls: { cert: 'c', key: 'k', servername: 'a.test' } }, () => {})
}

void http

async function client(): Promise<void> {
  const ac = new AbortController()
  const res: abio.ClientResponse = await abio.request('http://127.0.0.1:8080/', {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'x-n': 1 },
    body: new Float32Array(4),
    maxSize: 1 << 20,
    signal: ac.signal,
    onProgress: (done: number, total: number | null) => void [done, total],
    redirect: 'manual',
  })
  const status: number = res.status
  const body: ArrayBuffer = res.body
  const type: string | null = res.headers.get('content-type')
  const cookies: string[] = res.headers.getSetCookie()
  const url: string = res.url
  const ok: boolean = res.ok
  const text: string = await res.text()
  const json = await res.json<{ n: number }>()
  const n1: number = json.n
  const unknownJson: unknown = await res.json()
  const same: ArrayBuffer = await res.arrayBuffer()
  void [cookies, ok, text, n1, unknownJson, same]
  // @ts-expect-error headers is a Headers, not a record
  void res.headers['content-type']
  // @ts-expect-error json() is unknown unless the caller says
  void (await res.json()).n
  // Headers in every form fetch takes, and arrays for repeated names.
  const h = new Headers([['x-a', '1']])
  h.append('cookie', 'a=1')
  await abio.request('http://x/', { headers: h, decompress: false })
  await abio.request('http://x/', {
    headers: [
      ['x-a', '1'],
      ['x-a', 2],
    ],
  })
  await abio.request('http://x/', { headers: new Map([['x-a', '1']]) })
  await abio.request('http://x/', { headers: { cookie: ['a=1', 'b=2'], 'x-n': 3 } })
  await abio.download('http://x/', '/tmp/z', { headers: h, decompress: true })
  // @ts-expect-error a pair has a name and a value
  await abio.request('http://x/', { headers: [['x-a']] })
  // @ts-expect-error header values are strings or numbers
  await abio.request('http://x/', { headers: { a: {} } })
  // @ts-expect-error headers are not a string
  await abio.request('http://x/', { headers: 'x-a: 1' })
  // @ts-expect-error decompress is a boolean
  await abio.request('http://x/', { decompress: 'no' })
  await abio.request(new URL('http://x/'), { method: 'PUT', body: { file: '/tmp/x' } })
  await abio.request('http://x/', { method: 'POST', body: 'text' })
  const n: number = await abio.download('http://x/', '/tmp/y', { atomic: false, mkdirs: true, onProgress: () => {} })
  void [status, body, type, url, n]
  // @ts-expect-error redirect is 'follow' or 'manual'
  await abio.request('http://x/', { redirect: 'error' })
  // @ts-expect-error download needs a path
  await abio.download('http://x/')
  // @ts-expect-error the body is Data or { file }
  await abio.request('http://x/', { body: 42 })
  // @ts-expect-error a body needs a method (GET, the default, takes none)
  await abio.request('http://x/', { body: 'text' })
  // @ts-expect-error unknown option name of request
  await abio.request('http://x/', { methd: 'POST' })
  // @ts-expect-error unknown option name of download
  await abio.download('http://x/', '/tmp/y', { atomc: false })
  // @ts-expect-error download: append and atomic cannot be combined
  await abio.download('http://x/', '/tmp/y', { append: true, atomic: true })
}

void client

async function websocket(): Promise<void> {
  const server = await abio.serve({
    websocket: {
      path: '/ws',
      maxPayload: 1 << 20,
      backpressureLimit: 1 << 16,
      pingInterval: 30_000,
      open(ws: abio.WebSocket, req: abio.UpgradeRequest) {
        const ok: boolean = ws.send(new Float32Array(4))
        void ok
        void req.headers['user-agent']
      },
      message(ws, data: ArrayBuffer | string) {
        ws.send(data)
      },
      close(_ws, code: number, reason: string) {
        void code
        void reason
      },
    },
  })
  const n: number = server.broadcast('to all')
  const ws = await abio.connectWebSocket(`ws://localhost:${server.port}/ws`, { headers: { 'x-a': 'b' } })
  ws.send('hi')
  const queued: number = ws.bufferedAmount
  await ws.drained()
  for await (const m of ws) {
    const text: string | ArrayBuffer = m
    void text
    break
  }
  ws.close(1000, 'bye')
  const { code, reason } = await ws.closed
  void [n, queued, code, reason]
  // @ts-expect-error send takes Data
  ws.send(42)
  // @ts-expect-error unknown option name of connectWebSocket
  await abio.connectWebSocket('ws://h/', { maxPayLoad: 1 })
  // @ts-expect-error unknown option name of serve's websocket
  await abio.serve({ websocket: { pth: '/ws' } })
  await server.close()
}

void websocket

async function websocketProducts(): Promise<void> {
  interface Session {
    user: string
  }
  const server = await abio.serve({
    websocket: {
      async upgrade(req, srv) {
        void srv.port
        const token: string | null = req.headers.get('authorization')
        if (token === null) return new Response('{"error":"unauthorized"}', { status: 401 })
        if (token === 'x') return false
        return { data: { user: token } satisfies Session, headers: { 'set-cookie': 'a=1' }, protocol: 'chat.v1' }
      },
      upgradeTimeout: 5000,
      protocols: (offered: string[]) => offered.find((p) => p.startsWith('chat.')),
      perMessageDeflate: { threshold: 256, serverNoContextTakeover: true, clientMaxWindowBits: 12 },
      open(ws) {
        const session = ws.data as Session
        ws.subscribe(`user:${session.user}`)
        const n: number = ws.publish('lobby', 'joined')
        const subscribed: boolean = ws.isSubscribed('lobby')
        const topics: string[] = ws.subscriptions
        const state: 0 | 1 | 2 | 3 = ws.readyState
        void [n, subscribed, topics, state, ws.protocol, ws.extensions, ws.remoteAddress]
        ws.ping('are you there')
      },
      pong(_ws, data: ArrayBuffer) {
        void data.byteLength
      },
      message(ws, data) {
        ws.send(data, { compress: false })
        if (data === 'bye') ws.terminate()
      },
    },
  })
  const delivered: number = server.publish('lobby', new Uint8Array(8))
  const count: number = server.subscriberCount('lobby')
  const ws = await abio.connectWebSocket(`ws://localhost:${server.port}/`, {
    protocols: ['chat.v1', 'chat.v2'],
    perMessageDeflate: true,
  })
  ws.binaryType = 'nodebuffer'
  ws.onopen = () => {}
  ws.onmessage = (event: MessageEvent) => void event.data
  ws.onclose = (event) => void [event.code, event.reason, event.wasClean]
  ws.onerror = (event: Event) => void event.type
  ws.addEventListener('pong', () => {})
  const open: boolean = ws.readyState === abio.WebSocket.OPEN && ws.OPEN === 1
  void [delivered, count, open]
  // @ts-expect-error binaryType is one of three names
  ws.binaryType = 'blobs'
  // @ts-expect-error unknown option name of send
  ws.send('x', { compres: false })
  ws.close()
  await server.close()
}

void websocketProducts

async function streams(): Promise<void> {
  const { Readable, Writable, Duplex } = await import('node:stream')
  const { pipeline } = await import('node:stream/promises')
  const { createReadStream, createWriteStream } = await import('node:fs')
  const sock = await abio.connect({ port: 1 })
  const r: ReadableStream<Uint8Array> = sock.readable
  const w: WritableStream<abio.Data> = sock.writable
  const writer = sock.writable.getWriter()
  await writer.write(new Float64Array(2))
  await writer.write('text')
  await writer.close()
  for await (const chunk of sock.readable) {
    const u8: Uint8Array = chunk
    void u8
  }
  await pipeline(createReadStream('/tmp/a'), Writable.fromWeb(sock.writable))
  await pipeline(Readable.fromWeb(sock.readable), createWriteStream('/tmp/b'))
  await pipeline(
    createReadStream('/tmp/a'),
    Duplex.fromWeb({ readable: sock.readable, writable: sock.writable }),
    createWriteStream('/tmp/b'),
  )
  await pipeline(createReadStream('/tmp/a'), Duplex.fromWeb(sock), createWriteStream('/tmp/b'))
  // @ts-expect-error the readable is read, not assigned
  sock.readable = r
  // @ts-expect-error chunks are Data
  await sock.writable.getWriter().write(42)

  const ws = await abio.connectWebSocket('ws://localhost:1/')
  const messages: ReadableStream<ArrayBuffer | string> = ws.readable
  const out: WritableStream<abio.Data> = ws.writable
  await ws.readable.pipeTo(ws.writable)
  await pipeline(
    Readable.fromWeb(ws.readable, { objectMode: true }),
    Writable.fromWeb(ws.writable, { objectMode: true }),
  )
  // @ts-expect-error messages are strings or ArrayBuffers
  const wrong: ReadableStream<Uint8Array> = ws.readable
  void [w, messages, out, wrong]
}

void streams
