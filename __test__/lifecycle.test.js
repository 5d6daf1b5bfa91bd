'use strict'
// Lifecycle and memory behaviour of abio, observed from child processes:
// peak RSS of 1 GiB writes and reads (zero copy), prompt process exit, worker_threads.
// Contract: design.md (the project contract), sections 2, 4 and 9.
const fs = require('fs')
const os = require('os')
const path = require('path')
const cp = require('child_process')
const { pattern } = require('./fixtures/util')

const FIX = path.join(__dirname, 'fixtures')
const MiB = 1 << 20
const GiB = 1 << 30
const fmtMiB = (n) => (n / MiB).toFixed(1) + ' MiB'

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'abio-'))
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }))
const newDir = (name) => fs.mkdtempSync(path.join(tmpRoot, name + '-'))

/** Run a fixture to completion; returns status, signal, stderr and the parsed JSON lines of stdout. */
function runFixture(args, opts = {}) {
  const r = cp.spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 120000, maxBuffer: 64 * MiB, ...opts })
  const lines = []
  for (const l of (r.stdout || '').split('\n')) {
    if (!l.trim()) continue
    try {
      lines.push(JSON.parse(l))
    } catch {
      lines.push({ unparsed: l })
    }
  }
  return {
    status: r.status,
    signal: r.signal,
    error: r.error && r.error.message,
    stderr: (r.stderr || '').slice(0, 4000),
    lines,
  }
}
function expectCleanExit(run) {
  expect({ status: run.status, signal: run.signal, error: run.error, stderr: run.stderr }).toEqual({
    status: 0,
    signal: null,
    error: undefined,
    stderr: '',
  })
}

// ---------------------------------------------------------------------------
// 7. Peak memory proves zero copy
// ---------------------------------------------------------------------------
describe('peak memory of 1 GiB transfers (zero copy)', () => {
  let d
  let bigFile
  beforeAll(() => {
    d = newDir('mem')
    bigFile = path.join(d, 'pattern-1g.bin')
    const pat = pattern(MiB)
    const fd = fs.openSync(bigFile, 'w')
    for (let i = 0; i < 1024; i++) fs.writeSync(fd, pat)
    fs.closeSync(fd)
  }, 60000)
  afterAll(() => fs.rmSync(d, { recursive: true, force: true }))

  test.each(['async', 'sync'])(
    '%s write of a touched 1 GiB ArrayBuffer raises peak RSS by < 256 MiB',
    (mode) => {
      const out = path.join(d, `written-${mode}.bin`)
      const run = runFixture([path.join(FIX, 'mem.js'), 'write', mode, out])
      const r = run.lines[0] || {}
      try {
        expectCleanExit(run)
        expect(r.fatal).toBeUndefined()
        console.log(`${mode} writeFile 1 GiB: VmHWM ${fmtMiB(r.before)} -> ${fmtMiB(r.after)} (+${fmtMiB(r.growth)})`)
        expect(r.n).toBe(GiB)
        expect(r.size).toBe(GiB)
        expect(r.before).toBeGreaterThan(GiB) // the source really was resident
        expect(r.growth).toBeLessThan(256 * MiB)
      } finally {
        fs.rmSync(out, { force: true })
      }
    },
    60000,
  )

  test.each(['async', 'sync'])(
    '%s read of a 1 GiB file raises peak RSS by ~1 GiB (not 2) and is byte-correct',
    (mode) => {
      const run = runFixture([path.join(FIX, 'mem.js'), 'read', mode, bigFile])
      const r = run.lines[0] || {}
      expectCleanExit(run)
      expect(r.fatal).toBeUndefined()
      console.log(
        `${mode} readFile 1 GiB: VmHWM ${fmtMiB(r.before)} -> ${fmtMiB(r.afterRead)} after the read, ` +
          `${fmtMiB(r.after)} after checking every byte (+${fmtMiB(r.growth)})`,
      )
      expect(r.isArrayBuffer).toBe(true)
      expect(r.byteLength).toBe(GiB)
      expect(r.badChunk).toBe(-1)
      expect(r.growth).toBeGreaterThan(0.9 * GiB)
      expect(r.growth).toBeLessThan(1.3 * GiB)
    },
    60000,
  )
})

// ---------------------------------------------------------------------------
// 8. The process exits at once when abio has nothing pending
// ---------------------------------------------------------------------------
describe('process exit', () => {
  /** Spawn a fixture, return its stdout lines and the wall-clock time of its exit. */
  function spawnTimed(args) {
    return new Promise((resolve) => {
      const child = cp.spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      let err = ''
      child.stdout.on('data', (c) => (out += c))
      child.stderr.on('data', (c) => (err += c))
      const timer = setTimeout(() => child.kill('SIGKILL'), 20000)
      child.on('exit', (code, signal) => {
        const exitedAt = Date.now()
        clearTimeout(timer)
        // stdout may still be draining: wait for close before parsing
        child.on('close', () => {
          const lines = out
            .split('\n')
            .filter(Boolean)
            .map((l) => {
              try {
                return JSON.parse(l)
              } catch {
                return { unparsed: l }
              }
            })
          resolve({ code, signal, exitedAt, lines, stderr: err.slice(0, 4000) })
        })
      })
    })
  }

  test('after readFile/writeFile/readFiles/writeFiles/open+close the process exits promptly after its last promise', async () => {
    const d = newDir('exit')
    const base = await spawnTimed([path.join(FIX, 'exit-idle.js'), d, 'node'])
    const run = await spawnTimed([path.join(FIX, 'exit-idle.js'), d])
    const settled = run.lines.find((l) => l.settled)
    const fatal = run.lines.find((l) => l.fatal)
    expect({ code: run.code, signal: run.signal, stderr: run.stderr, fatal }).toEqual({
      code: 0,
      signal: null,
      stderr: '',
      fatal: undefined,
    })
    expect(settled).toBeDefined()
    const lag = run.exitedAt - settled.settled
    const baseLag = base.exitedAt - base.lines.find((l) => l.settled).settled
    console.log(`exit lag after the last settled promise: abio ${lag} ms (same work with fs: ${baseLag} ms)`)
    expect(lag).toBeLessThan(5000) // ~tens of ms; generous for a busy machine, still catching a held loop
  }, 30000)

  test('a readFile that is never awaited: the process exits normally (code 0) once it is done', async () => {
    const d = newDir('dangling')
    const big = path.join(d, 'big.bin')
    fs.writeFileSync(big, pattern(64 * MiB, 3))
    const t0 = Date.now()
    const run = await spawnTimed([path.join(FIX, 'exit-dangling.js'), 'read', big])
    expect({ code: run.code, signal: run.signal, stderr: run.stderr }).toEqual({ code: 0, signal: null, stderr: '' })
    expect(run.lines).toEqual([{ unparsed: 'started' }])
    expect(run.exitedAt - t0).toBeLessThan(10000)
    // with a .then() attached the result is delivered before exit: the pending read kept the process alive
    const run2 = await spawnTimed([path.join(FIX, 'exit-dangling.js'), 'read-then', big])
    expect({ code: run2.code, signal: run2.signal, stderr: run2.stderr }).toEqual({ code: 0, signal: null, stderr: '' })
    expect(run2.lines).toEqual([{ unparsed: 'started' }, { byteLength: 64 * MiB }])
  }, 30000)

  test('an open FileHandle that is never closed does not keep the process alive (as in Node)', async () => {
    const d = newDir('dangling-fh')
    const f = path.join(d, 'f.bin')
    fs.writeFileSync(f, 'some bytes to read')
    const run = await spawnTimed([path.join(FIX, 'exit-dangling.js'), 'open-handle', f])
    expect({ code: run.code, signal: run.signal }).toEqual({ code: 0, signal: null })
    const settled = run.lines.find((l) => l.settled)
    expect(settled).toBeDefined()
    const lag = run.exitedAt - settled.settled
    console.log(`exit lag with an unclosed FileHandle: ${lag} ms`)
    expect(lag).toBeLessThan(5000) // ~tens of ms; generous for a busy machine, still catching a held loop
  }, 30000)

  test('a writeFile that is never awaited completes before the process exits', async () => {
    const d = newDir('dangling-w')
    const out = path.join(d, 'out.bin')
    const size = 64 * MiB
    const run = await spawnTimed([path.join(FIX, 'exit-dangling.js'), 'write', out, String(size)])
    expect({ code: run.code, signal: run.signal, stderr: run.stderr }).toEqual({ code: 0, signal: null, stderr: '' })
    const got = fs.readFileSync(out)
    expect(got.length).toBe(size)
    let bad = -1
    for (let i = 0; i < size; i += 4096) {
      if (got[i] !== ((i / 4096) & 255)) {
        bad = i
        break
      }
    }
    expect(bad).toBe(-1)
  }, 30000)
})

// ---------------------------------------------------------------------------
// 9. worker_threads
// ---------------------------------------------------------------------------
describe('worker_threads', () => {
  test('20 sequential and 10 concurrent workers load abio, do I/O, post bytes back, are terminated; main thread fine', () => {
    const d = newDir('workers')
    const run = runFixture([path.join(FIX, 'workers-basic.js'), d], { timeout: 60000 })
    expectCleanExit(run)
    const steps = run.lines.filter((l) => l.step)
    expect(steps.filter((s) => s.step === 'sequential')).toHaveLength(20)
    expect(steps.filter((s) => s.step === 'concurrent')).toHaveLength(10)
    expect(steps.filter((s) => s.problem)).toEqual([])
    expect(run.lines.find((l) => l.fatal)).toBeUndefined()
    expect(run.lines[run.lines.length - 1]).toEqual({ done: true })
  }, 70000)

  test('workers terminated while abio reads/writes are in flight; main thread keeps working and exits 0', () => {
    const d = newDir('workers-inflight')
    const big = path.join(d, 'big.bin')
    const fd = fs.openSync(big, 'w')
    fs.ftruncateSync(fd, 256 * MiB) // sparse: reads cost memcpy, not disk
    fs.closeSync(fd)
    const run = runFixture(['--expose-gc', path.join(FIX, 'workers-inflight.js'), d, big], { timeout: 80000 })
    const steps = run.lines.filter((l) => l.step)
    console.log(
      'workers terminated mid-operation: ' +
        steps
          .filter((s) => s.kind)
          .map((s) => `${s.kind}@${s.delayMs}ms:${s.msgs.length > 1 ? 'finished-first' : 'in-flight'}`)
          .join(' '),
    )
    expectCleanExit(run)
    expect(run.lines.find((l) => l.fatal)).toBeUndefined()
    expect(steps.filter((s) => s.problem)).toEqual([])
    expect(steps.find((s) => s.step === 'main')).toEqual({ step: 'main', problem: null })
    expect(run.lines[run.lines.length - 1]).toEqual({ done: true })
  }, 90000)

  test('workers with open WebSockets terminated mid-traffic; the main server reports them closed and goes on', () => {
    const run = runFixture([path.join(FIX, 'workers-websocket.js')], { timeout: 60000 })
    expectCleanExit(run)
    expect(run.lines.find((l) => l.fatal)).toBeUndefined()
    const steps = run.lines.filter((l) => l.step)
    expect(steps.filter((s) => s.step === 'round' && s.problem === null)).toHaveLength(5)
    expect(steps.filter((s) => s.problem)).toEqual([])
    expect(steps.find((s) => s.step === 'main')).toEqual({ step: 'main', closes: 40, echoed: 'still here' })
    expect(run.lines[run.lines.length - 1]).toEqual({ done: true })
  }, 70000)

  const linuxTest = fs.existsSync('/proc/self/fd') ? test : test.skip
  linuxTest(
    'servers started in workers close with them (busy or idle); descriptors come back',
    () => {
      const run = runFixture([path.join(FIX, 'workers-servers.js')], { timeout: 60000 })
      expectCleanExit(run)
      expect(run.lines.find((l) => l.fatal)).toBeUndefined()
      const steps = run.lines.filter((l) => l.step)
      expect(steps.filter((s) => s.problem)).toEqual([])
      expect(steps.filter((s) => s.step === 'round')).toHaveLength(3)
      expect(steps.find((s) => s.step === 'main')).toEqual({ step: 'main', stillAccepting: 0, fdsBack: true })
      expect(run.lines[run.lines.length - 1]).toEqual({ done: true })
    },
    70000,
  )

  // design.md section 2: at a worker's teardown every operation holding its memory is stopped
  // before the teardown returns. The peer paused after 1 MiB; the worker is terminated and
  // fresh memory filled with 0xEE; the peer then reads on. Before the fix the peer got 0xEE.
  test.each(['route', 'fetch', 'stream', 'request', 'download', 'send', 'broadcast', 'tcp', 'tls'])(
    'a worker terminated while its held 32 MiB is being sent (%s): the peer gets exact bytes or a cut, never freed memory',
    (kind) => {
      const run = runFixture([path.join(FIX, 'workers-held.js'), kind], { timeout: 60000 })
      expectCleanExit(run)
      const r = run.lines[0] || {}
      expect(r.fatal).toBeUndefined()
      expect(r.kind).toBe(kind)
      expect(r.got).toBeGreaterThanOrEqual(MiB)
      expect(r.got).toBeLessThanOrEqual(r.total)
      expect(r.bad).toBe(-1)
    },
    70000,
  )

  test('an ArrayBuffer from abio can be transferred between threads and outlive the worker', () => {
    const d = newDir('workers-transfer')
    const run = runFixture(['--expose-gc', path.join(FIX, 'workers-transfer.js'), d], { timeout: 60000 })
    expectCleanExit(run)
    expect(run.lines.find((l) => l.fatal)).toBeUndefined()
    const steps = run.lines.filter((l) => l.step === 'transfer')
    expect(steps).toHaveLength(3)
    expect(steps.map(({ size, problem, sendProblem }) => ({ size, problem, sendProblem }))).toEqual(
      steps.map(({ size }) => ({ size, problem: null, sendProblem: null })),
    )
    expect(run.lines.find((l) => l.step === 'main')).toEqual({ step: 'main', problem: null })
  }, 70000)
})

// ---------------------------------------------------------------------------
// Held memory that may shrink (design.md section 2)
// ---------------------------------------------------------------------------
describe('resizable and growable buffers', () => {
  test('held views of them are copied at the call: resizing after savePacked, writeFile, a route, a fetch answer, a TCP write, request() changes nothing', () => {
    const d = newDir('resizable')
    const run = runFixture([path.join(FIX, 'resizable.js'), d], { timeout: 60000 })
    expectCleanExit(run)
    expect(run.lines).toEqual(
      ['savePacked', 'writeFile', 'route', 'fetchAnswer', 'tcpWrite', 'request'].map((c) => ({ case: c, ok: true })),
    )
  }, 70000)

  test('a read target over one is refused with ABIO_ERR_INVALID_ARG (it is filled after the call returns)', async () => {
    const abio = require('..')
    const d = newDir('resizable-target')
    const file = path.join(d, 'f')
    fs.writeFileSync(file, 'abcd')
    const rab = new ArrayBuffer(8, { maxByteLength: 16 })
    const gsab = new SharedArrayBuffer(8, { maxByteLength: 16 })
    const fh = await abio.open(file)
    try {
      for (const target of [new Uint8Array(rab), new DataView(gsab)]) {
        for (const call of [() => abio.readFileInto(file, target), () => fh.readInto(target, 0)]) {
          let thrown
          try {
            call()
          } catch (e) {
            thrown = e
          }
          expect(thrown && [thrown.name, thrown.code]).toEqual(['TypeError', 'ABIO_ERR_INVALID_ARG'])
        }
      }
      // Sync calls borrow them as they are.
      const ok = new Uint8Array(new ArrayBuffer(4, { maxByteLength: 8 }))
      expect(await abio.readFileInto(file, new Uint8Array(4))).toBe(4)
      abio.writeFileSync(file, ok)
      expect(fs.readFileSync(file)).toEqual(Buffer.alloc(4))
    } finally {
      await fh.close()
    }
  })
})

// ---------------------------------------------------------------------------
// Extra: memory stays flat (design.md section 9)
// ---------------------------------------------------------------------------
describe('memory stays flat', () => {
  test('~250,000 small operations (sync, async, batch, FileHandle, errors) grow RSS by < 24 MiB', () => {
    const d = newDir('leak-ops')
    const run = runFixture(['--expose-gc', path.join(FIX, 'leak.js'), 'ops', d], { timeout: 80000 })
    expectCleanExit(run)
    const r = run.lines[0] || {}
    expect(r.fatal).toBeUndefined()
    console.log(
      `RSS over ~250k operations: ${fmtMiB(r.before)} -> ${fmtMiB(r.after)} (+${fmtMiB(r.growth)}) in ${r.ms} ms`,
    )
    expect(r.growth).toBeLessThan(24 * MiB)
  }, 90000)

  test('40 more workers loading abio and terminated grow RSS by < 40 MiB (< 1 MiB each)', () => {
    const d = newDir('leak-workers')
    const run = runFixture(['--expose-gc', path.join(FIX, 'leak.js'), 'workers', d], { timeout: 60000 })
    expectCleanExit(run)
    const r = run.lines[0] || {}
    expect(r.fatal).toBeUndefined()
    console.log(`RSS over 40 worker lifetimes: ${fmtMiB(r.before)} -> ${fmtMiB(r.after)} (+${fmtMiB(r.growth)})`)
    expect(r.growth).toBeLessThan(40 * MiB)
  }, 70000)
})
