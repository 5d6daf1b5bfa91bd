// Run by scripts/test-install.js in the project where abio was installed from its tarballs:
// an ES module consumer. Every public name imports by name (the import itself fails on a
// missing one), the namespace holds no lib/ internals, and a file round trip works.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import * as ns from 'abio'
import { readFile, writeFile, pack, unpack, connect, listen, serve, request, connectWebSocket } from 'abio'

for (const internal of ['toView', 'toPart', 'toData', 'Listening', 'nativeOf', 'public'])
  assert.ok(!(internal in ns), `the ESM namespace leaks ${internal}`)
for (const f of [pack, unpack, connect, listen, serve, request, connectWebSocket]) assert.equal(typeof f, 'function')

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'abio-consumer-mjs-'))
try {
  const data = new Uint8Array([1, 2, 3, 255])
  const file = path.join(dir, 'x')
  assert.equal(await writeFile(file, data), 4)
  assert.deepEqual(new Uint8Array(await readFile(file)), data)
} finally {
  fs.rmSync(dir, { recursive: true, force: true })
}
console.log('consumer.mjs: named imports ok')
