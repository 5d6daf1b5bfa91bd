'use strict'
// Tests for abio's TCP API (design.md section 6, with sections 2, 3 and 9): argument errors
// (thrown synchronously) and the lifecycle: child processes and workers.
// Peers, checks and how the tests talk: helpers/net.js.

const path = require('path')
const net = require('net')
const cp = require('child_process')

const abio = require('..')
const { detachedArrayBuffer } = require('./helpers/inputs')
const { expectBytes } = require('./helpers/bytes')
const { rejectionOf, expectInvalidArg } = require('./helpers/throws')
const { track, closeAll } = require('./helpers/cleanup')
const { useTempDir, tmp } = require('./helpers/tmpdir')
const { noop, ROOT, nodeServer, abioServer, nodeConnect, pair, record, expectArrayBuffer } = require('./helpers/net')
const { settlesWithin } = require('./helpers/net')

jest.setTimeout(20000)

afterEach(closeAll)

useTempDir('abio-net-')

// ---------------------------------------------------------------------------
// 9. Argument errors: thrown synchronously
// ---------------------------------------------------------------------------
describe('argument errors', () => {
  test('connect() and listen() options', () => {
    expectInvalidArg(() => abio.connect(), 'TypeError')
    expectInvalidArg(() => abio.connect(null), 'TypeError')
    expectInvalidArg(() => abio.connect('127.0.0.1:80'), 'TypeError')
    expectInvalidArg(() => abio.connect({ host: '127.0.0.1' }), 'TypeError') // no port
    expectInvalidArg(() => abio.connect({ port: -1 }), 'RangeError')
    expectInvalidArg(() => abio.connect({ port: 65536 }), 'RangeError')
    expectInvalidArg(() => abio.connect({ port: '80' }), 'TypeError')
    expectInvalidArg(() => abio.connect({ port: 1.5 }), 'RangeError')
    expectInvalidArg(() => abio.connect({ port: NaN }), 'RangeError')
    expectInvalidArg(() => abio.connect({ host: 42, port: 80 }), 'TypeError')
    expectInvalidArg(() => abio.connect({ port: 80, timeout: -1 }), 'RangeError')
    expectInvalidArg(() => abio.connect({ port: 80, signal: 'no' }), 'TypeError')
    expectInvalidArg(() => abio.connect({ port: 80, noDelay: 'yes' }), 'TypeError')
    expectInvalidArg(() => abio.connect({ path: '/tmp/x.sock', port: 80 }), 'TypeError')
    expectInvalidArg(() => abio.connect({ path: '/tmp/x.sock', host: 'localhost' }), 'TypeError')
    expectInvalidArg(() => abio.connect({ path: 42 }), 'TypeError')
    expectInvalidArg(() => abio.listen({}, 'notafunction'), 'TypeError')
    expectInvalidArg(() => abio.listen({}), 'TypeError')
    expectInvalidArg(() => abio.listen({ port: 70000 }, noop), 'RangeError')
    expectInvalidArg(() => abio.listen({ port: 0, backlog: -1 }, noop), 'RangeError')
    expectInvalidArg(() => abio.listen({ path: tmp('x.sock'), port: 0 }, noop), 'TypeError')
    expectInvalidArg(() => abio.listen('8080', noop), 'TypeError')
  })

  test('Socket methods', async () => {
    const { a, n } = await pair('client')
    expectInvalidArg(() => a.write(123), 'TypeError')
    expectInvalidArg(() => a.write(), 'TypeError')
    expectInvalidArg(() => a.write(null), 'TypeError')
    expectInvalidArg(() => a.write({ length: 1 }), 'TypeError')
    expectInvalidArg(() => a.write(detachedArrayBuffer()), 'TypeError')
    const detachedView = new Uint8Array(new ArrayBuffer(8), 2)
    structuredClone(detachedView.buffer, { transfer: [detachedView.buffer] })
    expectInvalidArg(() => a.writev(['ok', detachedView]), 'TypeError')
    expectInvalidArg(() => a.writeFrame(detachedView), 'TypeError')
    expectInvalidArg(() => a.writev('x'), 'TypeError')
    expectInvalidArg(() => a.writev([1]), 'TypeError')
    expectInvalidArg(() => a.writeFrame(42), 'TypeError')
    expectInvalidArg(() => a.writeFrame(['ok', 42]), 'TypeError')
    expectInvalidArg(() => a.readExactly(-1), 'RangeError')
    expectInvalidArg(() => a.readExactly(1.5), 'RangeError')
    expectInvalidArg(() => a.readExactly('4'), 'TypeError')
    expectInvalidArg(() => a.readExactly(), 'TypeError')
    expectInvalidArg(() => a.readFrame({ maxSize: 2 ** 32 }), 'RangeError')
    expectInvalidArg(() => a.readFrame({ maxSize: -1 }), 'RangeError')
    expectInvalidArg(() => a.readFrame(5), 'TypeError')
    expectInvalidArg(() => a.read({ maxBytes: 0 }), 'RangeError')
    expectInvalidArg(() => a.read({ maxBytes: 2 ** 31 }), 'RangeError')
    expectInvalidArg(() => a.read({ maxBytes: 'all' }), 'TypeError')
    expectInvalidArg(() => a.sendFile(42), 'TypeError')
    expectInvalidArg(() => a.sendFile(__filename, { offset: -1 }), 'RangeError')
    expectInvalidArg(() => a.sendFile(__filename, { length: 'all' }), 'TypeError')
    expectInvalidArg(() => a.sendFile(__filename, { onProgress: 1 }), 'TypeError')
    expectInvalidArg(() => a.sendFile(__filename, { signal: {} }), 'TypeError')
    // None of these touched the stream: it still works both ways.
    const rec = record(n)
    await a.write('ok')
    await rec.until(() => rec.length >= 2, 'ok')
    expectBytes(rec.bytes(), 'ok')
    n.write('fine')
    expectArrayBuffer(await a.readExactly(4), 'fine')
  })

  test('ref()/unref() return their object; Symbol.asyncDispose closes', async () => {
    const srv = await abioServer()
    const [n, a] = await Promise.all([nodeConnect({ host: '127.0.0.1', port: srv.port }), srv.next()])
    const rec = record(n)
    expect(a.unref()).toBe(a)
    expect(a.ref()).toBe(a)
    expect(srv.server.unref()).toBe(srv.server)
    expect(srv.server.ref()).toBe(srv.server)
    if (typeof Symbol.asyncDispose !== 'symbol')
      return console.warn('skipped the asyncDispose part: no Symbol.asyncDispose')
    await a[Symbol.asyncDispose]()
    expect(a.closed).toBe(true)
    await rec.until(() => rec.ended || rec.closed, 'the close')
    await srv.server[Symbol.asyncDispose]()
    expect((await rejectionOf(abio.connect({ host: '127.0.0.1', port: srv.port }))).code).toBe('ECONNREFUSED')
  })

  test('Socket and Server cannot be constructed directly', () => {
    expect(() => new abio.Socket({})).toThrow(TypeError)
    expect(() => new abio.Server({})).toThrow(TypeError)
  })
})

// ---------------------------------------------------------------------------
// 10. Lifecycle: child processes and workers
// ---------------------------------------------------------------------------
describe('lifecycle', () => {
  /** Runs `node -e code`; `line()` is its next stdout line (parsed JSON); `exited` its exit. */
  function child(code, args = [], nodeArgs = []) {
    const proc = track(
      'child',
      cp.spawn(process.execPath, [...nodeArgs, '-e', code, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }),
    )
    let buf = ''
    let stderr = ''
    const lines = []
    const waiters = []
    proc.stdout.setEncoding('utf8').on('data', (d) => {
      buf += d
      let i
      while ((i = buf.indexOf('\n')) >= 0) {
        const l = buf.slice(0, i)
        buf = buf.slice(i + 1)
        let v
        try {
          v = JSON.parse(l)
        } catch {
          v = { unparsed: l }
        }
        if (waiters.length) waiters.shift()(v)
        else lines.push(v)
      }
    })
    proc.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
    const exited = new Promise((resolve) =>
      proc.once('exit', (code, signal) => {
        const at = Date.now()
        proc.once('close', () => resolve({ code, signal, at, stderr: stderr.slice(0, 4000) }))
      }),
    )
    // The next line, or `{ noLine: ... }` once the child is gone without one.
    const line = () =>
      lines.length
        ? Promise.resolve(lines.shift())
        : Promise.race([new Promise((resolve) => waiters.push(resolve)), exited.then((r) => ({ noLine: r }))])
    return { proc, line, exited }
  }
  /** `p` within `ms`, or a description of the hang. */
  function within(p, ms, what) {
    let t
    return Promise.race([
      p,
      new Promise(
        (_, reject) => (t = setTimeout(() => reject(new Error(`${what}: still running after ${ms} ms`)), ms)),
      ),
    ]).finally(() => clearTimeout(t))
  }
  const req = `const abio = require(${JSON.stringify(ROOT)})`

  test('a child that connects, serves, round-trips and closes everything exits by itself promptly', async () => {
    const srv = await nodeServer()
    srv.server.on('connection', (s) => s.on('data', (d) => s.write(d)))
    const code = `${req}
      ;(async () => {
        const c = await abio.connect({ host: '127.0.0.1', port: Number(process.argv[1]) })
        await c.write('ping')
        const a = Buffer.from(await c.readExactly(4)).toString()
        c.close()
        const srv = await abio.listen({ host: '127.0.0.1', port: 0 }, async (s) => {
          for await (const chunk of s) await s.write(chunk)
        })
        const c2 = await abio.connect({ host: '127.0.0.1', port: srv.port })
        await c2.writeFrame('echo')
        const b = Buffer.from(await c2.readExactly(8)).subarray(4).toString()
        c2.close()
        await srv.close()
        console.log(JSON.stringify({ a, b, settled: Date.now() }))
      })()`
    const t0 = Date.now()
    const c = child(code, [String(srv.port)])
    const run = await within(c.exited, 10000, 'the child')
    const out = await c.line()
    expect({ code: run.code, signal: run.signal, stderr: run.stderr }).toEqual({ code: 0, signal: null, stderr: '' })
    expect({ a: out.a, b: out.b }).toEqual({ a: 'ping', b: 'echo' })
    const lag = run.at - out.settled
    console.log(`child exit: ${lag} ms after its last promise (${run.at - t0} ms in all)`)
    expect(lag).toBeLessThan(5000) // ~tens of ms; generous for a busy machine, still catching a held loop
  })

  test('in a child with nothing else to do, `await server.close()` resolves (20 servers in turn)', async () => {
    const code = `${req}
      ;(async () => {
        for (let i = 0; i < 20; i++) {
          const srv = await abio.listen({ host: '127.0.0.1', port: 0 }, () => {})
          await srv.close()
          console.log(JSON.stringify({ closed: i }))
        }
        console.log(JSON.stringify({ done: true }))
      })()`
    const c = child(code)
    const run = await within(c.exited, 10000, 'the child')
    const lines = []
    for (let l = await c.line(); !l.noLine; l = await c.line()) lines.push(l)
    expect({ code: run.code, signal: run.signal, stderr: run.stderr }).toEqual({ code: 0, signal: null, stderr: '' })
    expect(lines).toEqual([...Array.from({ length: 20 }, (_, i) => ({ closed: i })), { done: true }])
  })

  test('a child with an open socket and a listening server that unref() them exits while they are open', async () => {
    const srv = await nodeServer()
    const code = `${req}
      ;(async () => {
        const c = await abio.connect({ host: '127.0.0.1', port: Number(process.argv[1]) })
        const s = await abio.listen({ host: '127.0.0.1', port: 0 }, () => {})
        const p = c.read() // a pending read does not hold an unref()ed socket either
        c.unref()
        s.unref()
        console.log(JSON.stringify({ open: !c.closed, settled: Date.now() }))
      })()`
    const c = child(code, [String(srv.port)])
    const peer = srv.next().then(record)
    const run = await within(c.exited, 10000, 'the child with unref()ed handles')
    const out = await c.line()
    expect({ code: run.code, signal: run.signal, stderr: run.stderr }).toEqual({ code: 0, signal: null, stderr: '' })
    expect(out.open).toBe(true)
    expect(run.at - out.settled).toBeLessThan(5000)
    const rec = await peer
    await rec.until(() => rec.closed || rec.ended, 'the peer to see the exit')
  })

  test('a child that drops an open socket without close() exits once it is garbage-collected; the peer sees the end', async () => {
    const srv = await nodeServer()
    const code = `${req}
      ;(async () => {
        let c = await abio.connect({ host: '127.0.0.1', port: Number(process.argv[1]) })
        await c.write('ping')
        c = null // unreachable now: nothing could ever use or close it
        setTimeout(() => {
          global.gc()
          console.log(JSON.stringify({ collected: Date.now() }))
        }, 50)
      })()`
    const c = child(code, [String(srv.port)], ['--expose-gc'])
    const rec = record(await srv.next())
    const run = await within(c.exited, 10000, 'the child after dropping its socket')
    expect({ code: run.code, signal: run.signal, stderr: run.stderr }).toEqual({ code: 0, signal: null, stderr: '' })
    expect((await c.line()).collected).toBeGreaterThan(0)
    await rec.until(() => rec.closed || rec.ended, 'the peer to see the end')
    expect(Buffer.concat(rec.chunks).toString()).toBe('ping')
  })

  test("a child with an open ref'd socket stays until the peer ends it, then exits (allowHalfOpen false)", async () => {
    const srv = await nodeServer()
    // The socket stays referenced: one nothing references is collected and closed (the test
    // above), which a busy machine's GC may do within the second this test waits.
    const code = `${req}
      ;(async () => {
        globalThis.socket = await abio.connect({ host: '127.0.0.1', port: Number(process.argv[1]) })
        console.log(JSON.stringify({ connected: true }))
      })()`
    const c = child(code, [String(srv.port)])
    const n = await srv.next()
    const rec = record(n)
    expect(await c.line()).toEqual({ connected: true })
    const early = await settlesWithin(c.exited, 1000)
    expect(early).toBe(false) // still alive: the socket keeps it
    const t0 = Date.now()
    n.end()
    const run = await within(c.exited, 10000, 'the child after the peer ended')
    expect({ code: run.code, signal: run.signal, stderr: run.stderr }).toEqual({ code: 0, signal: null, stderr: '' })
    console.log(`child exit: ${run.at - t0} ms after the peer ended its side`)
    expect(run.at - t0).toBeLessThan(10000)
    await rec.until(() => rec.ended, "the child's end of the stream")
  })

  test('bytes read after they arrived, then the peer ends: the socket still finishes (closed, the loop let go)', async () => {
    // The reader task goes idle when bytes wait that nobody asked for; the read that takes
    // them on the JS thread must have the peer's end watched again, or the socket never
    // finishes and keeps the process alive (seen as a child that did not exit).
    const served = []
    const server = await abio.listen({ host: '127.0.0.1', port: 0 }, async (s) => {
      served.push(track('abio-socket', s))
      await new Promise((resolve) => setTimeout(resolve, 300)) // 'ping' arrives meanwhile
      await s.write(await s.readExactly(4))
      await s.end()
    })
    track('abio-server', server)
    const n = net.connect(server.port, '127.0.0.1', () => n.write('ping'))
    let echo = ''
    n.setEncoding('utf8').on('data', (d) => (echo += d))
    // allowHalfOpen false: Node ends its side once abio has ended.
    await new Promise((resolve) => n.on('close', resolve))
    expect(echo).toBe('ping')
    const deadline = Date.now() + 10000
    while (!served[0].closed && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    expect(served[0].closed).toBe(true)
  })

  test('a child with a listening server stays alive until it closes it', async () => {
    const code = `${req}
      ;(async () => {
        const srv = await abio.listen({ host: '127.0.0.1', port: 0 }, (s) => {
          s.close()
          srv.close()
        })
        console.log(JSON.stringify({ port: srv.port }))
      })()`
    const c = child(code)
    const { port } = await c.line()
    expect(await settlesWithin(c.exited, 1000)).toBe(false)
    const t0 = Date.now()
    const n = await nodeConnect({ host: '127.0.0.1', port })
    const rec = record(n)
    const run = await within(c.exited, 10000, 'the child after its server closed')
    expect({ code: run.code, signal: run.signal, stderr: run.stderr }).toEqual({ code: 0, signal: null, stderr: '' })
    expect(run.at - t0).toBeLessThan(10000)
    await rec.until(() => rec.closed || rec.ended, 'the close')
  })

  test('an onConnection that rejects (its client left early) or throws: socket closed, error logged, server goes on', async () => {
    // The README's own pattern: an async handler whose awaited read rejects when the client
    // leaves. Not awaited by anybody, its rejection would be the process's unhandled one.
    const code = `${req}
      const net = require('net')
      const calls = []
      ;(async () => {
        const srv = await abio.listen({ host: '127.0.0.1', port: 0 }, async (s) => {
          const n = calls.push(0)
          if (n === 2) throw new Error('sync-like throw from an async handler')
          if (n === 3) {
            await s.write(await s.readExactly(4)) // the healthy one: an echo
            return s.end()
          }
          await s.readExactly(100) // the client sends 3 bytes and leaves
        })
        const closedByAbio = (send) =>
          new Promise((resolve) => {
            const c = net.connect(srv.port, '127.0.0.1', () => send(c))
            c.on('error', () => {})
            c.resume()
            c.on('close', () => resolve(true))
          })
        // 1. The client leaves early: readExactly rejects, so does the handler.
        await new Promise((resolve) => {
          const c = net.connect(srv.port, '127.0.0.1', () => c.end('abc'))
          c.on('error', () => {})
          c.resume()
          c.on('close', resolve)
        })
        // 2. A handler that fails before touching its socket: abio closes it.
        const closed = await closedByAbio(() => {})
        // 3. The server still accepts and answers.
        const echo = await new Promise((resolve) => {
          const c = net.connect(srv.port, '127.0.0.1', () => c.write('ping'))
          let got = ''
          c.setEncoding('utf8').on('data', (d) => (got += d))
          c.on('end', () => resolve(got))
        })
        await srv.close()
        console.log(JSON.stringify({ closed, echo, calls: calls.length }))
      })()`
    const c = child(code)
    const run = await within(c.exited, 20000, 'the child')
    const stderr = run.stderr
    expect({ code: run.code, signal: run.signal }).toEqual({ code: 0, signal: null })
    expect(await c.line()).toEqual({ closed: true, echo: 'ping', calls: 3 })
    const reports = stderr.split('\n').filter((l) => l.startsWith('abio: an onConnection handler threw or rejected'))
    expect(reports.length).toBe(2)
    expect(stderr).toContain('ABIO_ERR_CLOSED')
    expect(stderr).toContain('sync-like throw from an async handler')
  })

  test('a synchronous onConnection that throws: socket closed, error logged, the server goes on', async () => {
    const code = `${req}
      const net = require('net')
      let n = 0
      ;(async () => {
        const srv = await abio.listen({ host: '127.0.0.1', port: 0 }, (s) => {
          if (++n === 1) throw new TypeError('thrown synchronously')
          s.write('ok').then(() => s.end())
        })
        const talk = () =>
          new Promise((resolve) => {
            const c = net.connect(srv.port, '127.0.0.1')
            let got = ''
            c.on('error', () => {})
            c.setEncoding('utf8').on('data', (d) => (got += d))
            c.on('close', () => resolve(got))
          })
        const first = await talk()
        const second = await talk()
        await srv.close()
        console.log(JSON.stringify({ first, second }))
      })()`
    const c = child(code)
    const run = await within(c.exited, 20000, 'the child')
    expect({ code: run.code, signal: run.signal }).toEqual({ code: 0, signal: null })
    expect(await c.line()).toEqual({ first: '', second: 'ok' })
    expect(run.stderr).toMatch(
      /^abio: an onConnection handler threw or rejected; closed its socket: TypeError: thrown synchronously/,
    )
  })

  test('worker_threads: 5 workers in turn load abio, do a TCP round trip and exit; no crash', async () => {
    const code = `
      const { Worker } = require('worker_threads')
      const work = ${JSON.stringify(`${req}
        const { parentPort } = require('worker_threads')
        ;(async () => {
          const srv = await abio.listen({ host: '127.0.0.1', port: 0 }, async (s) => {
            const d = await s.readFrame()
            await s.writeFrame([d, '!'])
            s.close()
          })
          const c = await abio.connect({ host: '127.0.0.1', port: srv.port })
          await c.writeFrame('hello')
          const back = Buffer.from(await c.readFrame()).toString()
          // Before the close: whether server.close() resolves is another test's business.
          parentPort.postMessage(back)
          c.close()
          await srv.close()
        })()`)}
      ;(async () => {
        for (let i = 0; i < 5; i++) {
          const w = new Worker(work, { eval: true })
          let msg = null
          let error = null
          w.on('message', (m) => (msg = m))
          w.on('error', (e) => (error = String(e && e.stack)))
          const t = setTimeout(() => w.terminate(), 8000)
          const code = await new Promise((resolve) => w.once('exit', resolve))
          clearTimeout(t)
          console.log(JSON.stringify({ i, msg, error, code }))
        }
      })()`
    const c = child(code)
    const run = await within(c.exited, 45000, 'the worker_threads child')
    const results = []
    for (let i = 0; i < 5; i++) results.push(await c.line())
    expect({ code: run.code, signal: run.signal, stderr: run.stderr }).toEqual({ code: 0, signal: null, stderr: '' })
    expect(results).toEqual([0, 1, 2, 3, 4].map((i) => ({ i, msg: 'hello!', error: null, code: 0 })))
  }, 50000)
})
