'use strict'
// Server-sent events with abio: a fetch handler answers a `ReadableStream` of `text/event-stream`
// events. The server pulls the next event only while the client keeps up, and cancels the
// stream when the client goes away, so an endless feed holds bounded memory.
//
//   node examples/sse.js            # serves on a free port, reads 3 events itself, leaves, stops
//   node examples/sse.js 8080       # only the server; open http://localhost:8080/ in a browser,
//                                   # or: curl -N http://localhost:8080/events
//
// Outside this repository, write require('abio') instead of require('..').

const { serve } = require('..')

const encoder = new TextEncoder()
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const page = `<!doctype html>
<meta charset="utf-8">
<title>abio server-sent events</title>
<pre id="log"></pre>
<script>
  new EventSource('/events').onmessage = (e) =>
    (document.getElementById('log').textContent += e.lastEventId + ': ' + e.data + '\\n')
</script>
`

/** An endless feed: one event every 100 ms, while the client takes them; `left()` when it goes. */
function feed(left) {
  let id = 0
  return new ReadableStream({
    async pull(controller) {
      if (id > 0) await sleep(100)
      id++
      controller.enqueue(encoder.encode(`id: ${id}\ndata: tick ${id}\n\n`))
    },
    cancel() {
      left()
    },
  })
}

/** Serves the page on `/` and the feed on `/events`; `onLeft()` when a client leaves. */
function server(port = 0, onLeft = () => {}) {
  return serve({
    port,
    fetch(request) {
      const { pathname } = new URL(request.url)
      if (pathname === '/events') {
        return new Response(feed(onLeft), {
          headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' },
        })
      }
      if (pathname === '/') return new Response(page, { headers: { 'content-type': 'text/html; charset=utf-8' } })
      return new Response('not found', { status: 404 })
    },
  })
}

/** Reads `n` events from `/events` with fetch, then leaves (which cancels the server's stream). */
async function client(port, n = 3) {
  const res = await fetch(`http://127.0.0.1:${port}/events`)
  const decoder = new TextDecoder()
  const events = []
  let text = ''
  for await (const chunk of res.body) {
    text += decoder.decode(chunk, { stream: true })
    let end
    while ((end = text.indexOf('\n\n')) >= 0 && events.length < n) {
      events.push(text.slice(0, end))
      text = text.slice(end + 2)
    }
    if (events.length === n) break // leaves: the body is cancelled, the connection closed
  }
  return events
}

async function main([portArg] = process.argv.slice(2)) {
  if (portArg !== undefined) {
    const s = await server(Number(portArg))
    console.log(`open http://localhost:${s.port}/ in a browser; Ctrl-C to stop`)
    return
  }
  let left
  const gone = new Promise((resolve) => (left = resolve))
  const s = await server(0, left)
  try {
    for (const event of await client(s.port)) console.log(event.replace('\n', ' | '))
    await gone
    console.log("the client left: the server's stream was cancelled")
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
