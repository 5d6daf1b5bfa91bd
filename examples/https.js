'use strict'
// https and wss on one port: `/` answers "hello over https" from Rust, `/ws` echoes WebSocket
// messages; abio's client fetches the page and exchanges a binary message, trusting the server's
// certificate (made at run time, self-signed: see certificate.js) through `ca`.
//
//   node examples/https.js           # both sides in one process, on a free port
//   node examples/https.js 8443      # only the server; it writes the certificate to ./localhost.pem:
//                                    # curl --cacert localhost.pem https://localhost:8443/
//
// Outside this repository, write require('abio') instead of require('..').

const fs = require('fs')
const abio = require('..')
const { localhostCertificate } = require('./certificate')

/** Serves https and wss on `port` (0: a free one) with `tls` ({ cert, key }). */
function server(port, tls) {
  return abio.serve({
    port,
    tls,
    routes: { '/': { body: 'hello over https' } },
    websocket: { path: '/ws', message: (ws, data) => ws.send(data) },
  })
}

/** GETs `/` and echoes [1, 2, 3] through `/ws`, trusting `ca`. */
async function client(port, ca) {
  const res = await abio.request(`https://localhost:${port}/`, { ca })
  const ws = await abio.connectWebSocket(`wss://localhost:${port}/ws`, { ca })
  ws.send(new Uint8Array([1, 2, 3]))
  let echo
  for await (const message of ws) {
    echo = message
    break
  }
  ws.close()
  return { status: res.status, body: Buffer.from(res.body).toString(), echo }
}

async function main([portArg] = process.argv.slice(2)) {
  const tls = localhostCertificate()
  if (portArg !== undefined) {
    fs.writeFileSync('localhost.pem', tls.cert)
    const s = await server(Number(portArg), tls)
    console.log(`serving https://localhost:${s.port}/ and wss://localhost:${s.port}/ws; Ctrl-C to stop`)
    return
  }
  const s = await server(0, tls)
  try {
    const got = await client(s.port, tls.cert)
    console.log(got.status, got.body, new Uint8Array(got.echo))
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
