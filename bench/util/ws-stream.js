'use strict'
// The `ws` package's side of the WebSocket stream benchmarks (bench/ws.js, bench/tls.js): the
// messages every stack sends, and a `ws` server streaming them with the same backpressure
// abio's connections have.

/** A `size`-byte message whose first 4 bytes are its sequence number (u32 LE). */
function message(size, seq) {
  const m = Buffer.allocUnsafe(size)
  m.writeUInt32LE(seq >>> 0, 0)
  return m
}

/**
 * A promise of the `ws` connection's socket draining when more than `limit` bytes are queued
 * (ws.send() queues without limit), else null.
 */
function drained(ws, limit) {
  if (!(ws.bufferedAmount > limit && ws._socket.writableNeedDrain)) return null
  return new Promise((resolve) => {
    const done = () => {
      ws._socket.off('drain', done)
      ws._socket.off('close', done)
      resolve()
    }
    ws._socket.on('drain', done)
    ws._socket.on('close', done)
  })
}

/** Sends `size`-byte messages on a `ws` connection for `seconds`, then `end <count>`. */
async function stream(ws, size, seconds, limit) {
  const end = Date.now() + seconds * 1000
  let seq = 0
  while (Date.now() < end) {
    for (let i = 0; i < 64; i++) {
      ws.send(message(size, seq++))
      const d = drained(ws, limit)
      if (d) await d
    }
  }
  ws.send(`end ${seq}`)
}

/** The same stream from an abio WebSocket, with its own backpressure (`send()` false: `drained()`). */
async function abioStream(ws, size, seconds) {
  const end = Date.now() + seconds * 1000
  let seq = 0
  while (Date.now() < end) {
    for (let i = 0; i < 64; i++) if (!ws.send(message(size, seq++))) await ws.drained()
  }
  ws.send(`end ${seq}`)
}

/**
 * A `ws` client (npm `ws`'s `WebSocket` class, from the caller's require) connected to `url`
 * with `options` (e.g. `{ ca }`; permessage-deflate is off unless they turn it on), as the
 * connection the benches drive: `send`, `onMessage(fn)` (binary as Buffer, text as string),
 * `close()` resolving once closed, `extensions` (as agreed in the handshake).
 */
function wsConnection(WebSocket, url, options = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, ...options })
    let handler = null
    ws.on('message', (data, isBinary) => handler(isBinary ? data : data.toString()))
    ws.once('error', reject)
    const closed = new Promise((resolve) => ws.once('close', resolve))
    ws.once('open', () =>
      resolve({
        send: (d) => ws.send(d),
        onMessage: (fn) => (handler = fn),
        close: () => {
          ws.close()
          return closed
        },
        extensions: ws.extensions,
      }),
    )
  })
}

module.exports = { message, drained, stream, abioStream, wsConnection }
