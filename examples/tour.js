'use strict'
// `npm start`: a short tour of abio's file, pack, TCP, HTTP, WebSocket and TLS API, then a few figures against Node's
// fs measured on this machine. Takes a few seconds and exits by itself.
//
// Outside this repository, write require('abio') instead of require('..').

const fs = require('fs')
const fsp = require('fs/promises')
const os = require('os')
const path = require('path')
const abio = require('..')
const u = require('../bench/util')
const tcp = require('./tcp')
const http = require('./http')
const websocket = require('./websocket')
const https = require('./https')
const { localhostCertificate } = require('./certificate')

const LABEL = 50 // width of the left column

function heading(s) {
  console.log(`\n${s}`)
}

function show(label, value, ok) {
  const mark = ok === undefined ? '' : ok ? '  ✓' : '  ✗ MISMATCH'
  console.log(`  ${u.padRight(label, LABEL)} ${value}${mark}`)
  if (ok === false) {
    process.exitCode = 1
    throw new Error(`tour: unexpected result for: ${label}`)
  }
}

function list(typed) {
  return `[${Array.from(typed).join(', ')}]`
}

async function main() {
  const t0 = u.now()
  const info = u.machineInfo()
  console.log(`abio tour — JS memory to files, packs and sockets and back, without copies`)
  console.log(`node ${info.node}, ${info.platform}, ${info.cores} CPU${info.cores === 1 ? '' : 's'} (${info.cpu})`)

  // hello.bin lives at a fixed place, so you can look at it afterwards (xxd, hexdump);
  // every other file of the tour goes into a temporary directory, removed at the end.
  const home = path.join(os.tmpdir(), 'abio-tour')
  fs.mkdirSync(home, { recursive: true })
  const hello = path.join(home, 'hello.bin')
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'abio-tour-'))

  try {
    // -- 1 ------------------------------------------------------------------
    heading('1. An ArrayBuffer to a file, and back as an exact ArrayBuffer')
    const floats = new Float32Array([1.5, 2.5, 3.5])
    const written = await abio.writeFile(hello, floats.buffer)
    show('await abio.writeFile(hello.bin, floats.buffer)', `${written} bytes -> ${hello}`, written === 12)
    const ab = await abio.readFile(hello)
    show(
      'const ab = await abio.readFile(hello.bin)',
      `${Object.prototype.toString.call(ab).slice(8, -1)}, byteLength ${ab.byteLength}`,
      ab instanceof ArrayBuffer && ab.byteLength === floats.byteLength,
    )
    const back = new Float32Array(ab)
    show('new Float32Array(ab)', list(back), u.sameBytes(ab, floats))
    console.log(`  ${u.padRight('', LABEL)} no Buffer.from(ab) going out, no buf.buffer.slice() coming in`)

    // -- 2 ------------------------------------------------------------------
    heading('2. Any view is written exactly: its own bytes, nothing around them')
    const f = (name) => path.join(tmp, name)

    const raw = new Uint8Array(16).map((_, i) => i * 16)
    const dv = new DataView(raw.buffer, 4, 8) // bytes 4..11 only
    const nDv = abio.writeFileSync(f('view.bin'), dv)
    const dvBack = abio.readFileSync(f('view.bin'))
    show(
      'abio.writeFileSync(p, new DataView(buf, 4, 8))',
      `${nDv} bytes: ${list(new Uint8Array(dvBack))}`,
      nDv === 8 && u.sameBytes(dvBack, raw.subarray(4, 12)),
    )

    const all = new Float64Array([0, 1, 2, 3, 4, 5])
    const mid = all.subarray(2, 4) // byteOffset 16
    const nMid = await abio.writeFile(f('f64.bin'), mid)
    const midBack = new Float64Array(await abio.readFile(f('f64.bin')))
    show(
      `a Float64Array view at byteOffset ${mid.byteOffset}`,
      `${nMid} bytes, reads back ${list(midBack)}`,
      nMid === 16 && u.sameBytes(midBack, mid),
    )
    const part = new Float64Array(abio.readFileSync(f('f64.bin'), { offset: 8, length: 8 }))
    show('abio.readFileSync(p, { offset: 8, length: 8 })', list(part), part.length === 1 && part[0] === 3)

    const text = 'héllo, abio ✓'
    const nText = await abio.writeFile(f('text.txt'), text)
    const textBack = Buffer.from(await abio.readFile(f('text.txt'))).toString('utf8')
    show(
      `a string '${text}'`,
      `${nText} bytes of UTF-8, reads back '${textBack}'`,
      nText === Buffer.byteLength(text) && textBack === text,
    )

    const header = new Uint32Array([0xab10, 3])
    const parts = [header, floats, 'end']
    const nParts = await abio.writeFile(f('parts.bin'), parts)
    const partsBack = await abio.readFile(f('parts.bin'))
    const expected = Buffer.concat([u.bytesOf(header), u.bytesOf(floats), Buffer.from('end')])
    show(
      'an array of parts [Uint32Array, Float32Array, str]',
      `${nParts} bytes in one writev, in order`,
      nParts === expected.length && u.sameBytes(partsBack, expected),
    )

    const many = ['a', 'b', 'c'].map((s) => ({ path: f(`${s}.txt`), data: s.repeat(3) }))
    const counts = await abio.writeFiles(many)
    const manyBack = await abio.readFiles(many.map((e) => e.path))
    show(
      'abio.writeFiles / readFiles of 3 files',
      `${list(counts)} bytes, read back '${manyBack.map((b) => Buffer.from(b).toString()).join("', '")}'`,
      manyBack.every((b, i) => Buffer.from(b).toString() === many[i].data),
    )

    // -- 3 ------------------------------------------------------------------
    heading('3. Several typed arrays in one file, back as views of the same kinds')
    const arrays = [
      new Float32Array([0.5, -1.25, 3.75]),
      new Uint16Array([1, 256, 65535]),
      new BigInt64Array([-(2n ** 63n), 0n, 2n ** 53n + 1n]),
    ]
    const packPath = f('arrays.pack')
    const nPack = await abio.savePacked(packPath, arrays)
    show(
      'await abio.savePacked(p, [f32, u16, i64])',
      `${nPack} bytes in one writev: header, aligned parts, a CRC32C each`,
      nPack === fs.statSync(packPath).size && nPack === abio.packedSize(arrays),
    )
    const loaded = await abio.loadPacked(packPath)
    show(
      'const [a, b, c] = await abio.loadPacked(p)',
      `${loaded.length} views into one ArrayBuffer, checksums verified`,
      loaded.length === arrays.length && loaded.every((v) => v.buffer === loaded[0].buffer),
    )
    loaded.forEach((v, i) => {
      show(
        `  ${'abc'[i]}: ${v.constructor.name}`,
        list(v),
        v.constructor === arrays[i].constructor && v.length === arrays[i].length && u.sameBytes(v, arrays[i]),
      )
    })

    // -- 4 ------------------------------------------------------------------
    heading('4. TCP: a server sends [1, 2, 3, 4] from an ArrayBuffer to every client (examples/tcp.js)')
    const server = await tcp.server(0)
    try {
      show(
        "await abio.listen({ host: '127.0.0.1', port: 0 }, onConnection)",
        `listening on ${server.host}:${server.port}`,
        server.port > 0,
      )
      for (const n of [1, 2]) {
        const got = await tcp.client(server.port)
        show(
          `client ${n}: for await (const chunk of socket)`,
          `received ${list(new Uint8Array(got))} as an exact ArrayBuffer`,
          u.sameBytes(got, new Uint8Array([1, 2, 3, 4])),
        )
      }
    } finally {
      await server.close()
    }

    // -- 5 ------------------------------------------------------------------
    heading("5. HTTP: '/' answers the bytes ABC from an ArrayBuffer, in Rust (examples/http.js)")
    const web = await http.server(0)
    try {
      show("await abio.serve({ port: 0, routes: { '/': abc } })", `http://localhost:${web.port}/`, web.port > 0)
      const got = await http.client(web.port)
      show(
        `await abio.request('http://localhost:${web.port}/')`,
        `${got.status} ${got.type}: '${Buffer.from(got.body).toString()}' as an exact ArrayBuffer`,
        got.body instanceof ArrayBuffer &&
          got.status === 200 &&
          got.type === 'application/octet-stream' &&
          u.sameBytes(got.body, Buffer.from('ABC')),
      )
    } finally {
      await web.close()
    }

    // -- 6 ------------------------------------------------------------------
    heading('6. WebSocket: every client gets the bytes xyz from an ArrayBuffer (examples/websocket.js)')
    const wsServer = await websocket.server(0)
    try {
      show(
        "await abio.serve({ websocket: { path: '/ws', open(ws) { ws.send(xyz) } } })",
        `ws://localhost:${wsServer.port}/ws`,
        wsServer.port > 0,
      )
      const got = await websocket.client(wsServer.port)
      show(
        `for await (const m of await abio.connectWebSocket('ws://localhost:${wsServer.port}/ws'))`,
        `'${Buffer.from(got).toString()}' as an exact ArrayBuffer`,
        got instanceof ArrayBuffer && u.sameBytes(got, Buffer.from('xyz')),
      )
    } finally {
      await wsServer.close()
    }

    // -- 7 ------------------------------------------------------------------
    heading('7. TLS: https and wss on one port, a certificate made at run time (examples/https.js)')
    const tls = localhostCertificate()
    show(
      'const tls = localhostCertificate()',
      'self-signed for localhost, 127.0.0.1 and ::1 (PEM)',
      tls.cert.length > 0,
    )
    const secure = await https.server(0, tls)
    try {
      show(
        "await abio.serve({ tls, routes: { '/': ... }, websocket })",
        `https://localhost:${secure.port}/ and wss://localhost:${secure.port}/ws`,
        secure.port > 0,
      )
      const got = await https.client(secure.port, tls.cert)
      show(
        `await abio.request('https://localhost:${secure.port}/', { ca })`,
        `${got.status} '${got.body}'`,
        got.status === 200 && got.body === 'hello over https',
      )
      show(
        'wss: ws.send([1, 2, 3]), then for await (const m of ws)',
        `echoed ${list(new Uint8Array(got.echo))} as an exact ArrayBuffer`,
        got.echo instanceof ArrayBuffer && u.sameBytes(got.echo, new Uint8Array([1, 2, 3])),
      )
      const refused = await abio.request(`https://localhost:${secure.port}/`).catch((e) => e)
      show(
        'the same request without { ca }',
        `rejects with ${refused.code}, as Node's https does`,
        refused.code === 'DEPTH_ZERO_SELF_SIGNED_CERT',
      )
    } finally {
      await secure.close()
    }

    // -- 8 ------------------------------------------------------------------
    const reps = 5
    heading(`8. Quick figures on this machine (median of ${reps}, interleaved; ratio > 1 means abio is faster)`)
    const rows = []
    const add = (work, against, unit, amount, res, aName, nName) => {
      const a = res[aName].median
      const n = res[nName].median
      rows.push([
        work + (against ? ` (fs: ${against})` : ''),
        u.fmtRate(amount / a, unit),
        u.fmtRate(amount / n, unit),
        u.fmtRatio(u.ratio(a, n)),
      ])
    }

    // readFile 4 KiB, one await at a time
    const small = u.fillPattern(Buffer.alloc(4096), 7)
    const one = f('4k.bin')
    fs.writeFileSync(one, small)
    const check = (x, what) => u.assertSameBytes(x, small, what)
    check(await abio.readFile(one), 'abio.readFile')
    check(await fsp.readFile(one), 'fs.promises.readFile')
    const seq = await opsFor([() => abio.readFile(one), () => fsp.readFile(one)])
    add(
      'readFile 4 KiB, one await at a time',
      '',
      'ops/s',
      seq,
      await u.interleave(
        wrap({
          abio: async () => {
            for (let i = 0; i < seq; i++) await abio.readFile(one)
          },
          fs: async () => {
            for (let i = 0; i < seq; i++) await fsp.readFile(one)
          },
        }),
        { reps, warmup: 1 },
      ),
      'abio',
      'fs',
    )

    // overwrite one 4 KiB file with writeFileSync
    const owA = f('ow-abio.bin')
    const owN = f('ow-fs.bin')
    fs.writeFileSync(owA, small)
    fs.writeFileSync(owN, small)
    abio.writeFileSync(owA, small)
    check(fs.readFileSync(owA), 'abio.writeFileSync')
    const ow = await opsFor([() => abio.writeFileSync(owA, small), () => fs.writeFileSync(owN, small)])
    add(
      'overwrite a 4 KiB file with writeFileSync',
      '',
      'ops/s',
      ow,
      await u.interleave(
        wrap({
          abio: () => {
            for (let i = 0; i < ow; i++) abio.writeFileSync(owA, small)
          },
          fs: () => {
            for (let i = 0; i < ow; i++) fs.writeFileSync(owN, small)
          },
        }),
        { reps, warmup: 1 },
      ),
      'abio',
      'fs',
    )

    // readFiles 1,000 x 4 KiB against Promise.all of fs.promises.readFile
    const nFiles = 1000
    const dir = path.join(tmp, 'many')
    fs.mkdirSync(dir)
    const paths = []
    const contents = []
    for (let i = 0; i < nFiles; i++) {
      const p = path.join(dir, `${i}.bin`)
      const c = u.fillPattern(Buffer.alloc(4096), i + 1)
      fs.writeFileSync(p, c)
      paths.push(p)
      contents.push(c)
    }
    const viaFs = () => Promise.all(paths.map((p) => fsp.readFile(p)))
    for (const [name, got] of [
      ['abio.readFiles', await abio.readFiles(paths)],
      ['fs.promises.readFile', await viaFs()],
    ]) {
      got.forEach((b, i) => u.assertSameBytes(b, contents[i], `${name} file ${i}`))
    }
    add(
      `readFiles ${u.fmtInt(nFiles)} x 4 KiB`,
      'Promise.all of fs.promises.readFile',
      'files/s',
      nFiles,
      await u.interleave(wrap({ abio: () => abio.readFiles(paths), fs: viaFs }), { reps, warmup: 1 }),
      'abio',
      'fs',
    )

    rows.unshift(['', 'abio', 'fs', 'ratio'])
    const w = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i].length)))
    for (const r of rows) {
      console.log(
        `  ${u.padRight(r[0], w[0])}   ${u.padLeft(r[1], w[1])}   ${u.padLeft(r[2], w[2])}   ${u.padLeft(r[3], w[3])}`,
      )
    }

    heading(`Done in ${u.fmtSeconds(u.since(t0))}. Full benchmarks: npm run bench. hello.bin stays at ${hello}.`)
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

/**
 * How many operations per repetition keep the tour short on any machine: about
 * 0.1 s for the slower contender (20 to 400), judged from 20 calls of each.
 */
async function opsFor(oneOps) {
  let slowest = 0
  for (const op of oneOps) {
    const t = u.now()
    for (let i = 0; i < 20; i++) await op()
    slowest = Math.max(slowest, u.since(t) / 20)
  }
  return Math.max(20, Math.min(400, Math.round(0.1 / slowest)))
}

/** { name: fn } -> { name: { run: fn } }, the shape u.interleave takes. */
function wrap(fns) {
  const out = {}
  for (const [k, fn] of Object.entries(fns)) out[k] = { run: fn }
  return out
}

main().catch((e) => {
  console.error(`\n${e && e.stack ? e.stack : e}`)
  process.exitCode = 1
})
