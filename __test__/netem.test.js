'use strict'
// TCP over a really impaired link: a network namespace whose link to this one delays packets
// 2 ms, drops 0.5% and sends 25% early (out of order), in each direction: `tc netem`, or a
// userspace copy of it where the kernel has no sch_netem (helpers/netem.js). 16 MiB and 2000
// frames of 0..64 KiB must arrive intact, both ways, within a time bound.
// The peer in the namespace is always plain Node `net` (fixtures/netem-peer.js), the reference
// abio interoperates with (design.md section 6). This side runs the same tests once per API
// in `apis`: helpers/net-socket.js (abio's shape over `net`), and abio itself once it has
// `connect`. Needs root and iproute2; skips, printing why, where no namespace can be made.
const path = require('path')
const readline = require('readline')

const abio = require('..')
const netem = require('./helpers/netem')
const netSocket = require('./helpers/net-socket')
const data = require('./fixtures/netem-data')

const PEER = path.join(__dirname, 'fixtures', 'netem-peer.js')
const MiB = 1 << 20
// A transfer takes about a second here (~30 MiB/s through the impaired link); 20 s is broken, not slow.
const TRANSFER_BOUND_MS = 20000
const TEST_TIMEOUT_MS = TRANSFER_BOUND_MS + 10000

const lab = netem.probe()
if (!lab.available) console.warn(`SKIPPING the netem tests: ${lab.reason}`)
else if (lab.note) console.log(`netem tests over ${lab.description}, because: ${lab.note}`)

/** @type {[string, {connect: Function, listen: Function}][]} */
const apis = [['net-socket', netSocket]]
if (typeof abio.connect === 'function') apis.push(['abio', abio])
else if (lab.available) console.log('abio has no connect() yet: the netem tests run with helpers/net-socket.js only')

let expectedStream = null
let expectedFrames = null
const stream = () => (expectedStream ??= data.expectedStream())
const frames = () => (expectedFrames ??= data.expectedFrames())

/** The peer in the namespace. `next()`: its next JSON line; `settle()`: its verdict and exit. */
function startPeer(env, args) {
  const child = env.exec([PEER, ...args])
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
  const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  const exited = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })))
  const next = async () => {
    const { value, done } = await lines.next()
    if (done) return { error: { message: `exited without a word: ${JSON.stringify(await exited)}` } }
    return JSON.parse(value)
  }
  return {
    exited,
    next,
    kill: () => child.kill('SIGKILL'),
    async settle() {
      const said = await next()
      return { said, ...(await exited), stderr: stderr.trim() }
    },
  }
}

/** The verdict of a peer that must have succeeded. */
function peerResult(peer, sideError) {
  if (sideError || peer.said.error || peer.code !== 0) {
    const ours = sideError ? `this side failed: ${sideError.stack || sideError}\n` : ''
    throw new Error(`${ours}the peer: ${JSON.stringify(peer)}`)
  }
  expect(peer.stderr).toBe('')
  return peer.said.result
}

/** `fn()`, or, past TRANSFER_BOUND_MS, `abort()` and a rejection: a hang fails fast and says where. */
async function bounded(what, fn, abort) {
  let timer
  const late = new Promise((resolve, reject) => {
    timer = setTimeout(() => {
      abort()
      reject(new Error(`${what}: not done within ${TRANSFER_BOUND_MS} ms`))
    }, TRANSFER_BOUND_MS)
  })
  try {
    return await Promise.race([fn(), late])
  } finally {
    clearTimeout(timer)
  }
}

/** This side connects and sends; the peer listens in the namespace and checks. */
async function toPeer(api, env, role, send) {
  const peer = startPeer(env, [role, env.nsAddr])
  let s = null
  let t0 = Date.now()
  let sideError = null
  try {
    await bounded(
      `${role} (this side sending)`,
      async () => {
        const first = await peer.next()
        if (!first.listening) throw new Error(`the peer did not listen: ${JSON.stringify(first)}`)
        t0 = Date.now()
        s = await api.connect({ host: env.nsAddr, port: first.listening })
        await send(s)
        await s.end()
        // the peer ends its side when it has seen ours, and sends nothing
        expect(await s.read()).toBeNull()
      },
      () => {
        peer.kill()
        if (s) s.close()
      },
    )
  } catch (e) {
    sideError = e
  } finally {
    if (s) s.close()
  }
  const result = peerResult(await peer.settle(), sideError)
  return { result, ms: Date.now() - t0 }
}

/** This side listens; the peer connects from the namespace and sends; `receive` checks. */
async function fromPeer(api, env, role, receive) {
  let accept
  const accepted = new Promise((resolve) => (accept = resolve))
  const server = await api.listen({ host: env.hostAddr, port: 0 }, accept)
  const peer = startPeer(env, [role, env.hostAddr, String(server.port)])
  const t0 = Date.now()
  let s = null
  let got = null
  let sideError = null
  try {
    got = await bounded(
      `${role} (this side receiving)`,
      async () => {
        s = await Promise.race([
          accepted,
          peer.exited.then((how) =>
            Promise.reject(new Error(`the peer exited before connecting: ${JSON.stringify(how)}`)),
          ),
        ])
        return receive(s)
      },
      () => {
        peer.kill()
        if (s) s.close()
      },
    )
  } catch (e) {
    sideError = e
  } finally {
    if (s) s.close()
    await server.close()
  }
  const sent = peerResult(await peer.settle(), sideError)
  return { got, sent, ms: Date.now() - t0 }
}

const describeLab = lab.available ? describe : describe.skip

describeLab(`TCP through ${lab.description || 'an impaired link'}`, () => {
  let env
  const timings = []
  const timed = (what, bytes, ms) => {
    timings.push(
      `${what}: ${(bytes / MiB).toFixed(1)} MiB in ${ms} ms (${(bytes / MiB / (ms / 1000)).toFixed(1)} MiB/s)`,
    )
    expect(ms).toBeLessThan(TRANSFER_BOUND_MS)
  }

  beforeAll(async () => {
    env = await lab.setup()
  }, 30000)
  afterAll(async () => {
    if (timings.length) console.log(`netem transfers (${lab.mode}):\n  ${timings.join('\n  ')}`)
    if (env) await env.teardown()
  }, 20000)

  describe.each(apis)('%s on this side, net in the namespace', (name, api) => {
    test(
      '16 MiB in one write arrive intact at the peer',
      async () => {
        const { result, ms } = await toPeer(api, env, 'recv-stream', (s) => s.write(data.streamBytes()))
        expect(result).toEqual(stream())
        timed(`${name} -> ns, 16 MiB stream`, data.STREAM_BYTES, ms)
      },
      TEST_TIMEOUT_MS,
    )

    test(
      `${data.FRAME_COUNT} frames of 0..64 KiB arrive intact and in order at the peer`,
      async () => {
        const { result, ms } = await toPeer(api, env, 'recv-frames', async (s) => {
          for (const f of data.frames()) await s.writeFrame(f)
        })
        expect(result).toEqual({ ...frames(), trailingBytes: 0 })
        timed(`${name} -> ns, ${data.FRAME_COUNT} frames`, result.bytes, ms)
      },
      TEST_TIMEOUT_MS,
    )

    test(
      '16 MiB from the peer arrive intact, read() returns null at its end',
      async () => {
        const { got, sent, ms } = await fromPeer(api, env, 'send-stream', async (s) => {
          const check = new data.StreamCheck()
          for (let chunk; (chunk = await s.read()) !== null;) check.push(chunk)
          return check.result()
        })
        expect(sent).toEqual({ ...stream(), echoed: 0 })
        expect(got).toEqual(stream())
        timed(`ns -> ${name}, 16 MiB stream`, data.STREAM_BYTES, ms)
      },
      TEST_TIMEOUT_MS,
    )

    test(
      `${data.FRAME_COUNT} frames from the peer arrive intact and in order, readFrame({maxSize: 64 KiB}) returns null at its end`,
      async () => {
        const { got, sent, ms } = await fromPeer(api, env, 'send-frames', async (s) => {
          const check = new data.FrameCheck()
          for (let f; (f = await s.readFrame({ maxSize: data.FRAME_MAX })) !== null;) check.push(f)
          return check.result()
        })
        expect(sent).toEqual({ ...frames(), echoed: 0 })
        expect(got).toEqual(frames())
        timed(`ns -> ${name}, ${data.FRAME_COUNT} frames`, got.bytes, ms)
      },
      TEST_TIMEOUT_MS,
    )
  })

  test('the link really lost and reordered packets', async () => {
    const stats = await env.stats()
    console.log(`netem link (${lab.mode}) counters: ${JSON.stringify(stats)}`)
    if (lab.mode === 'veth') return // forced: no impairment
    expect(stats.dropped).toBeGreaterThan(0)
    if (lab.mode === 'wire') {
      expect(stats.early).toBeGreaterThan(0)
      expect(env.wireStderr).toBe('')
    }
  })

  test('teardown leaves no namespace, device or process behind', async () => {
    await env.teardown() // rejects, naming what is left
    expect(env.leftovers()).toEqual([])
  }, 20000)
})
