'use strict'
// The servers' side of bench/ws.js's fan-out cases, `broadcast` (one message to every
// connection) and `publish` (one message to every subscriber of a topic), for each stack:
// abio (server.broadcast / server.publish), `ws` (a loop of send over the connections, ws's
// documented broadcast pattern) and Bun (server.publish).
//
// Every stack paces the same way: PACE_EVERY messages, then each connection with more than
// PACE_AT bytes queued is waited for (its own backpressure signal). PACE_AT is half the
// connections' backpressure limit, so that no connection goes over that limit between two
// looks: abio (and Bun) skip a connection that is over it, and every client must get every
// message.

const { message, drained: wsDrained } = require('./ws-stream')

const PACE_EVERY = 16 // messages between two looks at the connections' queues

/**
 * Sends `size`-byte messages (seq in the first 4 bytes) with `send(data)` for `seconds`,
 * calling `pace()` (awaited) every PACE_EVERY messages; then `end <count>`. Resolves with the
 * count of messages sent.
 */
async function fanOut({ size, seconds, send, pace }) {
  const end = Date.now() + seconds * 1000
  let seq = 0
  while (Date.now() < end) {
    for (let i = 0; i < PACE_EVERY; i++) send(message(size, seq++))
    await pace()
  }
  send(`end ${seq}`)
  return seq
}

/** A fan-out's send for abio's `fn` (server.broadcast or a topic's server.publish), checking it reached `n` connections. */
function abioSend(fn, n, what) {
  return (data) => {
    const reached = fn(data)
    if (reached !== n)
      throw new Error(`wrong result: ${what} reached ${reached} connections, expected ${n} (a skipped connection?)`)
  }
}

/** abio's pacing: waits for each connection of `conns` with more than `paceAt` bytes queued. */
function abioPace(conns, paceAt) {
  return async () => {
    for (const ws of conns) if (ws.bufferedAmount > paceAt) await ws.drained()
  }
}

/** ws's send over `conns`, as ws documents a broadcast: every open connection's send(). */
function wsSend(conns) {
  return (data) => {
    for (const ws of conns) if (ws.readyState === 1) ws.send(data)
  }
}

/** ws's pacing: waits for the socket of each connection with more than `paceAt` bytes queued to drain. */
function wsPace(conns, paceAt) {
  return async () => {
    for (const ws of conns) {
      const d = wsDrained(ws, paceAt)
      if (d) await d
    }
  }
}

/**
 * Bun's pacing. Bun.serve's publish() queues in its topic tree, sent when the event loop turns
 * (getBufferedAmount() stays 0 meanwhile), so each look first lets the loop turn once; then
 * it waits for each connection with more than `paceAt` bytes queued, until its `drain` (see
 * bunDrains) or 1 ms, whichever comes first, and looks again.
 */
function bunPace(conns, paceAt, drains) {
  return async () => {
    await new Promise((resolve) => setImmediate(resolve))
    for (const ws of conns) {
      while (ws.readyState === 1 && ws.getBufferedAmount() > paceAt) await drains.next(ws, 1)
    }
  }
}

/** What a Bun server's websocket.drain(ws) calls drains.drained(ws) for: next(ws, ms) resolves at the next drain of ws, or after ms. */
function bunDrains() {
  const waiting = new Map()
  return {
    drained(ws) {
      const w = waiting.get(ws)
      if (w) {
        waiting.delete(ws)
        w()
      }
    },
    next(ws, ms) {
      return new Promise((resolve) => {
        const t = setTimeout(() => {
          waiting.delete(ws)
          resolve()
        }, ms)
        waiting.set(ws, () => {
          clearTimeout(t)
          resolve()
        })
      })
    },
  }
}

/**
 * The connections of a server, by the topic in their URL's path (`/room-<n>`: each run
 * subscribes fresh connections to a topic of its own, so none left from an earlier run is
 * counted): add(ws, path), remove(ws), of(topic) (a Set), and waitFor(topic, n), which
 * resolves once `n` connections are in the topic.
 */
function topics() {
  const byTopic = new Map()
  const topicOf = new Map()
  const of = (topic) => {
    let s = byTopic.get(topic)
    if (!s) byTopic.set(topic, (s = new Set()))
    return s
  }
  return {
    /** The topic of a URL path (`/room-3` -> 'room-3'), or null. */
    topicOfPath: (path) => (/^\/room-\d+$/.test(path) ? path.slice(1) : null),
    add(ws, topic) {
      of(topic).add(ws)
      topicOf.set(ws, topic)
    },
    remove(ws) {
      const t = topicOf.get(ws)
      if (t === undefined) return
      topicOf.delete(ws)
      const s = byTopic.get(t)
      s.delete(ws)
      if (s.size === 0) byTopic.delete(t)
    },
    of,
    async waitFor(topic, n, count = () => of(topic).size) {
      const deadline = Date.now() + 30000
      while (count() !== n) {
        if (Date.now() > deadline) throw new Error(`${count()} subscribers of ${topic} after 30 s, expected ${n}`)
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
    },
  }
}

module.exports = { PACE_EVERY, fanOut, abioSend, abioPace, wsSend, wsPace, bunPace, bunDrains, topics }
