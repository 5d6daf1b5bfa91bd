'use strict'
// Fault injection for abio's file API: full disks (ENOSPC on a 1 MiB tmpfs).
// Contract: design.md (the project contract), sections 2-4. Shared helpers: helpers/faults.js.

const fs = require('fs')
const path = require('path')
const cp = require('child_process')

const abio = require('..')
const { pattern } = require('./fixtures/util')
const { MiB, ERRNO, isRoot, tmpRoot, syncError, asyncError, expectErrorOf } = require('./helpers/faults')

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
