'use strict'
// Packing benchmarks: abio.pack / packInto / unpack against what JS does without abio
// (Buffer.concat, a Uint8Array.set loop, msgpackr, a subarray loop), in one process,
// repetitions interleaved. Everything happens in memory: no files.
//
//   node bench/pack.js                 every case (about a minute on 2 cores)
//   node bench/pack.js --quick         a fast smoke run (smaller parts, fewer repetitions)
//   node bench/pack.js unpack ...      only the named cases (see --help; a prefix is enough)
//   node bench/pack.js --reps 9        override the number of repetitions of every case
//
// pack and unpack run with their defaults (CRC32C checksums on: written, and verified);
// packInto with { checksum: false }, since it is compared with a plain copy.
// Every contender's result is checked before anything is timed; a wrong result is an
// error (exit code 1). A missed target is not: it is printed as MISSED and the exit code
// stays 0. The last line is `BENCH_JSON {...}` for tools.

const crypto = require('crypto')
const u = require('./util')
const { log, check } = u
let abio // loaded in main(), so --help works without the addon
let msgpackr // likewise

const MiB = 1024 * 1024

// ---------------------------------------------------------------------------
// command line

const { opts, fail } = u.commandLine('bench/pack.js')

const cfg = opts.quick
  ? { nBig: 16, bigSize: 4 * MiB, packReps: 3, packIntoReps: 3, nSmall: 100000, smallSize: 64, unpackReps: 5 }
  : { nBig: 16, bigSize: 16 * MiB, packReps: 7, packIntoReps: 9, nSmall: 100000, smallSize: 64, unpackReps: 21 }
if (opts.reps) for (const k of Object.keys(cfg)) if (k.endsWith('Reps')) cfg[k] = opts.reps

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Untimed, before each repetition: a full GC, then a pause so that large buffers freed
 * by it (V8 sweeps array buffers on a background thread; Node-API finalizers of external
 * buffers may wait for the event loop) are really gone before the clock starts.
 * u.interleave collects once more right before the timed run.
 */
async function settle() {
  u.gc()
  await sleep(30)
}

// ---------------------------------------------------------------------------
// data sets, made once and shared by the cases

let bigSet // { parts, bufs, u8s, total }
/**
 * cfg.nBig parts of cfg.bigSize bytes, Float64Arrays and Uint8Arrays in turn, each in its
 * own ArrayBuffer, all contents distinct (random). `bufs` are Buffers and `u8s` plain
 * Uint8Arrays over the same memory (no copies), for the JS contenders.
 */
function getBigSet() {
  if (!bigSet) {
    const parts = []
    for (let i = 0; i < cfg.nBig; i++) {
      const p = i % 2 === 0 ? new Float64Array(cfg.bigSize / 8) : new Uint8Array(cfg.bigSize)
      crypto.randomFillSync(p)
      parts.push(p)
    }
    const bufs = parts.map((p) => u.bytesOf(p))
    const u8s = parts.map((p) => new Uint8Array(p.buffer, p.byteOffset, p.byteLength))
    bigSet = { parts, bufs, u8s, total: cfg.nBig * cfg.bigSize }
  }
  return bigSet
}

let smallSet // { parts, block }
/** cfg.nSmall distinct parts of cfg.smallSize bytes (Uint8Arrays, views into one random block). */
function getSmallSet() {
  if (!smallSet) {
    const n = cfg.nSmall
    const size = cfg.smallSize
    const block = crypto.randomFillSync(new Uint8Array(n * size))
    const parts = new Array(n)
    for (let i = 0; i < n; i++) parts[i] = block.subarray(i * size, (i + 1) * size)
    smallSet = { parts, block }
  }
  return smallSet
}

/** Throws unless `got` is an array of views of the same kinds and bytes as `parts`. */
function assertSameParts(got, parts, what, { kinds = true, within } = {}) {
  check(got && typeof got.length === 'number', `${what}: returned ${Object.prototype.toString.call(got)}`)
  check(got.length === parts.length, `${what}: ${got.length} parts, expected ${parts.length}`)
  for (let i = 0; i < parts.length; i++) {
    const g = got[i]
    const want = parts[i]
    check(ArrayBuffer.isView(g), `${what}[${i}]: not a view (${Object.prototype.toString.call(g)})`)
    if (kinds) {
      check(
        g.constructor === want.constructor,
        `${what}[${i}]: a ${g.constructor.name}, expected a ${want.constructor.name}`,
      )
    }
    if (within) check(g.buffer === within, `${what}[${i}]: not a view into the packed bytes (a copy)`)
    u.assertSameBytes(g, want, `${what}[${i}]`)
  }
}

/**
 * The JS counterpart of a pack: a u32 count, then per part a u32 length and the bytes
 * (little-endian, no alignment, no checksums). Returns the bytes written.
 */
function jsPackInto(target, u8s) {
  const dv = new DataView(target.buffer, target.byteOffset, target.byteLength)
  let off = 4
  dv.setUint32(0, u8s.length, true)
  for (let i = 0; i < u8s.length; i++) {
    const p = u8s[i]
    dv.setUint32(off, p.byteLength, true)
    target.set(p, off + 4)
    off += 4 + p.byteLength
  }
  return off
}

function jsPackedSize(u8s) {
  let n = 4
  for (const p of u8s) n += 4 + p.byteLength
  return n
}

/** The views of a jsPackInto() result, made with subarray. */
function jsUnpack(packed) {
  const dv = new DataView(packed.buffer, packed.byteOffset, packed.byteLength)
  const n = dv.getUint32(0, true)
  const out = new Array(n)
  let off = 4
  for (let i = 0; i < n; i++) {
    const len = dv.getUint32(off, true)
    off += 4
    out[i] = packed.subarray(off, off + len)
    off += len
  }
  return out
}

// ---------------------------------------------------------------------------
// result rows

const rows = []
/** Records one comparison (u.record); `other`: the interleave() result of what abio is compared with. */
const record = u.recorder(rows, { otherKey: 'other' })
const { onRep, onReduce } = u.progress(opts.verbose)

/** Time budgets (seconds) of the timed repetitions of each case: a slow or busy machine gets fewer reps, not a longer run. */
const BUDGET = { pack: 30, packInto: 20, unpack: 20 }

// ---------------------------------------------------------------------------
// cases

const bigWork = () => `${cfg.nBig} x ${u.humanBytes(cfg.bigSize)}`
const smallWork = () => `${u.fmtInt(cfg.nSmall)} x ${u.humanBytes(cfg.smallSize)}`

const CASES = [
  {
    id: 'pack',
    title: () => `pack ${bigWork()} (Float64Arrays and Uint8Arrays, checksums on) vs Buffer.concat`,
    async run() {
      const { parts, bufs, total } = getBigSet()

      // correctness first: abio's pack unpacks (checksums verified) to the parts, kinds
      // and bytes, as views into it; Buffer.concat holds the parts end to end.
      let packed = abio.pack(parts)
      check(Buffer.isBuffer(packed), `abio.pack returned ${Object.prototype.toString.call(packed)}, not a Buffer`)
      check(
        packed.length === abio.packedSize(parts),
        `abio.pack made ${packed.length} bytes, packedSize says otherwise`,
      )
      assertSameParts(abio.unpack(packed), parts, 'abio.unpack(abio.pack(parts))', { within: packed.buffer })
      packed = null
      let cat = Buffer.concat(bufs)
      check(cat.length === total, `Buffer.concat made ${cat.length} bytes, expected ${total}`)
      for (let i = 0, off = 0; i < bufs.length; off += bufs[i].length, i++) {
        u.assertSameBytes(cat.subarray(off, off + bufs[i].length), bufs[i], `Buffer.concat part ${i}`)
      }
      cat = null

      const res = await u.interleave(
        {
          abio: {
            before: settle,
            run: () => abio.pack(parts),
            after: (rep, out) => check(out.length >= total, `abio.pack made ${out.length} bytes`),
          },
          'Buffer.concat': {
            before: settle,
            run: () => Buffer.concat(bufs),
            after: (rep, out) => check(out.length === total, `Buffer.concat made ${out.length} bytes`),
          },
        },
        { reps: cfg.packReps, warmup: 1, onRep, onReduce, budget: BUDGET.pack },
      )
      record({
        id: 'pack',
        work: `pack ${bigWork()}`,
        against: 'Buffer.concat',
        unit: 'GB/s',
        amount: total,
        abio: res.abio,
        other: res['Buffer.concat'],
        target: 2,
        reps: res.reps,
      })
    },
  },

  {
    id: 'packInto',
    title: () =>
      `packInto a reused target, ${bigWork()} ({ checksum: false }) vs a JS loop of u32 length + Uint8Array.set`,
    async run() {
      const { parts, u8s, total } = getBigSet()
      const packOpts = { checksum: false }
      // each contender has its own target, allocated and touched once, reused by every rep
      const size = abio.packedSize(parts, packOpts)
      const target = Buffer.alloc(size)
      const jsSize = jsPackedSize(u8s)
      const jsTarget = new Uint8Array(jsSize)

      // correctness first: both targets are scribbled over, packed into, and read back
      target.fill(0xa5)
      jsTarget.fill(0xa5)
      const n = abio.packInto(target, parts, packOpts)
      check(n === size, `abio.packInto wrote ${n} bytes, packedSize says ${size}`)
      assertSameParts(abio.unpack(target.subarray(0, n)), parts, 'abio.unpack(packInto target)', {
        within: target.buffer,
      })
      const m = jsPackInto(jsTarget, u8s)
      check(m === jsSize, `the JS loop wrote ${m} bytes, expected ${jsSize}`)
      assertSameParts(jsUnpack(jsTarget), u8s, 'the JS loop target, read back')

      const res = await u.interleave(
        {
          abio: {
            before: settle,
            run: () => abio.packInto(target, parts, packOpts),
            after: (rep, w) => check(w === size, `abio.packInto wrote ${w} bytes, expected ${size}`),
          },
          'JS set loop': {
            before: settle,
            run: () => jsPackInto(jsTarget, u8s),
            after: (rep, w) => check(w === jsSize, `the JS loop wrote ${w} bytes, expected ${jsSize}`),
          },
        },
        { reps: cfg.packIntoReps, warmup: 1, onRep, onReduce, budget: BUDGET.packInto },
      )
      record({
        id: 'packInto',
        work: `packInto a reused target, ${bigWork()}`,
        against: 'JS u32 length + Uint8Array.set loop',
        unit: 'GB/s',
        amount: total,
        abio: res.abio,
        other: res['JS set loop'],
        target: 0.9,
        reps: res.reps,
      })
    },
  },

  {
    id: 'unpack',
    title: () => `unpack ${smallWork()} (checksums verified) vs msgpackr unpack and a JS subarray loop`,
    async run() {
      const { parts } = getSmallSet()
      const n = parts.length
      // each contender's packed form, made once
      const packed = abio.pack(parts)
      const mp = Buffer.from(msgpackr.pack(parts)) // its own copy: msgpackr reuses its output buffer
      const js = new Uint8Array(jsPackedSize(parts))
      jsPackInto(js, parts)

      const contenders = {
        abio: { run: () => abio.unpack(packed) },
        msgpackr: { run: () => msgpackr.unpack(mp) },
        'JS subarray loop': { run: () => jsUnpack(js) },
      }

      // correctness first: every part of every contender, count, bytes and (abio, the
      // JS loop) kind; abio's and the JS loop's parts are views into their packed bytes.
      assertSameParts(contenders.abio.run(), parts, 'abio.unpack', { within: packed.buffer })
      assertSameParts(contenders.msgpackr.run(), parts, 'msgpackr.unpack', { kinds: false })
      assertSameParts(contenders['JS subarray loop'].run(), parts, 'the JS subarray loop', { within: js.buffer })

      const timed = {}
      for (const [name, c] of Object.entries(contenders)) {
        timed[name] = {
          run: c.run,
          after: (rep, got) => check(got.length === n, `${name} returned ${got.length} parts, expected ${n}`),
        }
      }
      const res = await u.interleave(timed, {
        reps: cfg.unpackReps,
        warmup: 2,
        onRep,
        onReduce,
        budget: BUDGET.unpack,
      })
      const common = { id: 'unpack', work: `unpack ${smallWork()}`, unit: 'parts/s', amount: n, abio: res.abio }
      record({ ...common, against: 'msgpackr.unpack', other: res.msgpackr, target: 1.5, reps: res.reps })
      record({ ...common, against: 'JS subarray loop', other: res['JS subarray loop'], target: 1, reps: res.reps })
    },
  },
]

// ---------------------------------------------------------------------------
// main

async function main() {
  if (opts.help) return u.printHelp('bench/pack.js', CASES)
  const selected = u.selectCases(CASES, opts.cases, fail)
  abio = require('..')
  msgpackr = require('msgpackr')

  const info = u.machineInfo()
  log(`abio pack benchmarks${opts.quick ? ' (--quick)' : ''}: ${u.machineLine(info)}; msgpackr ${msgpackrVersion()}`)
  log('medians of interleaved repetitions; ratio = abio throughput / the other throughput (higher = abio faster)')

  const ran = await u.runCases(selected, rows)

  u.report({
    bench: 'pack',
    header: `abio pack/unpack${opts.quick ? ' (--quick: smaller parts, fewer repetitions)' : ''} — ${info.node}, ${info.cores} cores`,
    otherKey: 'other',
    quick: opts.quick,
    machine: info,
    ...ran,
  })
}

/** msgpackr's version (its package.json is not exported: read it next to the entry point). */
function msgpackrVersion() {
  try {
    const fs = require('fs')
    const path = require('path')
    let dir = path.dirname(require.resolve('msgpackr'))
    for (let i = 0; i < 4; i++, dir = path.dirname(dir)) {
      const f = path.join(dir, 'package.json')
      if (fs.existsSync(f)) {
        const p = JSON.parse(fs.readFileSync(f, 'utf8'))
        if (p.name === 'msgpackr') return p.version
      }
    }
  } catch {}
  return '?'
}

u.runMain(main)
