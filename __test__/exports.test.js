'use strict'
// The package entry: what `require('abio')` and `import ... from 'abio'` give. The public API is
// what index.d.ts declares; both module systems must give exactly its values (by name, from
// ESM too), and nothing of lib/'s internals. Checked in child processes that resolve 'abio'
// by name (the package's self-reference through its `exports` map), as a user's code does.
const cp = require('child_process')
const fs = require('fs')
const path = require('path')

const ROOT = path.join(__dirname, '..')

/** The runtime names index.d.ts exports (functions and classes; types and interfaces are not values). */
function declaredValues() {
  const dts = fs.readFileSync(path.join(ROOT, 'index.d.ts'), 'utf8')
  const values = new Set()
  const unknown = []
  for (const line of dts.split('\n')) {
    if (!line.startsWith('export')) continue
    const m =
      /^export (?:declare )?(?:abstract )?(function|class|const|let|var|enum|type|interface)\s+([A-Za-z_$][\w$]*)/.exec(
        line,
      )
    if (m === null) unknown.push(line)
    else if (m[1] !== 'type' && m[1] !== 'interface') values.add(m[2])
  }
  // An export form this parser does not know (`export { … }`, `export =`, …) would hide names.
  expect(unknown).toEqual([])
  return [...values].sort()
}

/** Runs `source` with node in the repository (so 'abio' is this package); returns its JSON output. */
function runNode(args, source) {
  const r = cp.spawnSync(process.execPath, [...args, '-e', source], { cwd: ROOT, encoding: 'utf8', timeout: 120000 })
  expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' })
  return JSON.parse(r.stdout)
}

const names = declaredValues()

test('index.d.ts declares the public values (the parser finds them)', () => {
  for (const n of ['readFile', 'writeFile', 'pack', 'connect', 'listen', 'serve', 'request', 'WebSocket', 'Socket'])
    expect(names).toContain(n)
})

test("require('abio') gives exactly the values index.d.ts declares", () => {
  const keys = runNode([], "console.log(JSON.stringify(Object.keys(require('abio')).sort()))")
  expect(keys).toEqual(names)
})

test("import { … } from 'abio' gives every declared value by name, and the namespace holds nothing else", () => {
  // Every declared name, imported by name: a missing one fails the import itself
  // (SyntaxError: Named export 'x' not found).
  const source = `
    import { ${names.join(', ')} } from 'abio'
    import * as ns from 'abio'
    import { createRequire } from 'node:module'
    const cjs = createRequire(import.meta.url)('abio')
    const byName = { ${names.join(', ')} }
    const same = Object.keys(byName).filter((k) => byName[k] !== undefined && byName[k] === cjs[k])
    console.log(JSON.stringify({ keys: Object.keys(ns).sort(), same: same.sort(), defaultIsCjs: ns.default === cjs }))
  `
  const got = runNode(['--input-type=module'], source)
  // Besides the names, the namespace of a CommonJS package has \`default\` (module.exports).
  expect(got.keys).toEqual([...names, 'default'].sort())
  expect(got.same).toEqual(names)
  expect(got.defaultIsCjs).toBe(true)
})

test('the exports map gives types, import and require, and keeps main/types', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
  expect(pkg.main).toBe('index.js')
  expect(pkg.types).toBe('index.d.ts')
  expect(Object.keys(pkg.exports['.'])).toEqual(['types', 'import', 'require'])
  for (const file of Object.values(pkg.exports['.'])) {
    expect(fs.existsSync(path.join(ROOT, file))).toBe(true)
    expect(pkg.files).toContain(path.posix.normalize(file))
  }
})
