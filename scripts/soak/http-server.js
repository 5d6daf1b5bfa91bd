'use strict'
// Child of scripts/soak.js: the abio HTTP server wrk loads. Usage: node scripts/soak/http-server.js <dir>
//
// Paths (every answer carries `x-soak: <name>` so wrk's Lua script can tell which path a
// response belongs to, and its expected status and length):
//   /bytes    a 1 KiB bytes route (answered in Rust)             200
//   /file     a 16 KiB file route (answered in Rust)             200
//   /fetch    the JS fetch handler, 2 KiB of bytes               200
//   /missing  not a route: the fetch handler answers 404         404 (deliberate)
//   /fail     the fetch handler answers 500 on purpose           500 (deliberate)
// Prints JSON lines on stdout: { port, pid, sizes } once listening, then { t, rss, fds } every second.
// A line `close` on stdin closes the server, prints { closed } and lets the process end by itself;
// a line `gc` runs a GC (when started with --expose-gc) and reports at once.

const fs = require('fs')
const path = require('path')
const c = require('./common')

const abio = c.requireAbio()
const dir = process.argv[2]

const FAILED = 'failed on cue'
const NOT_FOUND = 'not found'
const SIZES = { bytes: 1024, file: 16384, fetch: 2048, missing: NOT_FOUND.length, fail: FAILED.length }

async function main() {
  const file = path.join(dir, 'route-16k.bin')
  fs.writeFileSync(file, c.pattern(SIZES.file, 5))
  const fetchBody = c.pattern(SIZES.fetch, 6)
  const tag = (name) => ({ 'x-soak': name })
  const server = await abio.serve({
    host: '127.0.0.1',
    port: 0,
    routes: {
      '/bytes': { body: c.pattern(SIZES.bytes, 4), contentType: 'application/octet-stream', headers: tag('bytes') },
      '/file': { file, headers: tag('file') },
    },
    fetch(req) {
      if (req.path === '/fetch') return { headers: tag('fetch'), body: fetchBody }
      if (req.path === '/fail') return { status: 500, headers: tag('fail'), body: FAILED }
      return { status: 404, headers: tag('missing'), body: NOT_FOUND }
    },
  })
  const t0 = Date.now()
  c.emit({ port: server.port, pid: process.pid, sizes: SIZES })
  const report = () => c.emit({ t: Date.now() - t0, rss: c.rss(), fds: c.fdCount() })
  c.serveUntilClosed(server, report)
}

main().catch((e) => {
  c.emit({ fatal: String((e && e.stack) || e) })
  process.exitCode = 3
})
