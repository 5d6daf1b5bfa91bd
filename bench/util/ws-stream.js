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

module.exports = { message, drained, stream }
