'use strict'
// Headless Chromium for the browser suites (ws-browser.test.js, tls-ws.test.js): a server for
// the page fixtures/ws-browser.html (it opens ws:// or, on an https page, wss://<its host>/ws,
// exchanges binary and text with the server and POSTs what it found to /result), Chromium
// started in its own process group and stopped (awaited, its profile removed) after each test,
// and the checks of what the page and the server saw. `useBrowsers()` installs the afterEach and
// afterAll hooks; skipped with a message when there is no Chromium (apt-get install -y
// chromium; or set CHROMIUM=/path/to/chrome).

const fs = require('fs')
const os = require('os')
const path = require('path')
const cp = require('child_process')

const { track, closeAll } = require('./cleanup')
const { expectBytes } = require('./bytes')
const { tag } = require('./throws')

const HOST = '127.0.0.1'
const PAGE = fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'ws-browser.html'), 'utf8')

/** The Chromium binary: $CHROMIUM, or the first of the usual names that runs. */
function findChromium() {
  const names = process.env.CHROMIUM ? [process.env.CHROMIUM] : ['chromium', 'chromium-browser', 'google-chrome']
  for (const name of names) if (cp.spawnSync(name, ['--version'], { stdio: 'ignore' }).status === 0) return name
  return null
}
const CHROMIUM = findChromium()
if (!CHROMIUM) console.warn('SKIPPING the browser tests: Chromium is not installed (apt-get install -y chromium)')
const describeBrowser = CHROMIUM ? describe : describe.skip

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// Every Chromium started, with its profile directory: stopped and removed after each test,
// awaited, so nothing is left running (or logging) once the suite has ended.
const browsers = []

/** Kills Chromium's whole process group (its helpers too), waits until none of it is left,
 * then removes its profile, retrying while a straggler may still hold it. */
async function stopBrowsers() {
  for (const { proc, exited, profile } of browsers.splice(0)) {
    const group = -proc.pid
    const alive = () => {
      try {
        process.kill(group, 0)
        return true
      } catch {
        return false
      }
    }
    try {
      process.kill(group, 'SIGKILL')
    } catch {}
    await exited
    for (let i = 0; i < 200 && alive(); i++) await sleep(50)
    for (let i = 0; ; i++) {
      try {
        await fs.promises.rm(profile, { recursive: true, force: true })
        break
      } catch (e) {
        if (i === 100) throw new Error(`could not remove ${profile}: ${e.message}`)
        await sleep(100)
      }
    }
  }
}

// Every profile directory made, and what still runs with it (Chromium's processes all
// carry --user-data-dir): nothing may be left once the tests are done.
const profiles = []
function processesUsing(dirs) {
  if (process.platform !== 'linux') return []
  const found = []
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let cmd = ''
    try {
      cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    } catch {
      continue
    }
    if (dirs.some((d) => cmd.includes(`--user-data-dir=${d}`))) found.push(`${pid} ${cmd.split('\0')[0]}`)
  }
  return found
}

/** The suite's hooks: after each test, servers closed and browsers stopped; after all, none left. */
function useBrowsers() {
  afterEach(async () => {
    await closeAll()
    await stopBrowsers()
  })
  afterAll(() => {
    expect(processesUsing(profiles)).toEqual([])
    expect(profiles.filter((d) => fs.existsSync(d))).toEqual([])
  })
}

/** Byte i of pattern(n, seed) is (i * 31 + seed) & 255, as in the page. */
function pattern(n, seed) {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 255
  return b
}

/**
 * Serves the page on `impl` (abio, or the reference), and resolves `result` with what the
 * page POSTs to /result. Records the server side: `received` messages, `closes`. `options` go
 * to serve() (e.g. `tls`); with `tls` the page is at https://`name`:PORT/.
 */
async function pageServer(impl, options = {}, name = HOST) {
  const seen = { opens: [], received: [], closes: [] }
  let report
  const result = new Promise((resolve) => (report = resolve))
  const server = await impl.serve({
    host: HOST,
    port: 0,
    ...options,
    routes: { '/': { body: PAGE, contentType: 'text/html; charset=utf-8' } },
    async fetch(req) {
      if (req.method === 'POST' && req.path === '/result') {
        report(await req.json())
        return { status: 204 }
      }
      return { status: 404 }
    },
    websocket: {
      path: '/ws',
      open(ws, req) {
        seen.opens.push({ path: req.path, origin: req.headers.origin, ua: req.headers['user-agent'] })
        // the order the page checks; a Uint8Array at an offset and a Buffer among them
        const b70k = pattern(70001, 2)
        ws.send(new Uint8Array(pattern(1000, 1)).buffer)
        ws.send(new Uint8Array(b70k.buffer, b70k.byteOffset, 70000))
        ws.send('from server: héllo ✓ \u{1F600}')
        ws.send(new ArrayBuffer(0))
        ws.send('')
      },
      message(ws, data) {
        seen.received.push(data)
        ws.send(data)
      },
      close(ws, code, reason) {
        seen.closes.push({ code, reason })
      },
    },
  })
  track('abio-server', server)
  const scheme = options.tls ? 'https' : 'http'
  return { server, url: `${scheme}://${name}:${server.port}/`, result, seen }
}

/**
 * Starts headless Chromium on `url` with `flags` added; it is stopped after the test.
 * `output()` is what it printed.
 */
function startChromium(url, flags = []) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'abio-chromium-'))
  profiles.push(profile)
  const proc = cp.spawn(
    CHROMIUM,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-dev-shm-usage',
      `--user-data-dir=${profile}`,
      ...flags,
      url,
    ],
    // Its own process group, so that stopBrowsers() can kill its helper processes too.
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  )
  let out = ''
  proc.stdout.on('data', (d) => (out += d))
  proc.stderr.on('data', (d) => (out += d))
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })))
  browsers.push({ proc, exited, profile })
  return { proc, exited, output: () => out.slice(-3000) }
}

/** `promise`'s value, or an Error with `what` and Chromium's output after `ms`. */
async function resultWithin(promise, chromium, ms) {
  let timer
  const late = new Promise((resolve, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no result from the page in ${ms} ms; chromium said:\n${chromium.output()}`)),
      ms,
    )
  })
  const died = chromium.exited.then(({ code, signal }) => {
    throw new Error(`chromium exited (${code ?? signal}) before the page reported:\n${chromium.output()}`)
  })
  try {
    return await Promise.race([promise, late, died])
  } finally {
    clearTimeout(timer)
  }
}

/** What the page reports and what the server saw, for a page loaded from `url`. */
async function expectExchange({ url, result, seen }, chromium) {
  const r = await resultWithin(result, chromium, 60000)

  // what the page found
  expect(r.errors).toEqual([])
  expect(r.done).toBe(true)
  expect(r.messages).toBe(10)
  expect(r.seen).toEqual([
    { type: '[object ArrayBuffer]', length: 1000 },
    { type: '[object ArrayBuffer]', length: 70000 },
    { type: 'string', length: 'from server: héllo ✓ \u{1F600}'.length },
    { type: '[object ArrayBuffer]', length: 0 },
    { type: 'string', length: 0 },
    { type: '[object ArrayBuffer]', length: 1000 },
    { type: '[object ArrayBuffer]', length: 1 << 20 },
    { type: 'string', length: 'from browser: ünïcode \u{1F680}'.length },
    { type: '[object ArrayBuffer]', length: 0 },
    { type: 'string', length: 0 },
  ])
  expect(r.close).toEqual({ code: 1000, reason: 'done', clean: true })

  // what the server found
  expect(seen.opens).toEqual([{ path: '/ws', origin: url.replace(/\/$/, ''), ua: r.userAgent }])
  expect(seen.received.length).toBe(5)
  const [view, big, text, empty, emptyText] = seen.received
  expect([view, big, empty].map(tag)).toEqual(Array(3).fill('[object ArrayBuffer]'))
  expectBytes(view, pattern(1100, 3).subarray(100))
  expectBytes(big, pattern(1 << 20, 4))
  expect(empty.byteLength).toBe(0)
  expect([text, emptyText]).toEqual(['from browser: ünïcode \u{1F680}', ''])
  // the close callback may come after the page's POST: wait for it, up to 20 s
  for (let i = 0; i < 1000 && seen.closes.length === 0; i++) await sleep(20)
  expect(seen.closes).toEqual([{ code: 1000, reason: 'done' }])
  return r
}

module.exports = {
  CHROMIUM,
  describeBrowser,
  useBrowsers,
  pattern,
  pageServer,
  startChromium,
  resultWithin,
  expectExchange,
}
