// Compiled by scripts/test-install.js with `tsc --strict` beside consumer.ts: an ES module
// consumer's named imports type-check against the installed typings.
import { readFile, writeFile, listen } from 'abio'
import type { Server, Socket } from 'abio'

export async function esm(): Promise<void> {
  const written: number = await writeFile('/tmp/x', new Float32Array(4))
  const read: ArrayBuffer = await readFile('/tmp/x')
  const server: Server = await listen({ port: 0 }, async (socket: Socket) => {
    await socket.write(read)
  })
  await server.close()
  void written
}
