// @ts-check
'use strict'
// WHATWG streams over an object's own calls: a Socket's bytes (lib/net.js) and a WebSocket's
// messages (lib/ws.js), for `Readable.fromWeb`, `Writable.fromWeb`, `Duplex.fromWeb`,
// `stream.pipeline` and `pipeTo`. No I/O here: every chunk comes from, or goes to, the
// object's read and write calls.

const { ReadableStream, WritableStream } = require('node:stream/web')

/**
 * A ReadableStream that asks `next()` for one chunk each time a reader wants one
 * (`highWaterMark` 0: nothing is read ahead of its reader, so the peer's flow control is the
 * backpressure). `next()` resolving `undefined` ends the stream; rejecting errors it with
 * that error. `cancel(reason)` is the stream's cancel.
 * @template T
 * @param {() => Promise<T | undefined>} next
 * @param {(reason: unknown) => void} cancel
 * @returns {ReadableStream<T>}
 */
function pullStream(next, cancel) {
  return new ReadableStream(
    {
      async pull(controller) {
        const chunk = await next()
        if (chunk === undefined) controller.close()
        else controller.enqueue(chunk)
      },
      cancel,
    },
    { highWaterMark: 0 },
  )
}

/**
 * A WritableStream whose sink is `write` (one chunk at a time: the stream calls it again only
 * once its promise resolved, which is the backpressure), `close` and `abort`.
 * @template T
 * @param {(chunk: T) => Promise<void>} write
 * @param {() => Promise<void>} close
 * @param {(reason: unknown) => void} abort
 * @returns {WritableStream<T>}
 */
function sinkStream(write, close, abort) {
  return new WritableStream({ write, close, abort })
}

module.exports = { pullStream, sinkStream }
