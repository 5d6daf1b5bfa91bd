// The type test for ESM consumers (`tsc --noEmit -p __test__`, module nodenext): named
// imports from 'abio' (resolved by name, through the package's `exports` map) type-check
// as in types.ts.
import { readFile, writeFile, pack, unpack, connect, listen, serve, request, connectWebSocket, toBuffer } from 'abio'
import { FileHandle, HttpServer, ServeRequest, Server, Socket, WebSocket } from 'abio'
import type { Bytes, Data, Unpacked } from 'abio'
import abio from 'abio'

export async function esm(): Promise<void> {
  const data: Data = new Float32Array(4)
  const n: number = await writeFile('/tmp/a', data)
  const ab: ArrayBuffer = await readFile('/tmp/a')
  const bytes: Bytes = ab
  const parts: Unpacked = unpack(pack({ a: bytes }))
  const text: string = await readFile('/tmp/a', 'utf8')
  const floats: Float32Array = unpack<{ f: Float32Array }>(pack({ f: new Float32Array(2) })).f
  const buf: Buffer = toBuffer(ab)
  const server: Server = await listen({ port: 0 }, async (socket: Socket) => {
    await socket.write(buf)
  })
  const socket: Socket = await connect({ host: '127.0.0.1', port: server.port })
  const http: HttpServer = await serve({ port: 0, fetch: (req: ServeRequest) => ({ body: req.path }) })
  const res = await request(`http://127.0.0.1:${http.port}/`)
  const ws: WebSocket = await connectWebSocket(`ws://127.0.0.1:${http.port}/`)
  const fh: FileHandle = await abio.open('/tmp/a')
  // @ts-expect-error readFile takes no number
  await readFile(42)
  // @ts-expect-error connect over TCP needs a port
  await connect({ host: '127.0.0.1' })
  void [text, floats, n, parts, socket, res.status, ws, fh]
}
