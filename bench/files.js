'use strict'
// File benchmarks: abio against Node's fs, in one process, repetitions interleaved.
//
//   node bench/files.js                    every case (about 1-3 minutes on 2 cores)
//   node bench/files.js --quick            a fast smoke run (smaller counts, 3 repetitions)
//   node bench/files.js readFile256 ...    only the named cases (see --help; a prefix is enough)
//   node bench/files.js --reps 9           override the number of repetitions of every case
//   BENCH_DIR=/some/dir node bench/files.js  where to put the files (default: os.tmpdir())
//
// Every contender's result is checked byte for byte before anything is timed; a
// wrong result is an error (exit code 1). A missed target is not: it is printed as
// MISSED and the exit code stays 0. The last line is `BENCH_JSON {...}` for tools.

const fs = require('fs')
const fsp = require('fs/promises')
const os = require('os')
const path = require('path')
const crypto = require('crypto')
const { execFileSync } = require('child_process')
const u = require('./util')
const { log } = u
let abio // loaded in main(), so --help works without the addon

const KiB = 1024
const MiB = 1024 * KiB
const BATCH = 256 // Promise.all batch size of the fs.promises contenders

// ---------------------------------------------------------------------------
// command line

const { opts, fail } = u.commandLine('bench/files.js')

const cfg = opts.quick
  ? {
      bigSize: 32 * MiB,
      bigReps: 3,
      nFiles: 1000,
      readFilesReps: 3,
      writeFilesReps: 3,
      seqOps: 300,
      seqReps: 3,
      owOps: 300,
      owReps: 3,
    }
  : {
      bigSize: 256 * MiB,
      bigReps: 7,
      nFiles: 10000,
      readFilesReps: 7,
      writeFilesReps: 5,
      seqOps: 2000,
      seqReps: 7,
      owOps: 2000,
      owReps: 7,
    }
if (opts.reps) for (const k of Object.keys(cfg)) if (k.endsWith('Reps')) cfg[k] = opts.reps
const FILE_SIZE = 4 * KiB

// ---------------------------------------------------------------------------
// the bench directory: a fresh one per run, removed at the end

const run = u.resources({ beforeRemove: unmountScratch }) // run.root: the bench root
let dirSeq = 0
/** A new, never reused, directory under the bench root (or under `parent`). */
function freshDir(tag, parent = run.root) {
  const d = path.join(parent, `${String(++dirSeq).padStart(3, '0')}-${tag}`)
  fs.mkdirSync(d)
  return d
}

// ext4 skips inodes deleted in the last 60-300 s when it creates a file (recently_deleted()
// in fs/ext4/ialloc.c), scanning inode tables for every new file: after a mass deletion (a
// previous run's cleanup, a test suite) creation runs 20-30x slower for minutes, for every
// contender, and the ratios would measure that backlog. So, where root may mount one, the
// file-creation case runs on a fresh ext4 filesystem in a loop-mounted image.
let scratch
/** The mount point of a fresh ext4 filesystem, or undefined where one cannot be made. */
function scratchFs() {
  if (scratch !== undefined) return scratch || undefined
  scratch = ''
  if (process.env.BENCH_DIR || process.getuid?.() !== 0) return undefined
  const img = path.join(run.root, 'scratch.img')
  const mnt = path.join(run.root, 'scratch')
  try {
    fs.mkdirSync(mnt)
    fs.closeSync(fs.openSync(img, 'w'))
    fs.truncateSync(img, 4 * 1024 * MiB) // sparse
    execFileSync('mkfs.ext4', ['-q', '-F', '-N', '600000', img], { stdio: 'pipe' })
    execFileSync('mount', ['-o', 'loop', img, mnt], { stdio: 'pipe' })
    scratch = mnt
    return mnt
  } catch (e) {
    log(`  (no scratch ext4 filesystem: ${String(e.message).split('\n')[0]}; using ${run.root})`)
    return undefined
  }
}

/** Before the bench root is removed: the scratch filesystem unmounted. */
function unmountScratch() {
  if (!scratch) return
  try {
    execFileSync('umount', [scratch], { stdio: 'pipe' })
  } catch (e) {
    console.error(`could not unmount ${scratch}: ${e.message}`)
  }
  scratch = ''
}

// ---------------------------------------------------------------------------
// shared data sets

/** n distinct 4 KiB contents, as views into one block, and their expected bytes. */
function makeSmallContents(n) {
  const block = crypto.randomFillSync(Buffer.allocUnsafeSlow(n * FILE_SIZE))
  const parts = new Array(n)
  for (let i = 0; i < n; i++) parts[i] = block.subarray(i * FILE_SIZE, (i + 1) * FILE_SIZE)
  return parts
}

function pathsIn(dir, n) {
  const ps = new Array(n)
  for (let i = 0; i < n; i++) ps[i] = path.join(dir, `f${i}.bin`)
  return ps
}

let smallFileSet // { dir, paths, contents }: created once, read by readFiles
function getSmallFileSet() {
  if (!smallFileSet) {
    const n = cfg.nFiles
    const dir = freshDir('small-set')
    const paths = pathsIn(dir, n)
    const contents = makeSmallContents(n)
    for (let i = 0; i < n; i++) fs.writeFileSync(paths[i], contents[i])
    for (const p of paths) fs.readFileSync(p) // into the page cache, and the dentries warm
    smallFileSet = { dir, paths, contents }
  }
  return smallFileSet
}

// ---------------------------------------------------------------------------
// result rows

const rows = []
/** Records one comparison (u.record); `node` is the interleave() result of the Node contender. */
const record = u.recorder(rows, { otherKey: 'node', otherLabel: 'node' })
const { onRep, onReduce } = u.progress(opts.verbose)

/** Time budgets (seconds) of the timed repetitions of each case: a slow or busy machine gets fewer reps, not a longer run. */
const BUDGET = { readFile256: 25, readFiles: 30, writeFiles: 90, readFile4k: 20, writeFileSync: 30 }

// ---------------------------------------------------------------------------
// cases

const CASES = [
  {
    id: 'readFile256',
    title: () => `readFile ${u.humanBytes(cfg.bigSize)} (page cache) vs fs.promises.readFile`,
    async run() {
      const size = cfg.bigSize
      const dir = freshDir('big')
      const file = path.join(dir, 'big.bin')
      let expected = crypto.randomFillSync(Buffer.allocUnsafeSlow(size))
      fs.writeFileSync(file, expected)
      fs.readFileSync(file) // read once so it is in the page cache

      // correctness first
      const a = await abio.readFile(file)
      u.assertArrayBuffer(a, size, 'abio.readFile(big file)')
      u.assertSameBytes(a, expected, 'abio.readFile(big file)')
      const n = await fsp.readFile(file)
      u.assertSameBytes(n, expected, 'fs.promises.readFile(big file)')
      expected = null

      const res = await u.interleave(
        {
          abio: { run: () => abio.readFile(file) },
          node: { run: () => fsp.readFile(file) },
        },
        { reps: cfg.bigReps, warmup: 1, onRep, onReduce, budget: BUDGET.readFile256 },
      )
      record({
        id: 'readFile256',
        work: `readFile ${u.humanBytes(size)} (page cache)`,
        against: 'fs.promises.readFile',
        unit: 'GB/s',
        amount: size,
        abio: res.abio,
        node: res.node,
        target: 1.5,
        reps: res.reps,
      })
    },
  },

  {
    id: 'readFiles',
    title: () =>
      `readFiles ${u.fmtInt(cfg.nFiles)} x 4 KiB vs Promise.all(fs.promises.readFile) x${BATCH} and a readFileSync loop`,
    async run() {
      const { paths, contents } = getSmallFileSet()
      const n = paths.length

      const contenders = {
        abio: { run: () => abio.readFiles(paths) },
        'fs.promises': {
          async run() {
            const out = new Array(n)
            for (let i = 0; i < n; i += BATCH) {
              const end = Math.min(n, i + BATCH)
              const batch = []
              for (let j = i; j < end; j++) batch.push(fsp.readFile(paths[j]))
              const got = await Promise.all(batch)
              for (let j = i; j < end; j++) out[j] = got[j - i]
            }
            return out
          },
        },
        readFileSync: {
          run() {
            const out = new Array(n)
            for (let i = 0; i < n; i++) out[i] = fs.readFileSync(paths[i])
            return out
          },
        },
      }

      // correctness first: every file of every contender
      for (const [name, c] of Object.entries(contenders)) {
        const got = await c.run()
        if (!Array.isArray(got) || got.length !== n) {
          throw new Error(
            `wrong result: ${name} returned ${Array.isArray(got) ? got.length + ' results' : typeof got}, expected ${n}`,
          )
        }
        for (let i = 0; i < n; i++) {
          if (name === 'abio') u.assertArrayBuffer(got[i], FILE_SIZE, `abio.readFiles()[${i}]`)
          u.assertSameBytes(got[i], contents[i], `${name} file ${i}`)
        }
      }

      const res = await u.interleave(contenders, {
        reps: cfg.readFilesReps,
        warmup: 1,
        onRep,
        onReduce,
        budget: BUDGET.readFiles,
      })
      const work = `readFiles ${u.fmtInt(n)} x 4 KiB`
      const common = { id: 'readFiles', work, unit: 'files/s', amount: n, abio: res.abio, reps: res.reps }
      record({ ...common, against: `Promise.all(fs.promises.readFile) x${BATCH}`, node: res['fs.promises'], target: 3 })
      record({ ...common, against: 'fs.readFileSync loop', node: res.readFileSync, target: 1 })
    },
  },

  {
    id: 'writeFiles',
    title: () =>
      `writeFiles ${u.fmtInt(cfg.nFiles)} x 4 KiB, new files vs Promise.all(fs.promises.writeFile) x${BATCH} and a writeFileSync loop`,
    async run() {
      const n = cfg.nFiles
      const contents = makeSmallContents(n)
      const parent = scratchFs() || run.root
      // Every repetition of every contender writes into a NEW directory (never reused,
      // removed only at the end), on a fresh filesystem where possible (see scratchFs).
      const contenders = {
        abio: {
          run(paths) {
            const entries = new Array(n)
            for (let i = 0; i < n; i++) entries[i] = { path: paths[i], data: contents[i] }
            return abio.writeFiles(entries)
          },
        },
        'fs.promises': {
          async run(paths) {
            for (let i = 0; i < n; i += BATCH) {
              const end = Math.min(n, i + BATCH)
              const batch = []
              for (let j = i; j < end; j++) batch.push(fsp.writeFile(paths[j], contents[j]))
              await Promise.all(batch)
            }
          },
        },
        writeFileSync: {
          run(paths) {
            for (let i = 0; i < n; i++) fs.writeFileSync(paths[i], contents[i])
          },
        },
      }

      // Wrap each contender: before() makes its fresh directory and paths (untimed).
      const timed = {}
      const dirs = {}
      for (const [name, c] of Object.entries(contenders)) {
        let paths
        const tag = name.replace(/[^a-z]/gi, '')
        timed[name] = {
          before() {
            const dir = freshDir(`w-${tag}`, parent)
            dirs[name] = dir
            paths = pathsIn(dir, n)
          },
          run: () => c.run(paths),
        }
      }

      // correctness first: a full run of each contender, every file read back
      for (const [name, c] of Object.entries(timed)) {
        c.before()
        const got = await c.run()
        if (name === 'abio') {
          if (!Array.isArray(got) || got.length !== n)
            throw new Error(`wrong result: abio.writeFiles returned ${got && got.length} counts, expected ${n}`)
          for (let i = 0; i < n; i++) {
            if (got[i] !== FILE_SIZE)
              throw new Error(`wrong result: abio.writeFiles()[${i}] = ${got[i]}, expected ${FILE_SIZE}`)
          }
        }
        const names = fs.readdirSync(dirs[name])
        if (names.length !== n)
          throw new Error(`wrong result: ${name} left ${names.length} files in its directory, expected ${n}`)
        const paths = pathsIn(dirs[name], n)
        for (let i = 0; i < n; i++) u.assertSameBytes(fs.readFileSync(paths[i]), contents[i], `${name} wrote file ${i}`)
      }

      const res = await u.interleave(timed, {
        reps: cfg.writeFilesReps,
        warmup: 0,
        onRep,
        onReduce,
        budget: BUDGET.writeFiles,
      })
      const work = `writeFiles ${u.fmtInt(n)} x 4 KiB (new files)`
      const common = { id: 'writeFiles', work, unit: 'files/s', amount: n, abio: res.abio, reps: res.reps }
      record({
        ...common,
        against: `Promise.all(fs.promises.writeFile) x${BATCH}`,
        node: res['fs.promises'],
        target: 1.3,
      })
      record({ ...common, against: 'fs.writeFileSync loop', node: res.writeFileSync, target: 1 })
    },
  },

  {
    id: 'readFile4k',
    title: () => `readFile 4 KiB, one await at a time (${u.fmtInt(cfg.seqOps)} per rep) vs fs.promises.readFile`,
    async run() {
      const ops = cfg.seqOps
      const dir = freshDir('seq')
      const file = path.join(dir, 'small.bin')
      const content = u.fillPattern(Buffer.alloc(FILE_SIZE), 4242)
      fs.writeFileSync(file, content)

      const a = await abio.readFile(file)
      u.assertArrayBuffer(a, FILE_SIZE, 'abio.readFile(4 KiB file)')
      u.assertSameBytes(a, content, 'abio.readFile(4 KiB file)')
      u.assertSameBytes(await fsp.readFile(file), content, 'fs.promises.readFile(4 KiB file)')

      /** `ops` reads of the file by `readFile`, one await at a time; the last one is checked. */
      const oneAtATime = (what, readFile) => ({
        async run() {
          let last
          for (let i = 0; i < ops; i++) last = await readFile(file)
          return last
        },
        after: (rep, last) => u.assertSameBytes(last, content, `${what} (last of a rep)`),
      })
      const res = await u.interleave(
        {
          abio: oneAtATime('abio.readFile', (f) => abio.readFile(f)),
          node: oneAtATime('fs.promises.readFile', (f) => fsp.readFile(f)),
        },
        { reps: cfg.seqReps, warmup: 1, onRep, onReduce, budget: BUDGET.readFile4k },
      )
      record({
        id: 'readFile4k',
        work: 'readFile 4 KiB, one await at a time',
        against: 'fs.promises.readFile',
        unit: 'ops/s',
        amount: ops,
        abio: res.abio,
        node: res.node,
        target: 3,
        reps: res.reps,
      })
    },
  },

  {
    id: 'writeFileSync',
    aliases: ['overwrite'],
    title: () => `writeFileSync over one existing 4 KiB file (${u.fmtInt(cfg.owOps)} per rep) vs fs.writeFileSync`,
    async run() {
      const ops = cfg.owOps
      const dir = freshDir('overwrite')
      const fileA = path.join(dir, 'abio.bin')
      const fileN = path.join(dir, 'node.bin')
      const v1 = u.fillPattern(Buffer.alloc(FILE_SIZE), 1)
      const v2 = u.fillPattern(Buffer.alloc(FILE_SIZE), 2)

      // correctness first: overwrite a longer file (it must come out exactly 4 KiB),
      // then alternate two contents and read each back.
      fs.writeFileSync(fileA, Buffer.alloc(3 * FILE_SIZE, 0x55))
      fs.writeFileSync(fileN, Buffer.alloc(3 * FILE_SIZE, 0x55))
      for (const v of [v1, v2, v1]) {
        const w = abio.writeFileSync(fileA, v)
        if (w !== FILE_SIZE) throw new Error(`wrong result: abio.writeFileSync returned ${w}, expected ${FILE_SIZE}`)
        u.assertSameBytes(fs.readFileSync(fileA), v, 'abio.writeFileSync over an existing file')
        fs.writeFileSync(fileN, v)
        u.assertSameBytes(fs.readFileSync(fileN), v, 'fs.writeFileSync over an existing file')
      }

      const res = await u.interleave(
        {
          abio: {
            run() {
              for (let i = 0; i < ops; i++) abio.writeFileSync(fileA, i & 1 ? v2 : v1)
            },
            after: () =>
              u.assertSameBytes(fs.readFileSync(fileA), (ops - 1) & 1 ? v2 : v1, 'abio.writeFileSync (last of a rep)'),
          },
          node: {
            run() {
              for (let i = 0; i < ops; i++) fs.writeFileSync(fileN, i & 1 ? v2 : v1)
            },
            after: () =>
              u.assertSameBytes(fs.readFileSync(fileN), (ops - 1) & 1 ? v2 : v1, 'fs.writeFileSync (last of a rep)'),
          },
        },
        { reps: cfg.owReps, warmup: 1, onRep, onReduce, budget: BUDGET.writeFileSync },
      )
      record({
        id: 'writeFileSync',
        work: 'writeFileSync over an existing 4 KiB file',
        against: 'fs.writeFileSync',
        unit: 'ops/s',
        amount: ops,
        abio: res.abio,
        node: res.node,
        target: 5,
        reps: res.reps,
      })
    },
  },
]

// ---------------------------------------------------------------------------
// main

function printHelp() {
  u.printHelp('bench/files.js', CASES, {
    notes: `BENCH_DIR=dir puts the bench files under dir (default ${os.tmpdir()}).`,
  })
}

async function main() {
  if (opts.help) return printHelp()
  const selected = u.selectCases(CASES, opts.cases, fail)
  abio = require('..')

  const root = run.makeRoot('abio-bench-')
  const info = u.machineInfo(root)
  log(
    `abio file benchmarks${opts.quick ? ' (--quick)' : ''}: ${u.machineLine(info)}, files in ${root} (${info.fs || 'unknown fs'})`,
  )
  log('medians of interleaved repetitions; ratio = abio throughput / node throughput (higher = abio faster)')

  const ran = await u.runCases(selected, rows)

  const tClean = u.now()
  run.cleanup({ say: true })
  log(`  (${u.fmtSeconds(u.since(tClean))})`)

  u.report({
    bench: 'files',
    header: `abio vs node fs${opts.quick ? ' (--quick: smaller counts, fewer repetitions)' : ''} — ${info.node}, ${info.cores} cores, ${info.fs || '?'}`,
    otherKey: 'node',
    quick: opts.quick,
    machine: { ...info, dir: undefined },
    ...ran,
  })
}

u.runMain(main, run.cleanup)
