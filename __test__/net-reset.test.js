'use strict'
// A TCP peer that resets the connection (design.md section 6, "Faults"): pending calls
// reject, and the socket is released, so a process with nothing else to do exits by itself,
// as with Node's `net`. Run in child processes (__test__/fixtures/peer-gone.js), each
// scenario several times: whether abio or the peer notices first is a race.
const cp = require('child_process')
const fs = require('fs')
const os = require('os')
const path = require('path')

const FIXTURE = path.join(__dirname, 'fixtures', 'peer-gone.js')
const RUNS = 8
// A run takes well under a second; a hung one is killed after this.
const LIMIT = 20000
jest.setTimeout(RUNS * LIMIT + 30000)

let dir
let bigFile
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'abio-reset-'))
  bigFile = path.join(dir, 'big')
  // 64 MiB, more than any socket buffer: the sendFile is still running when the reset comes.
  const block = Buffer.alloc(1 << 20, 7)
  const fd = fs.openSync(bigFile, 'w')
  for (let i = 0; i < 64; i++) fs.writeSync(fd, block)
  fs.closeSync(fd)
})
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

/** Runs the fixture once: its exit and its one JSON line. */
function run(mode) {
  return new Promise((resolve) => {
    const child = cp.spawn(process.execPath, [FIXTURE, mode, bigFile], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d))
    child.stderr.setEncoding('utf8').on('data', (d) => (err += d))
    let hung = false
    const timer = setTimeout(() => {
      hung = true
      child.kill('SIGKILL')
    }, LIMIT)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      let result = null
      try {
        result = JSON.parse(out.trim())
      } catch {}
      resolve({ hung, code, signal, stderr: err.slice(0, 2000), result })
    })
  })
}

const FAILED = ['ECONNRESET', 'EPIPE', 'ABIO_ERR_CLOSED']

/** Runs the fixture's `scenario` (run number `i`): it must exit by itself, with code 0 and nothing on stderr. */
async function cleanRun(scenario, i) {
  const r = await run(scenario)
  expect({ run: i, hung: r.hung, code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({
    run: i,
    hung: false,
    code: 0,
    signal: null,
    stderr: '',
  })
  return r
}

describe.each(['client', 'server'])('abio as the %s, the peer resets', (side) => {
  test.each(['write', 'sendfile'])(
    `a pending %s rejects and the process exits by itself (${RUNS} runs)`,
    async (kind) => {
      for (let i = 0; i < RUNS; i++) {
        const r = await cleanRun(`${side}-${kind}`, i)
        expect(r.result.settled).toBe('rejected')
        expect(FAILED).toContain(r.result.code)
      }
    },
  )

  test(`with nothing pending (a write already taken), the process exits by itself (${RUNS} runs)`, async () => {
    for (let i = 0; i < RUNS; i++) {
      const r = await cleanRun(`${side}-idle`, i)
      expect(r.result).toEqual({ settled: 'resolved', value: null })
    }
  })
})
