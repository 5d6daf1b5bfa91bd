'use strict'
// Child of scripts/soak.js: one "memory flat" workload, in a process of its own, started with
// --expose-gc. Usage: node --expose-gc scripts/soak/mem.js <files|pack|tcp|http|ws> <count> <dir>
//
// The workload runs twice: a warm-up part (WARM_FRACTION of the count) and then the rest.
// Each part opens what it needs (servers, connections) and closes all of it before it ends,
// so both measurements are taken in the same quiescent state: after the warm-up (allocator
// pools, JIT, abio's runtime threads all exist by then) we GC and read RSS and the descriptor
// count, after the rest we read the descriptor count (polling up to 3 s, no forced GC: a
// descriptor must be released when its owner is closed), then GC and read RSS and the count
// again. Every operation checks its bytes.
// Prints one JSON line: { workload, ops, seconds, rate, rssStart, rssEnd, fdsStart, fdsNoGc, fdsEnd, ... }.

const path = require('path')
const c = require('./common')

const abio = c.requireAbio()
const [workload, countArg, dir] = process.argv.slice(2)
const WARM_FRACTION = 0.15
const HOST = '127.0.0.1'

/** The first few mismatches (any fails the check). */
const problems = []
function problem(what) {
  if (problems.length < 10) problems.push(what)
}
let peakFds = 0
function sampleFds() {
  const n = c.fdCount()
  if (n > peakFds) peakFds = n
}

// ---------------------------------------------------------------------------
// files: abio.writeFile + abio.readFile of small files, 8 lanes over 256 paths

const FILE_LANES = 8
const FILE_PATHS = 256
const filePattern = c.pattern(4096, 7)

async function files(n, part) {
  const lane = async (k) => {
    for (let i = k; i < n; i += FILE_LANES) {
      // 512..1535 bytes, so overwrites both grow and trim the file; the op number is stamped in
      const size = 512 + ((i * 37) % 1024)
      const data = Buffer.allocUnsafe(size)
      filePattern.copy(data, 0, i % 2048, (i % 2048) + size)
      data.writeUInt32LE(i >>> 0, 0)
      data.writeUInt32LE(part, size - 4)
      const p = path.join(dir, `f${k + FILE_LANES * (((i / FILE_LANES) | 0) % (FILE_PATHS / FILE_LANES))}.bin`)
      const written = await abio.writeFile(p, data)
      if (written !== size) problem(`writeFile returned ${written}, expected ${size}`)
      const back = await abio.readFile(p)
      if (!(back instanceof ArrayBuffer) || !Buffer.from(back).equals(data))
        problem(`readFile of ${p} after writing op ${i}: ${back && back.byteLength} bytes, not what was written`)
      if ((i & 4095) === 0) sampleFds()
    }
  }
  await Promise.all(Array.from({ length: FILE_LANES }, (_, k) => lane(k)))
}

// ---------------------------------------------------------------------------
// pack: pack + unpack of a few typed arrays (record and list forms, packInto), values checked

const packTarget = Buffer.alloc(4096)
function bytesOf(v) {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength)
}
async function pack(n) {
  for (let i = 0; i < n; i++) {
    const f = new Float32Array(4 + (i % 29))
    for (let j = 0; j < f.length; j++) f[j] = i + j / 4
    const ids = new BigUint64Array(1 + (i % 5)).fill(BigInt(i) * 1000003n)
    const raw = filePattern.subarray(i % 1000, (i % 1000) + (i % 97))
    const dv = new DataView(new ArrayBuffer(12))
    dv.setUint32(0, i)
    const mode = i % 4
    let packed
    if (mode === 3) {
      const len = abio.packInto(packTarget, { f, ids, raw, dv }, { checksum: (i & 8) === 0 })
      packed = packTarget.subarray(0, len)
    } else if (mode === 2) {
      packed = abio.pack([f, ids, raw, dv], { align: 64 })
    } else {
      packed = abio.pack({ f, ids, raw, dv })
    }
    const u = abio.unpack(packed)
    const parts = mode === 2 ? { f: u[0], ids: u[1], raw: u[2], dv: u[3] } : u
    if (
      !(parts.f instanceof Float32Array) ||
      !(parts.ids instanceof BigUint64Array) ||
      !(parts.raw instanceof Uint8Array) ||
      !(parts.dv instanceof DataView) ||
      !bytesOf(parts.f).equals(bytesOf(f)) ||
      !bytesOf(parts.ids).equals(bytesOf(ids)) ||
      !bytesOf(parts.raw).equals(raw) ||
      parts.dv.getUint32(0) !== i
    )
      problem(`unpack(pack()) of op ${i} (mode ${mode}) differs from the parts`)
  }
}

// ---------------------------------------------------------------------------
// tcp: abio.listen echoes frames, abio.connect sends them (32 in flight) and checks each echo;
// 1000 frames per connection, 4 connections at a time, so connections come and go too

const TCP_PER_CONN = 1000
const TCP_CONNS = 4
const TCP_WINDOW = 32
const framePattern = c.pattern(8192, 11)
const frameLen = (seq) => (seq * 131) % 4096 // 0..4095 bytes after the 4-byte sequence number
function frame(seq) {
  const head = Buffer.allocUnsafe(4)
  head.writeUInt32LE(seq >>> 0, 0)
  return [head, framePattern.subarray(seq % 4096, (seq % 4096) + frameLen(seq))]
}
function frameOk(ab, seq) {
  if (!(ab instanceof ArrayBuffer) || ab.byteLength !== 4 + frameLen(seq)) return false
  const b = Buffer.from(ab)
  return (
    b.readUInt32LE(0) === seq >>> 0 &&
    b.subarray(4).equals(framePattern.subarray(seq % 4096, (seq % 4096) + frameLen(seq)))
  )
}

async function tcp(n) {
  const server = await abio.listen({ host: HOST, port: 0 }, async (sock) => {
    try {
      for (;;) {
        const f = await sock.readFrame()
        if (f === null) break // the client ended: abio ends our side after the pending writes
        sock.writeFrame(f).catch((e) => problem(`server writeFrame: ${e.code || e.message}`))
      }
    } catch (e) {
      problem(`server readFrame: ${e.code || e.message}`)
      sock.close()
    }
  })
  let next = 0
  const conn = async () => {
    while (next < n) {
      const first = next
      const last = Math.min(n, first + TCP_PER_CONN)
      next = last
      const sock = await abio.connect({ host: HOST, port: server.port })
      let sent = first
      const send = () =>
        sock.writeFrame(frame(sent++)).catch((e) => problem(`client writeFrame: ${e.code || e.message}`))
      while (sent < last && sent - first < TCP_WINDOW) send()
      for (let seq = first; seq < last; seq++) {
        const f = await sock.readFrame()
        if (!frameOk(f, seq)) {
          problem(`frame ${seq}: echo differs (${f === null ? 'end of stream' : f.byteLength + ' bytes'})`)
          break
        }
        if (sent < last) send()
      }
      await sock.end()
      const tail = await sock.read()
      if (tail !== null) problem(`after the last echo the server sent ${tail.byteLength} more bytes`)
      sock.close()
      sampleFds()
    }
  }
  await Promise.all(Array.from({ length: TCP_CONNS }, conn))
  await server.close()
}

// ---------------------------------------------------------------------------
// http: abio.serve (a bytes route and a fetch handler) + abio.request, 32 in flight over
// the client's keep-alive pool; GET the route, GET through fetch, POST echoed by fetch

const HTTP_LANES = 32
const routeBody = c.pattern(1024, 3)
const fetchBody = (k) => framePattern.subarray(k % 4096, (k % 4096) + 16 + (k % 2000))

async function http(n) {
  const server = await abio.serve({
    host: HOST,
    port: 0,
    routes: { '/bytes': routeBody },
    fetch: async (req) => {
      if (req.path === '/fetch') {
        const k = Number(new URL(req.url, 'http://x').searchParams.get('k'))
        return { headers: { 'content-type': 'application/octet-stream' }, body: fetchBody(k) }
      }
      if (req.path === '/echo' && req.method === 'POST') return { body: await req.arrayBuffer() }
      return { status: 404, body: 'not here' }
    },
  })
  const base = `http://${HOST}:${server.port}`
  const lane = async (k) => {
    for (let i = k; i < n; i += HTTP_LANES) {
      let res
      let want
      const kind = i % 3
      try {
        if (kind === 0) {
          res = await abio.request(`${base}/bytes`)
          want = routeBody
        } else if (kind === 1) {
          res = await abio.request(`${base}/fetch?k=${i}`)
          want = fetchBody(i)
        } else {
          want = Buffer.from(fetchBody(i * 7))
          want.writeUInt32LE(i >>> 0, 0)
          res = await abio.request(`${base}/echo`, { method: 'POST', body: want })
        }
      } catch (e) {
        problem(`request ${i} (kind ${kind}) failed: ${e.code || e.message}`)
        continue
      }
      if (res.status !== 200 || !(res.body instanceof ArrayBuffer) || !Buffer.from(res.body).equals(want))
        problem(
          `request ${i} (kind ${kind}): status ${res.status}, ${res.body && res.body.byteLength} bytes, not the expected`,
        )
      if ((i & 1023) === 0) sampleFds()
    }
  }
  await Promise.all(Array.from({ length: HTTP_LANES }, (_, k) => lane(k)))
  await server.close()
}

// ---------------------------------------------------------------------------
// ws: abio.serve({ websocket }) echoes, abio.connectWebSocket clients (4 at a time, 5000
// messages each, 32 in flight) check every echo in order; binary and text messages alternate,
// mostly small, one in 500 of 16-48 KiB (held rather than copied on the way out)

const WS_PER_CONN = 5000
const WS_CONNS = 4
const WS_WINDOW = 32
const wsPattern = c.pattern(64 * 1024, 13) // covers the largest message from any offset below 4096
function wsMessage(seq) {
  const large = seq % 500 === 499 || seq % 500 === 250
  if (seq % 2) return `text ${seq} ✓ ${'é'.repeat(large ? 8192 + ((seq * 7) % 16384) : seq % 300)}`
  const m = Buffer.allocUnsafe(4 + (large ? 16384 + ((seq * 53) % 32768) : (seq * 53) % 3000))
  m.writeUInt32LE(seq >>> 0, 0)
  wsPattern.copy(m, 4, seq % 4096, (seq % 4096) + m.length - 4)
  return m
}
function wsOk(got, seq) {
  const want = wsMessage(seq)
  if (typeof want === 'string') return got === want
  return got instanceof ArrayBuffer && Buffer.from(got).equals(want)
}

async function ws(n) {
  let serverCloses = 0
  const server = await abio.serve({
    host: HOST,
    port: 0,
    websocket: {
      message(sock, m) {
        sock.send(m)
      },
      close() {
        serverCloses++
      },
    },
  })
  let next = 0
  let conns = 0
  const conn = async () => {
    while (next < n) {
      const first = next
      const last = Math.min(n, first + WS_PER_CONN)
      next = last
      const sock = await abio.connectWebSocket(`ws://${HOST}:${server.port}/`)
      conns++
      let sent = first
      let seq = first
      const send = async () => {
        if (!sock.send(wsMessage(sent++))) await sock.drained()
      }
      while (sent < last && sent - first < WS_WINDOW) await send()
      if (seq < last) {
        for await (const m of sock) {
          if (!wsOk(m, seq)) {
            problem(`ws message ${seq}: echo differs`)
            break
          }
          seq++
          if (seq === last) break
          if (sent < last) await send()
        }
      }
      if (seq !== last) problem(`ws connection ${first}: ${last - seq} echoes missing`)
      sock.close(1000, 'done')
      const { code } = await sock.closed
      if (code !== 1000) problem(`ws client closed with ${code}, expected 1000`)
      sampleFds()
    }
  }
  await Promise.all(Array.from({ length: WS_CONNS }, conn))
  // The server's close handlers run for every connection before the server closes.
  for (let i = 0; i < 200 && serverCloses < conns; i++) await c.sleep(10)
  if (serverCloses !== conns) problem(`the server saw ${serverCloses} closes of ${conns} connections`)
  await server.close()
}

// ---------------------------------------------------------------------------

const WORKLOADS = { files, pack, tcp, http, ws }

async function main() {
  const run = WORKLOADS[workload]
  if (!run) throw new Error(`unknown workload ${workload}`)
  const total = Number(countArg)
  const warm = Math.round(total * WARM_FRACTION)
  const fds0 = c.fdCount() // abio loaded, nothing used yet (information)

  await run(warm, 1)
  await c.settle()
  const fdsStart = await c.quietFds()
  const fdListStart = c.fdTargets()
  const rssStart = c.rss()
  peakFds = fdsStart

  const t0 = process.hrtime.bigint()
  await run(total - warm, 2)
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9

  // Descriptors must be released when what holds them is closed, not when a GC happens to
  // collect the JS objects: poll without forcing a GC first, then GC and look again.
  const { fds: fdsNoGc, waitedMs } = await c.fdsBackTo(fdsStart, 3000)
  const fdListNoGc = c.fdTargets()
  await c.settle()
  const { fds: fdsEnd } = await c.fdsBackTo(fdsStart, 3000)
  await c.settle()
  const rssEnd = c.rss()
  const out = {
    workload,
    ops: total - warm,
    warm,
    seconds,
    rate: (total - warm) / seconds,
    fds0,
    fdsStart,
    fdsNoGc,
    fdsEnd,
    peakFds,
    fdWaitMs: waitedMs,
    rssStart,
    rssEnd,
    problems,
  }
  if (fdsNoGc !== fdsStart) out.fdDiff = c.fdDiff(fdListStart, fdListNoGc)
  c.emit(out)
}

main().catch((e) => {
  c.emit({ workload, fatal: String((e && e.stack) || e) })
  process.exitCode = 3
})
