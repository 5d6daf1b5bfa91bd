'use strict'
// The classic WebSocket scenario, with abio: a server that sends the bytes `xyz` from an
// ArrayBuffer to every client that connects (and to all of them at once with broadcast),
// and a page, served by the same server, where a browser receives them.
//
//   node examples/websocket.js 8080   # the server; open the printed URL in a browser
//   node examples/websocket.js        # the exchange with abio's own client, then exit
//
// Outside this repository, write require('abio') instead of require('..').

const abio = require('..')

const xyz = new Uint8Array([0x78, 0x79, 0x7a]).buffer // an ArrayBuffer: held, not copied

const page = `<!doctype html>
<meta charset="utf-8">
<title>abio WebSocket</title>
<pre id="log">connecting...</pre>
<script>
  const log = (line) => (document.getElementById('log').textContent += '\\n' + line)
  const ws = new WebSocket('ws://' + location.host + '/ws')
  ws.binaryType = 'arraybuffer'
  ws.onopen = () => log('open')
  ws.onmessage = (e) => log('received ' + new TextDecoder().decode(e.data) + ' (' + e.data.byteLength + ' bytes)')
  ws.onclose = (e) => log('closed ' + e.code)
</script>
`

/** Serves the page on `/` and WebSockets on `/ws`; each new client gets `xyz`. */
function server(port = 0) {
  return abio.serve({
    port,
    routes: { '/': { body: page, contentType: 'text/html; charset=utf-8' } },
    websocket: {
      path: '/ws',
      open(ws) {
        ws.send(xyz)
      },
    },
  })
}

/** Connects with abio's client and returns the first message (an exact ArrayBuffer). */
async function client(port) {
  const ws = await abio.connectWebSocket(`ws://127.0.0.1:${port}/ws`)
  try {
    for await (const message of ws) return message
  } finally {
    ws.close()
    await ws.closed
  }
}

async function main([portArg] = process.argv.slice(2)) {
  if (portArg !== undefined) {
    const s = await server(Number(portArg))
    console.log(`open http://localhost:${s.port}/ in a browser: each page gets xyz; Ctrl-C to stop`)
    // Every 5 s, one more xyz to every open page, framed once.
    setInterval(() => s.broadcast(xyz), 5000).unref()
    return
  }
  const s = await server(0)
  try {
    const got = await client(s.port)
    console.log(`received ${Buffer.from(got).toString()} (${got.byteLength} bytes, ${got.constructor.name})`)
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
