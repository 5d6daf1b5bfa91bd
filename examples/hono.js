'use strict'
// A Hono app (https://hono.dev, `npm install hono`) on abio, unmodified: `serve({ fetch: app.fetch })`.
// Routing with params, middleware, JSON both ways, bytes from an ArrayBuffer, server-sent events.
//
//   node examples/hono.js           # serves on a free port, asks itself, prints the answers, stops
//   node examples/hono.js 8080      # only the server; then: curl -i http://localhost:8080/users/7
//
// Outside this repository, write require('abio') instead of require('..').

const { Hono } = require('hono')
const { cors } = require('hono/cors')
const { streamSSE } = require('hono/streaming')
const { serve } = require('..')

const app = new Hono()

app.use('*', async (c, next) => {
  const start = performance.now()
  await next()
  c.header('x-response-time', `${(performance.now() - start).toFixed(1)}ms`)
})
app.use('/api/*', cors())

app.get('/', (c) => c.text('Hello from Hono on abio'))
app.get('/users/:id', (c) => c.json({ id: c.req.param('id'), fields: c.req.queries('field') ?? [] }))
app.post('/api/echo', async (c) => c.json({ youSent: await c.req.json() }, 201))
app.get('/abc', (c) => c.body(new Uint8Array([0x41, 0x42, 0x43]).buffer)) // an ArrayBuffer, sent as it is
app.get('/ticks', (c) =>
  streamSSE(c, async (stream) => {
    for (let i = 1; i <= 3; i++) {
      await stream.writeSSE({ id: String(i), event: 'tick', data: `tick ${i}` })
      await stream.sleep(10)
    }
  }),
)

/** Asks the app on `port` a few things and prints the answers. */
async function client(port) {
  const base = `http://127.0.0.1:${port}`
  const hello = await fetch(`${base}/`)
  console.log(hello.status, await hello.text())
  console.log(await (await fetch(`${base}/users/7?field=name&field=email`)).json())
  const echo = await fetch(`${base}/api/echo`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ hello: 'abio' }),
  })
  console.log(echo.status, await echo.json())
  console.log(new Uint8Array(await (await fetch(`${base}/abc`)).arrayBuffer()))
  console.log(await (await fetch(`${base}/ticks`)).text())
}

async function main([portArg] = process.argv.slice(2)) {
  if (portArg !== undefined) {
    const server = await serve({ port: Number(portArg), fetch: app.fetch })
    console.log(`Hono on abio at http://localhost:${server.port}/; Ctrl-C to stop`)
    return
  }
  const server = await serve({ port: 0, fetch: app.fetch })
  try {
    await client(server.port)
  } finally {
    await server.close()
  }
}

module.exports = { app, client, main }

if (require.main === module) {
  main().catch((err) => {
    console.error(err)
    process.exitCode = 1
  })
}
