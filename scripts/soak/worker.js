'use strict'
// A worker_threads worker of scripts/soak/workers.js: loads abio, starts a server (a bytes
// route, a fetch handler, WebSockets), uses it (a request to each, a WebSocket echo, a file
// read, every answer checked), says { ready, port }, then by mode:
//   'terminate': keeps that traffic going (4 lanes) until the parent terminates it;
//   'idle':      runs a few more rounds, says { idle } and waits, server and WebSocket open,
//                until the parent terminates it;
//   'finish':    runs a few more rounds, closes everything, says { finished } and ends by
//                itself (nothing of abio's may keep it alive).
// workerData: { id, mode, dir }

const fs = require('fs')
const path = require('path')
const { parentPort, workerData } = require('worker_threads')
const c = require('./common')

const abio = c.requireAbio()
const { id, mode, dir } = workerData
const HOST = '127.0.0.1'

const problems = []
const problem = (what) => problems.length < 5 && problems.push(what)

async function main() {
  const routeBody = c.pattern(2048, id)
  const file = path.join(dir, `worker-${id}.bin`)
  fs.writeFileSync(file, c.pattern(4096 + id, id + 1000))
  const fileBytes = c.pattern(4096 + id, id + 1000)
  const server = await abio.serve({
    host: HOST,
    port: 0,
    routes: { '/route': routeBody },
    fetch: (req) => {
      const u = new URL(req.url)
      return { body: `fetch ${id} ${u.pathname}${u.search}` }
    },
    websocket: {
      message(ws, m) {
        ws.send(m)
      },
    },
  })
  const base = `http://${HOST}:${server.port}`
  const ws = await abio.connectWebSocket(`ws://${HOST}:${server.port}/`)
  const inbox = ws[Symbol.asyncIterator]()

  let n = 0
  async function round() {
    const k = n++
    const [r, f, ab] = await Promise.all([
      abio.request(`${base}/route`),
      abio.request(`${base}/x?k=${k}`),
      abio.readFile(file),
    ])
    if (r.status !== 200 || !Buffer.from(r.body).equals(routeBody)) problem(`route: ${r.status}, wrong body`)
    if (f.status !== 200 || Buffer.from(f.body).toString() !== `fetch ${id} /x?k=${k}`)
      problem(`fetch: ${f.status}, wrong body`)
    if (!Buffer.from(ab).equals(fileBytes)) problem('readFile: wrong bytes')
  }
  // The WebSocket's echoes come back in order through one iterator: one lane uses it.
  async function wsRound() {
    const msg = `ws ${id} ${n}`
    ws.send(msg)
    const { value, done } = await inbox.next()
    if (done || value !== msg) problem(`websocket echo: ${done ? 'closed' : JSON.stringify(value)}`)
  }

  await round()
  await wsRound()
  parentPort.postMessage({ ready: true, port: server.port, problems })

  if (mode === 'terminate') {
    // Traffic until terminated: three request/read lanes and the WebSocket lane.
    const lane = async (f) => {
      for (;;) await f()
    }
    await Promise.all([lane(round), lane(round), lane(round), lane(wsRound)])
    return
  }
  for (let i = 0; i < 20; i++) await Promise.all([round(), wsRound()])
  if (mode === 'idle') {
    parentPort.postMessage({ idle: true, problems })
    setInterval(() => {}, 1000) // stays up, everything open, until terminated
    return
  }
  ws.close(1000)
  await ws.closed
  await server.close()
  parentPort.postMessage({ finished: true, problems })
}

main().catch((e) => parentPort.postMessage({ fatal: String((e && e.stack) || e) }))
