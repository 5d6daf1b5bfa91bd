'use strict'

// Files that are not plain regular files (design.md section 4, README "Files"): files of
// unknown size (/dev/zero, FIFOs, /proc) are read to their end but capped at 2 GiB - 1
// bytes without maxSize, as Node caps them; FIFOs and pipes (/dev/stdout) are written
// sequentially, not with positioned writes; an atomic write through a symlink lets the
// kernel follow the link (so fs.protected_symlinks applies) and replaces the target file.
//
// Expected bytes come from the input or from Node's fs on the same file.

const fs = require('fs')
const os = require('os')
const path = require('path')
const cp = require('child_process')
const crypto = require('crypto')

const abio = require('..')
const { thrownBy, rejectionOf } = require('./helpers/throws')

jest.setTimeout(60000)

const linux = process.platform === 'linux'
const linuxTest = linux ? test : test.skip
const unixTest = process.platform !== 'win32' ? test : test.skip

let dir
let seq = 0
const tmp = (name = 'f') => path.join(dir, `${name}-${++seq}`)
const rnd = (n) => crypto.randomBytes(n)
const bytes = (ab) => Buffer.from(ab)
const noTempFiles = (d) => expect(fs.readdirSync(d).filter((f) => f.endsWith('.abio-tmp'))).toEqual([])

/** Runs `sh -c script` with args ($0, $1, ...); resolves with its exit code and stderr. */
function sh(script, ...args) {
  const child = cp.spawn('sh', ['-c', script, ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (c) => (stderr += c))
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })))
}

function mkfifo() {
  const p = tmp('fifo')
  cp.execFileSync('mkfifo', [p])
  return p
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'abio-special-'))
})

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true })
})

// ---------------------------------------------------------------------------
describe('files of unknown size', () => {
  const CAP = 2 ** 31 - 1 // Node's kIoMaxLength
  const GiB = 2 ** 30

  /**
   * Runs fixtures/dev-zero.js `how` and returns what it printed. It is killed if its memory
   * passes 3.5 GiB: without the cap it would read until ENOMEM (or the OOM killer).
   */
  async function readDevZero(how) {
    const fixture = path.join(__dirname, 'fixtures', 'dev-zero.js')
    const child = cp.spawn(process.execPath, [fixture, how], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    let peak = 0
    child.stdout.on('data', (c) => (out += c))
    const watch = setInterval(() => {
      try {
        const rss = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'))
        peak = Math.max(peak, rss ? Number(rss[1]) * 1024 : 0)
        if (peak > 3.5 * GiB) child.kill('SIGKILL')
      } catch {}
    }, 20)
    const [code, signal] = await new Promise((resolve) => child.on('close', (c, s) => resolve([c, s])))
    clearInterval(watch)
    if (signal) throw new Error(`${how} of /dev/zero was killed by ${signal} at ${(peak / GiB).toFixed(2)} GiB`)
    expect(code).toBe(0)
    return JSON.parse(out)
  }

  // Each reads 2 GiB of zeros before giving up (~1-2 s here), in a child process.
  linuxTest.each(['readFileSync', 'readFile', 'readFiles', 'handleRead'])(
    '%s of /dev/zero stops at 2 GiB - 1 with ABIO_ERR_FILE_TOO_LARGE, not at ENOMEM',
    async (how) => {
      expect(await readDevZero(how)).toEqual({
        name: 'RangeError',
        code: 'ABIO_ERR_FILE_TOO_LARGE',
        path: '/dev/zero',
        size: CAP + 1, // one byte over the cap proves it too large
        maxSize: CAP,
      })
    },
  )

  linuxTest('a smaller maxSize or a length stops /dev/zero early; FileHandle.read within the cap', async () => {
    const fh = await abio.open('/dev/zero')
    try {
      expect(bytes(await fh.read(7, 100000)).equals(Buffer.alloc(100000))).toBe(true)
    } finally {
      await fh.close()
    }
    const e = thrownBy(() => abio.readFileSync('/dev/zero', { maxSize: 1000 }))
    expect([e.code, e.maxSize, e.size]).toEqual(['ABIO_ERR_FILE_TOO_LARGE', 1000, 1001])
    expect(bytes(abio.readFileSync('/dev/zero', { length: 70000 })).equals(Buffer.alloc(70000))).toBe(true)
    expect(bytes(await abio.readFile('/dev/zero', { offset: 5, length: 3 })).equals(Buffer.alloc(3))).toBe(true)
  })

  linuxTest('/proc files (stat size 0) still read exactly, by every path', async () => {
    const want = fs.readFileSync('/proc/version')
    expect(bytes(abio.readFileSync('/proc/version')).equals(want)).toBe(true)
    expect(bytes(await abio.readFile('/proc/version')).equals(want)).toBe(true)
    expect(bytes((await abio.readFiles(['/proc/version']))[0]).equals(want)).toBe(true)
    const status = bytes(abio.readFileSync('/proc/self/status')).toString()
    expect(status.startsWith('Name:')).toBe(true)
    expect(status.endsWith('\n')).toBe(true)
    const fh = await abio.open('/proc/version')
    try {
      expect(bytes(await fh.read(0, 1 << 20)).equals(want)).toBe(true)
    } finally {
      await fh.close()
    }
  })

  unixTest('a FIFO with 10 bytes written then closed reads exactly those bytes (sync and async)', async () => {
    for (const read of [(p) => abio.readFileSync(p), (p) => abio.readFile(p)]) {
      const fifo = mkfifo()
      const writer = sh('printf 0123456789 > "$0"', fifo)
      const got = await read(fifo)
      expect(await writer).toEqual({ code: 0, stderr: '' })
      expect(bytes(got).toString()).toBe('0123456789')
    }
  })
})

// ---------------------------------------------------------------------------
describe('writing FIFOs and pipes', () => {
  /** Writes through `write(fifo)` while `cat` drains the FIFO into a file; returns its bytes. */
  async function throughFifo(write) {
    const fifo = mkfifo()
    const out = tmp('out')
    const reader = sh('cat "$0" > "$1"', fifo, out)
    const n = await write(fifo)
    expect(await reader).toEqual({ code: 0, stderr: '' })
    return [n, fs.readFileSync(out)]
  }

  const data = rnd(200 * 1024 + 13) // over the 64 KiB pipe buffer: the writer blocks
  const parts = [rnd(70000), 'héllo', new Uint16Array(5000).fill(0x4142), rnd(3)]
  const joined = Buffer.concat([parts[0], Buffer.from(parts[1]), Buffer.from(parts[2].buffer), parts[3]])

  unixTest('writeFileSync to a FIFO writes every byte (no ESPIPE)', async () => {
    const [n, got] = await throughFifo((p) => abio.writeFileSync(p, data))
    expect(n).toBe(data.length)
    expect(got.equals(data)).toBe(true)
  })

  unixTest('writeFile to a FIFO writes every byte (no ESPIPE)', async () => {
    const [n, got] = await throughFifo((p) => abio.writeFile(p, data))
    expect(n).toBe(data.length)
    expect(got.equals(data)).toBe(true)
  })

  unixTest('arrays of parts (writev) to a FIFO, sync and async', async () => {
    for (const write of [(p) => abio.writeFileSync(p, parts), (p) => abio.writeFile(p, parts)]) {
      const [n, got] = await throughFifo(write)
      expect(n).toBe(joined.length)
      expect(got.equals(joined)).toBe(true)
    }
  })

  unixTest('append mode and durable to a FIFO', async () => {
    for (const opts of [{ append: true }, { durable: true }, { append: true, durable: true }]) {
      const [n1, got1] = await throughFifo((p) => abio.writeFileSync(p, data, opts))
      const [n2, got2] = await throughFifo((p) => abio.writeFile(p, parts, opts))
      expect([n1, n2]).toEqual([data.length, joined.length])
      expect(got1.equals(data)).toBe(true)
      expect(got2.equals(joined)).toBe(true)
    }
  })

  // Node's own child stdio is a socket pair (opening /dev/stdout there fails with ENXIO in
  // Node too): a shell pipe makes it a real pipe.
  linuxTest("writeFileSync and writeFile to /dev/stdout when it is a pipe, as Node's do", async () => {
    const out = tmp('stdout')
    const child = path.join(__dirname, 'fixtures', 'stdout-writer.js')
    const r = await sh('"$0" "$1" | cat > "$2"', process.execPath, child, out)
    expect(r).toEqual({ code: 0, stderr: '' })
    const { expected } = require('./fixtures/stdout-writer.js')
    expect(fs.readFileSync(out).equals(expected())).toBe(true)
  })
})

// ---------------------------------------------------------------------------
describe('atomic writes through symlinks', () => {
  unixTest('replace the file the link points at; the link stays a link', async () => {
    const d = fs.mkdtempSync(path.join(dir, 'links-'))
    const target = path.join(d, 'target')
    fs.writeFileSync(target, 'old')
    fs.chmodSync(target, 0o640)
    const abs = path.join(d, 'abs-link')
    const rel = path.join(d, 'rel-link')
    fs.symlinkSync(target, abs)
    fs.symlinkSync('target', rel)
    abio.writeFileSync(abs, 'one', { atomic: true })
    expect(fs.readFileSync(target, 'utf8')).toBe('one')
    await abio.writeFile(rel, 'two', { atomic: true })
    expect(fs.readFileSync(target, 'utf8')).toBe('two')
    for (const l of [abs, rel]) expect(fs.lstatSync(l).isSymbolicLink()).toBe(true)
    expect(fs.statSync(target).mode & 0o777).toBe(0o640) // the old mode is kept
    noTempFiles(d)
  })

  unixTest('a link to a link, and a link into another directory', async () => {
    const d = fs.mkdtempSync(path.join(dir, 'links-'))
    const sub = path.join(d, 'sub')
    fs.mkdirSync(sub)
    const target = path.join(sub, 'target')
    fs.writeFileSync(target, 'old')
    fs.symlinkSync('sub/target', path.join(d, 'l1'))
    fs.symlinkSync('l1', path.join(d, 'l2'))
    await abio.writeFile(path.join(d, 'l2'), 'new', { atomic: true })
    expect(fs.readFileSync(target, 'utf8')).toBe('new')
    expect(fs.readlinkSync(path.join(d, 'l2'))).toBe('l1')
    noTempFiles(d)
    noTempFiles(sub)
  })

  unixTest('a dangling link is replaced by the file itself (its missing target is not created)', async () => {
    const d = fs.mkdtempSync(path.join(dir, 'links-'))
    const link = path.join(d, 'dangling')
    fs.symlinkSync('missing', link)
    abio.writeFileSync(link, 'one', { atomic: true })
    expect(fs.lstatSync(link).isFile()).toBe(true)
    expect(fs.readFileSync(link, 'utf8')).toBe('one')
    expect(fs.existsSync(path.join(d, 'missing'))).toBe(false)
    noTempFiles(d)
  })

  // Elsewhere the link is resolved with realpath (no kernel rule to keep), and a loop is
  // replaced as a dangling link is.
  linuxTest('a link loop fails with ELOOP as a plain write does', async () => {
    const d = fs.mkdtempSync(path.join(dir, 'links-'))
    const a = path.join(d, 'a')
    fs.symlinkSync('b', a)
    fs.symlinkSync('a', path.join(d, 'b'))
    const node = thrownBy(() => fs.writeFileSync(a, 'x'))
    expect(node.code).toBe('ELOOP')
    expect(thrownBy(() => abio.writeFileSync(a, 'x', { atomic: true })).code).toBe('ELOOP')
    expect((await rejectionOf(abio.writeFile(a, 'x', { atomic: true }))).code).toBe('ELOOP')
    expect(fs.readlinkSync(a)).toBe('b')
    noTempFiles(d)
  })

  // fs.protected_symlinks=1: in a sticky world-writable directory, a link owned by another
  // user is not followed, even by root, unless the directory's owner owns the link.
  const protectedOn = (() => {
    try {
      return fs.readFileSync('/proc/sys/fs/protected_symlinks', 'utf8').trim() === '1'
    } catch {
      return false
    }
  })()
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0
  const why = !linux ? 'not Linux' : !isRoot ? 'not root' : !protectedOn ? 'fs.protected_symlinks is not 1' : ''
  if (why) console.log(`skipping the protected_symlinks test: ${why}`)
  ;(why ? test.skip : test)(
    "a foreign link in a sticky world-writable directory fails with EACCES, as Node's write does",
    async () => {
      const sticky = fs.mkdtempSync(path.join(dir, 'sticky-'))
      fs.chmodSync(sticky, 0o1777)
      const home = fs.mkdtempSync(path.join(dir, 'home-'))
      const target = path.join(home, 'secret')
      fs.writeFileSync(target, 'root only')
      const link = path.join(sticky, 'link')
      fs.symlinkSync(target, link)
      fs.lchownSync(link, 65534, 65534)
      const node = thrownBy(() => fs.writeFileSync(link, 'attacker'))
      expect(node.code).toBe('EACCES')
      const e1 = thrownBy(() => abio.writeFileSync(link, 'attacker', { atomic: true }))
      const e2 = await rejectionOf(abio.writeFile(link, 'attacker', { atomic: true }))
      const e3 = await rejectionOf(abio.writeFiles([{ path: link, data: 'attacker' }], { atomic: true }))
      for (const e of [e1, e2, e3]) {
        const { code, errno, syscall, message } = node
        expect({ code: e.code, errno: e.errno, syscall: e.syscall, path: e.path, message: e.message }).toEqual({
          code,
          errno,
          syscall,
          path: link,
          message,
        })
      }
      expect(fs.readFileSync(target, 'utf8')).toBe('root only')
      expect(fs.lstatSync(link).isSymbolicLink()).toBe(true)
      noTempFiles(sticky)
      noTempFiles(home)
    },
  )
})
