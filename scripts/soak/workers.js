'use strict'
// Child of scripts/soak.js: abio in worker_threads, `total` workers, `parallel` at a time
// (scripts/soak/worker.js). A third of them are terminated 0-50 ms after they are ready, in the
// middle of their traffic (requests, WebSocket messages, file reads); a third finish their
// traffic and are terminated while idle with their server and WebSocket open; a third finish,
// close everything and must end by themselves within 2 s. Then the main thread uses abio, the
// descriptor count must be back where it was before the first worker, and no terminated
// worker's server port may still accept connections.
// Usage: node --expose-gc scripts/soak/workers.js <total> <parallel> <dir>
// Prints one JSON line: { workers, terminated, finished, problems, fdsStart, fdsEnd, rssStart, rssEnd, ... }.

const net = require('net')
const path = require('path')
const { Worker } = require('worker_threads')
const c = require('./common')

const abio = c.requireAbio()
const [total, parallel] = process.argv.slice(2, 4).map(Number)
const dir = process.argv[4]
const HOST = '127.0.0.1'
const SELF_EXIT_MS = 2000

const problems = []
const problem = (what) => problems.length < 10 && problems.push(what)

/** Starts a server in this thread, makes one request and one WebSocket echo, closes it all. */
async function useMainThread(tag) {
  const server = await abio.serve({
    host: HOST,
    port: 0,
    fetch: () => ({ body: tag }),
    websocket: { message: (ws, m) => ws.send(m) },
  })
  const r = await abio.request(`http://${HOST}:${server.port}/`)
  if (Buffer.from(r.body).toString() !== tag) problem(`main thread (${tag}): wrong answer`)
  const ws = await abio.connectWebSocket(`ws://${HOST}:${server.port}/`)
  ws.send(tag)
  for await (const m of ws) {
    if (m !== tag) problem(`main thread (${tag}): wrong echo`)
    break
  }
  ws.close()
  await ws.closed
  await server.close()
}

const MODES = ['terminate', 'idle', 'finish']

/** Whether something still accepts TCP connections on 127.0.0.1:`port`. */
function accepts(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, HOST)
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

function runWorker(id) {
  const mode = MODES[id % 3]
  return new Promise((resolve) => {
    const w = new Worker(path.join(__dirname, 'worker.js'), { workerData: { id, mode, dir } })
    let finishedAt = 0
    let port
    let selfExitTimer
    w.on('message', async (m) => {
      if (m.fatal) problem(`worker ${id}: ${m.fatal.split('\n')[0]}`)
      if (m.problems) for (const p of m.problems) problem(`worker ${id}: ${p}`)
      if (m.ready) port = m.port
      if ((m.ready && mode === 'terminate') || m.idle) {
        await c.sleep(Math.floor(Math.random() * 50))
        await w.terminate()
      }
      if (m.finished) {
        finishedAt = Date.now()
        selfExitTimer = setTimeout(() => {
          problem(`worker ${id} did not end by itself within ${SELF_EXIT_MS} ms of closing everything`)
          w.terminate()
        }, SELF_EXIT_MS)
      }
    })
    w.on('error', (e) => problem(`worker ${id} error: ${e && e.message}`))
    w.on('exit', (code) => {
      clearTimeout(selfExitTimer)
      const exitMs = finishedAt ? Date.now() - finishedAt : undefined
      if (mode === 'finish' && !finishedAt) problem(`worker ${id} exited (code ${code}) before finishing`)
      if (mode === 'finish' && code !== 0) problem(`worker ${id} exited with code ${code}`)
      resolve({ mode, exitMs, port })
    })
  })
}

async function main() {
  await useMainThread('before') // abio loaded and its runtime started in this thread
  // Node itself keeps a descriptor of /dev/null open from its first worker on (seen with
  // workers that never load abio): one plain worker before the count, so it is not ours.
  const plain = new Worker('', { eval: true })
  await new Promise((resolve) => plain.once('exit', resolve))
  await c.settle()
  const fdsStart = await c.quietFds()
  const fdListStart = c.fdTargets()
  const rssStart = c.rss()

  const t0 = Date.now()
  let next = 0
  const results = []
  const slot = async () => {
    while (next < total) results.push(await runWorker(next++))
  }
  await Promise.all(Array.from({ length: parallel }, slot))
  const seconds = (Date.now() - t0) / 1000

  await useMainThread('after')
  // A worker's server must be gone with the worker, however it ended.
  const stillListening = []
  for (const r of results) if (r.port && (await accepts(r.port))) stillListening.push(r.mode)
  if (stillListening.length) {
    const by = MODES.map((m) => `${stillListening.filter((x) => x === m).length} ${m}`).join(', ')
    problem(`${stillListening.length} servers of ended workers still accept connections (${by})`)
  }
  const { fds: fdsNoGc } = await c.fdsBackTo(fdsStart, 3000)
  const fdListNoGc = c.fdTargets()
  await c.settle()
  const { fds: fdsEnd } = await c.fdsBackTo(fdsStart, 3000)
  const rssEnd = c.rss()
  const exitTimes = results.filter((r) => r.exitMs !== undefined).map((r) => r.exitMs)
  c.emit({
    workers: results.length,
    terminated: results.filter((r) => r.mode === 'terminate').length,
    idle: results.filter((r) => r.mode === 'idle').length,
    finished: results.filter((r) => r.mode === 'finish').length,
    maxSelfExitMs: Math.max(0, ...exitTimes),
    seconds,
    fdsStart,
    fdsNoGc,
    fdsEnd,
    fdDiff: fdsNoGc !== fdsStart ? c.fdDiff(fdListStart, fdListNoGc) : undefined,
    rssStart,
    rssEnd,
    problems,
  })
}

main().catch((e) => {
  c.emit({ fatal: String((e && e.stack) || e) })
  process.exitCode = 3
})
