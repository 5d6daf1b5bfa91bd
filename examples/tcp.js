'use strict'
// The classic TCP scenario, with abio: a server that sends the bytes [1, 2, 3, 4] from an
// ArrayBuffer to every client, and a client that prints what it received.
//
//   node examples/tcp.js          # both sides in one process, on a free port
//   node examples/tcp.js server 7000
//   node examples/tcp.js client 7000
//
// Outside this repository, write require('abio') instead of require('..').

const abio = require('..')

const payload = new Uint8Array([1, 2, 3, 4]).buffer // an ArrayBuffer: no Buffer.from needed

/** Listens on `port` (0: a free one); every client gets the payload, then the end of the stream. */
function server(port = 0) {
  return abio.listen({ host: '127.0.0.1', port }, async (socket) => {
    try {
      await socket.write(payload) // resolves once the kernel has every byte
      await socket.end()
    } catch (err) {
      console.error(`server: ${err.code}: ${err.message}`)
    } finally {
      socket.close()
    }
  })
}

/** Connects, reads until the server ends the stream, and returns the bytes as an exact ArrayBuffer. */
async function client(port) {
  const socket = await abio.connect({ host: '127.0.0.1', port })
  try {
    const chunks = []
    for await (const chunk of socket) chunks.push(new Uint8Array(chunk))
    return new Uint8Array(Buffer.concat(chunks)).buffer
  } finally {
    socket.close()
  }
}

async function main([role, portArg] = process.argv.slice(2)) {
  const port = portArg === undefined ? 0 : Number(portArg)
  if (role === 'server') {
    const s = await server(port)
    console.log(`listening on ${s.host}:${s.port}; Ctrl-C to stop`)
    return
  }
  if (role === 'client') {
    console.log('received', new Uint8Array(await client(port)))
    return
  }
  const s = await server(0)
  try {
    const got = await client(s.port)
    console.log('received', new Uint8Array(got))
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
