'use strict'
// Tests for wss (design.md sections 8 and 11) against real peers, with certificates made at test
// time (helpers/tls.js): the `ws` package's server on Node's https.createServer against abio's
// connectWebSocket('wss://…', { ca }); the `ws` client (with `ca`) against abio's
// serve({ tls, websocket }); abio to abio; and headless Chromium exchanging binary and text with
// abio over wss://localhost (the page and harness of ws-browser.test.js, helpers/browser.js).
//
// Chromium trusts the test certificate through --ignore-certificate-errors-spki-list=<base64
// sha256 of the leaf's SubjectPublicKeyInfo>: no NSS database to set up, and only that key is
// let through. The page test runs first against fixtures/ws-reference.js with the same `tls`
// (Node's https + `ws`), which proves the harness. ABIO_WS_IMPL=reference runs the whole suite
// against the reference.

const https = require('https')
const crypto = require('crypto')

const { track } = require('./helpers/cleanup')
const { rejectionOf } = require('./helpers/throws')
const { abio, REFERENCE, KiB, MiB, closeWsPeers, recordingServer, wsConnect, wsServer } = require('./helpers/ws')
const { abioConnect, nextMessages, expectAbioMessage, expectWsMessage, waitFor } = require('./helpers/ws')
const { describeBrowser, useBrowsers, pageServer, startChromium, expectExchange } = require('./helpers/browser')
const { certs, quiet, nodeHttpsError } = require('./helpers/tls')

jest.setTimeout(60000)

afterEach(closeWsPeers)
useBrowsers() // stops the browsers after each test (and closes what cleanup.js tracked)

const leafTls = () => ({ cert: certs().leaf.cert, key: certs().leaf.key })

/** What each side sends: text (non-ASCII), binary views, empty ones and 1 MiB, as [name, Data]. */
function messages(seed) {
  const big = crypto.randomBytes(MiB)
  const withOffset = crypto.randomBytes(5000)
  return [
    [`text ${seed}`, `héllo ${seed} over wss ✓ \u{1F600}`],
    [`binary ${seed}`, crypto.randomBytes(1000)],
    [`Uint8Array at an offset ${seed}`, new Uint8Array(withOffset.buffer, withOffset.byteOffset + 7, 3000)],
    [`empty binary ${seed}`, new ArrayBuffer(0)],
    [`empty text ${seed}`, ''],
    [`70,000 bytes ${seed}`, crypto.randomBytes(70000)],
    [`1 MiB ${seed}`, big],
  ]
}

/** An https.createServer (the leaf certificate by default) with a `ws` server on it. */
async function wssOnHttps(options = {}, wsOptions = {}) {
  const server = track('node-server', https.createServer({ ...leafTls(), ...options }))
  server.on('connection', (s) => track('node-socket', quiet(s)))
  server.on('tlsClientError', () => {})
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return wsServer({ server, ...wsOptions })
}

// ---------------------------------------------------------------------------

describe("abio's connectWebSocket('wss://…') against `ws` on https.createServer", () => {
  it('binary and text both ways, byte-exact, up to 1 MiB; the server saw TLS', async () => {
    const wss = await wssOnHttps()
    expect(wss.url).toMatch(/^wss:\/\//)
    const ws = await abioConnect(`${wss.url}/chat`, { ca: certs().ca.cert })
    const [{ ws: peer, req }] = await wss.conns.until(1, 'the connection')
    expect(req.url).toBe('/chat')
    expect(req.socket.encrypted).toBe(true)
    expect(req.socket.getProtocol()).toBe('TLSv1.3')

    // server -> abio
    const down = messages('down')
    for (const [, m] of down) peer.send(m, { binary: typeof m !== 'string' })
    const got = await nextMessages(ws, down.length, 'messages from ws', 20000)
    down.forEach(([name, m], i) => expectAbioMessage(name, got[i], m))

    // abio -> server
    const up = messages('up')
    for (const [, m] of up) ws.send(m)
    const seen = await peer.inbox.until(up.length, 'messages from abio', 20000)
    up.forEach(([name, m], i) => expectWsMessage(name, seen[i], m))

    ws.close(1000, 'bye')
    expect(await waitFor(peer.closedP, 'the close at the server')).toEqual({ code: 1000, reason: 'bye' })
  })

  it('abio refuses a self-signed or expired server certificate with the code Node gets; rejectUnauthorized: false connects', async () => {
    for (const [id, code] of [
      ['selfSigned', 'DEPTH_ZERO_SELF_SIGNED_CERT'],
      ['expired', 'CERT_HAS_EXPIRED'],
    ]) {
      const c = certs()[id]
      const wss = await wssOnHttps({ cert: c.cert, key: c.key }, { echo: true })
      const httpsUrl = wss.url.replace(/^wss:/, 'https:')
      expect((await nodeHttpsError(httpsUrl)).code).toBe(code) // the reference
      const e = await rejectionOf(abio.connectWebSocket(wss.url, { ca: certs().ca.cert }))
      expect({ id, code: e.code }).toEqual({ id, code })
      const ws = await abioConnect(wss.url, { ca: certs().ca.cert, rejectUnauthorized: false })
      ws.send('still works')
      expect(await nextMessages(ws, 1)).toEqual(['still works'])
    }
  })
})

// ---------------------------------------------------------------------------

describe('the `ws` client (with ca) against abio serve({ tls, websocket })', () => {
  it('binary and text both ways, byte-exact, up to 1 MiB; the server echoes', async () => {
    const { url, messages: seen } = await recordingServer({}, { tls: leafTls() })
    const wssUrl = url.replace(/^ws:/, 'wss:')
    const c = await wsConnect(wssUrl, { ca: certs().ca.cert })
    expect(c._socket.getProtocol()).toBe('TLSv1.3')
    expect(c._socket.authorized).toBe(true)
    const up = messages('ws client')
    for (const [, m] of up) c.send(m, { binary: typeof m !== 'string' })
    const received = await seen.until(up.length, 'messages at abio', 20000)
    up.forEach(([name, m], i) => expectAbioMessage(name, received[i].data, m))
    const echoes = await c.inbox.until(up.length, 'echoes', 20000)
    up.forEach(([name, m], i) => expectWsMessage(name, echoes[i], m))
  })

  it('the server pushes first: binary and text from open(), then 1 MiB by broadcast', async () => {
    const big = crypto.randomBytes(MiB)
    const first = messages('pushed')
    const { server, url } = await recordingServer(
      {
        echo: false,
        open(ws) {
          for (const [, m] of first) ws.send(m)
        },
      },
      { tls: leafTls() },
    )
    const c = await wsConnect(url.replace(/^ws:/, 'wss:'), { ca: certs().ca.cert })
    const got = await c.inbox.until(first.length, 'pushed messages', 20000)
    first.forEach(([name, m], i) => expectWsMessage(name, got[i], m))
    expect(server.broadcast(big)).toBe(1)
    const all = await c.inbox.until(first.length + 1, 'the broadcast', 20000)
    expectWsMessage('broadcast 1 MiB', all[first.length], big)
  })

  it('a `ws` client without ca refuses the server (the code Node gets); a plain ws:// client gets no upgrade', async () => {
    const { url } = await recordingServer({}, { tls: leafTls() })
    const e = await rejectionOf(wsConnect(url.replace(/^ws:/, 'wss:')))
    expect(e.code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE')
    const plain = await rejectionOf(wsConnect(url))
    expect(plain).toBeTruthy()
    // the server goes on
    const c = await wsConnect(url.replace(/^ws:/, 'wss:'), { ca: certs().ca.cert })
    c.send('after')
    const [m] = await c.inbox.until(1)
    expectWsMessage('echo after the refusals', m, 'after')
  })
})

// ---------------------------------------------------------------------------

describe('abio to abio over wss', () => {
  it('connectWebSocket({ ca }) to serve({ tls, websocket }): 1 MiB and text both ways', async () => {
    const { url, messages: seen } = await recordingServer({}, { tls: leafTls() })
    const ws = await abioConnect(url.replace(/^ws:/, 'wss:'), { ca: certs().ca.cert })
    const big = crypto.randomBytes(MiB)
    ws.send(big)
    ws.send('text ✓')
    ws.send(new Uint8Array(big.buffer, big.byteOffset + 3, 64 * KiB))
    const [a, b, c] = await nextMessages(ws, 3, 'echoes', 20000)
    expectAbioMessage('1 MiB', a, big)
    expectAbioMessage('text', b, 'text ✓')
    expectAbioMessage('view', c, big.subarray(3, 3 + 64 * KiB))
    expect((await seen.until(3)).length).toBe(3)
  })
})

// ---------------------------------------------------------------------------

const IMPLS = [
  ['ws + Node https (reference: proves the harness)', () => require('./fixtures/ws-reference')],
  ...(REFERENCE ? [] : [['abio', () => require('..')]]),
]

describeBrowser(
  'headless Chromium over wss, trusting the test leaf by its key (--ignore-certificate-errors-spki-list)',
  () => {
    it.each(IMPLS)('loads https://localhost:PORT/ and exchanges binary and text over wss with %s', async (_, load) => {
      const page = await pageServer(load(), { tls: leafTls() }, 'localhost')
      expect(page.url).toMatch(/^https:\/\/localhost:\d+\/$/)
      const chromium = startChromium(page.url, [
        `--ignore-certificate-errors-spki-list=${certs().leafSpki}`,
        '--host-resolver-rules=MAP localhost 127.0.0.1',
      ])
      await expectExchange(page, chromium)
    })
  },
)
