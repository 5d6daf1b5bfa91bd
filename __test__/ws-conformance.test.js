'use strict'
// RFC 6455 conformance of abio's WebSockets, in the manner of the Autobahn|Testsuite (its cases
// 1-7, and 9-style limits): each case is run against abio's server and against abio's client,
// both echoing every message, with a peer written by hand on a raw `net` socket on the other
// end (helpers/ws-raw.js) that sends hand-built frames and reads abio's byte for byte.
//
// Each case sends its frames, then compares the frames abio sent back, in order, with the ones
// it must send (their opcode, FIN, RSV and exact payload; a close frame's code and reason). A
// case that ends with abio's close frame then expects the TCP connection to end with nothing
// more; any other then closes with 1000 and expects just the echoed close and the end. Either
// way abio's own report of the close (the server's `close` handler, the client's `closed`) is
// checked too.
//
// Case ids follow the Autobahn|Testsuite's sections: 1 framing, 2 pings and pongs, 3 reserved
// bits, 4 opcodes, 5 fragmentation, 6 UTF-8, 7 the closing handshake, 9 limits.

const { MiB, waitFor, closeWsPeers } = require('./helpers/ws')
const { rawPeerFacing, want, isFailure, reportedForFailure, closePayload } = require('./helpers/ws-raw')
const { TEXT, BINARY, CLOSE, PING, PONG } = require('./helpers/ws-raw')

jest.setTimeout(20000)

afterEach(closeWsPeers)

const CONTINUATION = 0

// ---------------------------------------------------------------------------
// Payloads

/** `n` bytes of ASCII text. */
function ascii(n) {
  const s = 'abcdefghijklmnopqrstuvwxyz 0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ.,;!?'
  return s.repeat(Math.ceil(n / s.length)).slice(0, n)
}

/** `n` bytes of every value, in a fixed pattern. */
function bytes(n) {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = (i * 7 + 3) & 0xff
  return b
}

const hex = (h) => Buffer.from(h.replace(/\s+/g, ''), 'hex')
const HELLO = 'Hello, world!'
const KOSME = 'κόσμε' // 2-byte characters (Autobahn 6.x's example)
const KOSME_HEX = 'cebae1bdb9cf83cebcceb5'

/** A frame's bytes without its payload (header and masking key). */
const headerOf = (f, payload) => f.subarray(0, f.length - Buffer.byteLength(payload))

// ---------------------------------------------------------------------------
// The cases: { id, name, options (abio's: maxPayload), send(peer), want() (the frames abio
// must send back), wait (ms for them) }.

// 1. Framing
const SIZES = [0, 125, 126, 127, 128, 65535, 65536]
const framing = []
for (const [sub, kind, opcode, make, view] of [
  [1, 'text', TEXT, ascii, want.text],
  [2, 'binary', BINARY, bytes, want.binary],
]) {
  SIZES.forEach((n, i) =>
    framing.push({
      id: `1.${sub}.${i + 1}`,
      name: `${kind} ${n} bytes → echoed`,
      send: (p) => p.send(p.frame(opcode, make(n))),
      want: () => [view(make(n))],
    }),
  )
  framing.push({
    id: `1.${sub}.8`,
    name: `${kind} 65536 bytes, the header a byte per write, the payload in 997-byte writes → echoed`,
    async send(p) {
      const payload = make(65536)
      const f = p.frame(opcode, payload)
      const head = headerOf(f, payload).length
      await p.sendInPieces(f.subarray(0, head), 1)
      await p.sendInPieces(f.subarray(head), 997)
    },
    want: () => [view(make(65536))],
  })
  framing.push({
    id: `1.${sub}.9`,
    name: `${kind} 16 MiB - 1 bytes under maxPayload 32 MiB → echoed`,
    options: { maxPayload: 32 * MiB },
    send: (p) => p.send(p.frame(opcode, make(16 * MiB - 1))),
    want: () => [view(make(16 * MiB - 1))],
  })
  ;[0, 125, 126].forEach((n, i) =>
    framing.push({
      id: `1.${sub}.${10 + i}`,
      name: `${kind} ${n} bytes, a byte per write → echoed`,
      send: (p) => p.sendInPieces(p.frame(opcode, make(n)), 1),
      want: () => [view(make(n))],
    }),
  )
}
framing.push(
  {
    id: '1.3.1',
    name: 'a frame masked the wrong way for its sender (a client frame unmasked, a server frame masked), after a text in the same write → echo, then 1002',
    send: (p) => p.send(p.frame(TEXT, HELLO), p.frame(TEXT, HELLO, { mask: !p.masks })),
    want: () => [want.text(HELLO), want.failure(1002)],
  },
  {
    id: '1.3.2',
    name: 'a frame masked the wrong way for its sender, alone → 1002',
    send: (p) => p.send(p.frame(BINARY, bytes(10), { mask: !p.masks })),
    want: () => [want.failure(1002)],
  },
  {
    id: '1.3.3',
    name: 'a 64-bit length with its most significant bit set (header only) → 1002',
    send: (p) => p.send(p.frame(BINARY, Buffer.alloc(0), { length: 2 ** 63 })),
    want: () => [want.failure(1002)],
  },
)

// 2. Pings and pongs
const TEN_PINGS = Array.from({ length: 10 }, (_, i) => `ping ${i} ${'.'.repeat(i * 11)}`)
const pings = [
  {
    id: '2.1',
    name: 'ping with an empty payload → pong with an empty payload',
    send: (p) => p.send(p.frame(PING)),
    want: () => [want.pong()],
  },
  {
    id: '2.2',
    name: 'ping with a small text payload → pong with it',
    send: (p) => p.send(p.frame(PING, HELLO)),
    want: () => [want.pong(HELLO)],
  },
  {
    id: '2.3',
    name: 'ping with a small binary payload → pong with it',
    send: (p) => p.send(p.frame(PING, hex('00 ff fe fd fc fb 00 ff'))),
    want: () => [want.pong(hex('00 ff fe fd fc fb 00 ff'))],
  },
  {
    id: '2.4',
    name: 'ping with a 125-byte binary payload → pong with it',
    send: (p) => p.send(p.frame(PING, bytes(125))),
    want: () => [want.pong(bytes(125))],
  },
  {
    id: '2.5',
    name: 'ping with a 126-byte payload → 1002',
    send: (p) => p.send(p.frame(PING, bytes(126))),
    want: () => [want.failure(1002)],
  },
  {
    id: '2.6',
    name: 'ping with a 125-byte payload, a byte per write → pong with it',
    send: (p) => p.sendInPieces(p.frame(PING, bytes(125)), 1),
    want: () => [want.pong(bytes(125))],
  },
  {
    id: '2.7',
    name: 'an unsolicited pong with an empty payload is ignored; the text after it is echoed',
    send: (p) => p.send(p.frame(PONG), p.frame(TEXT, HELLO)),
    want: () => [want.text(HELLO)],
  },
  {
    id: '2.8',
    name: 'an unsolicited pong with a payload is ignored; the text after it is echoed',
    send: (p) => p.send(p.frame(PONG, 'unsolicited pong payload'), p.frame(TEXT, HELLO)),
    want: () => [want.text(HELLO)],
  },
  {
    id: '2.9',
    name: 'an unsolicited pong, then a ping → only the ping is answered',
    send: (p) => p.send(p.frame(PONG, 'unsolicited pong payload'), p.frame(PING, 'ping payload')),
    want: () => [want.pong('ping payload')],
  },
  {
    id: '2.10',
    name: '10 pings in one write → 10 pongs, in order, with the same payloads',
    send: (p) => p.send(TEN_PINGS.map((s) => p.frame(PING, s))),
    want: () => TEN_PINGS.map((s) => want.pong(s)),
  },
  {
    id: '2.11',
    name: '10 pings, a byte per write → 10 pongs, in order, with the same payloads',
    send: (p) => p.sendInPieces(Buffer.concat(TEN_PINGS.map((s) => p.frame(PING, s))), 1),
    want: () => TEN_PINGS.map((s) => want.pong(s)),
  },
]

// 3. Reserved bits (no extension was agreed). Each bad frame comes after a text in the same
// write (3.3 frame by frame, 3.4 a byte per write): the text's echo must leave before the close.
const rsvName = (rsv) =>
  `RSV=${rsv} (${[
    [4, 'RSV1'],
    [2, 'RSV2'],
    [1, 'RSV3'],
  ]
    .filter(([bit]) => rsv & bit)
    .map(([, n]) => n)
    .join('+')})`
const reserved = [
  {
    id: '3.1',
    name: `a text after a text, one write: ${rsvName(1)} → echo, then 1002`,
    send: (p) => p.send(p.frame(TEXT, HELLO), p.frame(TEXT, HELLO, { rsv: 1 })),
  },
  {
    id: '3.2',
    name: `a text after a text, then a ping, one write: ${rsvName(2)} → echo, then 1002 (no pong)`,
    send: (p) => p.send(p.frame(TEXT, HELLO), p.frame(TEXT, HELLO, { rsv: 2 }), p.frame(PING)),
  },
  {
    id: '3.3',
    name: `a text after a text, then a ping, frame by frame: ${rsvName(3)} → echo, then 1002 (no pong)`,
    send: (p) => p.sendEach(p.frame(TEXT, HELLO), p.frame(TEXT, HELLO, { rsv: 3 }), p.frame(PING)),
  },
  {
    id: '3.4',
    name: `a text after a text, then a ping, a byte per write: ${rsvName(4)} → echo, then 1002 (no pong)`,
    send: (p) =>
      p.sendInPieces(Buffer.concat([p.frame(TEXT, HELLO), p.frame(TEXT, HELLO, { rsv: 4 }), p.frame(PING)]), 1),
  },
  {
    id: '3.5',
    name: `a binary after a text, one write: ${rsvName(5)} → echo, then 1002`,
    send: (p) => p.send(p.frame(TEXT, HELLO), p.frame(BINARY, bytes(8), { rsv: 5 })),
  },
  {
    id: '3.6',
    name: `a ping after a text, one write: ${rsvName(6)} → echo, then 1002 (no pong)`,
    send: (p) => p.send(p.frame(TEXT, HELLO), p.frame(PING, HELLO, { rsv: 6 })),
  },
  {
    id: '3.7',
    name: `a close after a text, one write: ${rsvName(7)} → echo, then 1002 (not an echoed close)`,
    send: (p) => p.send(p.frame(TEXT, HELLO), p.frame(CLOSE, closePayload(1000), { rsv: 7 })),
  },
].map((row) => ({ ...row, want: () => [want.text(HELLO), want.failure(1002)] }))

// 4. Opcodes: reserved non-control (3-7) and control (11-15) ones, after a text in the same
// write, then a ping: the text's echo, then 1002 (no pong).
const opcodes = [3, 4, 5, 6, 7, 11, 12, 13, 14, 15].map((op, i) => ({
  id: `4.${op < 8 ? 1 : 2}.${(i % 5) + 1}`,
  name: `reserved ${op < 8 ? 'non-control' : 'control'} opcode ${op}${i % 2 ? ' with a payload' : ''} after a text, then a ping, one write → echo, then 1002 (no pong)`,
  send: (p) => p.send(p.frame(TEXT, HELLO), p.frame(op, i % 2 ? HELLO : ''), p.frame(PING)),
  want: () => [want.text(HELLO), want.failure(1002)],
}))

// 5. Fragmentation
/** `payload` cut into `pieces` (arrays of its bytes) as a fragmented message of `opcode`. */
function fragments(p, opcode, pieces, extra = () => []) {
  return pieces.flatMap((piece, i) => [
    p.frame(i === 0 ? opcode : CONTINUATION, piece, { fin: i === pieces.length - 1 }),
    ...(i < pieces.length - 1 ? extra(i) : []),
  ])
}
/** `b` cut into pieces of `size` bytes. */
const chop = (b, size) => {
  const buf = Buffer.from(b)
  const out = []
  for (let at = 0; at < buf.length; at += size) out.push(buf.subarray(at, at + size))
  return out
}
const fragmentation = [
  {
    id: '5.1',
    name: 'a ping in 2 fragments → 1002',
    send: (p) => p.send(p.frame(PING, 'fragment1', { fin: false }), p.frame(CONTINUATION, 'fragment2')),
    want: () => [want.failure(1002)],
  },
  {
    id: '5.2',
    name: 'a pong in 2 fragments → 1002',
    send: (p) => p.send(p.frame(PONG, 'fragment1', { fin: false }), p.frame(CONTINUATION, 'fragment2')),
    want: () => [want.failure(1002)],
  },
  {
    id: '5.3',
    name: 'text in 2 fragments, one write → echoed whole',
    send: (p) => p.send(fragments(p, TEXT, ['fragment1', 'fragment2'])),
    want: () => [want.text('fragment1fragment2')],
  },
  {
    id: '5.4',
    name: 'text in 2 fragments, frame by frame → echoed whole',
    send: (p) => p.sendEach(fragments(p, TEXT, ['fragment1', 'fragment2'])),
    want: () => [want.text('fragment1fragment2')],
  },
  {
    id: '5.5',
    name: 'text in 1-byte fragments, one write → echoed whole',
    send: (p) => p.send(fragments(p, TEXT, chop(HELLO, 1))),
    want: () => [want.text(HELLO)],
  },
  {
    id: '5.6',
    name: 'text in 1-byte fragments, a byte per write → echoed whole',
    send: (p) => p.sendInPieces(Buffer.concat(fragments(p, TEXT, chop(HELLO, 1))), 1),
    want: () => [want.text(HELLO)],
  },
  {
    id: '5.7',
    name: 'binary in 2 fragments, one write → echoed whole',
    send: (p) => p.send(fragments(p, BINARY, chop(bytes(300), 150))),
    want: () => [want.binary(bytes(300))],
  },
  {
    id: '5.8',
    name: 'binary in 1-byte fragments, frame by frame → echoed whole',
    send: (p) => p.sendEach(fragments(p, BINARY, chop(bytes(64), 1))),
    want: () => [want.binary(bytes(64))],
  },
  {
    id: '5.9',
    name: 'binary 65536 bytes in 16 fragments of 4096, one write → echoed whole',
    send: (p) => p.send(fragments(p, BINARY, chop(bytes(65536), 4096))),
    want: () => [want.binary(bytes(65536))],
  },
  {
    id: '5.10',
    name: 'text with empty fragments (first, middle and last) → echoed whole',
    send: (p) => p.send(fragments(p, TEXT, ['', 'Hello', '', ', world', ''])),
    want: () => [want.text('Hello, world')],
  },
  {
    id: '5.11',
    name: 'binary in 3 empty fragments → an empty binary echoed',
    send: (p) => p.send(fragments(p, BINARY, ['', '', ''])),
    want: () => [want.binary(Buffer.alloc(0))],
  },
  {
    id: '5.12',
    name: 'text in 2 fragments with a ping between, one write → the pong, then the echo',
    send: (p) => p.send(fragments(p, TEXT, ['fragment1', 'fragment2'], () => [p.frame(PING, 'between')])),
    want: () => [want.pong('between'), want.text('fragment1fragment2')],
  },
  {
    id: '5.13',
    name: 'text in 2 fragments with a ping between, frame by frame → the pong, then the echo',
    send: (p) => p.sendEach(fragments(p, TEXT, ['fragment1', 'fragment2'], () => [p.frame(PING, 'between')])),
    want: () => [want.pong('between'), want.text('fragment1fragment2')],
  },
  {
    id: '5.14',
    name: 'binary in 5 fragments with a ping between each, a byte per write → the 4 pongs in order, then the echo',
    send: (p) =>
      p.sendInPieces(Buffer.concat(fragments(p, BINARY, chop(bytes(50), 10), (i) => [p.frame(PING, `ping ${i}`)])), 1),
    want: () => [0, 1, 2, 3].map((i) => want.pong(`ping ${i}`)).concat([want.binary(bytes(50))]),
  },
  {
    id: '5.15',
    name: 'a continuation (FIN) without a message → 1002',
    send: (p) => p.send(p.frame(CONTINUATION, 'non-continuation payload')),
    want: () => [want.failure(1002)],
  },
  {
    id: '5.16',
    name: 'a continuation (not FIN) without a message, then a final one → 1002',
    send: (p) => p.send(p.frame(CONTINUATION, 'fragment1', { fin: false }), p.frame(CONTINUATION, 'fragment2')),
    want: () => [want.failure(1002)],
  },
  {
    id: '5.17',
    name: 'a continuation without a message, then a text, one write → 1002, the text not echoed',
    send: (p) => p.send(p.frame(CONTINUATION, 'fragment1'), p.frame(TEXT, HELLO)),
    want: () => [want.failure(1002)],
  },
  {
    id: '5.18',
    name: 'a text fragment, then a new (final) text frame → 1002',
    send: (p) => p.send(p.frame(TEXT, 'fragment1', { fin: false }), p.frame(TEXT, 'fragment2')),
    want: () => [want.failure(1002)],
  },
  {
    id: '5.19',
    name: 'a text fragment, then a new binary fragment → 1002',
    send: (p) => p.send(p.frame(TEXT, 'fragment1', { fin: false }), p.frame(BINARY, 'fragment2', { fin: false })),
    want: () => [want.failure(1002)],
  },
]

// 6. UTF-8
const VALID_TEXTS = [
  ['6.2.1', 'mixed 1- and 2-byte characters', 'Hello-µ@ßöäüàá-UTF-8!!'],
  ['6.2.2', '2-byte characters', KOSME],
  ['6.2.3', '3-byte characters', '€✓中文ひらがな'],
  ['6.2.4', '4-byte characters', '😀🎉𝄞𠜎'],
  [
    '6.2.5',
    'boundaries: U+0080, U+07FF, U+0800, U+D7FF, U+E000, U+FFFD, U+FFFF, U+10000, U+10FFFF',
    '\u0080\u07ff\u0800\ud7ff\ue000\ufffd\uffff\u{10000}\u{10ffff}',
  ],
]
const utf8 = [
  ...VALID_TEXTS.map(([id, what, s]) => ({
    id,
    name: `valid UTF-8, ${what} → echoed`,
    send: (p) => p.send(p.frame(TEXT, s)),
    want: () => [want.text(s)],
  })),
  {
    id: '6.3.1',
    name: 'text in 2 fragments cutting a 3-byte character (E2 | 82 AC) → echoed whole',
    send: (p) => p.send(fragments(p, TEXT, [hex('41 e2'), hex('82 ac 42')])),
    want: () => [want.text('A€B')],
  },
  {
    id: '6.3.2',
    name: 'text in 2 fragments cutting a 4-byte character (F0 9F | 98 80) → echoed whole',
    send: (p) => p.send(fragments(p, TEXT, [hex('f0 9f'), hex('98 80')])),
    want: () => [want.text('😀')],
  },
  {
    id: '6.3.3',
    name: 'text of 2-byte characters in 1-byte fragments, frame by frame → echoed whole',
    send: (p) => p.sendEach(fragments(p, TEXT, chop(KOSME, 1))),
    want: () => [want.text(KOSME)],
  },
  {
    id: '6.3.4',
    name: 'text of 4-byte characters in 3-byte fragments → echoed whole',
    send: (p) => p.send(fragments(p, TEXT, chop('😀🎉𝄞𠜎', 3))),
    want: () => [want.text('😀🎉𝄞𠜎')],
  },
  ...[
    ['6.4.1', 'κόσμε then a surrogate (ED A0 80) then "edited"', `${KOSME_HEX} eda080 6564697465 64`],
    ['6.4.2', 'a lone continuation byte (80)', '41 80 42'],
    ['6.4.3', 'a lone continuation byte (BF)', 'bf'],
    ['6.4.4', 'an overlong NUL (C0 80)', 'c0 80'],
    ['6.4.5', 'an overlong 2-byte form (C1 BF)', 'c1 bf'],
    ['6.4.6', "an overlong '/' (E0 80 AF)", 'e0 80 af'],
    ['6.4.7', 'an overlong 3-byte form (E0 9F BF)', 'e0 9f bf'],
    ['6.4.8', 'an overlong 4-byte form (F0 80 80 AF)', 'f0 80 80 af'],
    ['6.4.9', 'an overlong U+FFFF (F0 8F BF BF)', 'f0 8f bf bf'],
    ['6.4.10', 'a high surrogate U+D800 (ED A0 80)', 'ed a0 80'],
    ['6.4.11', 'a low surrogate U+DFFF (ED BF BF)', 'ed bf bf'],
    ['6.4.12', 'a surrogate pair (ED A0 80 ED B0 80)', 'ed a0 80 ed b0 80'],
    ['6.4.13', 'beyond U+10FFFF (F4 90 80 80)', 'f4 90 80 80'],
    ['6.4.14', 'F5 80 80 80', 'f5 80 80 80'],
    ['6.4.15', 'FE', '41 fe'],
    ['6.4.16', 'FF', 'ff 41'],
    ['6.4.17', 'a 2-byte lead followed by ASCII (C2 41)', 'c2 41'],
    ['6.4.18', 'a 3-byte character cut short at the end (E2 82)', '41 e2 82'],
    ['6.4.19', 'a 4-byte character cut short at the end (F0 9F 98)', 'f0 9f 98'],
  ].map(([id, what, h]) => ({
    id,
    name: `invalid UTF-8 in one frame: ${what} → 1007`,
    send: (p) => p.send(p.frame(TEXT, hex(h))),
    want: () => [want.failure(1007)],
  })),
  {
    id: '6.5.1',
    name: 'invalid UTF-8 in the middle fragment of 3, all sent (κόσμε | F4 90 80 80 | "edited") → 1007',
    send: (p) => p.send(fragments(p, TEXT, [hex(KOSME_HEX), hex('f4 90 80 80'), 'edited'])),
    want: () => [want.failure(1007)],
  },
  {
    id: '6.5.2',
    name: 'a character cut short at the end of the final fragment ("Hello" | E2 82) → 1007',
    send: (p) => p.send(fragments(p, TEXT, ['Hello', hex('e2 82')])),
    want: () => [want.failure(1007)],
  },
  {
    id: '6.5.3',
    name: 'invalid UTF-8 in a fragment, then a ping in the same write → 1007, no pong',
    send: (p) => p.send(fragments(p, TEXT, [hex('ff'), 'rest']), p.frame(PING)),
    want: () => [want.failure(1007)],
  },
  // Fail fast: the final fragment never comes; abio must close at the invalid bytes.
  ...[
    ['6.6.1', 'the first fragment invalid (κόσμε F4 90 80 80)', [`${KOSME_HEX} f4908080`]],
    ['6.6.2', 'the first fragment a surrogate (ED A0 80)', ['ed a0 80']],
    ['6.6.3', 'the first fragment an overlong NUL (C0 80)', ['41 c0 80']],
    ['6.6.4', 'the first fragment FF', ['ff']],
    ['6.6.5', 'a valid first fragment (κόσμε), an invalid second (F4 90 80 80)', [KOSME_HEX, 'f4 90 80 80']],
    [
      '6.6.6',
      'F4 at the end of the first fragment, 90 80 80 starting the second (beyond U+10FFFF)',
      [`${KOSME_HEX} f4`, '90 80 80'],
    ],
  ].map(([id, what, pieces]) => ({
    id,
    name: `fail fast: ${what}, the final fragment never sent → 1007 within 5 s`,
    send: (p) => p.sendEach(pieces.map((h, i) => p.frame(i === 0 ? TEXT : CONTINUATION, hex(h), { fin: false }))),
    want: () => [want.failure(1007)],
    wait: 5000,
  })),
]

// 7. The closing handshake
const VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]
const INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]
const REASON_123 = ascii(120) + '✓' // 123 bytes
const closing = [
  {
    id: '7.1.1',
    name: 'a text, then a close 1000, one write → the echo, then the echoed close',
    send: (p) => p.send(p.frame(TEXT, HELLO), p.frame(CLOSE, closePayload(1000))),
    want: () => [want.text(HELLO), want.close(1000)],
  },
  {
    id: '7.1.2',
    name: 'a close, then a second close → one echoed close',
    send: (p) => p.send(p.frame(CLOSE, closePayload(1000)), p.frame(CLOSE, closePayload(1001))),
    want: () => [want.close(1000)],
  },
  {
    id: '7.1.3',
    name: 'a close, then a ping → the echoed close, no pong',
    send: (p) => p.send(p.frame(CLOSE, closePayload(1000)), p.frame(PING, HELLO)),
    want: () => [want.close(1000)],
  },
  {
    id: '7.1.4',
    name: 'a close, then a text (ignored) → the echoed close, no echo',
    send: (p) => p.send(p.frame(CLOSE, closePayload(1000)), p.frame(TEXT, HELLO)),
    want: () => [want.close(1000)],
  },
  {
    id: '7.1.5',
    name: 'a text fragment, a close, then the final fragment → the echoed close, no echo',
    send: (p) =>
      p.send(
        p.frame(TEXT, 'fragment1', { fin: false }),
        p.frame(CLOSE, closePayload(1000)),
        p.frame(CONTINUATION, 'fragment2'),
      ),
    want: () => [want.close(1000)],
  },
  {
    id: '7.1.6',
    name: 'a close, then a text, frame by frame → the echoed close, no echo',
    send: (p) => p.sendEach(p.frame(CLOSE, closePayload(1000)), p.frame(TEXT, HELLO)),
    want: () => [want.close(1000)],
  },
  {
    id: '7.3.1',
    name: 'a close with no payload → an echoed close with none',
    send: (p) => p.send(p.frame(CLOSE)),
    want: () => [want.close(null)],
  },
  {
    id: '7.3.2',
    name: 'a close with a 1-byte payload → 1002',
    send: (p) => p.send(p.frame(CLOSE, hex('03'))),
    want: () => [want.failure(1002)],
  },
  {
    id: '7.3.3',
    name: 'a close 1000 without a reason → echoed',
    send: (p) => p.send(p.frame(CLOSE, closePayload(1000))),
    want: () => [want.close(1000)],
  },
  {
    id: '7.3.4',
    name: 'a close 1000 with a reason → echoed with it',
    send: (p) => p.send(p.frame(CLOSE, closePayload(1000, 'Hello World!'))),
    want: () => [want.close(1000, 'Hello World!')],
  },
  {
    id: '7.3.5',
    name: 'a close 1000 with a 123-byte reason (125-byte payload) → echoed with it',
    send: (p) => p.send(p.frame(CLOSE, closePayload(1000, REASON_123))),
    want: () => [want.close(1000, REASON_123)],
  },
  {
    id: '7.3.6',
    name: 'a close 1000 with a 124-byte reason (126-byte payload) → 1002',
    send: (p) => p.send(p.frame(CLOSE, closePayload(1000, REASON_123 + '!'))),
    want: () => [want.failure(1002)],
  },
  {
    id: '7.5.1',
    name: 'a close 1000 with a reason that is not UTF-8 (κόσμε ED A0 80 "edited") → 1007',
    send: (p) => p.send(p.frame(CLOSE, Buffer.concat([closePayload(1000), hex(`${KOSME_HEX} eda080 6564697465 64`)]))),
    want: () => [want.failure(1007)],
  },
  ...VALID_CODES.map((code, i) => ({
    id: `7.7.${i + 1}`,
    name: `a close with the valid code ${code} → echoed`,
    send: (p) => p.send(p.frame(CLOSE, closePayload(code))),
    want: () => [want.close(code)],
  })),
  ...INVALID_CODES.map((code, i) => ({
    id: `7.9.${i + 1}`,
    name: `a close with the invalid code ${code} → 1002`,
    send: (p) => p.send(p.frame(CLOSE, closePayload(code))),
    want: () => [want.failure(1002)],
  })),
]

// 9. Limits: maxPayload 1024 (abio's server's option, or its client's).
const SMALL = { maxPayload: 1024 }
/** A frame header announcing `length` payload bytes that never come. */
const announcing = (p, opcode, length, fin = true) => p.frame(opcode, Buffer.alloc(0), { length, fin })
const limits = [
  {
    id: '9.1.1',
    name: 'text of exactly maxPayload (1024 bytes) → echoed',
    send: (p) => p.send(p.frame(TEXT, ascii(1024))),
    want: () => [want.text(ascii(1024))],
  },
  {
    id: '9.1.2',
    name: 'binary of exactly maxPayload (1024 bytes), a byte per write → echoed',
    send: (p) => p.sendInPieces(p.frame(BINARY, bytes(1024)), 1),
    want: () => [want.binary(bytes(1024))],
  },
  {
    id: '9.1.3',
    name: 'a text header announcing 1025 bytes (no payload sent) → 1009',
    send: (p) => p.send(announcing(p, TEXT, 1025)),
    want: () => [want.failure(1009)],
  },
  {
    id: '9.1.4',
    name: 'a binary header announcing 65536 bytes (64-bit length, no payload sent) → 1009',
    send: (p) => p.send(announcing(p, BINARY, 65536)),
    want: () => [want.failure(1009)],
  },
  {
    id: '9.1.5',
    name: 'a binary header announcing 2^32 bytes (no payload sent) → 1009',
    send: (p) => p.send(announcing(p, BINARY, 2 ** 32)),
    want: () => [want.failure(1009)],
  },
  {
    id: '9.1.6',
    name: 'a text, then a header announcing 1025 bytes, one write → the echo, then 1009',
    send: (p) => p.send(p.frame(TEXT, HELLO), announcing(p, BINARY, 1025)),
    want: () => [want.text(HELLO), want.failure(1009)],
  },
  {
    id: '9.2.1',
    name: 'text in 2 fragments of 512 (exactly maxPayload) → echoed whole',
    send: (p) => p.send(fragments(p, TEXT, chop(ascii(1024), 512))),
    want: () => [want.text(ascii(1024))],
  },
  {
    id: '9.2.2',
    name: 'binary of 1024 in a fragment, then an empty final one → echoed whole',
    send: (p) => p.send(fragments(p, BINARY, [bytes(1024), ''])),
    want: () => [want.binary(bytes(1024))],
  },
  {
    id: '9.2.3',
    name: 'a 600-byte fragment, then a continuation header announcing 600 (no payload sent) → 1009',
    send: (p) => p.send(p.frame(BINARY, bytes(600), { fin: false }), announcing(p, CONTINUATION, 600)),
    want: () => [want.failure(1009)],
  },
  {
    id: '9.2.4',
    name: 'a 1024-byte fragment, then a continuation header announcing 1 byte (no payload sent) → 1009',
    send: (p) => p.send(p.frame(TEXT, ascii(1024), { fin: false }), announcing(p, CONTINUATION, 1)),
    want: () => [want.failure(1009)],
  },
  {
    id: '9.2.5',
    name: '100 fragments of 11 bytes (1100 in all), one write → 1009, nothing echoed',
    send: (p) => p.send(fragments(p, BINARY, chop(bytes(1100), 11))),
    want: () => [want.failure(1009)],
  },
].map((row) => ({ ...row, options: SMALL }))

const SECTIONS = [
  ['1 framing', framing],
  ['2 pings and pongs', pings],
  ['3 reserved bits', reserved],
  ['4 opcodes', opcodes],
  ['5 fragmentation', fragmentation],
  ['6 UTF-8', utf8],
  ['7 closing handshake', closing],
  ['9 limits', limits],
]

// ---------------------------------------------------------------------------
// The runner

/**
 * Runs `row` against abio in `role`: sends its frames, compares what comes back, then checks
 * the end of the connection (see the top of the file).
 */
async function conform(role, row) {
  const p = await rawPeerFacing(role, row.options)
  await row.send(p)
  const wanted = row.want()
  const wait = row.wait ?? 15000
  const got = await waitFor(p.frames(wanted.length), `${wanted.length} frame(s) from abio`, wait)
  expect(got).toEqual(wanted)
  let last = wanted.at(-1)
  if (last === undefined || last.opcode !== 'close') {
    // Nothing else came before the close: the echoed close is the next frame.
    await p.send(p.frame(CLOSE, closePayload(1000, 'bye')))
    last = want.close(1000, 'bye')
    expect(await p.frames(1)).toEqual([last])
  }
  await p.expectEnd()
  const reported = await waitFor(p.abioClosed(), "abio's report of the close")
  if (isFailure(last)) expect(reportedForFailure(last.code)).toContain(reported.code)
  else expect(reported).toEqual({ code: last.code ?? 1005, reason: last.reason })
}

const ROLES = [
  ['server', "abio's server (an echoing message handler), a raw client"],
  ['client', "abio's client (a for-await echo loop), a raw server"],
]

describe.each(ROLES)('%s: %s', (role) => {
  describe.each(SECTIONS)('%s', (_, rows) => {
    it.each(rows)('$id $name', (row) => conform(role, row))
  })
})
