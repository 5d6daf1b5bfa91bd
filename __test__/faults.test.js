'use strict'
// Fault injection for abio's file API: full disks, permissions, wrong file kinds,
// size limits, SIGKILL during atomic writes and wrong argument types.
// Contract: design.md (the project contract), sections 2-4.
const fs = require('fs')
const os = require('os')
const path = require('path')
const util = require('util')
const cp = require('child_process')

const abio = require('..')
const { pickError, nodeFields, pattern } = require('./fixtures/util')
const { cases: badArgCases } = require('./fixtures/bad-args-cases')

const FIX = path.join(__dirname, 'fixtures')
const MiB = 1 << 20
const ERRNO = os.constants.errno
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'abio-'))
const newDir = (name) => fs.mkdtempSync(path.join(tmpRoot, name + '-'))

/** The error `fn` throws; fails if it returns instead. A returned promise is reported, not awaited. */
function syncError(fn) {
  let r
  try {
    r = fn()
  } catch (e) {
    return e
  }
  if (r && typeof r.then === 'function')
    r.then(
      () => {},
      () => {},
    )
  throw new Error(`expected a synchronous throw, but it returned ${util.inspect(r, { depth: 0 })}`)
}
/** The error `fn`'s promise rejects with (a synchronous throw counts too); fails if it resolves. */
async function asyncError(fn) {
  let r
  try {
    r = await fn()
  } catch (e) {
    return e
  }
  if (r && typeof r.close === 'function') await r.close().catch(() => {})
  throw new Error(`expected a rejection, but it resolved with ${util.inspect(r, { depth: 0 })}`)
}

/**
 * An Error from any realm (jest runs tests in a vm context, so errors made by Node core or
 * the addon are not `instanceof` the test's Error): check natively and by constructor name.
 */
function expectErrorOf(err, ctorName = 'Error') {
  expect(util.types.isNativeError(err)).toBe(true)
  if (ctorName !== 'Error') expect(err.constructor && err.constructor.name).toBe(ctorName)
}

/** abio's error must carry exactly Node's code/errno/syscall/path/message. */
function expectSameAsNode(got, want) {
  expectErrorOf(got)
  expect(nodeFields(got)).toEqual(nodeFields(want))
}
/**
 * Same, for errors where Node sets no path (e.g. EISDIR from read(2)): abio may add the
 * path ("path where there is one"), then it must be the path given, and the message must
 * still begin like Node's.
 */
function expectLikeNodePathOptional(got, want, p) {
  expectErrorOf(got)
  expect({ code: got.code, errno: got.errno, syscall: got.syscall }).toEqual({
    code: want.code,
    errno: want.errno,
    syscall: want.syscall,
  })
  if (got.path !== undefined) expect(got.path).toBe(p)
  expect(got.message.startsWith(want.message)).toBe(true)
}

// ---------------------------------------------------------------------------
// 1. ENOSPC on a tiny tmpfs. Probe (mount) at load time, skip the block if we cannot.
// ---------------------------------------------------------------------------
const smallFs = path.join(tmpRoot, 'small-tmpfs')
fs.mkdirSync(smallFs)
let mounted = false
let mountProblem = ''
try {
  cp.execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0755', 'tmpfs', smallFs], { stdio: 'pipe' })
  mounted = true
} catch (e) {
  mountProblem = (e.stderr && String(e.stderr).trim()) || e.message
}
if (!mounted) {
  console.log(
    `SKIPPING the ENOSPC tests: could not mount a 1 MiB tmpfs at ${smallFs} ` +
      `(${isRoot ? 'root, but mount was refused' : 'not root'}: ${mountProblem}). They need root with CAP_SYS_ADMIN.`,
  )
}
function unmountSmallFs() {
  if (!mounted) return
  try {
    cp.execFileSync('umount', [smallFs], { stdio: 'pipe' })
  } catch {
    cp.execFileSync('umount', ['-l', smallFs], { stdio: 'pipe' })
  }
  mounted = false
}

afterAll(() => {
  unmountSmallFs()
  fs.rmSync(tmpRoot, { recursive: true, force: true })
})

const describeEnospc = mounted ? describe : describe.skip

describeEnospc('ENOSPC (1 MiB tmpfs, 4 MiB writes)', () => {
  const oldBytes = pattern(1000, 7)
  const old = path.join(smallFs, 'old.bin')
  const big = () => new Uint8Array(4 * MiB).fill(0x5a)

  beforeEach(() => {
    for (const f of fs.readdirSync(smallFs)) fs.rmSync(path.join(smallFs, f), { recursive: true, force: true })
    fs.writeFileSync(old, oldBytes)
  })
  afterAll(() => unmountSmallFs())

  function expectEnospc(err, p) {
    expectErrorOf(err)
    expect({ code: err.code, errno: err.errno, syscall: err.syscall }).toEqual({
      code: 'ENOSPC',
      errno: -ERRNO.ENOSPC,
      syscall: 'write',
    })
    expect(err.message).toMatch(/^ENOSPC: no space left on device, write/)
    if (p !== undefined && err.path !== undefined) expect(err.path).toBe(p)
  }
  const listing = () => fs.readdirSync(smallFs).sort()

  test('writeFileSync of 4 MiB throws ENOSPC (no silent short file)', () => {
    const p = path.join(smallFs, 'new.bin')
    expectEnospc(
      syncError(() => abio.writeFileSync(p, big())),
      p,
    )
  })

  test('writeFile of 4 MiB rejects with ENOSPC (no silent short file)', async () => {
    const p = path.join(smallFs, 'new.bin')
    expectEnospc(await asyncError(() => abio.writeFile(p, big())), p)
  })

  test('writev path (Data[]) of 2 x 2 MiB: writeFileSync throws, writeFile rejects, ENOSPC', async () => {
    const p = path.join(smallFs, 'parts.bin')
    const parts = () => [new Uint8Array(2 * MiB).fill(1), new Float64Array((2 * MiB) / 8).fill(2)]
    expectEnospc(
      syncError(() => abio.writeFileSync(p, parts())),
      p,
    )
    fs.rmSync(p, { force: true })
    expectEnospc(await asyncError(() => abio.writeFile(p, parts())), p)
  })

  test('non-atomic overwrite of an existing file with 4 MiB fails with ENOSPC (sync and async)', async () => {
    expectEnospc(
      syncError(() => abio.writeFileSync(old, big())),
      old,
    )
    fs.writeFileSync(old, oldBytes)
    expectEnospc(await asyncError(() => abio.writeFile(old, big())), old)
  })

  test('append of 4 MiB fails with ENOSPC', async () => {
    expectEnospc(await asyncError(() => abio.writeFile(old, big(), { append: true })), old)
  })

  test('atomic writeFileSync over an existing file: ENOSPC, old file intact, no temp file left', () => {
    expectEnospc(
      syncError(() => abio.writeFileSync(old, big(), { atomic: true })),
      old,
    )
    expect(fs.readFileSync(old).equals(oldBytes)).toBe(true)
    expect(listing()).toEqual(['old.bin'])
  })

  test('atomic writeFile over an existing file: ENOSPC, old file intact, no temp file left', async () => {
    expectEnospc(await asyncError(() => abio.writeFile(old, big(), { atomic: true })), old)
    expect(fs.readFileSync(old).equals(oldBytes)).toBe(true)
    expect(listing()).toEqual(['old.bin'])
  })

  test('atomic + durable writeFile over an existing file: ENOSPC, old file intact, no temp file left', async () => {
    expectEnospc(await asyncError(() => abio.writeFile(old, big(), { atomic: true, durable: true })), old)
    expect(fs.readFileSync(old).equals(oldBytes)).toBe(true)
    expect(listing()).toEqual(['old.bin'])
  })

  test('atomic write of a new file: ENOSPC, no target and no temp file left', async () => {
    const p = path.join(smallFs, 'fresh.bin')
    expectEnospc(await asyncError(() => abio.writeFile(p, big(), { atomic: true })), p)
    expect(listing()).toEqual(['old.bin'])
    expectEnospc(
      syncError(() => abio.writeFileSync(p, [big()], { atomic: true })),
      p,
    )
    expect(listing()).toEqual(['old.bin'])
  })

  test("writeFiles rejects with the failing entry's ENOSPC error, its path set", async () => {
    const bigPath = path.join(smallFs, 'big.bin')
    const smallPath = path.join(smallFs, 'small.bin')
    const err = await asyncError(() =>
      abio.writeFiles([
        { path: bigPath, data: big() },
        { path: smallPath, data: 'tiny' },
      ]),
    )
    expectEnospc(err)
    expect(err.path).toBe(bigPath)
  })

  test('atomic writeFiles: ENOSPC with the entry path, old file intact, no temp files left', async () => {
    const err = await asyncError(() => abio.writeFiles([{ path: old, data: big() }], { atomic: true }))
    expectEnospc(err)
    expect(err.path).toBe(old)
    expect(fs.readFileSync(old).equals(oldBytes)).toBe(true)
    expect(listing()).toEqual(['old.bin'])
  })

  test('FileHandle.write of 4 MiB either rejects with ENOSPC or reports the true short count', async () => {
    const p = path.join(smallFs, 'handle.bin')
    const fh = await abio.open(p, 'w')
    let n
    let err
    try {
      n = await fh.write(big(), 0)
    } catch (e) {
      err = e
    } finally {
      await fh.close()
    }
    if (err) {
      expectEnospc(err)
    } else {
      expect(n).toBeLessThan(4 * MiB)
      expect(n).toBe(fs.statSync(p).size)
    }
  })

  test('the process lives on: abio still writes and reads after all that', async () => {
    const p = path.join(smallFs, 'after.bin')
    expect(abio.writeFileSync(p, 'still here')).toBe(10)
    expect(Buffer.from(abio.readFileSync(p)).toString()).toBe('still here')
    expect(await abio.writeFile(p, new Uint8Array(4096).fill(3))).toBe(4096)
    const back = new Uint8Array(await abio.readFile(p))
    expect(back.length).toBe(4096)
    expect(back.every((b) => b === 3)).toBe(true)
  })
})

// ---------------------------------------------------------------------------
// 2. EACCES, in a child running as nobody (root bypasses permission checks).
// ---------------------------------------------------------------------------
describe('EACCES (child process as an unprivileged user)', () => {
  let run
  let dir
  let file
  let newFile
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'abio-eacces-'))
    fs.chmodSync(dir, 0o755) // mkdtemp makes 0700: let the child traverse it
    file = path.join(dir, 'secret.bin')
    newFile = path.join(dir, 'new.bin')
    fs.writeFileSync(file, 'secret')
    // As root: a root-owned 0600 file and a child as uid/gid 65534.
    // Not root: a 0000 file of our own, which we cannot open either.
    fs.chmodSync(file, isRoot ? 0o600 : 0o000)
    const opts = { encoding: 'utf8', timeout: 60000, cwd: os.tmpdir() }
    if (isRoot) Object.assign(opts, { uid: 65534, gid: 65534 })
    const r = cp.spawnSync(process.execPath, [path.join(FIX, 'eacces.js'), file, newFile], opts)
    run = { status: r.status, signal: r.signal, error: r.error && r.error.message, stderr: r.stderr, stdout: r.stdout }
    try {
      run.out = JSON.parse(r.stdout.trim().split('\n').pop())
    } catch {
      run.out = null
    }
  }, 70000)
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  test('the child ran unprivileged and exited cleanly', () => {
    expect({ status: run.status, signal: run.signal, error: run.error, stderr: run.stderr }).toEqual({
      status: 0,
      signal: null,
      error: undefined,
      stderr: '',
    })
    expect(run.out).not.toBeNull()
    if (isRoot) expect(run.out.uid).toBe(65534)
  })

  const ops = {
    readFileSync: 'file',
    readFile: 'file',
    readFiles: 'file',
    writeFile: 'file',
    writeFileSync: 'file',
    writeFileSyncNew: 'newFile',
    writeFileNew: 'newFile',
    open: 'file',
  }
  test.each(Object.keys(ops))('%s: EACCES with code, errno, syscall, path and message equal to fs', (op) => {
    expect(run.out).toBeTruthy()
    const p = ops[op] === 'file' ? file : newFile
    const got = run.out.abio[op]
    const want = run.out.node[op]
    // sanity: Node's fs really was denied
    expect(want).toMatchObject({ code: 'EACCES', path: p })
    expect(got).toMatchObject({ isError: true, code: 'EACCES', errno: -ERRNO.EACCES, syscall: 'open', path: p })
    expect(nodeFields(got)).toEqual(nodeFields(want))
    expect(got.message).toBe(`EACCES: permission denied, open '${p}'`)
  })

  test('atomic writes into an unwritable directory fail with EACCES and create nothing', () => {
    expect(run.out).toBeTruthy()
    expect(run.out.abioAtomic).toMatchObject({ isError: true, code: 'EACCES', errno: -ERRNO.EACCES })
    expect(run.out.abioAtomicSync).toMatchObject({ isError: true, code: 'EACCES', errno: -ERRNO.EACCES })
    expect(fs.readdirSync(dir)).toEqual(['secret.bin'])
    expect(fs.readFileSync(file, 'utf8')).toBe('secret')
  })
})

// ---------------------------------------------------------------------------
// 3. Wrong kind of path: directories, missing files, a file used as a directory.
// ---------------------------------------------------------------------------
describe('EISDIR, ENOENT, ENOTDIR look like fs errors', () => {
  let d
  let sub
  let file
  let missing
  let noDirFile
  beforeAll(() => {
    d = newDir('kinds')
    sub = path.join(d, 'adir')
    fs.mkdirSync(sub)
    file = path.join(d, 'file.bin')
    fs.writeFileSync(file, 'content')
    missing = path.join(d, 'missing.bin')
    noDirFile = path.join(d, 'nodir', 'x.bin')
  })
  const listing = () => fs.readdirSync(d).sort()

  test('readFileSync of a directory: EISDIR like fs.readFileSync', () => {
    const want = syncError(() => fs.readFileSync(sub))
    expectLikeNodePathOptional(
      syncError(() => abio.readFileSync(sub)),
      want,
      sub,
    )
  })
  test('readFile of a directory: EISDIR like fs.promises.readFile', async () => {
    const want = await asyncError(() => fs.promises.readFile(sub))
    expectLikeNodePathOptional(await asyncError(() => abio.readFile(sub)), want, sub)
  })
  test('readFiles with a directory: EISDIR, path set to that entry', async () => {
    const err = await asyncError(() => abio.readFiles([file, sub]))
    expectErrorOf(err)
    expect({ code: err.code, errno: err.errno, path: err.path }).toEqual({
      code: 'EISDIR',
      errno: -ERRNO.EISDIR,
      path: sub,
    })
  })
  test('writeFileSync to a directory: EISDIR equal to fs.writeFileSync', () => {
    const want = syncError(() => fs.writeFileSync(sub, 'x'))
    expectSameAsNode(
      syncError(() => abio.writeFileSync(sub, 'x')),
      want,
    )
  })
  test('writeFile to a directory: EISDIR equal to fs.promises.writeFile', async () => {
    const want = await asyncError(() => fs.promises.writeFile(sub, 'x'))
    expectSameAsNode(await asyncError(() => abio.writeFile(sub, 'x')), want)
  })
  test('open(dir, "w"): EISDIR equal to fs.promises.open', async () => {
    const want = await asyncError(() => fs.promises.open(sub, 'w'))
    expectSameAsNode(await asyncError(() => abio.open(sub, 'w')), want)
  })
  test('atomic write to a directory path: EISDIR, directory untouched, no temp file left', async () => {
    const before = listing()
    const e1 = await asyncError(() => abio.writeFile(sub, 'x', { atomic: true }))
    expect(e1).toMatchObject({ code: 'EISDIR', errno: -ERRNO.EISDIR })
    const e2 = syncError(() => abio.writeFileSync(sub, 'x', { atomic: true }))
    expect(e2).toMatchObject({ code: 'EISDIR', errno: -ERRNO.EISDIR })
    expect(fs.statSync(sub).isDirectory()).toBe(true)
    expect(listing()).toEqual(before)
  })

  test('readFileSync of a missing file: ENOENT equal to fs.readFileSync', () => {
    expectSameAsNode(
      syncError(() => abio.readFileSync(missing)),
      syncError(() => fs.readFileSync(missing)),
    )
  })
  test('readFile of a missing file: ENOENT equal to fs.promises.readFile', async () => {
    const want = await asyncError(() => fs.promises.readFile(missing))
    expectSameAsNode(await asyncError(() => abio.readFile(missing)), want)
  })
  test('readFile with offset/length of a missing file: ENOENT equal to fs', async () => {
    const want = await asyncError(() => fs.promises.readFile(missing))
    expectSameAsNode(await asyncError(() => abio.readFile(missing, { offset: 1, length: 2 })), want)
  })
  test('readFiles with a missing entry: ENOENT equal to fs, for that entry', async () => {
    const want = await asyncError(() => fs.promises.readFile(missing))
    expectSameAsNode(await asyncError(() => abio.readFiles([file, missing, file])), want)
  })
  test('readFileInto a missing file: ENOENT equal to fs', async () => {
    const want = syncError(() => fs.readFileSync(missing))
    expectSameAsNode(await asyncError(() => abio.readFileInto(missing, new Uint8Array(8))), want)
  })
  test('open(missing, "r"): ENOENT equal to fs.promises.open', async () => {
    const want = await asyncError(() => fs.promises.open(missing, 'r'))
    expectSameAsNode(await asyncError(() => abio.open(missing, 'r')), want)
  })
  test('writeFileSync into a missing directory: ENOENT equal to fs.writeFileSync', () => {
    const want = syncError(() => fs.writeFileSync(noDirFile, 'x'))
    expectSameAsNode(
      syncError(() => abio.writeFileSync(noDirFile, 'x')),
      want,
    )
  })
  test('writeFile into a missing directory: ENOENT equal to fs.promises.writeFile', async () => {
    const want = await asyncError(() => fs.promises.writeFile(noDirFile, 'x'))
    expectSameAsNode(await asyncError(() => abio.writeFile(noDirFile, 'x')), want)
  })
  test('writeFiles into a missing directory: ENOENT equal to fs, for that entry', async () => {
    const want = await asyncError(() => fs.promises.writeFile(noDirFile, 'x'))
    const ok = path.join(d, 'ok.bin')
    expectSameAsNode(
      await asyncError(() =>
        abio.writeFiles([
          { path: ok, data: 'fine' },
          { path: noDirFile, data: 'x' },
        ]),
      ),
      want,
    )
    // entries that succeeded stay written
    expect(fs.readFileSync(ok, 'utf8')).toBe('fine')
  })
  test('atomic write into a missing directory: ENOENT, nothing created', async () => {
    const before = listing()
    expect(await asyncError(() => abio.writeFile(noDirFile, 'x', { atomic: true }))).toMatchObject({
      code: 'ENOENT',
      errno: -ERRNO.ENOENT,
    })
    expect(syncError(() => abio.writeFileSync(noDirFile, 'x', { atomic: true }))).toMatchObject({
      code: 'ENOENT',
      errno: -ERRNO.ENOENT,
    })
    expect(listing()).toEqual(before)
  })
  test('a file used as a directory: ENOTDIR equal to fs (read and write)', async () => {
    const p = path.join(file, 'x')
    expectSameAsNode(
      syncError(() => abio.readFileSync(p)),
      syncError(() => fs.readFileSync(p)),
    )
    expectSameAsNode(
      await asyncError(() => abio.writeFile(p, 'x')),
      await asyncError(() => fs.promises.writeFile(p, 'x')),
    )
  })
})

// ---------------------------------------------------------------------------
// 4. maxSize
// ---------------------------------------------------------------------------
describe('maxSize', () => {
  let d
  let small
  let big
  beforeAll(() => {
    d = newDir('maxsize')
    small = path.join(d, 'small.bin')
    big = path.join(d, 'big.bin')
    fs.writeFileSync(small, pattern(100, 1))
    fs.writeFileSync(big, pattern(1000, 2))
  })
  function expectTooLarge(err) {
    expectErrorOf(err, 'RangeError')
    expect(err.code).toBe('ABIO_ERR_FILE_TOO_LARGE')
  }

  test('readFileSync of a file larger than maxSize throws RangeError ABIO_ERR_FILE_TOO_LARGE', () => {
    expectTooLarge(syncError(() => abio.readFileSync(big, { maxSize: 999 })))
    expectTooLarge(syncError(() => abio.readFileSync(big, { maxSize: 0 })))
  })
  test('readFile of a file larger than maxSize rejects with RangeError ABIO_ERR_FILE_TOO_LARGE', async () => {
    expectTooLarge(await asyncError(() => abio.readFile(big, { maxSize: 999 })))
  })
  test('readFiles rejects with RangeError ABIO_ERR_FILE_TOO_LARGE, path of the too-large entry', async () => {
    const err = await asyncError(() => abio.readFiles([small, big, small], { maxSize: 999 }))
    expectTooLarge(err)
    expect(err.path).toBe(big)
  })
  test('a 64 MiB file under maxSize 1 MiB fails fast with ABIO_ERR_FILE_TOO_LARGE', async () => {
    const huge = path.join(d, 'huge.bin')
    const fd = fs.openSync(huge, 'w')
    fs.ftruncateSync(fd, 64 * MiB)
    fs.closeSync(fd)
    expectTooLarge(syncError(() => abio.readFileSync(huge, { maxSize: MiB })))
    expectTooLarge(await asyncError(() => abio.readFile(huge, { maxSize: MiB })))
    fs.rmSync(huge)
  })
  test('maxSize equal to the file size is allowed (boundary)', async () => {
    expect(abio.readFileSync(big, { maxSize: 1000 }).byteLength).toBe(1000)
    expect((await abio.readFile(big, { maxSize: 1000 })).byteLength).toBe(1000)
    const all = await abio.readFiles([small, big], { maxSize: 1000 })
    expect(all.map((ab) => ab.byteLength)).toEqual([100, 1000])
    expect(Buffer.from(all[1]).equals(pattern(1000, 2))).toBe(true)
  })
})

// ---------------------------------------------------------------------------
// 5. Atomic writes under SIGKILL
// ---------------------------------------------------------------------------
describe('atomic writes under SIGKILL', () => {
  /** Whether `dir` takes unnamed files (Linux O_TMPFILE: __O_TMPFILE | O_DIRECTORY). */
  const tmpfileWorks = (dir) => {
    if (process.platform !== 'linux') return false
    try {
      fs.closeSync(fs.openSync(dir, 0o20000000 | fs.constants.O_DIRECTORY | fs.constants.O_WRONLY, 0o600))
      return true
    } catch {
      return false
    }
  }
  test('a writer killed at a random moment leaves the target exactly A or B, never torn', async () => {
    const d = newDir('sigkill')
    const target = path.join(d, 'target.bin')
    const A = Buffer.alloc(MiB, 0x41)
    const B = Buffer.alloc(3 * MiB, 0x42)
    fs.writeFileSync(target, A) // so it must always be exactly A or B
    const writer = path.join(FIX, 'atomic-writer.js')
    const started = Date.now()
    const budgetMs = 50000 // spawn costs ~40 ms idle, several times that on a busy machine
    const maxTries = 300
    const seen = { A: 0, B: 0 }
    const torn = []
    const earlyExits = []
    const leftovers = []
    let tries = 0
    let triesWithLeftovers = 0
    while (tries < maxTries && Date.now() - started < budgetMs && earlyExits.length < 3) {
      tries++
      const child = cp.spawn(process.execPath, [writer, target], { stdio: ['ignore', 'pipe', 'pipe'] })
      let stderr = ''
      child.stderr.on('data', (c) => (stderr += c))
      const exited = new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })))
      const ready = await Promise.race([
        new Promise((res) => child.stdout.once('data', () => res(true))),
        exited.then(() => false),
      ])
      if (ready) {
        await sleep(5 + Math.random() * 55)
        child.kill('SIGKILL')
      }
      const ex = await exited
      if (ex.signal !== 'SIGKILL') earlyExits.push({ try: tries, ...ex, stderr: stderr.slice(0, 2000) })
      const got = fs.readFileSync(target)
      if (got.equals(A)) seen.A++
      else if (got.equals(B)) seen.B++
      else {
        const counts = {}
        for (const b of [0x41, 0x42, 0x43, 0]) counts['0x' + b.toString(16)] = got.filter((x) => x === b).length
        torn.push({ try: tries, size: got.length, head: got.subarray(0, 8).toString('hex'), counts })
        fs.writeFileSync(target, A)
      }
      // A writer killed between naming its temp file and renaming it leaves that to its
      // helper process, which may end a moment after the writer: give it up to a second.
      const others = () => fs.readdirSync(d).filter((f) => f !== 'target.bin')
      let extra = others()
      for (let i = 0; extra.length && i < 50; i++) {
        await sleep(20)
        extra = others()
      }
      if (extra.length) triesWithLeftovers++
      for (const f of extra) {
        leftovers.push(f)
        fs.rmSync(path.join(d, f), { force: true, recursive: true })
      }
    }
    const secs = ((Date.now() - started) / 1000).toFixed(1)
    console.log(
      `SIGKILL atomic test: ${tries} kills in ${secs} s; target was A ${seen.A}x, B ${seen.B}x, torn ${torn.length}x; ` +
        `temp files left behind: ${leftovers.length} (after ${triesWithLeftovers} of ${tries} kills)` +
        (leftovers.length ? `, e.g. ${leftovers.slice(0, 3).join(', ')}` : ''),
    )
    expect(earlyExits).toEqual([])
    expect(torn).toEqual([])
    expect(tries).toBeGreaterThanOrEqual(50)
    expect(seen.B).toBeGreaterThan(0) // the writer really did replace the file
    // The data goes to an unnamed O_TMPFILE, named (linkat) and renamed over the target by a
    // helper process a SIGKILL of the writer does not stop: nothing is left behind. Without
    // O_TMPFILE (other systems and filesystems) a named temp file is, now and then.
    if (tmpfileWorks(d)) expect(leftovers).toEqual([])
    else expect(triesWithLeftovers).toBeLessThanOrEqual(Math.ceil(tries / 50))
  }, 90000)
})

// ---------------------------------------------------------------------------
// 6. Wrong argument types: every case runs in a child first (a crash must not take
//    jest down); then a few are repeated in-process.
// ---------------------------------------------------------------------------
describe('wrong argument types', () => {
  let child
  const results = new Map()
  let crashedAt = null
  beforeAll(() => {
    const d = newDir('badargs')
    const r = cp.spawnSync(process.execPath, [path.join(FIX, 'bad-args.js'), d], { encoding: 'utf8', timeout: 120000 })
    child = {
      status: r.status,
      signal: r.signal,
      stderr: (r.stderr || '').slice(0, 4000),
      error: r.error && r.error.message,
    }
    let lastBegin = null
    for (const line of (r.stdout || '').split('\n')) {
      if (!line.trim()) continue
      let o
      try {
        o = JSON.parse(line)
      } catch {
        continue
      }
      if (o.begin) lastBegin = o.begin
      if (o.result) {
        results.set(o.result.id, o.result)
        lastBegin = null
      }
      if (o.done) child.done = o
      if (o.fatal) child.fatal = o
    }
    crashedAt = lastBegin
  }, 130000)

  test('the child survived every case and exited 0 (no crash, no abort)', () => {
    expect({
      crashedDuring: crashedAt,
      status: child.status,
      signal: child.signal,
      fatal: child.fatal,
      error: child.error,
    }).toEqual({
      crashedDuring: null,
      status: 0,
      signal: null,
      fatal: undefined,
      error: undefined,
    })
    expect(child.done).toEqual({ done: true, after: 'still fine' })
  })

  test.each(badArgCases.map((c) => [c.id, c]))('%s', (id, c) => {
    const r = results.get(id)
    if (!r) {
      throw new Error(
        crashedAt === id
          ? `the child process died during this call (status ${child.status}, signal ${child.signal}); stderr:\n${child.stderr}`
          : `not run: the child died earlier (during "${crashedAt}")`,
      )
    }
    if (r.missing) throw new Error(`abio.${c.group} is not exported`)
    const outcome = r.threw
      ? 'threw synchronously'
      : r.returnedPromise
        ? `returned a promise that ${r.settled}`
        : `returned ${r.returnedType}`
    const got = {
      outcome,
      ctor: r.error && r.error.ctor,
      code: r.error && r.error.code,
      message: r.error && r.error.message,
    }
    expect(got).toEqual({
      outcome: 'threw synchronously',
      ctor: c.range ? expect.stringMatching(/^(TypeError|RangeError)$/) : 'TypeError',
      code: 'ABIO_ERR_INVALID_ARG',
      message: expect.any(String),
    })
  })

  test('every invalid-argument message names the argument', () => {
    const unnamed = []
    for (const c of badArgCases) {
      const r = results.get(c.id)
      if (r && r.threw && r.error && r.error.code === 'ABIO_ERR_INVALID_ARG' && !c.arg.test(r.error.message)) {
        unnamed.push(`${c.id} -> ${JSON.stringify(r.error.message)} (expected to match ${c.arg})`)
      }
    }
    expect(unnamed).toEqual([])
  })

  test('in-process: async functions throw synchronously, no promise, no crash', async () => {
    if (crashedAt || child.signal) throw new Error('not attempted in-process: the child process crashed (see above)')
    const want = { isError: true, ctor: 'TypeError', name: 'TypeError', code: 'ABIO_ERR_INVALID_ARG' }
    const d = newDir('badargs-inproc')
    const out = path.join(d, 'o.bin')
    const detachedAb = () => {
      const ab = new ArrayBuffer(8)
      structuredClone(ab, { transfer: [ab] })
      return ab
    }
    expect(pickError(syncError(() => abio.writeFile(123, 'x')))).toMatchObject(want)
    expect(pickError(syncError(() => abio.writeFile(out, null)))).toMatchObject(want)
    expect(pickError(syncError(() => abio.writeFile(out, detachedAb())))).toMatchObject(want)
    expect(pickError(syncError(() => abio.writeFileSync(out, {})))).toMatchObject(want)
    expect(pickError(syncError(() => abio.readFile(undefined)))).toMatchObject(want)
    expect(pickError(syncError(() => abio.readFile(out, 42)))).toMatchObject(want)
    expect(pickError(syncError(() => abio.readFiles(null)))).toMatchObject(want)
    expect(pickError(syncError(() => abio.writeFiles([{ path: out, data: 1 }])))).toMatchObject(want)
    expect(pickError(syncError(() => abio.open({}, 'r')))).toMatchObject(want)
    expect(pickError(syncError(() => abio.writeFile(out, 'x', { append: true, atomic: true })))).toMatchObject(want)
    expect(fs.existsSync(out)).toBe(false) // nothing was written by any of them
    // a detached view writes nothing or is refused; either way no crash and no garbage
    const u = new Uint8Array(new ArrayBuffer(8))
    structuredClone(u.buffer, { transfer: [u.buffer] })
    let n
    try {
      n = await abio.writeFile(out, u)
    } catch (e) {
      expect(pickError(e)).toMatchObject(want)
    }
    if (n !== undefined) {
      expect(n).toBe(0)
      expect(fs.statSync(out).size).toBe(0)
    }
  })
})

// ---------------------------------------------------------------------------
// Extra: valid-but-hostile inputs (in a child: a crash must not take jest down).
// ---------------------------------------------------------------------------
describe('hostile but valid inputs', () => {
  const res = new Map()
  let run
  let crashedAt = null
  beforeAll(() => {
    const d = newDir('odd')
    const r = cp.spawnSync(process.execPath, [path.join(FIX, 'odd-inputs.js'), d], { encoding: 'utf8', timeout: 60000 })
    run = { status: r.status, signal: r.signal, stderr: (r.stderr || '').slice(0, 4000) }
    for (const line of (r.stdout || '').split('\n').filter(Boolean)) {
      const o = JSON.parse(line)
      if (o.begin) crashedAt = o.begin
      else if (o.id) {
        res.set(o.id, o)
        crashedAt = null
      } else if (o.done) run.done = true
      else if (o.fatal) run.fatal = o
    }
  }, 70000)
  const get = (id) => {
    const r = res.get(id)
    if (!r)
      throw new Error(
        crashedAt === id
          ? `the child died during this call: ${JSON.stringify(run)}`
          : 'not run (the child died earlier)',
      )
    return r
  }
  const hexOf = (s) => Buffer.from(s).toString('hex')
  /** either the write is refused with an invalid-arg error, or it wrote exactly what JS sees */
  const refusedOrExact = (r) => {
    if (!r.ok) expect(r.error).toMatchObject({ ctor: 'TypeError', code: 'ABIO_ERR_INVALID_ARG' })
    else expect(r.value.fileBytes).toBe(r.value.jsBytes)
  }

  test('the child survived every call and exited 0', () => {
    expect({ crashedDuring: crashedAt, ...run }).toEqual({
      crashedDuring: null,
      status: 0,
      signal: null,
      stderr: '',
      done: true,
    })
  })
  test("lengths and offsets far beyond end of file give the file's bytes (short only at EOF), no huge allocation", () => {
    const hello = hexOf('hello world')
    expect(get('readFile length 2^40')).toEqual({ id: 'readFile length 2^40', ok: true, value: hello })
    expect(get('readFileSync length 2^53-1').value).toBe(hello)
    expect(get('readFile offset 2^52').value).toBe(0)
    expect(get('readFiles length 2^40').value).toEqual([hello, hello])
    expect(get('FileHandle.read length 2^40').value).toBe(hello)
    expect(get('FileHandle.read position 2^52').value).toBe(0)
  })
  test('writes and truncates beyond the maximum file size fail like fs (EFBIG/EINVAL), the file is unchanged', () => {
    for (const id of ['FileHandle.write position 2^53-1', 'FileHandle.truncate 2^53-1']) {
      const r = get(id)
      expect(r.ok).toBe(false)
      expect(r.error.isError).toBe(true)
      expect(['EFBIG', 'EINVAL']).toContain(r.error.code)
      expect(r.error.errno).toBe(-ERRNO[r.error.code])
    }
    expect(get('FileHandle.size after the failed calls').value).toBe(11)
  })
  test('a closed FileHandle rejects further calls with an error code; close is idempotent', () => {
    for (const id of ['FileHandle.read after close', 'FileHandle.write after close']) {
      const r = get(id)
      expect(r.ok).toBe(false)
      expect(['ABIO_ERR_CLOSED', 'EBADF']).toContain(r.error.code)
    }
    expect(get('FileHandle.close twice').ok).toBe(true)
  })
  test('detached, out-of-bounds, resizable and growable memory: refused or written exactly as JS sees it', () => {
    for (const id of [
      'write detached Uint8Array (sync)',
      'write detached DataView (async)',
      'write out-of-bounds view (sync)',
      'write out-of-bounds view (async)',
      'write resizable ArrayBuffer after grow',
      'write length-tracking view after shrink',
      'write growable SharedArrayBuffer after grow',
    ]) {
      refusedOrExact(get(id))
    }
    // the valid ones must not be refused
    expect(get('write resizable ArrayBuffer after grow').value.n).toBe(32)
    expect(get('write length-tracking view after shrink').value.n).toBe(8)
    expect(get('write growable SharedArrayBuffer after grow').value.n).toBe(24)
  })
  test('strings are written as UTF-8 exactly like Buffer.from (lone surrogates become U+FFFD); empty data writes empty files', () => {
    const r = get('write string with lone surrogates')
    expect(r.value.fileBytes).toBe(hexOf('a\ud800b\udc00'))
    expect(r.value.n).toBe(Buffer.byteLength('a\ud800b\udc00'))
    expect(get('write empty string').value).toEqual({ n: 0, jsBytes: '', fileBytes: '' })
    expect(get('write empty array').value).toEqual({ n: 0, size: 0 })
  })
  test('readFileInto a detached / out-of-bounds view is refused or reads 0 bytes; a view of a resizable buffer is refused', () => {
    for (const id of ['readFileInto detached view', 'readFileInto out-of-bounds view']) {
      const r = get(id)
      if (r.ok) expect(r.value).toBe(0)
      else expect(r.error).toMatchObject({ ctor: 'TypeError', code: 'ABIO_ERR_INVALID_ARG' })
    }
    // Filled after the call returns: a resize meanwhile would pull the memory from under the
    // read, and a copy would not be the caller's memory (README "Who owns your memory").
    const r = get('readFileInto length-tracking view after shrink')
    expect(r.ok).toBe(false)
    expect(r.error).toMatchObject({ ctor: 'TypeError', code: 'ABIO_ERR_INVALID_ARG' })
  })
  test('toArrayBuffer/toBuffer of an out-of-bounds view give 0 bytes or an invalid-arg error', () => {
    for (const id of ['toArrayBuffer out-of-bounds view', 'toBuffer out-of-bounds view']) {
      const r = get(id)
      if (r.ok) expect(r.value).toBe(0)
      else expect(r.error).toMatchObject({ ctor: 'TypeError', code: 'ABIO_ERR_INVALID_ARG' })
    }
  })
  test('empty batches resolve to empty arrays', () => {
    expect(get('readFiles []').value).toEqual([])
    expect(get('writeFiles []').value).toEqual([])
  })
})

// ---------------------------------------------------------------------------
// Extra: batches of thousands of paths under the common default `ulimit -n 1024`.
// ---------------------------------------------------------------------------
describe('open-file limit', () => {
  test('writeFiles/readFiles of 3000 paths work under ulimit -n 1024 (bounded descriptors)', () => {
    const d = newDir('nofile')
    const r = cp.spawnSync(
      '/bin/sh',
      ['-c', 'ulimit -n 1024 && exec "$0" "$@"', process.execPath, path.join(FIX, 'many-files.js'), d, '3000'],
      {
        encoding: 'utf8',
        timeout: 60000,
      },
    )
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' })
    const out = JSON.parse(r.stdout.trim())
    expect(out).toMatchObject({ count: 3000, written: 3000, read: 3000, readBad: -1 })
    // 3000 concurrent single readFile calls: fine, or a clean EMFILE like fs — never a crash
    if (out.parallelReadError) expect(out.parallelReadError).toMatchObject({ code: 'EMFILE', isError: true })
    else expect(out.parallelReads).toBe(3000)
  }, 70000)
})

// ---------------------------------------------------------------------------
// Extra: cancellation as a fault: an already-aborted signal, and an abort mid-read.
// ---------------------------------------------------------------------------
describe('aborted signals', () => {
  const expectAbort = (e) => {
    expectErrorOf(e)
    expect({ name: e.name, code: e.code }).toEqual({ name: 'AbortError', code: 'ABORT_ERR' })
  }
  test('an already-aborted signal rejects readFile/writeFile/readFiles/writeFiles with AbortError and writes nothing', async () => {
    const d = newDir('abort')
    const src = path.join(d, 'src.bin')
    fs.writeFileSync(src, 'data')
    const out = path.join(d, 'out.bin')
    const signal = AbortSignal.abort()
    expectAbort(await asyncError(() => abio.readFile(src, { signal })))
    expectAbort(await asyncError(() => abio.readFiles([src], { signal })))
    expectAbort(await asyncError(() => abio.writeFile(out, 'x', { signal })))
    expectAbort(await asyncError(() => abio.writeFiles([{ path: out, data: 'x' }], { signal })))
    expect(fs.existsSync(out)).toBe(false)
  })
  test('aborting a 512 MiB read mid-flight rejects with AbortError (or it already finished); abio keeps working', async () => {
    const d = newDir('abort-big')
    const big = path.join(d, 'big.bin')
    const fd = fs.openSync(big, 'w')
    fs.ftruncateSync(fd, 512 * MiB)
    fs.closeSync(fd)
    let aborted = 0
    for (const delay of [0, 1, 5, 20]) {
      const ac = new AbortController()
      const p = abio.readFile(big, { signal: ac.signal })
      setTimeout(() => ac.abort(), delay)
      try {
        const ab = await p
        expect(ab.byteLength).toBe(512 * MiB)
      } catch (e) {
        expectAbort(e)
        aborted++
      }
    }
    console.log(`mid-flight aborts: ${aborted} of 4 reads were cancelled, the others had finished`)
    expect((await abio.readFile(big, { length: 16 })).byteLength).toBe(16)
  }, 30000)
})
