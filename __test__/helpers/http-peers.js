'use strict'
// Real HTTP peers for the tests: Node's http client and curl.

const cp = require('child_process')
const http = require('http')
const net = require('net')
const { track } = require('./cleanup')
const { quiet } = require('./net')

const HAS_CURL = cp.spawnSync('curl', ['--version']).status === 0

/**
 * One request with Node's http client: `{ status, headers, body, socket }`. `agent: false`
 * (a fresh connection) unless an agent is given.
 */
function request(port, urlPath, { method = 'GET', headers = {}, agent = false, host = '127.0.0.1', body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, path: urlPath, method, headers, agent }, (res) => {
      const socket = res.socket
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('error', reject)
      res.on('end', () =>
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks), socket }),
      )
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** Runs curl with `args`; resolves with `{ code, stdout }` (stdout a Buffer). */
function curl(args) {
  return new Promise((resolve, reject) => {
    const proc = track('child', cp.spawn('curl', ['-s', '--http1.1', '--max-time', '10', ...args]))
    const out = []
    proc.stdout.on('data', (c) => out.push(c))
    proc.on('error', reject)
    proc.on('close', (code) => resolve({ code, stdout: Buffer.concat(out) }))
  })
}

/** Splits `head` (the text of a status line and headers) into status and lower-case headers. */
function parseHead(head) {
  const [statusLine, ...lines] = head.split('\r\n')
  const m = /^HTTP\/1\.1 (\d{3})/.exec(statusLine)
  if (!m) throw new Error(`not an HTTP/1.1 status line: ${JSON.stringify(statusLine)}`)
  const headers = {}
  for (const l of lines) {
    const i = l.indexOf(':')
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim()
  }
  return { status: Number(m[1]), headers }
}

/** curl -i output: `{ status, headers, body }`. */
async function curlGet(url, args = []) {
  const { code, stdout } = await curl(['-i', ...args, url])
  expect(code).toBe(0)
  const end = stdout.indexOf('\r\n\r\n')
  expect(end).toBeGreaterThan(0)
  return { ...parseHead(stdout.subarray(0, end).toString('latin1')), body: stdout.subarray(end + 4) }
}

/** Connects a raw socket (tracked); errors are kept on `sock.lastError`. */
function rawConnect(port, host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const s = track('node-socket', net.connect({ port, host }))
    s.once('error', reject)
    s.once('connect', () => {
      s.off('error', reject)
      s.on('error', (e) => (s.lastError = e))
      resolve(s)
    })
  })
}

/** Writes `data` on a fresh raw socket and resolves with everything read until the server closes. */
async function exchange(port, data) {
  const s = await rawConnect(port)
  const chunks = []
  s.on('data', (c) => chunks.push(c))
  const closed = new Promise((resolve) => s.once('close', resolve))
  s.write(data)
  await closed
  return Buffer.concat(chunks)
}

/** Resolves once `sock` is closed, with the ms it took from `since`. */
const closedAfter = (sock, since) =>
  new Promise((resolve) => {
    if (sock.destroyed) resolve(Date.now() - since)
    else sock.once('close', () => resolve(Date.now() - since))
  })

/**
 * A Node http server with `handler(req, res, body)` called once the request body is read
 * (tracked, its sockets quiet); `seen.connections` counts TCP connections, `seen.requests`
 * the requests.
 */
async function nodeHttpServer(handler) {
  const seen = { connections: 0, requests: [] }
  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      seen.requests.push({ method: req.method, url: req.url, headers: req.headers, body })
      handler(req, res, body)
    })
  })
  server.on('connection', (sock) => {
    seen.connections++
    track('node-socket', quiet(sock))
  })
  track('node-server', server)
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = server.address().port
  return { server, port, url: `http://127.0.0.1:${port}`, seen }
}

module.exports = { HAS_CURL, nodeHttpServer, request, curl, curlGet, parseHead, rawConnect, exchange, closedAfter }
