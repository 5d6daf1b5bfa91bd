'use strict'
// Child of scripts/soak.js: starts an HTTP server (route, fetch handler, WebSockets) and a TCP
// server, uses each (requests through the client's keep-alive pool, a WebSocket echo, a TCP
// frame echo, a file read), closes everything, and prints { closed: true } the moment the last
// close() resolved. Nothing else is pending: the parent measures how long the process takes
// to exit after that line. Usage: node scripts/soak/exit.js <dir>

const fs = require('fs')
const path = require('path')
const c = require('./common')

const abio = c.requireAbio()
const HOST = '127.0.0.1'

async function main() {
  const dir = process.argv[2]
  const file = path.join(dir, 'exit.bin')
  fs.writeFileSync(file, 'exit test')
  const problems = []
  const http = await abio.serve({
    host: HOST,
    port: 0,
    routes: { '/route': Buffer.from('route') },
    fetch: () => ({ body: 'fetch' }),
    websocket: { message: (ws, m) => ws.send(m) },
  })
  const tcp = await abio.listen({ host: HOST, port: 0 }, async (s) => {
    for (;;) {
      const f = await s.readFrame()
      if (f === null) break
      await s.writeFrame(f)
    }
  })
  const base = `http://${HOST}:${http.port}`
  const answers = await Promise.all([abio.request(`${base}/route`), abio.request(`${base}/x`)])
  if (answers.map((r) => Buffer.from(r.body).toString()).join() !== 'route,fetch') problems.push('http answers')
  const ws = await abio.connectWebSocket(`ws://${HOST}:${http.port}/`)
  ws.send('ping')
  for await (const m of ws) {
    if (m !== 'ping') problems.push('ws echo')
    break
  }
  const sock = await abio.connect({ host: HOST, port: tcp.port })
  await sock.writeFrame('frame')
  if (Buffer.from(await sock.readFrame()).toString() !== 'frame') problems.push('tcp echo')
  if (Buffer.from(await abio.readFile(file)).toString() !== 'exit test') problems.push('readFile')

  ws.close()
  await ws.closed
  sock.close()
  await Promise.all([http.close(), tcp.close()])
  // The last close() has resolved: from here on the process must end by itself.
  c.emit({ closed: true, problems })
}

main().catch((e) => {
  c.emit({ fatal: String((e && e.stack) || e) })
  process.exitCode = 3
})
