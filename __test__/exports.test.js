'use strict'
// The package entry: what `require('abio')` and `import ... from 'abio'` give. The public API is
// what index.d.ts declares; both module systems must give exactly its values (by name, from
// ESM too), and nothing of lib/'s internals. Checked in child processes that resolve 'abio'
// by name (the package's self-reference through its `exports` map), as a user's code does.
const cp = require('child_process')
const fs = require('fs')
const path = require('path')

const ROOT = path.join(__dirname, '..')
/** `export * from './types/fs'`: a re-export of a typings file of the package. */
const REEXPORT = /^export \* from '(\.\.?\/[^']+)'$/

/**
 * The typings index.d.ts gives: itself and every file it re-exports (`export * from './types/fs'`),
 * followed as TypeScript does, as paths from the package root.
 */
function typingFiles() {
  const files = []
  const visit = (file) => {
    if (files.includes(file)) return
    files.push(file)
    for (const line of fs.readFileSync(path.join(ROOT, file), 'utf8').split('\n')) {
      const m = REEXPORT.exec(line)
      if (m !== null) visit(path.posix.join(path.posix.dirname(file), m[1].replace(/\.js$/, '') + '.d.ts'))
    }
  }
  visit('index.d.ts')
  return files
}

/**
 * The runtime names index.d.ts exports (functions and classes; types and interfaces are not values), its own and
 * those of the files it re-exports.
 */
function declaredValues() {
  const values = []
  const unknown = []
  for (const file of typingFiles()) {
    // An overloaded function is declared once per signature, in one file: one name.
    const seen = new Set()
    for (const line of fs.readFileSync(path.join(ROOT, file), 'utf8').split('\n')) {
      if (!line.startsWith('export') || REEXPORT.test(line)) continue
      const m =
        /^export (?:declare )?(?:abstract )?(function|class|const|let|var|enum|type|interface)\s+([A-Za-z_$][\w$]*)/.exec(
          line,
        )
      if (m === null) unknown.push(`${file}: ${line}`)
      else if (m[1] !== 'type' && m[1] !== 'interface' && !(m[1] === 'function' && seen.has(m[2]))) {
        values.push(m[2])
        seen.add(m[2])
      }
    }
  }
  // An export form this parser does not know (`export { … }`, `export =`, `export * as x`, …) would hide names.
  expect(unknown).toEqual([])
  // A name declared in two re-exported files is ambiguous: `export *` leaves it out.
  expect(values.filter((v, i) => values.indexOf(v) !== i)).toEqual([])
  return values.sort()
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

test('index.d.ts re-exports every file of types/, and the package publishes them', () => {
  const files = typingFiles()
  const typesDir = fs
    .readdirSync(path.join(ROOT, 'types'))
    .filter((f) => f.endsWith('.d.ts'))
    .map((f) => `types/${f}`)
  expect(files.slice(1).sort()).toEqual(typesDir.sort())
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
  const published = (file) => pkg.files.some((e) => file === e || file.startsWith(e.endsWith('/') ? e : `${e}/`))
  expect(files.filter((f) => !published(f))).toEqual([])
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
