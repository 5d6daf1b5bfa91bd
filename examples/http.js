'use strict'
// The classic HTTP scenario, with abio: a server whose `/` answers the bytes `ABC` from an
// ArrayBuffer as application/octet-stream, answered in Rust without entering JS, and abio's
// client, request(), that fetches them back into an exact ArrayBuffer.
//
//   node examples/http.js            # both sides in one process, on a free port
//   node examples/http.js 8080       # only the server; then: curl -i http://localhost:8080/
//
// Outside this repository, write require('abio') instead of require('..').

const abio = require('..')

const abc = new Uint8Array([0x41, 0x42, 0x43]).buffer // an ArrayBuffer: held, not copied

/** Serves `/` on `port` (0: a free one). */
function server(port = 0) {
  return abio.serve({ port, routes: { '/': abc } })
}

/** GETs `/` and returns the status, the content type and the body as an ArrayBuffer. */
async function client(port) {
  const res = await abio.request(`http://127.0.0.1:${port}/`)
  return { status: res.status, type: res.headers.get('content-type'), body: res.body }
}

async function main([portArg] = process.argv.slice(2)) {
  if (portArg !== undefined) {
    const s = await server(Number(portArg))
    console.log(`serving ABC on http://localhost:${s.port}/; Ctrl-C to stop`)
    return
  }
  const s = await server(0)
  try {
    const got = await client(s.port)
    console.log(got.status, got.type, Buffer.from(got.body).toString())
    return got
  } finally {
    await s.close()
  }
}

module.exports = { server, client, main }

if (require.main === module) {
  main().catch((err) => {
    console.error(err)
    process.exitCode = 1
  })
}
