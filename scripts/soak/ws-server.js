'use strict'
// Child of scripts/soak.js: the abio WebSocket echo server the `ws` clients (scripts/soak/ws-clients.js)
// hammer. Usage: node scripts/soak/ws-server.js
//
// Prints JSON lines on stdout: { port, pid, fdLimit } once listening, then every second
// { t, rss, fds, open, opened, closed, messages } (open: connections whose close handler has
// not run yet). A line `close` on stdin closes the server, prints { closed } and lets the
// process end by itself; a line `gc` runs a GC (when started with --expose-gc) and reports at once.

const fs = require('fs')
const c = require('./common')

const abio = c.requireAbio()

/** The soft limit on open descriptors (RLIMIT_NOFILE) of this process. */
function fdLimit() {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'))
  return m ? (m[1] === 'unlimited' ? Infinity : Number(m[1])) : NaN
}

async function main() {
  let opened = 0
  let closed = 0
  let messages = 0
  const server = await abio.serve({
    host: '127.0.0.1',
    port: 0,
    // The clients send more than a few KiB at times; keep the default limits otherwise.
    websocket: {
      open() {
        opened++
      },
      message(ws, m) {
        messages++
        ws.send(m)
      },
      close() {
        closed++
      },
    },
  })
  const t0 = Date.now()
  c.emit({ port: server.port, pid: process.pid, fdLimit: fdLimit() })
  const report = () =>
    c.emit({ t: Date.now() - t0, rss: c.rss(), fds: c.fdCount(), open: opened - closed, opened, closed, messages })
  c.serveUntilClosed(server, report, () => ({ opened, closedConns: closed }))
}

main().catch((e) => {
  c.emit({ fatal: String((e && e.stack) || e) })
  process.exitCode = 3
})
