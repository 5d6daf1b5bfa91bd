'use strict'
// abio's WebSocket server with a real browser: headless Chromium loads a page from an abio
// route (fixtures/ws-browser.html), the page opens ws://127.0.0.1:PORT/ws with binaryType
// 'arraybuffer', checks what the server sends (exact bytes and types: binary up to 70,000 B,
// non-ASCII text, 0-byte binary, empty text), sends its own (a view at an offset, 1 MiB, text,
// empty ones), checks their echoes, closes with 1000 'done', and POSTs its findings as JSON to
// the same server's fetch handler. The server side checks what it received too.
//
// The same test runs first against fixtures/ws-reference.js (Node's http and the `ws` package
// behind abio's API): that proves the browser harness, so a failure against abio is abio's.
// The harness (Chromium started and stopped, the page's server, the checks) is
// helpers/browser.js; tls-ws.test.js runs the same page over wss. Skipped with a message when
// there is no Chromium (apt-get install -y chromium; or set CHROMIUM=/path/to/chrome).

const { describeBrowser, useBrowsers, pageServer, startChromium, expectExchange } = require('./helpers/browser')

jest.setTimeout(120000)

useBrowsers()

const IMPLS = [
  ['ws + Node http (reference: proves the harness)', () => require('./fixtures/ws-reference')],
  ['abio', () => require('..')],
]

describeBrowser('headless Chromium', () => {
  it.each(IMPLS)('exchanges binary and text both ways with %s', async (_, load) => {
    const page = await pageServer(load())
    await expectExchange(page, startChromium(page.url))
  })
})
