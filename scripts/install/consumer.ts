// Compiled by scripts/test-install.js with `tsc --strict` in a fresh project where abio was
// installed from its tarballs: the published typings are what this code relies on.
import * as abio from 'abio'
import type { ClientResponse, HttpServer, Socket, Unpacked, WebSocket } from 'abio'

async function main(): Promise<void> {
  const written: number = await abio.writeFile('/tmp/x', [
    new Float32Array(4),
    'text',
    new DataView(new ArrayBuffer(2)),
  ])
  const read: ArrayBuffer = await abio.readFile('/tmp/x', { maxSize: 1 << 20 })
  const packed: Buffer = abio.pack({ a: new Float64Array(2), b: read })
  const parts: Unpacked = abio.unpack(packed)

  const server: HttpServer = await abio.serve({
    port: 0,
    routes: { '/': new Uint8Array(1) },
    fetch: async (req) => ({ status: 200, body: await req.arrayBuffer() }),
    websocket: { message: (ws: WebSocket, data: ArrayBuffer | string) => void ws.send(data) },
  })
  const res: ClientResponse = await abio.request(`http://127.0.0.1:${server.port}/`)
  const bytes: ArrayBuffer = res.body
  const ws: WebSocket = await abio.connectWebSocket(`ws://127.0.0.1:${server.port}/`)
  const queued: boolean = ws.send(bytes)
  const closed: { code: number; reason: string } = await ws.closed
  await server.close()

  const socket: Socket = await abio.connect({ host: '127.0.0.1', port: 9 })
  const frame: ArrayBuffer | null = await socket.readFrame({ maxSize: 1024 })
  socket.close()
  // @ts-expect-error readFile takes no number
  await abio.readFile(42)
  void [written, parts, queued, closed, frame]
}

void main
