'use strict'
// Run by scripts/test-install.js in a fresh project where abio was installed from its two
// tarballs: files, pack, TCP, HTTP and WebSocket once each, every byte checked. The process
// must then exit by itself (nothing left holding it open).

const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const abio = require('abio')

// The addon came from the platform package in this project's node_modules.
const addon = Object.keys(require.cache).find((f) => f.endsWith('.node'))
assert.ok(addon, 'no native addon loaded')
assert.ok(addon.startsWith(path.join(process.cwd(), 'node_modules', 'abio-')), `addon loaded from ${addon}`)
console.log(`addon: ${path.relative(process.cwd(), addon)}`)

const same = (a, b) => assert.deepEqual(new Uint8Array(a), new Uint8Array(b.buffer, b.byteOffset, b.byteLength))
const isArrayBuffer = (x) => Object.prototype.toString.call(x) === '[object ArrayBuffer]'

async function files() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'abio-consumer-'))
  try {
    const data = Float32Array.from({ length: 1000 }, (_, i) => i / 7)
    const file = path.join(dir, 'data.f32')
    assert.equal(await abio.writeFile(file, data), data.byteLength)
    const back = await abio.readFile(file)
    assert.ok(isArrayBuffer(back))
    same(back, data)
    same(fs.readFileSync(file), data)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

function pack() {
  const parts = {
    floats: new Float64Array([1.5, -2, Math.PI]),
    bytes: Buffer.from('hello'),
    view: new DataView(new ArrayBuffer(3)),
  }
  const out = abio.unpack(abio.pack(parts))
  assert.deepEqual(Object.keys(out), Object.keys(parts))
  for (const k of Object.keys(parts))
    same(out[k].buffer.slice(out[k].byteOffset, out[k].byteOffset + out[k].byteLength), parts[k])
}

async function tcp() {
  const server = await abio.listen({ host: '127.0.0.1', port: 0 }, async (socket) => {
    const frame = await socket.readFrame()
    await socket.writeFrame(frame)
    await socket.end()
    socket.close()
  })
  try {
    const socket = await abio.connect({ host: '127.0.0.1', port: server.port })
    const sent = new Uint16Array([1, 2, 3, 65535])
    await socket.writeFrame(sent)
    const echoed = await socket.readFrame()
    same(echoed, sent)
    assert.equal(await socket.readFrame(), null)
    socket.close()
  } finally {
    await server.close()
  }
}

async function http() {
  const route = new Uint8Array([0, 1, 2, 250, 251, 252])
  const server = await abio.serve({
    host: '127.0.0.1',
    port: 0,
    routes: { '/bytes': route },
    fetch: async (req) => ({ status: 201, body: await req.arrayBuffer() }),
  })
  try {
    const viaNode = await fetch(`http://127.0.0.1:${server.port}/bytes`)
    assert.equal(viaNode.status, 200)
    same(await viaNode.arrayBuffer(), route)
    const sent = new TextEncoder().encode('posted through a JS handler')
    const res = await abio.request(`http://127.0.0.1:${server.port}/echo`, { method: 'POST', body: sent })
    assert.equal(res.status, 201)
    same(res.body, sent)
  } finally {
    await server.close()
  }
}

async function websocket() {
  const server = await abio.serve({
    host: '127.0.0.1',
    port: 0,
    websocket: { path: '/ws', message: (ws, data) => ws.send(data) },
  })
  try {
    const ws = await abio.connectWebSocket(`ws://127.0.0.1:${server.port}/ws`)
    const sent = new Int32Array([-1, 0, 1, 2 ** 31 - 1])
    ws.send(sent)
    ws.send('text, é')
    const got = []
    for await (const message of ws) {
      got.push(message)
      if (got.length === 2) break
    }
    same(got[0], sent)
    assert.equal(got[1], 'text, é')
    ws.close(1000, 'done')
    assert.equal((await ws.closed).code, 1000)
  } finally {
    await server.close()
  }
}

async function main() {
  for (const [name, check] of Object.entries({ files, pack, tcp, http, websocket })) {
    await check()
    console.log(`${name}: ok`)
  }
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
