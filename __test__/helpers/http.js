'use strict'
// What the HTTP server suites (http-*.test.js) share: abio's server (tracked, closed after each
// test), raw requests and their parsing, child processes, and the fetch handlers' recorder.
// Peers themselves (Node's http client, curl, raw sockets) are in http-peers.js.
//
// Every test talks to a real peer: curl (skipped with a message when it is not installed),
// Node's `http` client, or a raw `net` socket for what clients hide (the bytes after the
// headers of HEAD and 304, pipelining). Bodies are checked byte for byte against the input.
// Lifecycle tests run in child processes. Jest runs each suite in its own realm, so values are
// recognised by their tag, not by `instanceof`.

const path = require('path')
const os = require('os')
const net = require('net')
const http = require('http')
const cp = require('child_process')

const abio = require('../..')
const { ab } = require('./inputs')
const { track } = require('./cleanup')
const { thrownBy, tag } = require('./throws')
const { HAS_CURL, request, curl, parseHead } = require('./http-peers')

const ROOT = path.join(__dirname, '..', '..')
const KiB = 1024
const MiB = 1024 * 1024
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

if (!HAS_CURL) console.warn('SKIPPING the curl tests: curl is not installed (apt-get install -y curl)')
const itCurl = HAS_CURL ? it : it.skip

const HAS_V6 = Object.values(os.networkInterfaces())
  .flat()
  .some((i) => i && i.address === '::1')

async function serve(options) {
  return track('abio-server', await abio.serve(options))
}

/** A raw HTTP/1.1 request. */
function rawRequest(method, urlPath, headers = {}) {
  let s = `${method} ${urlPath} HTTP/1.1\r\nHost: test\r\n`
  for (const [k, v] of Object.entries(headers)) s += `${k}: ${v}\r\n`
  return s + '\r\n'
}

/**
 * Parses the responses in `buf`, one per method of `methods` (in order): HEAD, 304 and 416
 * heads tell the body length as HTTP says; others need content-length. Returns the responses
 * and the bytes left over after the last one.
 */
function parseResponses(buf, methods) {
  const out = []
  let at = 0
  for (const method of methods) {
    const end = buf.indexOf('\r\n\r\n', at)
    if (end < 0) throw new Error(`response ${out.length + 1} has no complete head`)
    const { status, headers } = parseHead(buf.subarray(at, end).toString('latin1'))
    let len = 0
    if (method !== 'HEAD' && status !== 304 && status !== 204) {
      if (headers['content-length'] === undefined) throw new Error(`response ${out.length + 1} has no content-length`)
      len = Number(headers['content-length'])
    }
    const body = buf.subarray(end + 4, end + 4 + len)
    if (body.length !== len) throw new Error(`response ${out.length + 1} is cut short`)
    out.push({ status, headers, body })
    at = end + 4 + len
  }
  return { responses: out, rest: buf.subarray(at) }
}

/** Whether a TCP connect to `port` is refused. */
function refused(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const s = net.connect({ port, host })
    s.once('connect', () => {
      s.destroy()
      resolve(false)
    })
    s.once('error', (e) => resolve(e.code === 'ECONNREFUSED' ? true : e.code))
  })
}

/**
 * Runs `node [nodeArgs] -e code` (with `env` over this process's environment; a variable set
 * to undefined is left out); resolves with `{ code, signal, stdout, stderr }`; `proc` is the child.
 */
function nodeChild(code, nodeArgs = [], { env } = {}) {
  const options = { cwd: ROOT, env: env ? { ...process.env, ...env } : undefined }
  const proc = track('child', cp.spawn(process.execPath, [...nodeArgs, '-e', code], options))
  let stdout = ''
  let stderr = ''
  const lineWaiters = []
  proc.stdout.setEncoding('utf8').on('data', (d) => {
    stdout += d
    for (const w of lineWaiters.splice(0)) w()
  })
  proc.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
  const exited = new Promise((resolve) =>
    proc.once('close', (code, signal) => resolve({ code, signal, stdout, stderr: stderr.slice(0, 4000) })),
  )
  /** The first stdout line. */
  const firstLine = () =>
    new Promise((resolve, reject) => {
      const check = () => {
        const i = stdout.indexOf('\n')
        if (i >= 0) return resolve(stdout.slice(0, i))
        if (proc.exitCode !== null || proc.signalCode !== null)
          return reject(new Error(`child exited: ${stderr.slice(0, 2000)}`))
        lineWaiters.push(check)
      }
      check()
      proc.once('close', check)
    })
  return { proc, exited, firstLine }
}

/** Whether a child process is still running after `ms`. */
async function stillRunningAfter(proc, ms) {
  await sleep(ms)
  return proc.exitCode === null && proc.signalCode === null
}

function expectInvalidArg(fn, name = 'TypeError') {
  const e = thrownBy(fn)
  expect(Object.prototype.toString.call(e)).toBe('[object Error]')
  expect({ name: e.name, code: e.code }).toEqual({ name, code: 'ABIO_ERR_INVALID_ARG' })
  return e
}

/** Bytes `n` random bytes with zero bytes inside. */
function withZeros(n) {
  const b = Buffer.from(ab(n))
  for (let i = 0; i < n; i += 7) b[i] = 0
  return b
}

/** Headers of a response without those that vary per response or per method. */
function stable(headers) {
  const h = { ...headers }
  delete h.date
  delete h.connection
  delete h['keep-alive']
  return h
}

const ETAG = /^"[0-9a-f]+-[0-9a-f]{8}"$/

// fetch handlers

const fetchServer = (fetch, options = {}) => serve({ host: '127.0.0.1', fetch, ...options })

/**
 * A handler that reads the body (`arrayBuffer()`), records what it saw, and echoes the exact
 * bytes back. `url` is the request's absolute URL, `target` its path and query as
 * `new URL(url)` reads them, `headers` the `Headers` as a record (repeated ones joined with
 * `', '`, as `Headers.get` does).
 */
function recorder() {
  const seen = []
  const fetch = async (req) => {
    const body = await req.arrayBuffer()
    const u = new URL(req.url)
    seen.push({
      method: req.method,
      url: req.url,
      target: u.pathname + u.search,
      path: req.path,
      headers: Object.fromEntries(req.headers),
      type: tag(body),
      body: Buffer.from(body),
    })
    return { headers: { 'x-method': req.method, 'x-url': req.url }, body }
  }
  return { seen, fetch }
}

/** A request with Node's http client that writes `chunks` one write each, then ends. */
function sendChunks(port, urlPath, chunks, { method = 'POST', headers = {}, agent = false } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, method, headers, agent }, (res) => {
      const out = []
      res.on('data', (c) => out.push(c))
      res.on('error', reject)
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(out) }))
    })
    req.on('error', reject)
    for (const c of chunks) req.write(c)
    req.end()
  })
}

/** A raw request with a body: fixed-length, or chunked when `chunks` is an array of pieces. */
function rawPost(urlPath, body, headers = {}) {
  if (Array.isArray(body)) {
    let s = rawRequest('POST', urlPath, { ...headers, 'Transfer-Encoding': 'chunked' })
    const parts = [Buffer.from(s, 'latin1')]
    for (const c of body) parts.push(Buffer.from(`${c.length.toString(16)}\r\n`), Buffer.from(c), Buffer.from('\r\n'))
    parts.push(Buffer.from('0\r\n\r\n'))
    return Buffer.concat(parts)
  }
  const b = Buffer.from(body)
  return Buffer.concat([
    Buffer.from(rawRequest('POST', urlPath, { ...headers, 'Content-Length': b.length }), 'latin1'),
    b,
  ])
}

module.exports = {
  ROOT,
  KiB,
  MiB,
  sleep,
  itCurl,
  HAS_V6,
  serve,
  rawRequest,
  parseResponses,
  refused,
  nodeChild,
  stillRunningAfter,
  expectInvalidArg,
  withZeros,
  stable,
  ETAG,
  fetchServer,
  recorder,
  sendChunks,
  rawPost,
}
