'use strict'
// The `deflate` case of bench/ws.js: the JSON documents a server streams (text messages of
// about 16 KiB), how each stack streams them with its own backpressure, and the client's check
// of each one.
//
// A document is `{"seq":N,"ts":"<ISO time>","page":P,"total":...,"items":[...]}`: an array of
// user records (ids, names, e-mails, timestamps, nested tags, addresses, scores, an event
// history), one of PAGES deterministic variants of it (seq % PAGES), with the seq and the
// time stamp changing every message: text that compresses as real API payloads do, never the
// same string twice. Documents are ASCII only, so a string's length is its size in bytes.

const PAGES = 64
const ITEMS = 28 // records per document: about 16 KiB

/** A small deterministic PRNG (mulberry32). */
function prng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const FIRST = ['Ada', 'Alan', 'Grace', 'Linus', 'Barbara', 'Ken', 'Dennis', 'Margaret', 'Edsger', 'Frances']
const LAST = ['Lovelace', 'Turing', 'Hopper', 'Torvalds', 'Liskov', 'Thompson', 'Ritchie', 'Hamilton', 'Dijkstra']
const CITIES = ['Lisbon', 'Oslo', 'Kyoto', 'Denver', 'Nairobi', 'Recife', 'Tallinn', 'Hobart']
const TAGS = ['admin', 'beta', 'billing', 'editor', 'mobile', 'premium', 'support', 'trial', 'viewer', 'api']
const EVENTS = ['login', 'logout', 'purchase', 'refund', 'upload', 'share', 'comment', 'invite']
const EPOCH = Date.UTC(2026, 0, 1)

/** The records of page `p`: a JSON array (a string). */
function page(p) {
  const rnd = prng(0x9e3779b9 ^ (p * 2654435761))
  const pick = (xs) => xs[Math.floor(rnd() * xs.length)]
  const time = () => new Date(EPOCH + Math.floor(rnd() * 300 * 86400) * 1000).toISOString()
  const items = []
  for (let i = 0; i < ITEMS; i++) {
    const first = pick(FIRST)
    const last = pick(LAST)
    const id = 100000 + p * ITEMS + i
    items.push({
      id,
      uuid: Array.from({ length: 4 }, () =>
        Math.floor(rnd() * 2 ** 32)
          .toString(16)
          .padStart(8, '0'),
      ).join('-'),
      name: `${first} ${last}`,
      email: `${first}.${last}${id % 97}@example.com`.toLowerCase(),
      active: rnd() < 0.8,
      created: time(),
      lastSeen: time(),
      score: Math.round(rnd() * 1e6) / 100,
      balance: { amount: Math.round(rnd() * 1e7) / 100, currency: pick(['EUR', 'USD', 'JPY', 'BRL']) },
      tags: Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => pick(TAGS)),
      address: {
        street: `${1 + Math.floor(rnd() * 999)} ${pick(LAST)} Street`,
        city: pick(CITIES),
        zip: String(10000 + Math.floor(rnd() * 89999)),
        geo: { lat: Math.round((rnd() * 180 - 90) * 1e5) / 1e5, lng: Math.round((rnd() * 360 - 180) * 1e5) / 1e5 },
      },
      history: Array.from({ length: 2 + Math.floor(rnd() * 3) }, () => ({ at: time(), event: pick(EVENTS) })),
    })
  }
  return JSON.stringify(items)
}

let pages = null
/** The pages, made on first use (a process that sends or checks documents). */
function allPages() {
  if (!pages) pages = Array.from({ length: PAGES }, (_, p) => page(p))
  return pages
}

/** Document number `seq` (a string of about 16 KiB). */
function documentOf(seq) {
  const p = seq % PAGES
  const ts = new Date(EPOCH + seq * 250).toISOString()
  return `{"seq":${seq},"ts":"${ts}","page":${p},"total":${PAGES * ITEMS},"items":${allPages()[p]}}`
}

/** Throws a wrong result unless `data` is document `seq` (`what` names the receiver): JSON, its seq, its size. */
function checkDocument(data, seq, what) {
  if (typeof data !== 'string')
    throw new Error(`wrong result: ${what}: a binary message, expected text (document ${seq})`)
  let doc
  try {
    doc = JSON.parse(data)
  } catch (e) {
    throw new Error(`wrong result: ${what}: document ${seq} is not JSON (${e.message}); ${data.length} bytes`)
  }
  if (doc.seq !== seq) throw new Error(`wrong result: ${what}: document ${seq} has seq ${doc.seq}`)
  const expected = documentOf(seq).length // a cons string: its length without building it
  if (data.length !== expected)
    throw new Error(`wrong result: ${what}: document ${seq} is ${data.length} bytes, ${expected} were sent`)
  if (!Array.isArray(doc.items) || doc.items.length !== ITEMS)
    throw new Error(`wrong result: ${what}: document ${seq} has ${doc.items && doc.items.length} items`)
}

/** Whether an `extensions` string (ws.extensions, the handshake's) has permessage-deflate. */
function negotiated(extensions) {
  return typeof extensions === 'string' && extensions.includes('permessage-deflate')
}

/**
 * Streams documents on an abio server connection for `seconds` (send() === false -> await
 * drained()), then `end <count>`.
 */
async function abioDocuments(ws, seconds) {
  const end = Date.now() + seconds * 1000
  let seq = 0
  while (Date.now() < end) {
    for (let i = 0; i < 8; i++) if (!ws.send(documentOf(seq++))) await ws.drained()
  }
  ws.send(`end ${seq}`)
}

/**
 * The same on a `ws` server connection. ws compresses on libuv's thread pool and queues
 * without limit, so its backpressure is the send callbacks (a message's comes once it is
 * written out): at most `limit` bytes of documents are in flight.
 */
async function wsDocuments(ws, seconds, limit) {
  let inFlight = 0
  let wake = null
  let failed = null
  const sent = (n) => (err) => {
    inFlight -= n
    if (err && !failed) failed = err
    if (wake && inFlight <= limit) {
      const w = wake
      wake = null
      w()
    }
  }
  const end = Date.now() + seconds * 1000
  let seq = 0
  while (Date.now() < end) {
    for (let i = 0; i < 8; i++) {
      const d = documentOf(seq++)
      inFlight += d.length
      ws.send(d, sent(d.length))
      if (inFlight > limit) await new Promise((resolve) => (wake = resolve))
      if (failed) throw failed
    }
  }
  ws.send(`end ${seq}`)
}

/**
 * The same on a Bun server connection: send(data, true) compresses (Bun's default is not to);
 * -1 means queued over the backpressure limit: wait for the connection's drain (`drains`, as
 * ws-fanout.js's bunDrains); 0 means dropped, an error.
 */
async function bunDocuments(ws, seconds, drains) {
  const end = Date.now() + seconds * 1000
  let seq = 0
  while (Date.now() < end) {
    for (let i = 0; i < 8; i++) {
      const r = ws.send(documentOf(seq++), true)
      if (r === 0) throw new Error(`Bun dropped document ${seq - 1}`)
      if (r === -1) while (ws.readyState === 1 && ws.getBufferedAmount() > 0) await drains.next(ws, 5)
    }
  }
  ws.send(`end ${seq}`)
}

module.exports = { documentOf, checkDocument, negotiated, abioDocuments, wsDocuments, bunDocuments }
