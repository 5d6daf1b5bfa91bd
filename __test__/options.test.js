'use strict'
// Options objects: an unknown option name is refused in every one (a typo such as `prot` throws
// ABIO_ERR_INVALID_ARG naming it), readFile's encoding argument (strings decoded exactly as
// Node's fs.readFile decodes them), and listen({ signal }) (the server closes on abort, as
// Node's server.listen({ signal })). Contract: design.md section 12.

const fs = require('fs')
const net = require('net')
const crypto = require('crypto')
const { getEventListeners } = require('events')

const abio = require('..')
const { syncThrowOf, rejectionOf, tag } = require('./helpers/throws')
const { useTempDir, tmp } = require('./helpers/tmpdir')
const { track, closeAll } = require('./helpers/cleanup')
const { nodeConnect, record, connectionQueue, sleep, noop, pair } = require('./helpers/net')

useTempDir('abio-options-')
afterEach(closeAll)

/** `fn` throws synchronously the unknown-option TypeError for `key` of the object `name`. */
function expectUnknown(fn, name, key) {
  const e = syncThrowOf(fn)
  expect({ name: e.name, code: e.code }).toEqual({ name: 'TypeError', code: 'ABIO_ERR_INVALID_ARG' })
  expect(e.message).toContain(`The option '${name}.${key}' is not known`)
  expect(e.message).toMatch(/; known options: [A-Za-z]+(, [A-Za-z]+)*$/)
  return e
}

describe('an unknown option name is refused, in every options object', () => {
  const cert = 'not parsed: the names are checked first'
  const f = () => tmp()
  const packed = () => abio.pack({ a: new Uint8Array(4) })
  // [what, call with a typo, the object as the message names it, the typo]
  const cases = [
    ['writeFile', () => abio.writeFile(f(), 'x', { atomc: true }), 'options', 'atomc'],
    ['writeFileSync', () => abio.writeFileSync(f(), 'x', { mkdir: true }), 'options', 'mkdir'],
    ['writeFiles', () => abio.writeFiles([{ path: f(), data: 'x' }], { durabel: true }), 'options', 'durabel'],
    ['readFile', () => abio.readFile(f(), { offest: 1 }), 'options', 'offest'],
    ['readFileSync', () => abio.readFileSync(f(), { maxsize: 1 }), 'options', 'maxsize'],
    ['readFiles', () => abio.readFiles([f()], { encoding: 'utf8' }), 'options', 'encoding'],
    ['readFileInto', () => abio.readFileInto(f(), new Uint8Array(4), { offset: 1 }), 'options', 'offset'],
    ['pack', () => abio.pack([new Uint8Array(1)], { aling: 16 }), 'options', 'aling'],
    ['packedSize', () => abio.packedSize([new Uint8Array(1)], { checksums: false }), 'options', 'checksums'],
    ['packInto', () => abio.packInto(new Uint8Array(64), [new Uint8Array(1)], { atomic: true }), 'options', 'atomic'],
    ['unpack', () => abio.unpack(packed(), { verfy: false }), 'options', 'verfy'],
    ['savePacked', () => abio.savePacked(f(), [new Uint8Array(1)], { mmap: true }), 'options', 'mmap'],
    ['loadPacked', () => abio.loadPacked(f(), { map: true }), 'options', 'map'],
    ['connect', () => abio.connect({ port: 1, noDelai: true }), 'options', 'noDelai'],
    [
      'connect tls',
      () => abio.connect({ port: 1, tls: { rejectUnauthorised: false } }),
      'options.tls',
      'rejectUnauthorised',
    ],
    ['listen', () => abio.listen({ prot: 8080 }, noop), 'options', 'prot'],
    ['listen tls', () => abio.listen({ tls: { cert, key: cert, sni: 'a' } }, noop), 'options.tls', 'sni'],
    [
      'listen tls[1]',
      () =>
        abio.listen(
          {
            tls: [
              { cert, key: cert },
              { cert, key: cert, servername: 'b' },
            ],
          },
          noop,
        ),
      'options.tls[1]',
      'servername',
    ],
    ['request', () => abio.request('http://127.0.0.1:1/', { timeout: 5 }), 'options', 'timeout'],
    ['download', () => abio.download('http://127.0.0.1:1/', f(), { atomc: false }), 'options', 'atomc'],
    ['connectWebSocket', () => abio.connectWebSocket('ws://127.0.0.1:1/', { maxPayLoad: 1 }), 'options', 'maxPayLoad'],
    ['serve websocket', () => abio.serve({ websocket: { onMessage: noop } }), 'options.websocket', 'onMessage'],
  ]

  test.each(cases)('%s', (what, call, name, key) => {
    expectUnknown(call, name, key)
  })

  test('the message names the object, the key, the known names, and the nearest one', () => {
    const e = expectUnknown(() => abio.listen({ prot: 8080 }, noop), 'options', 'prot')
    expect(e.message).toBe(
      "The option 'options.prot' is not known (did you mean 'port'?); known options: noDelay, keepAlive, " +
        'allowHalfOpen, host, port, path, backlog, reusePort, tls, handshakeTimeout, signal',
    )
    // A case slip is named too; a name like no other gets no guess.
    expect(expectUnknown(() => abio.readFileSync(tmp(), { MaxSize: 1 }), 'options', 'MaxSize').message).toContain(
      "(did you mean 'maxSize'?)",
    )
    expect(expectUnknown(() => abio.pack([], { zzzzzz: 1 }), 'options', 'zzzzzz').message).not.toContain('did you mean')
  })

  test('a key is refused whatever its value, undefined too; a known one set to undefined is its default', () => {
    expectUnknown(() => abio.writeFileSync(tmp(), 'x', { prot: undefined }), 'options', 'prot')
    const p = tmp()
    expect(abio.writeFileSync(p, 'xy', { mode: undefined, atomic: undefined, signal: undefined })).toBe(2)
    expect(fs.readFileSync(p, 'latin1')).toBe('xy')
  })

  test('inherited enumerable names count, as the parsers read them; symbols and non-enumerable ones do not', () => {
    expectUnknown(() => abio.writeFileSync(tmp(), 'x', Object.create({ atomc: true })), 'options', 'atomc')
    // An inherited known option is honoured (mkdirs), so it is checked too.
    const deep = `${tmp('dir')}/a/b`
    expect(abio.writeFileSync(deep, 'abc', Object.create({ mkdirs: true }))).toBe(3)
    expect(fs.readFileSync(deep, 'latin1')).toBe('abc')
    const o = { [Symbol('tag')]: 1 }
    Object.defineProperty(o, 'hidden', { value: 1, enumerable: false })
    const q = tmp()
    expect(abio.writeFileSync(q, 'x', o)).toBe(1)
    const bare = Object.assign(Object.create(null), { atomic: true })
    expect(abio.writeFileSync(q, 'yz', bare)).toBe(2)
    expect(fs.readFileSync(q, 'latin1')).toBe('yz')
  })

  test('nothing happens when the options are refused: no file is written', () => {
    const p = tmp()
    expectUnknown(() => abio.writeFileSync(p, 'x', { mkdirs: true, atomc: true }), 'options', 'atomc')
    expectUnknown(() => abio.writeFile(p, 'x', { atomc: true }), 'options', 'atomc')
    expect(fs.existsSync(p)).toBe(false)
  })

  test("a socket's sendFile, read and readFrame options; the socket goes on as if not called", async () => {
    const { a, n } = await pair('client')
    const file = tmp()
    fs.writeFileSync(file, 'abc')
    expectUnknown(() => a.sendFile(file, { ofset: 1 }), 'options', 'ofset')
    expectUnknown(() => a.read({ maxbytes: 1 }), 'options', 'maxbytes')
    expectUnknown(() => a.readFrame({ maxBytes: 1 }), 'options', 'maxBytes')
    // Nothing was sent nor read by the refused calls.
    const got = record(n)
    expect(await a.sendFile(file, { offset: 1 })).toBe(2)
    n.write('yz')
    expect(new Uint8Array(await a.read({ maxBytes: 8 }))).toEqual(new Uint8Array([0x79, 0x7a]))
    a.end()
    expect((await got.all()).toString('latin1')).toBe('bc')
  })
})

describe("readFile(path, 'utf8'): Node's encoding argument", () => {
  const ENCODINGS = [
    'utf8',
    'utf-8',
    'UTF8',
    'ascii',
    'latin1',
    'binary',
    'utf16le',
    'ucs2',
    'base64',
    'base64url',
    'hex',
  ]
  const contents = {
    empty: Buffer.alloc(0),
    // A BOM (kept, as Node keeps it), 2-, 3- and 4-byte sequences, then invalid UTF-8.
    text: Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from('héllo ✓ 𝄞 '),
      Buffer.from([0xff, 0xc3, 0x28, 0xe2, 0x82]),
    ]),
    odd: Buffer.from([0x41, 0x00, 0x42]), // utf16le with a lone last byte
    // Over 256 KiB: the ArrayBuffer comes from Rust without a copy.
    big: crypto.randomBytes(300 * 1024 + 3),
  }

  test.each(Object.keys(contents))('%s: every encoding, sync and async, as Node decodes it', async (name) => {
    const p = tmp(name)
    fs.writeFileSync(p, contents[name])
    for (const enc of ENCODINGS) {
      const want = fs.readFileSync(p, enc)
      expect(typeof want).toBe('string')
      expect([enc, abio.readFileSync(p, enc)]).toEqual([enc, want])
      expect([enc, abio.readFileSync(p, { encoding: enc })]).toEqual([enc, want])
      expect([enc, await abio.readFile(p, enc)]).toEqual([enc, want])
      // Twice: the second read of a small file may come from the page cache on this thread.
      expect([enc, await abio.readFile(p, { encoding: enc })]).toEqual([enc, want])
    }
  })

  test('with offset, length and maxSize: the bytes selected, decoded', async () => {
    const p = tmp()
    const buf = Buffer.from('αβγδε-abcdef')
    fs.writeFileSync(p, buf)
    expect(abio.readFileSync(p, { encoding: 'utf8', offset: 2, length: 4 })).toBe(buf.subarray(2, 6).toString())
    expect(await abio.readFile(p, { encoding: 'hex', offset: 10, maxSize: 64 })).toBe(buf.subarray(10).toString('hex'))
    const e = await rejectionOf(abio.readFile(p, { encoding: 'utf8', maxSize: 3 }))
    expect(e.code).toBe('ABIO_ERR_FILE_TOO_LARGE')
  })

  test('no encoding (absent, undefined, null) reads an exact ArrayBuffer', async () => {
    const p = tmp()
    fs.writeFileSync(p, 'bytes')
    for (const options of [undefined, {}, { encoding: undefined }, { encoding: null }]) {
      const ab = await abio.readFile(p, options)
      expect(tag(ab)).toBe('[object ArrayBuffer]')
      expect(Buffer.from(ab).toString()).toBe('bytes')
      expect(tag(abio.readFileSync(p, options))).toBe('[object ArrayBuffer]')
    }
  })

  test('an encoding Buffer does not know throws synchronously, as Node does; a missing file rejects as before', async () => {
    const p = tmp()
    fs.writeFileSync(p, 'x')
    for (const [options, name] of [
      ['utf9', 'options'],
      [{ encoding: 'buffer' }, 'options.encoding'],
      [{ encoding: 8 }, 'options.encoding'],
    ]) {
      for (const read of [abio.readFile, abio.readFileSync]) {
        const e = syncThrowOf(() => read(p, options))
        expect({ name: e.name, code: e.code }).toEqual({ name: 'TypeError', code: 'ABIO_ERR_INVALID_ARG' })
        expect(e.message).toContain(`"${name}"`)
      }
      const nodeErr = syncThrowOf(() => fs.readFileSync(p, options))
      expect(nodeErr.name).toBe('TypeError')
    }
    const missing = await rejectionOf(abio.readFile(tmp(), 'utf8'))
    expect(missing.code).toBe('ENOENT')
  })
})

describe('listen({ signal }) closes the server when the signal aborts', () => {
  /** Whether a Node connect to the port is refused: polled, the close happening after the abort. */
  async function becomesRefused(port) {
    for (let i = 0; i < 500; i++) {
      const code = await new Promise((resolve) => {
        const s = net.connect({ port, host: '127.0.0.1' })
        s.once('connect', () => {
          s.destroy()
          resolve('connected')
        })
        s.once('error', (e) => resolve(e.code))
      })
      if (code === 'ECONNREFUSED') return true
      await sleep(10)
    }
    return false
  }

  test('an abort stops accepting; the sockets it accepted stay open and exchange bytes', async () => {
    const ac = new AbortController()
    const accepted = connectionQueue()
    let count = 0
    const onConnection = (s) => {
      count++
      accepted.push(track('abio-socket', s))
    }
    const server = track(
      'abio-server',
      await abio.listen({ host: '127.0.0.1', port: 0, signal: ac.signal }, onConnection),
    )
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(1)
    const client = await nodeConnect({ host: '127.0.0.1', port: server.port })
    const rec = record(client)
    client.write('ping')
    const s = await accepted.next()
    expect(Buffer.from(await s.readExactly(4)).toString()).toBe('ping')

    ac.abort()
    expect(await becomesRefused(server.port)).toBe(true)
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0)
    // The connection made before the abort works both ways.
    await s.write('pong')
    await rec.until(() => rec.length >= 4, 'pong')
    expect(rec.bytes().toString()).toBe('pong')
    client.write('more')
    expect(Buffer.from(await s.readExactly(4)).toString()).toBe('more')
    expect(count).toBe(1)
    // close() after the abort is fine (idempotent).
    await server.close()
  })

  test('a Unix socket server: the abort removes its file', async () => {
    const ac = new AbortController()
    const path = tmp('sock')
    track('abio-server', await abio.listen({ path, signal: ac.signal }, noop))
    expect(fs.existsSync(path)).toBe(true)
    ac.abort()
    for (let i = 0; i < 500 && fs.existsSync(path); i++) await sleep(10)
    expect(fs.existsSync(path)).toBe(false)
  })

  test('an already aborted signal: listen resolves with the server closed (port free), no error, as Node', async () => {
    // Node: listen neither throws nor emits 'error' or 'listening'; the server closes right away.
    const nodeServer = net.createServer()
    const nodeEvents = []
    for (const ev of ['listening', 'error', 'close']) nodeServer.on(ev, () => nodeEvents.push(ev))
    nodeServer.listen({ host: '127.0.0.1', port: 0, signal: AbortSignal.abort() })
    await new Promise((resolve) => nodeServer.once('close', resolve))
    expect(nodeEvents).toEqual(['close'])

    let calls = 0
    const server = await abio.listen({ host: '127.0.0.1', port: 0, signal: AbortSignal.abort() }, () => calls++)
    expect(server.port).toBeGreaterThan(0)
    const e = await new Promise((resolve) => {
      const s = net.connect({ port: server.port, host: '127.0.0.1' })
      s.once('connect', () => {
        s.destroy()
        resolve(null)
      })
      s.once('error', resolve)
    })
    expect(e && e.code).toBe('ECONNREFUSED')
    expect(calls).toBe(0)
    await server.close()
  })

  test('close() lets go of the signal: a later abort does nothing', async () => {
    const ac = new AbortController()
    const server = await abio.listen({ host: '127.0.0.1', port: 0, signal: ac.signal }, noop)
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(1)
    await server.close()
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0)
    ac.abort()
  })

  test('an abort lets the process exit: nothing else holds it', async () => {
    const { spawnSync } = require('child_process')
    const code = `
      const abio = require(${JSON.stringify(require.resolve('..'))})
      const ac = new AbortController()
      abio.listen({ host: '127.0.0.1', port: 0, signal: ac.signal }, () => {}).then((s) => {
        process.stdout.write(String(s.port))
        ac.abort()
      })`
    const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 60000 })
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' })
    expect(Number(r.stdout)).toBeGreaterThan(0)
  })

  test('a signal that is not an AbortSignal is refused', () => {
    const e = syncThrowOf(() => abio.listen({ port: 0, signal: { aborted: false } }, noop))
    expect({ name: e.name, code: e.code }).toEqual({ name: 'TypeError', code: 'ABIO_ERR_INVALID_ARG' })
    expect(e.message).toContain('"options.signal"')
  })
})
