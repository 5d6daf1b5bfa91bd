'use strict'
// Tests for abio's WebSocket additions (design.md section 13, types/ws.d.ts) past the upgrade:
// topics (subscribe, server.publish, ws.publish, subscriberCount; call order with send and
// broadcast; a subscriber that never reads), the connection object (readyState, remoteAddress,
// protocol, ping/pong, terminate, a client's browser-style events and binaryType, send options)
// and the flush of what a handler queued before the closing frame. Against the `ws` package and
// raw `net` peers; every message byte for byte.
// Peers, frames and checks: helpers/ws.js. The upgrade hook and subprotocols: ws-upgrade.test.js.

const path = require('path')
const cp = require('child_process')
const crypto = require('crypto')

const { ab, poolSlice } = require('./helpers/inputs')
const { copyOf, expectBytes } = require('./helpers/bytes')
const { track } = require('./helpers/cleanup')
const { tag } = require('./helpers/throws')
const { abio, KiB, MiB, sleep, waitFor, expectInvalidArg, Inbox } = require('./helpers/ws')
const { trackedAbio, wsConnect, wsServer, nextMessages, expectStillServing } = require('./helpers/ws')
const { frame, TEXT, BINARY, CLOSE, PONG, closePayload, rawUpgrade } = require('./helpers/ws')
const { dataKinds, expectAbioMessage, expectWsMessage } = require('./helpers/ws')

jest.setTimeout(30000)

// abio WebSockets of both sides seen by a test: after the peers are closed, each one's
// `closed` must settle.
const tracked = trackedAbio()
const { server, connect } = tracked
afterEach(() => tracked.settle())

/** The server side of the `i`th connection (0-based), once open. */
async function nth(srv, i) {
  return (await srv.opened.until(i + 1, 'opens'))[i].ws
}

/** An event's class name (Node's MessageEvent has no tag of its own). */
const kind = (x) => x.constructor.name

// ---------------------------------------------------------------------------
// 3. Topics

describe('topics', () => {
  it('subscribe, unsubscribe, isSubscribed and subscriptions on a server connection', async () => {
    const srv = await server()
    await wsConnect(srv.url)
    const ws = await nth(srv, 0)
    expect([ws.subscriptions, ws.isSubscribed('a')]).toEqual([[], false])
    ws.subscribe('a')
    ws.subscribe('b')
    ws.subscribe('a') // twice: once
    ws.subscribe('') // the empty topic is a topic
    ws.subscribe('ünï ✓')
    expect(ws.subscriptions.sort()).toEqual(['', 'a', 'b', 'ünï ✓'].sort())
    expect(['a', 'b', '', 'ünï ✓', 'c'].map((t) => ws.isSubscribed(t))).toEqual([true, true, true, true, false])
    expect(srv.server.subscriberCount('a')).toBe(1)
    ws.unsubscribe('a')
    ws.unsubscribe('never') // not subscribed: nothing happens
    expect(ws.subscriptions.sort()).toEqual(['', 'b', 'ünï ✓'].sort())
    expect([ws.isSubscribed('a'), srv.server.subscriberCount('a'), srv.server.subscriberCount('b')]).toEqual([
      false,
      0,
      1,
    ])
  })

  it('server.publish reaches only the subscribers, each kind of Data byte-exact, and returns how many', async () => {
    const srv = await server()
    const [a, b, c] = [await wsConnect(srv.url), await wsConnect(srv.url), await wsConnect(srv.url)]
    const [sa, sb] = [await nth(srv, 0), await nth(srv, 1)]
    sa.subscribe('t1')
    sb.subscribe('t1')
    sb.subscribe('t2')
    const kinds = dataKinds()
    const wants = kinds.map(([, v]) => (typeof v === 'string' ? v : copyOf(v)))
    const counts = kinds.map(([, v]) => srv.server.publish('t1', v))
    expect(counts).toEqual(kinds.map(() => 2))
    expect(srv.server.publish('t2', 'only b')).toBe(1)
    expect(srv.server.publish('nobody', 'lost')).toBe(0)
    expect(srv.server.broadcast('end')).toBe(3) // in order after the publishes: the end marker
    const ga = await a.inbox.until(kinds.length + 1)
    const gb = await b.inbox.until(kinds.length + 2)
    const gc = await c.inbox.until(1)
    kinds.forEach(([name], i) => expectWsMessage(`a: ${name}`, ga[i], wants[i]))
    kinds.forEach(([name], i) => expectWsMessage(`b: ${name}`, gb[i], wants[i]))
    expectWsMessage('a: end', ga[kinds.length], 'end')
    expectWsMessage('b: only b', gb[kinds.length], 'only b')
    expectWsMessage('b: end', gb[kinds.length + 1], 'end')
    expectWsMessage('c: end', gc[0], 'end')
    await sleep(50)
    expect([a, b, c].map((x) => x.inbox.items.length)).toEqual([kinds.length + 1, kinds.length + 2, 1])
  })

  it('ws.publish reaches every subscriber but the sender (subscribed or not), and returns how many', async () => {
    const srv = await server({
      echo: false,
      message(ws, data) {
        const [op, topic, text] = data.split(':')
        if (op === 'sub') ws.subscribe(topic)
        else if (op === 'pub') ws.send(`count ${ws.publish(topic, text)}`)
        else if (op === 'pubbin') ws.send(`count ${ws.publish(topic, Buffer.from(text))}`)
        srv.server.broadcast(`done ${data}`)
      },
    })
    const cs = [await wsConnect(srv.url), await wsConnect(srv.url), await wsConnect(srv.url), await wsConnect(srv.url)]
    for (const c of cs.slice(0, 3)) c.send('sub:room')
    for (const c of cs) await c.inbox.until(3, 'the subscriptions')
    expect(srv.server.subscriberCount('room')).toBe(3)
    cs[0].send('pub:room:from a') // subscribed itself
    await cs[3].inbox.until(4)
    cs[3].send('pubbin:room:from d') // not subscribed
    const got = await Promise.all(cs.map((c, k) => c.inbox.until(k === 3 ? 6 : 7)))
    const texts = got.map((g) => g.slice(3).map((m) => (m.isBinary ? `bin ${m.data}` : m.data.toString())))
    const fromD = ['bin from d', 'done pubbin:room:from d']
    expect(texts).toEqual([
      ['count 2', 'done pub:room:from a', ...fromD],
      ['from a', 'done pub:room:from a', ...fromD],
      ['from a', 'done pub:room:from a', ...fromD],
      ['done pub:room:from a', 'count 3', 'done pubbin:room:from d'],
    ])
    await sleep(50)
    expect(cs.map((c) => c.inbox.items.length)).toEqual([7, 7, 7, 6])
  })

  it('a closed connection leaves its topics: subscriberCount drops (close, a vanished peer, terminate)', async () => {
    const seen = []
    const srv = await server({
      open(ws) {
        ws.subscribe('t')
        ws.subscribe(`own ${srv.opened.items.length}`)
      },
      close(ws, code) {
        seen.push({ code, during: srv.server.subscriberCount('t'), mine: ws.subscriptions, sub: ws.isSubscribed('t') })
        srv.closes.push({ ws, code })
      },
    })
    const a = await wsConnect(srv.url)
    const b = await wsConnect(srv.url)
    const { sock } = await rawUpgrade(srv.port)
    const sb = await nth(srv, 1)
    await nth(srv, 2)
    expect([srv.server.subscriberCount('t'), srv.server.subscriberCount('own 1')]).toEqual([3, 1])
    a.close(1000)
    await srv.closes.until(1, 'close callbacks')
    expect([srv.server.subscriberCount('t'), srv.server.subscriberCount('own 0')]).toEqual([2, 0])
    sock.destroy()
    await srv.closes.until(2, 'close callbacks')
    expect(srv.server.subscriberCount('t')).toBe(1)
    sb.terminate()
    expect(seen.length).toBe(3) // terminate reports the close before it returns
    expect(srv.server.subscriberCount('t')).toBe(0)
    expect(seen.map((c) => c.during)).toEqual([2, 1, 0])
    expect(seen.map((c) => [c.mine, c.sub])).toEqual([
      [[], false],
      [[], false],
      [[], false],
    ])
    expect(seen.map((c) => c.code)).toEqual([1000, 1006, 1006])
    expect(srv.server.publish('t', 'nobody')).toBe(0)
    expect((await waitFor(b.closedP, 'the terminated ws client')).code).toBe(1006)
  })

  it('a subscribe from the close handler (the connection is gone) adds nothing', async () => {
    const seen = []
    const srv = await server({
      open(ws) {
        ws.subscribe('t')
      },
      close(ws, code) {
        ws.subscribe('t')
        ws.subscribe('late')
        seen.push({
          t: srv.server.subscriberCount('t'),
          late: srv.server.subscriberCount('late'),
          mine: ws.subscriptions,
        })
        srv.closes.push({ ws, code })
      },
    })
    const c = await wsConnect(srv.url)
    await nth(srv, 0)
    c.close(1000)
    await srv.closes.until(1, 'close callbacks')
    expect(seen).toEqual([{ t: 0, late: 0, mine: [] }])
    expect([srv.server.subscriberCount('t'), srv.server.subscriberCount('late')]).toEqual([0, 0])
    expect(srv.server.publish('late', 'x')).toBe(0)
  })

  /**
   * `n` mixed calls on connections A, B, C (A and B subscribed to 't', B and C to 'u'): A.send,
   * server.publish('t'), server.broadcast, B.publish('u'), C.send, A.publish('t'), B.send; message
   * i carries i (text, a view at an offset, or over 16 KiB: held). After call i, waits for what
   * `between(i)` returns, if anything (nothing: the next call is in the same turn). Returns what
   * each client must get, in order.
   */
  async function runMixed(server, [sa, sb, sc], n, between) {
    const want = [[], [], []]
    const message = (i) => {
      if (i % 97 === 0) {
        const b = Buffer.alloc(20 * KiB, i & 255)
        b.writeUInt32BE(i)
        return b
      }
      if (i % 2 === 0) return `#${i} ✓`
      const b = new Uint8Array(ab(12), 3, 8)
      new DataView(b.buffer, b.byteOffset).setUint32(0, i)
      return b
    }
    const ops = [
      (m) => (sa.send(m), [0]),
      (m) => [server.publish('t', m), [0, 1]],
      (m) => [server.broadcast(m), [0, 1, 2]],
      (m) => [sb.publish('u', m), [2]],
      (m) => (sc.send(m), [2]),
      (m) => [sa.publish('t', m), [1]],
      (m) => (sb.send(m), [1]),
    ]
    const wrongCounts = []
    for (let i = 0; i < n; i++) {
      const m = message(i)
      const copy = typeof m === 'string' ? m : copyOf(m)
      const r = ops[(i * 5 + (i >> 3)) % ops.length](m)
      const to = Array.isArray(r[1]) ? r[1] : r
      if (Array.isArray(r[1]) && r[0] !== to.length) wrongCounts.push({ i, count: r[0], want: to.length })
      for (const k of to) want[k].push(copy)
      const w = between(i)
      if (w) await w
    }
    expect(wrongCounts).toEqual([])
    return want
  }

  async function orderSetup() {
    const srv = await server({ backpressureLimit: 64 * MiB, echo: false })
    const clients = [await wsConnect(srv.url), await wsConnect(srv.url), await wsConnect(srv.url)]
    const conns = [await nth(srv, 0), await nth(srv, 1), await nth(srv, 2)]
    conns[0].subscribe('t')
    conns[1].subscribe('t')
    conns[1].subscribe('u')
    conns[2].subscribe('u')
    return { srv, clients, conns }
  }

  async function expectOrder(clients, want) {
    for (let k = 0; k < 3; k++) {
      const got = await clients[k].inbox.until(want[k].length, `client ${k}'s messages`)
      want[k].forEach((w, j) => expectWsMessage(`client ${k}, message ${j}`, got[j], w))
    }
    await sleep(50)
    expect(clients.map((c) => c.inbox.items.length)).toEqual(want.map((w) => w.length))
  }

  it('per-connection order is call order across send, server.publish, broadcast and ws.publish: 1000 calls in one turn', async () => {
    const { srv, clients, conns } = await orderSetup()
    const want = await runMixed(srv.server, conns, 1000, () => undefined)
    await expectOrder(clients, want)
  })

  it('... and across turns (microtasks, setImmediate, timers between the calls)', async () => {
    const { srv, clients, conns } = await orderSetup()
    let seed = 7
    const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648
    const want = await runMixed(srv.server, conns, 1000, () => {
      const r = random()
      if (r < 0.6) return undefined
      if (r < 0.75) return Promise.resolve()
      if (r < 0.95) return new Promise((resolve) => setImmediate(resolve))
      return sleep(0)
    })
    await expectOrder(clients, want)
  })

  it('a client connection: subscribe, unsubscribe and publish throw ERR_INVALID_STATE', async () => {
    const srv = await server()
    const c = await connect(srv.url)
    for (const [what, f] of [
      ['subscribe', () => c.subscribe('t')],
      ['unsubscribe', () => c.unsubscribe('t')],
      ['publish', () => c.publish('t', 'x')],
    ]) {
      let err
      try {
        f()
      } catch (e) {
        err = e
      }
      expect({ what, tag: err && tag(err), code: err && err.code }).toEqual({
        what,
        tag: '[object Error]',
        code: 'ERR_INVALID_STATE',
      })
    }
    expect(c.isSubscribed('t')).toBe(false)
    c.send('still fine')
    expect(await nextMessages(c, 1)).toEqual(['still fine'])
  })

  it('a topic that is not a string, or data that is not Data, throws ABIO_ERR_INVALID_ARG', async () => {
    const srv = await server()
    await wsConnect(srv.url)
    const ws = await nth(srv, 0)
    for (const [what, t] of [
      ['a number', 5],
      ['undefined', undefined],
      ['null', null],
      ['an object', {}],
      ['a Buffer', Buffer.from('t')],
      ['a String object', new String('t')],
    ]) {
      expectInvalidArg(() => ws.subscribe(t), `subscribe(${what})`)
      expectInvalidArg(() => ws.unsubscribe(t), `unsubscribe(${what})`)
      expectInvalidArg(() => ws.isSubscribed(t), `isSubscribed(${what})`)
      expectInvalidArg(() => ws.publish(t, 'x'), `ws.publish(${what})`)
      expectInvalidArg(() => srv.server.publish(t, 'x'), `server.publish(${what})`)
      expectInvalidArg(() => srv.server.subscriberCount(t), `subscriberCount(${what})`)
    }
    ws.subscribe('t')
    for (const [what, d] of [
      ['a number', 5],
      ['undefined', undefined],
      ['an object', {}],
    ]) {
      expectInvalidArg(() => ws.publish('t', d), `ws.publish('t', ${what})`)
      expectInvalidArg(() => srv.server.publish('t', d), `server.publish('t', ${what})`)
    }
    expect(ws.subscriptions).toEqual(['t'])
    await expectStillServing(srv.url)
  })

  it('subscribers that never read do not hold the others back; what waits for them stays bounded', async () => {
    const LIMIT = 64 * KiB
    const N = 20000
    const FRAME = 1024 + 4 // a 1 KiB text message and its header
    const good = []
    const slow = []
    const srv = await server({
      backpressureLimit: LIMIT,
      echo: false,
      open(ws, req) {
        ws.subscribe('t')
        ;(req.path === '/slow' ? slow : good).push(ws)
      },
    })
    // The readers, in their own process (what they receive is not this one's memory): each
    // checks every message and reports when it has all N.
    const child = track(
      'child',
      cp.spawn(
        process.execPath,
        ['-e', READERS, path.dirname(require.resolve('ws/package.json')), srv.url + 'good', '3', String(N)],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      ),
    )
    const opens = new Inbox()
    const reports = new Inbox() // { results } at the end, or { error }
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
      for (let i; (i = out.indexOf('\n')) >= 0; out = out.slice(i + 1)) {
        const line = JSON.parse(out.slice(0, i))
        ;('open' in line ? opens : reports).push(line)
      }
    })
    const exited = new Promise((resolve) => child.once('exit', resolve))
    // Two that never read: a ws client whose socket is paused, and a raw one.
    const paused = await wsConnect(srv.url + 'slow')
    paused._socket.pause()
    const { sock } = await rawUpgrade(srv.port, '/slow')
    sock.pause()
    await srv.opened.until(5, 'opens')
    await opens.until(3, 'the readers to open')
    expect([good.length, slow.length]).toEqual([3, 2])

    // Made beforehand, so that publishing makes next to no garbage: what the process grows by is
    // what abio holds.
    const messages = Array.from({ length: N }, (_, i) => {
      const b = Buffer.alloc(1024, '.')
      b.write(String(i))
      return b.toString('latin1') // flat: the binding reads it as it is
    })
    const mem0 = process.memoryUsage()
    const counts = []
    const underAtCall = [] // how many slow ones were within the limit just before each publish
    let maxSlow = 0
    for (let i = 0; i < N;) {
      for (let j = 0; j < 32 && i < N; j++, i++) {
        underAtCall.push(slow.filter((ws) => ws.bufferedAmount <= LIMIT).length)
        counts.push(srv.server.publish('t', messages[i]))
      }
      maxSlow = Math.max(maxSlow, ...slow.map((ws) => ws.bufferedAmount))
      // The turn ends (the publishes leave), and the good ones are kept under the limit; the slow
      // ones are not waited for.
      await new Promise((resolve) => setImmediate(resolve))
      await Promise.all(good.map((ws) => ws.drained()))
    }
    const [results] = await reports.until(1, 'the readers to get every message', 60000)
    const mem1 = process.memoryUsage()
    // What the process grew by outside V8's heap: what abio holds, mostly.
    const growth = mem1.rss - mem0.rss - Math.max(0, mem1.heapTotal - mem0.heapTotal)
    expect(results).toEqual({ results: [0, 1, 2].map(() => ({ got: N, bad: null })) })
    await waitFor(exited, 'the readers to exit')

    expect(counts[0]).toBe(5)
    // A slow one within its limit is never skipped; one over it is skipped (counted out) from then
    // on: at the end both are, for good.
    expect(counts.filter((c, i) => c < 3 + underAtCall[i] || c > 5)).toEqual([])
    expect(counts.slice(-1000).filter((c) => c !== 3)).toEqual([])
    expect(underAtCall.slice(-1000).filter((u) => u !== 0)).toEqual([])
    // What waits for a slow one: its limit and one message, at most.
    expect(maxSlow).toBeGreaterThan(LIMIT)
    expect(maxSlow).toBeLessThanOrEqual(LIMIT + FRAME)
    for (const ws of slow) expect(ws.bufferedAmount).toBeLessThanOrEqual(LIMIT + FRAME)
    // Queuing everything for the two would have cost 2 x N x FRAME (~41 MB).
    const all = 2 * N * FRAME
    expect({ growth, under: growth < all / 4 }).toEqual({ growth, under: true })
  })
})

// ---------------------------------------------------------------------------
// 4. The connection object

/** Resolves once `pred()` is true; an Error naming `what` after `ms`. */
async function until(pred, what, ms = 15000) {
  const end = Date.now() + ms
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(5)
  }
}

describe('the connection object', () => {
  it('the readyState constants are on the class and on instances (server and client)', async () => {
    const want = { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 }
    const pick = (x) => ({ CONNECTING: x.CONNECTING, OPEN: x.OPEN, CLOSING: x.CLOSING, CLOSED: x.CLOSED })
    expect(pick(abio.WebSocket)).toEqual(want)
    const srv = await server()
    const c = await connect(srv.url)
    const sws = await nth(srv, 0)
    expect(pick(c)).toEqual(want)
    expect(pick(sws)).toEqual(want)
    expect([c instanceof abio.WebSocket, sws instanceof abio.WebSocket]).toEqual([true, true])
  })

  it('server side: readyState 1 while open, 2 right after close(), 3 in the close handler and once closed settles', async () => {
    const states = []
    const srv = await server({
      open(ws) {
        states.push(['open', ws.readyState])
      },
      message(ws, data) {
        if (data !== 'close me') return
        states.push(['before close()', ws.readyState])
        ws.close(4000, 'asked')
        states.push(['after close()', ws.readyState])
      },
      close(ws, code) {
        states.push(['close handler', ws.readyState, code])
        srv.closes.push({ ws, code })
      },
    })
    const c = await wsConnect(srv.url)
    const sws = await nth(srv, 0)
    c.send('close me')
    expect(await waitFor(c.closedP, 'the ws client to close')).toEqual({ code: 4000, reason: 'asked' })
    expect(await waitFor(sws.closed, 'closed')).toEqual({ code: 4000, reason: 'asked' })
    expect(sws.readyState).toBe(3)
    expect(states).toEqual([
      ['open', 1],
      ['before close()', 1],
      ['after close()', 2],
      ['close handler', 3, 4000],
    ])
  })

  it('client side: readyState 1, 2 after close(), 3 once closed settles; 3 after the server closed', async () => {
    const wss = await wsServer()
    const c = await connect(wss.url)
    expect(c.readyState).toBe(1)
    c.close(1000, 'mine')
    expect(c.readyState).toBe(2)
    c.close() // again: nothing
    expect(c.readyState).toBe(2)
    expect(await waitFor(c.closed, 'closed')).toEqual({ code: 1000, reason: 'mine' })
    expect(c.readyState).toBe(3)
    const d = await connect(wss.url)
    const [, { ws }] = await wss.conns.until(2, 'connections')
    ws.close(4004, 'theirs')
    expect(await waitFor(d.closed, 'closed')).toEqual({ code: 4004, reason: 'theirs' })
    expect(d.readyState).toBe(3)
  })

  it("remoteAddress is '127.0.0.1' on both sides; protocol and extensions are '' without negotiation", async () => {
    const srv = await server()
    const c = await connect(srv.url)
    await wsConnect(srv.url)
    const [s1, s2] = [await nth(srv, 0), await nth(srv, 1)]
    const wss = await wsServer()
    const d = await connect(wss.url)
    for (const [what, ws] of [
      ["abio's client to abio", c],
      ["abio's server side, abio client", s1],
      ["abio's server side, ws client", s2],
      ["abio's client to ws", d],
    ])
      expect({ what, addr: ws.remoteAddress, protocol: ws.protocol, extensions: ws.extensions }).toEqual({
        what,
        addr: '127.0.0.1',
        protocol: '',
        extensions: '',
      })
  })

  it("the server's ping(data) reaches the ws client behind what was sent; its pong reaches the pong handler as an exact ArrayBuffer", async () => {
    const pongs = new Inbox()
    const pongEvents = new Inbox()
    const srv = await server({
      pong(ws, data) {
        pongs.push(data)
      },
    })
    const c = await wsConnect(srv.url)
    const events = new Inbox()
    c.on('message', (d) => events.push(`message ${d}`))
    c.on('ping', (d) => events.push(`ping ${d.toString('hex')}`))
    const sws = await nth(srv, 0)
    sws.addEventListener('pong', (e) => pongEvents.push(e))
    const view = new Uint8Array(ab(200), 50, 125)
    const pings = [
      [undefined, Buffer.alloc(0)],
      ['', Buffer.alloc(0)],
      ['abc ✓', Buffer.from('abc ✓')],
      [view, copyOf(view)],
      [poolSlice('pooled'), Buffer.from('pooled')],
      ['é'.repeat(62) + 'x', Buffer.from('é'.repeat(62) + 'x')], // 125 bytes of UTF-8
    ]
    for (const [i, [data]] of pings.entries()) {
      sws.send(`before ${i}`)
      sws.ping(data)
    }
    const got = await events.until(2 * pings.length, 'messages and pings')
    expect(got).toEqual(pings.flatMap(([, want], i) => [`message before ${i}`, `ping ${want.toString('hex')}`]))
    const answered = await pongs.until(pings.length, 'pongs')
    pings.forEach(([, want], i) => {
      expect({ i, tag: tag(answered[i]) }).toEqual({ i, tag: '[object ArrayBuffer]' })
      expectBytes(answered[i], want)
    })
    const evs = await pongEvents.until(pings.length, 'pong events')
    evs.forEach((e, i) => {
      expect([kind(e), e.type, tag(e.data)]).toEqual(['MessageEvent', 'pong', '[object ArrayBuffer]'])
      expectBytes(e.data, pings[i][1])
    })
  })

  it("an unsolicited pong from the peer reaches the server's pong handler and pong listeners", async () => {
    const pongs = new Inbox()
    const srv = await server({ pong: (ws, data) => pongs.push(data) })
    const { sock } = await rawUpgrade(srv.port)
    const ws = await nth(srv, 0)
    const events = new Inbox()
    ws.addEventListener('pong', (e) => events.push(e.data))
    sock.write(Buffer.concat([frame(PONG, 'unasked'), frame(PONG)]))
    const got = await pongs.until(2, 'pongs')
    expect(got.map((d) => [tag(d), Buffer.from(d).toString()])).toEqual([
      ['[object ArrayBuffer]', 'unasked'],
      ['[object ArrayBuffer]', ''],
    ])
    expect((await events.until(2, 'pong events')).map((d) => Buffer.from(d).toString())).toEqual(['unasked', ''])
  })

  it("the client's ping() against a ws server: the ws server sees it, its pong comes as a pong event", async () => {
    const wss = await wsServer()
    const c = await connect(wss.url)
    const [{ ws }] = await wss.conns.until(1, 'connections')
    const pings = new Inbox()
    ws.on('ping', (d) => pings.push(d))
    const pongs = new Inbox()
    c.addEventListener('pong', (e) => pongs.push(e))
    c.ping('hello')
    c.ping(new Uint8Array([0, 1, 255]))
    c.ping()
    const seen = await pings.until(3, 'pings at the ws server')
    expect(seen.map((d) => d.toString('hex'))).toEqual(['68656c6c6f', '0001ff', ''])
    const got = await pongs.until(3, 'pong events')
    expect(got.map((e) => [e.type, tag(e.data), Buffer.from(e.data).toString('hex')])).toEqual([
      ['pong', '[object ArrayBuffer]', '68656c6c6f'],
      ['pong', '[object ArrayBuffer]', '0001ff'],
      ['pong', '[object ArrayBuffer]', ''],
    ])
  })

  it('ping over 125 bytes throws RangeError ABIO_ERR_INVALID_ARG, a non-Data one TypeError; after close() it is ignored', async () => {
    const srv = await server()
    const c = await connect(srv.url)
    const sws = await nth(srv, 0)
    for (const ws of [c, sws]) {
      for (const [what, data, name] of [
        ['126 bytes', new Uint8Array(126), 'RangeError'],
        ['126 bytes of UTF-8', 'é'.repeat(63), 'RangeError'],
        ['a number', 5, 'TypeError'],
        ['an object', {}, 'TypeError'],
      ]) {
        let err
        try {
          ws.ping(data)
        } catch (e) {
          err = e
        }
        expect({ what, name: err && err.name, code: err && err.code }).toEqual({
          what,
          name,
          code: 'ABIO_ERR_INVALID_ARG',
        })
      }
    }
    c.close()
    expect(() => c.ping('late')).not.toThrow()
    await c.closed
  })

  it('terminate() on the server: no close frame (the peer sees TCP end: 1006); what was queued is dropped; the close handler ran before it returned', async () => {
    const seen = []
    const srv = await server({
      message(ws, data) {
        if (data !== 'terminate') return void ws.send(data)
        ws.send('dropped')
        ws.terminate()
        seen.push({ after: ws.readyState, closes: srv.closes.items.length })
        ws.terminate() // again: nothing
      },
    })
    const { sock, reader } = await rawUpgrade(srv.port)
    sock.write(frame(TEXT, 'terminate'))
    expect(await reader.frame()).toBeNull() // the socket ended with no frame at all
    await waitFor(reader.ended, 'the socket to end')
    const [{ ws }] = srv.opened.items
    expect(seen).toEqual([{ after: 3, closes: 1 }])
    expect(srv.closes.items.map((c) => c.code)).toEqual([1006])
    expect(await waitFor(ws.closed, 'closed')).toEqual({ code: 1006, reason: '' })

    const c = await wsConnect(srv.url)
    c.send('terminate')
    expect((await waitFor(c.closedP, 'the ws client to see the end')).code).toBe(1006)
    expect(c.inbox.items.length).toBe(0)
    await expectStillServing(srv.url)
  })

  it('terminate() on the client: the ws server sees 1006; closed and the close event (wasClean false) come before it returns', async () => {
    const wss = await wsServer()
    const c = await connect(wss.url)
    const [{ ws }] = await wss.conns.until(1, 'connections')
    const events = []
    c.onclose = (e) => events.push({ type: e.type, code: e.code, wasClean: e.wasClean })
    let settled
    c.closed.then((v) => (settled = v))
    c.send('dropped')
    c.terminate()
    expect(events).toEqual([{ type: 'close', code: 1006, wasClean: false }])
    expect(c.readyState).toBe(3)
    await Promise.resolve()
    expect(settled).toEqual({ code: 1006, reason: '' })
    expect((await waitFor(ws.closedP, 'the ws server side to close')).code).toBe(1006)
    expect(ws.inbox.items.length).toBe(0)
  })

  it('a client: onopen and open listeners fire once, in the turn after connectWebSocket resolved', async () => {
    const wss = await wsServer()
    const c = await connect(wss.url)
    const events = []
    c.onopen = (e) => events.push(['onopen', e.type, c.readyState])
    c.addEventListener('open', (e) => events.push(['listener', e.type]))
    expect(events).toEqual([])
    await until(() => events.length === 2, 'the open events')
    await sleep(50)
    expect(events).toEqual([
      ['onopen', 'open', 1],
      ['listener', 'open'],
    ])
  })

  it('a client: onmessage gets MessageEvents (text, exact ArrayBuffer); the async iterator then gets nothing and ends at close', async () => {
    const wss = await wsServer()
    const c = await connect(wss.url)
    const [{ ws }] = await wss.conns.until(1, 'connections')
    const got = new Inbox()
    c.onmessage = (e) => got.push(e)
    const bytes = crypto.randomBytes(70000)
    ws.send('text ✓')
    ws.send(bytes)
    ws.send(Buffer.alloc(0))
    const evs = await got.until(3, 'message events')
    expect(evs.map((e) => [kind(e), e.type, tag(e.data)])).toEqual([
      ['MessageEvent', 'message', '[object String]'],
      ['MessageEvent', 'message', '[object ArrayBuffer]'],
      ['MessageEvent', 'message', '[object ArrayBuffer]'],
    ])
    expect(evs[0].data).toBe('text ✓')
    expectBytes(evs[1].data, bytes)
    expect(evs[2].data.byteLength).toBe(0)
    const next = c[Symbol.asyncIterator]().next()
    let took
    next.then((r) => (took = r))
    ws.send('also to onmessage')
    await got.until(4, 'the fourth event')
    expect(got.items[3].data).toBe('also to onmessage')
    await sleep(100)
    expect(took).toBeUndefined()
    ws.close(1000)
    expect(await waitFor(next, 'the iteration to end')).toEqual({ done: true, value: undefined })
  })

  it('a client: a message the server sends in open reaches onmessage set right after await connectWebSocket', async () => {
    // The browser's pattern, as the typings describe it ("called with each message"): nothing
    // the server sends may slip into the async iterator's queue before the handler could be set.
    const srv = await server({
      open(ws) {
        ws.send('greeting')
      },
    })
    const outcomes = []
    for (let i = 0; i < 30; i++) {
      const c = await connect(srv.url)
      const got = []
      c.onmessage = (e) => got.push(e.data)
      c.send('ping')
      await until(() => got.includes('ping'), 'the echo through onmessage')
      const queued = await Promise.race([c[Symbol.asyncIterator]().next(), sleep(20).then(() => null)])
      outcomes.push(got[0] === 'greeting' ? 'onmessage' : queued && queued.value === 'greeting' ? 'iterator' : 'lost')
      c.close()
      await c.closed
    }
    expect(outcomes.filter((o) => o !== 'onmessage')).toEqual([])
  })

  it('a client whose server closes at once (in open) still gets the open event, then the close event', async () => {
    const srv = await server({
      open(ws) {
        ws.close(4000, 'go away')
      },
    })
    const outcomes = []
    for (let i = 0; i < 20; i++) {
      const c = await connect(srv.url)
      const events = []
      c.onopen = () => events.push('open')
      c.onclose = (e) => events.push(`close ${e.code} ${e.reason} ${e.wasClean}`)
      expect(await waitFor(c.closed, 'closed')).toEqual({ code: 4000, reason: 'go away' })
      await sleep(20)
      outcomes.push(events.join(', '))
    }
    // the close event at least, every time
    expect(outcomes.filter((o) => !o.includes('close 4000 go away true'))).toEqual([])
    // and, as a browser's, after the open event
    expect(outcomes.filter((o) => o !== 'open, close 4000 go away true')).toEqual([])
  })

  it("a client: a 'message' listener alone takes the messages too", async () => {
    const wss = await wsServer()
    const c = await connect(wss.url)
    const [{ ws }] = await wss.conns.until(1, 'connections')
    const got = new Inbox()
    c.addEventListener('message', (e) => got.push(e.data))
    ws.send('one')
    ws.send(Buffer.from([9, 8, 7]))
    const [a, b] = await got.until(2, 'message events')
    expect(a).toBe('one')
    expectBytes(b, Buffer.from([9, 8, 7]))
    const r = await Promise.race([c[Symbol.asyncIterator]().next(), sleep(100).then(() => 'nothing')])
    expect(r).toBe('nothing')
  })

  it("binaryType: 'arraybuffer' (default), 'nodebuffer' (a Buffer), 'blob' (exact bytes); another value throws", async () => {
    const wss = await wsServer()
    const c = await connect(wss.url)
    const [{ ws }] = await wss.conns.until(1, 'connections')
    const got = new Inbox()
    c.onmessage = (e) => got.push(e.data)
    const payloads = [crypto.randomBytes(1000), crypto.randomBytes(20000), crypto.randomBytes(3)]
    expect(c.binaryType).toBe('arraybuffer')
    ws.send(payloads[0])
    const [first] = await got.until(1)
    expect(tag(first)).toBe('[object ArrayBuffer]')
    expectBytes(first, payloads[0])
    c.binaryType = 'nodebuffer'
    expect(c.binaryType).toBe('nodebuffer')
    ws.send(payloads[1])
    const [, second] = await got.until(2)
    expect(Buffer.isBuffer(second)).toBe(true)
    expectBytes(second, payloads[1])
    c.binaryType = 'blob'
    ws.send(payloads[2])
    ws.send('text stays a string')
    const [, , third, text] = await got.until(4)
    expect([tag(third), third.size]).toEqual(['[object Blob]', 3])
    expectBytes(await third.arrayBuffer(), payloads[2])
    expect(text).toBe('text stays a string')
    for (const bad of ['text', 'buffer', 'Blob', '', 5, null, undefined])
      expectInvalidArg(() => (c.binaryType = bad), `binaryType = ${String(bad)}`)
    expect(c.binaryType).toBe('blob')
  })

  it("binaryType applies to the async iterator and to a server's message handler", async () => {
    const got = new Inbox()
    const srv = await server({
      echo: false,
      open(ws) {
        ws.binaryType = 'nodebuffer'
      },
      message(ws, data) {
        got.push(data)
        ws.send(data)
      },
    })
    const c = await connect(srv.url)
    c.binaryType = 'blob'
    c.send(new Uint8Array([1, 2, 3]))
    const [m] = await got.until(1)
    expect(Buffer.isBuffer(m)).toBe(true)
    expectBytes(m, Buffer.from([1, 2, 3]))
    const [echo] = await nextMessages(c, 1)
    expect(tag(echo)).toBe('[object Blob]')
    expectBytes(await echo.arrayBuffer(), Buffer.from([1, 2, 3]))
  })

  it('a client: onclose gets code, reason and wasClean; no error event for a clean close', async () => {
    const wss = await wsServer()
    const c = await connect(wss.url)
    const [{ ws }] = await wss.conns.until(1, 'connections')
    const events = []
    c.onerror = (e) => events.push({ type: e.type })
    c.onclose = (e) => events.push({ type: e.type, code: e.code, reason: e.reason, wasClean: e.wasClean })
    ws.close(4001, 'bye ✓')
    await until(() => events.length > 0, 'the close event')
    await sleep(50)
    expect(events).toEqual([{ type: 'close', code: 4001, reason: 'bye ✓', wasClean: true }])
  })

  it('a client: onerror fires before onclose (1006, wasClean false) when the server vanishes', async () => {
    const wss = await wsServer()
    const c = await connect(wss.url)
    const [{ ws }] = await wss.conns.until(1, 'connections')
    const events = []
    c.onerror = (e) => events.push({ type: e.type })
    c.addEventListener('close', (e) => events.push({ type: e.type, code: e.code, wasClean: e.wasClean }))
    ws.terminate()
    await until(() => events.length === 2, 'the error and close events')
    expect(events).toEqual([{ type: 'error' }, { type: 'close', code: 1006, wasClean: false }])
    expect(await c.closed).toEqual({ code: 1006, reason: '' })
  })

  it('send(data, { compress: false }) is a normal send (no deflate agreed); an unknown option or a bad value throws', async () => {
    const srv = await server({
      echo: false,
      message(ws, data) {
        ws.send(data, { compress: false })
        ws.send(`again ${typeof data}`, {})
      },
    })
    const c = await connect(srv.url)
    const sws = await nth(srv, 0)
    expect(c.send('text', { compress: false })).toBe(true)
    expect(c.send(new Uint8Array([5, 6]), { compress: true })).toBe(true)
    const got = await nextMessages(c, 4)
    expectAbioMessage('text', got[0], 'text')
    expectAbioMessage('again', got[1], 'again string')
    expectAbioMessage('bytes', got[2], Buffer.from([5, 6]))
    expectAbioMessage('again', got[3], 'again object')
    for (const ws of [c, sws])
      for (const [what, options] of [
        ['bogus', { bogus: 1 }],
        ['compress a string', { compress: 'no' }],
        ['a number', 5],
      ])
        expectInvalidArg(() => ws.send('x', options), `send('x', ${what})`)
    c.send('after')
    expect(await nextMessages(c, 2)).toEqual(['after', 'again string'])
  })
})

// ---------------------------------------------------------------------------
// 5. What a handler queued leaves before the closing frame

describe('flush before the closing frame', () => {
  /** Frames up to and including the close frame: [{ opcode, payload }]; null: none came. */
  async function framesToClose(reader) {
    const out = []
    for (;;) {
      const f = await reader.frame()
      if (f === null) return out
      out.push(
        f.opcode === CLOSE
          ? { opcode: CLOSE, code: f.payload.readUInt16BE(0), reason: f.payload.subarray(2).toString() }
          : { opcode: f.opcode, payload: f.payload.toString('hex') },
      )
      if (f.opcode === CLOSE) return out
    }
  }

  it('messages and a frame that breaks the protocol (RSV2) in one write: the echoes arrive before the 1002 close frame', async () => {
    const srv = await server()
    const { sock, reader } = await rawUpgrade(srv.port)
    const bin = crypto.randomBytes(300)
    sock.write(Buffer.concat([frame(TEXT, 'one'), frame(BINARY, bin), frame(TEXT, 'x', { rsv: 2 })]))
    expect(await framesToClose(reader)).toEqual([
      { opcode: TEXT, payload: Buffer.from('one').toString('hex') },
      { opcode: BINARY, payload: bin.toString('hex') },
      { opcode: CLOSE, code: 1002, reason: expect.any(String) },
    ])
    await waitFor(reader.ended, 'the server to close the socket')
    const [cl] = await srv.closes.until(1, 'close callbacks')
    expect([1002, 1006]).toContain(cl.code)
  })

  it('... with a broadcast and a second send from the handler, all before the close frame', async () => {
    const srv = await server({
      echo: false,
      message(ws, data) {
        ws.send(`echo ${data}`)
        srv.server.broadcast(`all ${data}`)
        ws.send(`then ${data}`)
      },
    })
    const { sock, reader } = await rawUpgrade(srv.port)
    sock.write(Buffer.concat([frame(TEXT, 'a'), frame(TEXT, 'b'), frame(BINARY, 'x', { rsv: 2 })]))
    const got = await framesToClose(reader)
    expect(got.map((f) => (f.opcode === CLOSE ? `close ${f.code}` : Buffer.from(f.payload, 'hex').toString()))).toEqual(
      ['echo a', 'all a', 'then a', 'echo b', 'all b', 'then b', 'close 1002'],
    )
  })

  it('a message and a close frame in one write: the echo arrives before the echoed close frame', async () => {
    const srv = await server()
    const { sock, reader } = await rawUpgrade(srv.port)
    sock.write(
      Buffer.concat([
        frame(TEXT, 'hello ✓'),
        frame(BINARY, Buffer.from([1, 2])),
        frame(CLOSE, closePayload(4000, 'bye')),
      ]),
    )
    expect(await framesToClose(reader)).toEqual([
      { opcode: TEXT, payload: Buffer.from('hello ✓').toString('hex') },
      { opcode: BINARY, payload: '0102' },
      { opcode: CLOSE, code: 4000, reason: 'bye' },
    ])
    await waitFor(reader.ended, 'the server to close the socket')
    const [cl] = await srv.closes.until(1, 'close callbacks')
    expect([cl.code, cl.reason]).toEqual([4000, 'bye'])
    expect(srv.messages.items.map((m) => m.data).length).toBe(2)
  })
})

// The good readers of the test above, in a child process: argv = [ws's directory, url, clients, N].
const READERS = `
'use strict'
const { WebSocket } = require(process.argv[1])
const [url, k, n] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])]
const results = []
let closed = 0
for (let j = 0; j < k; j++) {
  const c = new WebSocket(url, { perMessageDeflate: false })
  let next = 0
  let bad = null
  c.on('open', () => console.log(JSON.stringify({ open: j })))
  c.on('message', (d, isBinary) => {
    if (bad === null && (isBinary || d.toString() !== String(next).padEnd(1024, '.'))) bad = { at: next, got: d.toString().slice(0, 12), isBinary }
    if (++next === n) {
      results[j] = { got: next, bad }
      c.close(1000)
    }
  })
  c.on('error', (e) => console.log(JSON.stringify({ error: e.message })))
  c.on('close', () => {
    if (results[j] === undefined) results[j] = { got: next, bad: bad || 'closed early' }
    if (++closed === k) console.log(JSON.stringify({ results }))
  })
}
`
