'use strict'
// Tests for abio's TCP API (design.md section 6, with sections 2, 3 and 9): ordering and
// backpressure, sendFile, end and allowHalfOpen, frames (limits and truncation).
// Peers, checks and how the tests talk: helpers/net.js.

const fs = require('fs')
const path = require('path')
const net = require('net')
const crypto = require('crypto')

const abio = require('..')
const { expectBytes, bytesOf } = require('./helpers/bytes')
const { rejectionOf, tag } = require('./helpers/throws')
const { closeAll } = require('./helpers/cleanup')
const { useTempDir, tmpDir, tmp } = require('./helpers/tmpdir')
const { KiB, MiB, ERRNO, sleep, rnd, pair, abioPair, SIDES, record, expectArrayBuffer } = require('./helpers/net')
const {
  expectSame,
  frameOf,
  big64MiB,
  inKernel,
  expectAbortError,
  expectClosed,
  settlesWithin,
} = require('./helpers/net')

jest.setTimeout(20000)

afterEach(closeAll)

useTempDir('abio-net-')

// ---------------------------------------------------------------------------
// 3. Ordering and backpressure
// ---------------------------------------------------------------------------
function thousandWrites() {
  const base = rnd(4 * MiB)
  const writes = []
  for (let i = 0; i < 1000; i++) {
    const size = i % 10 === 0 ? 0 : crypto.randomInt(1, 100 * KiB + 1)
    const off = crypto.randomInt(0, base.length - size + 1)
    const view = base.subarray(off, off + size)
    let value
    if (i % 7 === 3) value = `#${i}:` + 'é'.repeat(size % 500)
    else if (i % 5 === 1) value = view.buffer.slice(view.byteOffset, view.byteOffset + size)
    else if (i % 5 === 2) value = new DataView(view.buffer, view.byteOffset, size)
    else value = new Uint8Array(view.buffer, view.byteOffset, size)
    writes.push(value)
  }
  return { writes, expected: Buffer.concat(writes.map(bytesOf)) }
}

describe.each(SIDES)('ordering: %s', (_, side) => {
  test('1000 writes in flight (0..100 KiB, mixed types) arrive in call order; all resolve, in order', async () => {
    const { a, n } = await pair(side)
    const rec = record(n)
    const { writes, expected } = thousandWrites()
    const order = []
    const promises = writes.map((w, i) => a.write(w).then(() => order.push(i)))
    await Promise.all(promises)
    expect(order).toEqual(writes.map((_, i) => i))
    await a.end()
    const got = await rec.all()
    expect(got.length).toBe(expected.length)
    expectSame(got, expected)
  })

  test('a 64 MiB write stays pending while the peer does not read, resolves once the kernel took it', async () => {
    const { a, n } = await pair(side)
    n.pause()
    const data = big64MiB()
    let resolved = false
    const w = a.write(data).then(() => (resolved = true))
    await sleep(400)
    expect(resolved).toBe(false)
    const rec = record(n)
    n.resume()
    await w
    // When it resolved, at most the kernel's buffers (send + receive) were still in flight.
    expect(rec.length).toBeGreaterThanOrEqual(data.length - inKernel())
    await a.end()
    expectSame(await rec.all(), data)
  })
})

test('abio -> abio: 1000 writes in flight arrive in order', async () => {
  const { c, s } = await abioPair()
  const { writes, expected } = thousandWrites()
  const all = Promise.all(writes.map((w) => c.write(w)))
  const got = await s.readExactly(expected.length)
  await all
  expectArrayBuffer(got, expected)
})

// ---------------------------------------------------------------------------
// 4. sendFile
// ---------------------------------------------------------------------------
describe.each(SIDES)('sendFile: %s', (_, side) => {
  let file
  let content
  beforeAll(() => {
    content = rnd(3 * MiB + 123)
    file = tmp('send.bin')
    fs.writeFileSync(file, content)
  })

  test('the whole file, then a part (offset/length), byte-exact; resolves with the bytes sent', async () => {
    const { a, n } = await pair(side)
    const rec = record(n)
    await expect(a.sendFile(file)).resolves.toBe(content.length)
    await expect(a.sendFile(file, { offset: 1000, length: 5000 })).resolves.toBe(5000)
    await expect(a.sendFile(file, { offset: content.length - 10 })).resolves.toBe(10)
    await expect(a.sendFile(file, { offset: 5, length: 0 })).resolves.toBe(0)
    await expect(a.sendFile(new URL('file://' + file), { length: 3 })).resolves.toBe(3)
    await a.end()
    expectSame(
      await rec.all(),
      Buffer.concat([
        content,
        content.subarray(1000, 6000),
        content.subarray(content.length - 10),
        content.subarray(0, 3),
      ]),
    )
  })

  test('onProgress(sent, total): non-decreasing, ending at total before the promise resolves', async () => {
    const { a, n } = await pair(side)
    const rec = record(n)
    const calls = []
    const sent = await a.sendFile(file, { onProgress: (s, t) => calls.push([s, t]) })
    expect(sent).toBe(content.length)
    expect(calls.length).toBeGreaterThan(0)
    for (let i = 0; i < calls.length; i++) {
      expect(calls[i][1]).toBe(content.length)
      if (i > 0) expect(calls[i][0]).toBeGreaterThanOrEqual(calls[i - 1][0])
    }
    expect(calls[calls.length - 1]).toEqual([content.length, content.length])
    const partCalls = []
    await a.sendFile(file, { offset: 10, length: 100, onProgress: (s, t) => partCalls.push([s, t]) })
    expect(partCalls[partCalls.length - 1]).toEqual([100, 100])
    await a.end()
    expect((await rec.all()).length).toBe(content.length + 100)
  })

  test('a missing file rejects with ENOENT (open, path); nothing is sent and the socket still works', async () => {
    const { a, n } = await pair(side)
    const rec = record(n)
    const missing = path.join(tmpDir(), 'no-such-file.bin')
    a.write('before|')
    const e = await rejectionOf(a.sendFile(missing))
    expect(tag(e)).toBe('[object Error]')
    expect({ code: e.code, errno: e.errno, syscall: e.syscall, path: e.path, message: e.message }).toEqual({
      code: 'ENOENT',
      errno: -ERRNO.ENOENT,
      syscall: 'open',
      path: missing,
      message: `ENOENT: no such file or directory, open '${missing}'`,
    })
    await a.write('after')
    n.write('still reading')
    expectArrayBuffer(await a.readExactly(13), 'still reading')
    await a.end()
    expectBytes(await rec.all(), 'before|after')
  })

  test('a directory rejects (EISDIR, as fs reads report it); nothing is sent and the socket still works', async () => {
    const { a, n } = await pair(side)
    const rec = record(n)
    a.write('before|')
    const e = await rejectionOf(a.sendFile(tmpDir()))
    expect(tag(e)).toBe('[object Error]')
    expect({ code: e.code, errno: e.errno }).toEqual({ code: 'EISDIR', errno: -ERRNO.EISDIR })
    await a.write('after')
    await a.end()
    expectBytes(await rec.all(), 'before|after')
  })

  test('an aborted signal rejects with AbortError (before the call, and while the peer is not reading)', async () => {
    const { a, n } = await pair(side)
    n.pause()
    const ac0 = new AbortController()
    ac0.abort()
    expectAbortError(await rejectionOf(a.sendFile(file, { signal: ac0.signal })))

    const bigFile = tmp('sparse.bin')
    fs.closeSync(fs.openSync(bigFile, 'w'))
    fs.truncateSync(bigFile, 128 * MiB) // sparse: zeroes from the page cache
    const ac = new AbortController()
    const p = a.sendFile(bigFile, { signal: ac.signal })
    expect(await settlesWithin(p, 300)).toBe(false)
    ac.abort()
    expectAbortError(await rejectionOf(p))
  })

  test('order with the writes around it: write A, sendFile, write B -> A, file, B (no awaits between)', async () => {
    const { a, n } = await pair(side)
    const rec = record(n)
    const A = rnd(5000)
    const B = 'B-after-the-file'
    const ps = [a.write(A), a.sendFile(file), a.write(B), a.sendFile(file, { offset: 7, length: 9 }), a.writeFrame('F')]
    await Promise.all(ps)
    await a.end()
    expectSame(
      await rec.all(),
      Buffer.concat([A, content, Buffer.from(B), content.subarray(7, 16), frameOf(Buffer.from('F'))]),
    )
  })
})

test('abio -> abio: sendFile is read back exactly', async () => {
  const { c, s } = await abioPair()
  const content = rnd(2 * MiB + 1)
  const f = tmp('send-abio.bin')
  fs.writeFileSync(f, content)
  const sending = c.sendFile(f)
  expectArrayBuffer(await s.readExactly(content.length), content)
  expect(await sending).toBe(content.length)
})

// ---------------------------------------------------------------------------
// 5. Half-close
// ---------------------------------------------------------------------------
describe.each(SIDES)('end and allowHalfOpen: %s', (_, side) => {
  test('allowHalfOpen false (default): the peer ends -> read() is null, abio ends after its pending writes', async () => {
    const { a, n } = await pair(side)
    n.pause()
    const rec = record(n)
    const data = rnd(16 * MiB)
    let written = false
    const w = a.write(data).then(() => (written = true))
    n.end()
    expect(await a.read()).toBeNull()
    n.resume()
    await w
    expect(written).toBe(true)
    const got = await rec.all()
    expect(rec.ended).toBe(true) // Node saw abio's end of the stream, after every byte
    expectSame(got, data)
    await rec.until(() => rec.closed, 'the Node socket to close')
    expect(await a.read()).toBeNull()
  })

  test('allowHalfOpen false: abio ends its side even when nobody calls read()', async () => {
    const { a, n } = await pair(side)
    const rec = record(n)
    await a.write('hi')
    n.end()
    await rec.until(() => rec.ended, "Node's 'end'")
    expectBytes(rec.bytes(), 'hi')
    await rec.until(() => rec.closed, 'the Node socket to close')
    expectClosed(await rejectionOf(a.write('too late')))
  })

  test('allowHalfOpen true: abio keeps writing after the peer ended; end() resolves', async () => {
    const { a, n } = await pair(side, { abioOptions: { allowHalfOpen: true } })
    const rec = record(n)
    n.end('bye')
    expectArrayBuffer(await a.read(), 'bye')
    expect(await a.read()).toBeNull()
    await sleep(100)
    expect(rec.ended).toBe(false)
    const more = rnd(2 * MiB)
    await a.write('still here|')
    await a.writeFrame('frame')
    await a.write(more)
    expect(rec.ended).toBe(false)
    await expect(a.end()).resolves.toBeUndefined()
    const got = await rec.all()
    expect(rec.ended).toBe(true)
    expectSame(got, Buffer.concat([Buffer.from('still here|'), frameOf(Buffer.from('frame')), more]))
  })

  test('end(): resolves; writes after it reject with ABIO_ERR_CLOSED; end() twice is fine; reads still work', async () => {
    const { a, n } = await pair(side, { nodeOptions: { allowHalfOpen: true } })
    const rec = record(n)
    await a.write('x')
    const e1 = a.end()
    const e2 = a.end()
    await expect(e1).resolves.toBeUndefined()
    await expect(e2).resolves.toBeUndefined()
    await expect(a.end()).resolves.toBeUndefined()
    for (const p of [a.write('y'), a.writev(['y']), a.writeFrame('y'), a.sendFile(__filename)]) {
      expectClosed(await rejectionOf(p))
    }
    await rec.until(() => rec.ended, "Node's 'end'")
    expectBytes(rec.bytes(), 'x')
    // Our side ended; the peer's has not: it can still send to us.
    n.end('reply after our end')
    expectArrayBuffer(await a.readExactly(19), 'reply after our end')
    expect(await a.read()).toBeNull()
  })
})

// ---------------------------------------------------------------------------
// 7. Frames: limits and truncation
// ---------------------------------------------------------------------------
describe.each(SIDES)('frames: %s', (_, side) => {
  const status = (field) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]) * 1024

  test('a header announcing 4 GiB - 1 is refused (RangeError ABIO_ERR_FRAME_TOO_LARGE) without allocating', async () => {
    const { a, n } = await pair(side)
    const header = Buffer.from([0xff, 0xff, 0xff, 0xff])
    n.write(Buffer.concat([header, rnd(64)]))
    await sleep(50)
    const rss0 = process.memoryUsage().rss
    const peak0 = status('VmPeak')
    const e = await rejectionOf(a.readFrame())
    const rss1 = process.memoryUsage().rss
    const peak1 = status('VmPeak')
    expect({ name: e.name, code: e.code }).toEqual({ name: 'RangeError', code: 'ABIO_ERR_FRAME_TOO_LARGE' })
    expect(rss1 - rss0).toBeLessThan(8 * MiB)
    expect(peak1 - peak0).toBeLessThan(1024 * MiB) // no 4 GiB reservation either
    // The same with an explicit maxSize just under it.
    const e2 = await rejectionOf(a.readFrame({ maxSize: 0xfffffffe }))
    expect(e2.code).toBe('ABIO_ERR_FRAME_TOO_LARGE')
  })

  test('a frame over a custom maxSize is refused and left in place: a retry with a larger maxSize reads it', async () => {
    const { a, n } = await pair(side)
    const body = rnd(1000)
    n.write(Buffer.concat([frameOf(body), frameOf(Buffer.from('next'))]))
    const e = await rejectionOf(a.readFrame({ maxSize: 999 }))
    expect({ name: e.name, code: e.code }).toEqual({ name: 'RangeError', code: 'ABIO_ERR_FRAME_TOO_LARGE' })
    expectArrayBuffer(await a.readFrame({ maxSize: 1000 }), body)
    expectArrayBuffer(await a.readFrame({ maxSize: 4 }), 'next')
    n.end(frameOf(Buffer.alloc(0)))
    expectArrayBuffer(await a.readFrame({ maxSize: 0 }), Buffer.alloc(0))
    expect(await a.readFrame({ maxSize: 0 })).toBeNull()
  })

  test('the peer ending inside a frame body rejects with ABIO_ERR_CLOSED', async () => {
    const { a, n } = await pair(side)
    n.end(frameOf(rnd(100)).subarray(0, 54))
    expectClosed(await rejectionOf(a.readFrame()))
  })

  test('the peer ending inside a frame header rejects with ABIO_ERR_CLOSED', async () => {
    const { a, n } = await pair(side)
    n.end(Buffer.from([0, 0]))
    expectClosed(await rejectionOf(a.readFrame()))
  })

  test('readExactly when the peer ends early rejects with ABIO_ERR_CLOSED', async () => {
    const { a, n } = await pair(side)
    n.write('12345')
    await sleep(20)
    n.end('678')
    expectClosed(await rejectionOf(a.readExactly(9)))
  })
})
