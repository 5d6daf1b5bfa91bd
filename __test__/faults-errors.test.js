'use strict'
// Fault injection for abio's file API: permissions, wrong file kinds, size limits
// and SIGKILL during atomic writes.
// Contract: design.md (the project contract), sections 2-4. Shared helpers: helpers/faults.js.

const fs = require('fs')
const os = require('os')
const path = require('path')
const cp = require('child_process')

const abio = require('..')
const { nodeFields, pattern } = require('./fixtures/util')
const { FIX, MiB, ERRNO, isRoot, sleep, tmpRoot, newDir, syncError, asyncError } = require('./helpers/faults')
const { expectErrorOf, expectSameAsNode, expectLikeNodePathOptional } = require('./helpers/faults')

afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }))

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
