'use strict'
// Child of scripts/soak.js: `count` WebSocket clients (the `ws` package) against the abio echo
// server (scripts/soak/ws-server.js) for `seconds`. Usage:
//   node scripts/soak/ws-clients.js <url> <count> <seconds> <seed>
//
// Each client slot connects, keeps 1-4 messages in flight (binary or text, 1 B to 64 KiB, each
// echo checked against what was sent, in order), and after a random lifetime ends its
// connection one of three ways: ws.terminate(), destroying the TCP socket under it, or a proper
// close(1000) after every in-flight echo came back; then it connects again, so about `count`
// connections stay open. At the deadline every slot ends its connection (one of the three ways,
// at random) and the process prints a summary line and exits.
// Prints JSON lines: { t, open, connects, echoes, ... } every second, then { done: true, ... }.

const WebSocket = require('ws')
const c = require('./common')

const [url, countArg, secondsArg, seedArg] = process.argv.slice(2)
const COUNT = Number(countArg)
const DEADLINE = Date.now() + Number(secondsArg) * 1000
const body = c.pattern(128 * 1024, 9)

// Seeded PRNG (mulberry32): runs differ only by the seed given.
let seed = Number(seedArg) >>> 0
function random() {
  seed = (seed + 0x6d2b79f5) >>> 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const pick = (n) => Math.floor(random() * n)

const stats = {
  open: 0,
  connects: 0,
  echoes: 0,
  bytes: 0,
  wrongEcho: 0, // an echo that is not the next message sent: fails the check
  lostEcho: 0, // a proper close whose in-flight echoes never came back: fails the check
  errors: 0, // an 'error' event on a client: fails the check
  unexpectedClose: 0, // the server closed a connection we did not end: fails the check
  badCloseCode: 0, // a proper close not answered with 1000: fails the check
  endings: { terminate: 0, destroy: 0, close: 0 },
  firstProblems: [],
}
function problem(kind, what) {
  stats[kind]++
  if (stats.firstProblems.length < 10) stats.firstProblems.push(what)
}

let seq = 0
/** A message: binary (Buffer) or text (string), mostly 1 B-2 KiB, one in 100 of 16-64 KiB. */
function makeMessage() {
  const n = seq++
  const size = pick(100) === 0 ? 16384 + pick(49152) : 1 + pick(2048)
  // 'ab✓é' is 7 bytes of UTF-8: about `size` bytes of text
  if (pick(2) === 0) return `${n}:${'ab✓é'.repeat(Math.ceil(size / 7))}`
  const m = Buffer.allocUnsafe(Math.max(4, size))
  m.writeUInt32LE(n >>> 0, 0)
  body.copy(m, 4, n % 4096, (n % 4096) + m.length - 4)
  return m
}

/** One connection of a slot; resolves when it is over (however it ended). */
function session() {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false })
    const inFlight = [] // what was sent and not echoed yet, in order
    const window = 1 + pick(4)
    const lifetime = 200 + pick(6000)
    let ending = null // how we end it, once we do
    let opened = false
    let timer
    const send = () => {
      const m = makeMessage()
      inFlight.push(m)
      ws.send(m)
    }
    ws.on('open', () => {
      opened = true
      stats.open++
      stats.connects++
      for (let i = 0; i < window; i++) send()
      timer = setTimeout(end, Math.min(lifetime, Math.max(0, DEADLINE - Date.now())))
    })
    ws.on('message', (data, isBinary) => {
      const want = inFlight.shift()
      const ok =
        want !== undefined &&
        (typeof want === 'string' ? !isBinary && data.toString() === want : isBinary && data.equals(want))
      if (!ok) {
        problem(
          'wrongEcho',
          `echo ${stats.echoes}: ${isBinary ? 'binary' : 'text'} ${data.length} B, not what was sent`,
        )
        ending = 'wrong'
        ws.terminate()
        return
      }
      stats.echoes++
      stats.bytes += data.length
      if (ending === 'close') {
        if (inFlight.length === 0) ws.close(1000, 'bye')
      } else if (ending === null) send()
    })
    ws.on('error', (e) => problem('errors', `client error: ${e.code || e.message}`))
    ws.on('close', (code) => {
      clearTimeout(timer)
      if (opened) stats.open--
      if (ending === null) problem('unexpectedClose', `the server closed a connection: ${code}`)
      else if (ending === 'close' && inFlight.length !== 0)
        problem('lostEcho', `${inFlight.length} echoes never came back before the close`)
      else if (ending === 'close' && code !== 1000) problem('badCloseCode', `proper close answered with ${code}`)
      // a connection that never opened is an error already counted: do not retry in a tight loop
      setTimeout(resolve, opened ? 0 : 100)
    })
    function end() {
      ending = ['terminate', 'destroy', 'close'][pick(3)]
      stats.endings[ending]++
      if (ending === 'terminate') ws.terminate()
      else if (ending === 'destroy') ws._socket.destroy()
      else {
        // A proper close waits for the in-flight echoes (checked: none may be lost), 5 s at most.
        if (inFlight.length === 0) ws.close(1000, 'bye')
        else setTimeout(() => ws.readyState === WebSocket.OPEN && ws.close(1000, 'late'), 5000)
      }
    }
  })
}

async function slot(i) {
  await c.sleep((i / COUNT) * 1000) // ramp up over a second
  while (Date.now() < DEADLINE) await session()
}

async function main() {
  const t0 = Date.now()
  const timer = setInterval(() => c.emit({ t: Date.now() - t0, ...stats, firstProblems: undefined }), 1000)
  await Promise.all(Array.from({ length: COUNT }, (_, i) => slot(i)))
  clearInterval(timer)
  c.emit({ done: true, ...stats })
}

main().catch((e) => {
  c.emit({ fatal: String((e && e.stack) || e) })
  process.exitCode = 3
})
