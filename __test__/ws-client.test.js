'use strict'
// Tests for abio's WebSocket support (design.md section 8): connectWebSocket against a `ws`
// server, argument checks and resources.
// Peers, frames and checks (and ABIO_WS_IMPL=reference): helpers/ws.js.

const fs = require('fs')
const net = require('net')
const http = require('http')
const crypto = require('crypto')

const { ab } = require('./helpers/inputs')
const { copyOf } = require('./helpers/bytes')
const { track } = require('./helpers/cleanup')
const { tag } = require('./helpers/throws')
const { abio, KiB, MiB, HOST, sha256, sleep, waitFor, expectInvalidArg, Inbox, closeWsPeers } = require('./helpers/ws')
const { recordingServer, wsConnect, wsServer, abioConnect, nextMessages, expectStillServing } = require('./helpers/ws')
const { frame, dataKinds, expectAbioMessage, expectWsMessage } = require('./helpers/ws')

jest.setTimeout(20000)

afterEach(closeWsPeers)

// ---------------------------------------------------------------------------
// 9. Arguments

describe('arguments', () => {
  it('bad websocket options throw ABIO_ERR_INVALID_ARG synchronously', () => {
    const bad = [
      ['websocket: 5', 5],
      ['path without /', { path: 'ws' }],
      ['path a number', { path: 5 }],
      ['maxPayload -1', { maxPayload: -1 }],
      ['maxPayload a string', { maxPayload: '1000' }],
      ['maxPayload 1.5', { maxPayload: 1.5 }],
      ['backpressureLimit -1', { backpressureLimit: -1 }],
      ['pingInterval -1', { pingInterval: -1 }],
      ['pingInterval NaN', { pingInterval: NaN }],
      ['open not a function', { open: 'x' }],
      ['message not a function', { message: {} }],
      ['close not a function', { close: 1 }],
    ]
    for (const [what, websocket] of bad) expectInvalidArg(() => abio.serve({ host: HOST, port: 0, websocket }), what)
  })

  it('bad send() and close() arguments throw ABIO_ERR_INVALID_ARG synchronously', async () => {
    const srv = await recordingServer()
    await wsConnect(srv.url)
    const [{ ws }] = await srv.opened.until(1, 'opens')
    for (const [what, v] of [
      ['a number', 5],
      ['undefined', undefined],
      ['null', null],
      ['an object', {}],
      ['an array', [1, 2]],
    ])
      expectInvalidArg(() => ws.send(v), `send(${what})`)
    for (const [what, args] of [
      ['code 999', [999]],
      ['code 1005', [1005]],
      ['code 1006', [1006]],
      ['code 5000', [5000]],
      ['code a string', ['1000']],
      ['a reason of 124 bytes', [1000, 'x'.repeat(124)]],
      ['a reason that is a number', [1000, 5]],
    ])
      expectInvalidArg(() => ws.close(...args), `close(${what})`)
    await expectStillServing(srv.url)
  })

  it('bad connectWebSocket arguments throw ABIO_ERR_INVALID_ARG synchronously', () => {
    for (const [what, args] of [
      ['no url', []],
      ['a number', [5]],
      ['http://', ['http://127.0.0.1:1/']],
      ['wss:// with a ca that is a number', ['wss://127.0.0.1:1/', { ca: 5 }]],
      ['wss:// with a ca that is not PEM', ['wss://127.0.0.1:1/', { ca: 'not pem' }]],
      ['not a URL', ['ws//x']],
      ['maxPayload -1', ['ws://127.0.0.1:1/', { maxPayload: -1 }]],
      ['headers a string', ['ws://127.0.0.1:1/', { headers: 'x: y' }]],
      ['signal not an AbortSignal', ['ws://127.0.0.1:1/', { signal: {} }]],
    ])
      expectInvalidArg(() => abio.connectWebSocket(...args), what)
  })
})

// ---------------------------------------------------------------------------
// 10. abio's client against a ws server

describe('connectWebSocket against a ws server', () => {
  it('a burst of 8 MiB in 1 KiB messages (many reads per wake-up) arrives whole, the last one included', async () => {
    const wss = await wsServer()
    const c = await abioConnect(wss.url)
    const [{ ws }] = await wss.conns.until(1, 'connections')
    const N = 8 * 1024
    for (let i = 0; i < N; i++) {
      // ws holds what it queues: a buffer per message.
      const m = Buffer.alloc(KiB)
      m.writeUInt32LE(i)
      ws.send(m)
    }
    ws.send('end')
    let n = 0
    for await (const got of c) {
      if (typeof got === 'string') {
        expect(got).toBe('end')
        break
      }
      expect(new DataView(got).getUint32(0, true)).toBe(n++)
    }
    expect(n).toBe(N)
  })

  it('sends every Data kind and receives each back exact, by async iteration', async () => {
    const wss = await wsServer({ echo: true })
    const c = await abioConnect(wss.url)
    const kinds = dataKinds()
    const wants = kinds.map(([, v]) => (typeof v === 'string' ? v : copyOf(v)))
    for (const [, v] of kinds) expect(c.send(v)).toBe(true)
    const got = await nextMessages(c, kinds.length)
    kinds.forEach(([name], i) => expectAbioMessage(name, got[i], wants[i]))
    const [{ ws }] = wss.conns.items
    const seen = await ws.inbox.until(kinds.length)
    kinds.forEach(([name], i) => expectWsMessage(name, seen[i], wants[i]))
  })

  it('16 MiB both ways (sha256)', async () => {
    const down = crypto.randomBytes(16 * MiB)
    const wss = await wsServer()
    const c = await abioConnect(wss.url)
    const [{ ws }] = await wss.conns.until(1, 'connections')
    const up = ab(16 * MiB)
    c.send(up)
    ws.send(down)
    const [m] = await nextMessages(c, 1, '16 MiB', 15000)
    expect(tag(m)).toBe('[object ArrayBuffer]')
    expect(m.byteLength).toBe(16 * MiB)
    expect(sha256(m)).toBe(sha256(down))
    const [got] = await ws.inbox.until(1, '16 MiB at the ws server', 15000)
    expect(sha256(got.data)).toBe(sha256(up))
  })

  it('fragmented messages and pings from the ws server; pongs from abio carry the payload', async () => {
    const wss = await wsServer()
    const c = await abioConnect(wss.url)
    const [{ ws }] = await wss.conns.until(1, 'connections')
    const pongs = new Inbox()
    ws.on('pong', (d) => pongs.push(d))
    const parts = [ab(10), ab(70000), ab(0), ab(5)].map((x) => Buffer.from(x))
    parts.forEach((p, i) => {
      ws.send(p, { binary: true, fin: i === parts.length - 1 })
      ws.ping(`p${i}`)
    })
    const text = Buffer.from('é\u{1F600}')
    ws.send(text.subarray(0, 1), { binary: false, fin: false })
    ws.send(text.subarray(1, 4), { binary: false, fin: false })
    ws.send(text.subarray(4), { binary: false, fin: true })
    const [bin, str] = await nextMessages(c, 2)
    expectAbioMessage('binary in 4 fragments', bin, Buffer.concat(parts))
    expectAbioMessage('text in 3 fragments', str, 'é\u{1F600}')
    const got = await pongs.until(4, 'pongs')
    expect(got.map(String)).toEqual(['p0', 'p1', 'p2', 'p3'])
  })

  it('async iteration ends when the server closes; closed gives its code and reason', async () => {
    const wss = await wsServer()
    const c = await abioConnect(wss.url)
    const [{ ws }] = await wss.conns.until(1, 'connections')
    ws.send('a')
    ws.send(Buffer.from([1, 2, 3]))
    ws.send('c')
    ws.close(4003, 'done')
    const got = []
    const iterated = (async () => {
      for await (const m of c) got.push(m)
    })()
    await waitFor(iterated, 'the iteration to end')
    expect(got.length).toBe(3)
    expectAbioMessage('1', got[0], 'a')
    expectAbioMessage('2', got[1], Buffer.from([1, 2, 3]))
    expectAbioMessage('3', got[2], 'c')
    expect(await waitFor(c.closed, 'closed')).toEqual({ code: 4003, reason: 'done' })
    expect(await ws.closedP).toEqual({ code: 4003, reason: 'done' })
  })

  it("close(4004, 'bye') reaches the ws server; closed settles with it", async () => {
    const wss = await wsServer()
    const c = await abioConnect(wss.url)
    const [{ ws }] = await wss.conns.until(1, 'connections')
    c.close(4004, 'bye')
    expect(await waitFor(ws.closedP, 'the ws server side to close')).toEqual({ code: 4004, reason: 'bye' })
    expect(await waitFor(c.closed, 'closed')).toEqual({ code: 4004, reason: 'bye' })
    expect(() => c.close()).not.toThrow() // idempotent
  })

  it('a server that vanishes (no close frame): closed gives 1006 and the iteration ends', async () => {
    const wss = await wsServer()
    const c = await abioConnect(wss.url)
    const [{ ws }] = await wss.conns.until(1, 'connections')
    ws.terminate()
    expect((await waitFor(c.closed, 'closed')).code).toBe(1006)
    const r = await waitFor(c[Symbol.asyncIterator]().next(), 'the iteration to end')
    expect(r.done).toBe(true)
  })

  it('the headers option, the path and the query reach the server in the upgrade request', async () => {
    const wss = await wsServer()
    await abioConnect(`${wss.url}/p/q?a=1&b=%20`, { headers: { 'X-Token': 'abc', 'x-empty': '' } })
    const [{ req }] = await wss.conns.until(1, 'connections')
    expect(req.url).toBe('/p/q?a=1&b=%20')
    expect(req.headers['x-token']).toBe('abc')
    expect(req.headers['x-empty']).toBe('')
    expect(req.headers['sec-websocket-version']).toBe('13')
    expect(req.headers.host).toBe(`${HOST}:${wss.port}`)
  })

  it('headers as a Headers or as pairs reach the server; a repeated name as several lines', async () => {
    const wss = await wsServer()
    const h = new Headers({ 'x-token': 'abc' })
    h.append('cookie', 'a=1')
    await abioConnect(`${wss.url}/h`, { headers: h })
    await abioConnect(`${wss.url}/p`, {
      headers: [
        ['x-many', '1'],
        ['x-many', '2'],
      ],
    })
    const conns = await wss.conns.until(2, 'connections')
    const byUrl = Object.fromEntries(conns.map(({ req }) => [req.url, req]))
    expect([byUrl['/h'].headers['x-token'], byUrl['/h'].headers.cookie]).toEqual(['abc', 'a=1'])
    const raw = byUrl['/p'].rawHeaders
    expect(raw.filter((_, i) => i % 2 === 0 && raw[i].toLowerCase() === 'x-many').length).toBe(2)
    expect(byUrl['/p'].headers['x-many']).toBe('1, 2')
  })

  it('a signal aborts a connect the server never answers: AbortError ABORT_ERR; an aborted signal rejects', async () => {
    const silent = net.createServer((s) => track('node-socket', s))
    track('node-server', silent)
    await new Promise((resolve) => silent.listen(0, HOST, resolve))
    const url = `ws://${HOST}:${silent.address().port}/`
    const ac = new AbortController()
    const p = abio.connectWebSocket(url, { signal: ac.signal })
    setTimeout(() => ac.abort(), 50)
    const err = await waitFor(
      p.then(
        (ws) => (ws.close(), 'connected'),
        (e) => e,
      ),
      'the abort',
    )
    expect(err).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' })
    const before = await abio.connectWebSocket(url, { signal: AbortSignal.abort() }).then(
      (ws) => (ws.close(), 'connected'),
      (e) => e,
    )
    expect(before).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' })
  })

  it('a refused connection rejects with ECONNREFUSED', async () => {
    const s = net.createServer()
    await new Promise((resolve) => s.listen(0, HOST, resolve))
    const port = s.address().port
    await new Promise((resolve) => s.close(resolve))
    const err = await abio.connectWebSocket(`ws://${HOST}:${port}/`).then(
      (ws) => (ws.close(), 'connected'),
      (e) => e,
    )
    expect(err).toMatchObject({ code: 'ECONNREFUSED' })
  })

  it('a non-101 answer, or a 101 with the wrong accept key, rejects with ABIO_ERR_WS_HANDSHAKE', async () => {
    const h = http.createServer((req, res) => {
      res.writeHead(403, { 'content-length': 2 })
      res.end('no')
    })
    track('node-server', h)
    h.on('connection', (s) => track('node-socket', s))
    await new Promise((resolve) => h.listen(0, HOST, resolve))
    const err = await abio.connectWebSocket(`ws://${HOST}:${h.address().port}/`).then(
      (ws) => (ws.close(), 'connected'),
      (e) => e,
    )
    expect(err).toMatchObject({ code: 'ABIO_ERR_WS_HANDSHAKE' })

    const liar = net.createServer((s) => {
      track('node-socket', s)
      s.once('data', () =>
        s.write(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            'Sec-WebSocket-Accept: d3Jvbmcga2V5IGF0IGFsbCEhIQ==\r\n\r\n',
        ),
      )
    })
    track('node-server', liar)
    await new Promise((resolve) => liar.listen(0, HOST, resolve))
    const err2 = await abio.connectWebSocket(`ws://${HOST}:${liar.address().port}/`).then(
      (ws) => (ws.close(), 'connected'),
      (e) => e,
    )
    expect(err2).toMatchObject({ code: 'ABIO_ERR_WS_HANDSHAKE' })
  })

  it("abio's client talks to abio's server", async () => {
    const srv = await recordingServer()
    const c = await abioConnect(srv.url)
    const payload = ab(10000)
    const want = copyOf(payload)
    c.send(payload)
    c.send('ok ✓')
    const [bin, str] = await nextMessages(c, 2)
    expectAbioMessage('binary echo', bin, want)
    expectAbioMessage('text echo', str, 'ok ✓')
    c.close(1000, 'end')
    const [cl] = await srv.closes.until(1, 'close callbacks')
    expect([cl.code, cl.reason]).toEqual([1000, 'end'])
  })
})

// ---------------------------------------------------------------------------
// 7. Resources

describe('resources', () => {
  /** The socket inodes of this process's open descriptors. */
  function ourSockets() {
    const inodes = new Set()
    for (const fd of fs.readdirSync('/proc/self/fd')) {
      let target = ''
      try {
        target = fs.readlinkSync(`/proc/self/fd/${fd}`)
      } catch {} // the directory's own descriptor, gone by now
      const m = /^socket:\[(\d+)\]$/.exec(target)
      if (m) inodes.add(m[1])
    }
    return inodes
  }
  /** The inodes of the connected sockets with `port` at either end (/proc/net/tcp*). */
  function connectedOn(port) {
    const hex = ':' + port.toString(16).toUpperCase().padStart(4, '0')
    const inodes = new Set()
    for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
      if (!fs.existsSync(table)) continue
      for (const line of fs.readFileSync(table, 'utf8').split('\n').slice(1)) {
        const cols = line.trim().split(/\s+/)
        const listening = cols[3] === '0A'
        if (cols.length > 9 && !listening && (cols[1].endsWith(hex) || cols[2].endsWith(hex))) inodes.add(cols[9])
      }
    }
    return inodes
  }
  const linuxIt = fs.existsSync('/proc/net/tcp') ? it : it.skip

  linuxIt(
    'a closed WebSocket lets go of its socket at once, on both sides, while JS still holds the objects',
    async () => {
      const srv = await recordingServer()
      const first = await abioConnect(srv.url)
      first.close(1000)
      await first.closed
      await srv.closes.until(1, 'the first close')
      const kept = [] // held on purpose: no garbage collection may be what frees them
      const used = new Set() // both ends of each connection, seen while it was open
      for (let i = 0; i < 20; i++) {
        const c = await abioConnect(srv.url)
        c.send('hi')
        await nextMessages(c, 1)
        for (const inode of connectedOn(srv.port)) if (ourSockets().has(inode)) used.add(inode)
        c.close(1000)
        await c.closed
        kept.push(c)
      }
      await srv.closes.until(21, 'close callbacks')
      const stillOpen = () => [...ourSockets()].filter((inode) => used.has(inode)).length
      let open = stillOpen()
      for (let i = 0; i < 100 && open > 0; i++) {
        await sleep(20)
        open = stillOpen()
      }
      expect({ used: used.size, open, kept: kept.length }).toEqual({ used: 40, open: 0, kept: 20 })
      expect(srv.closes.items.map((c) => c.ws).every((ws) => ws.send('late') === false)).toBe(true)
    },
  )
})
