'use strict'
// Every JavaScript code block of README.md runs as written (issue 16). What a block is, by
// its fence's info string (the same convention is stated in a comment at the top of README.md):
//   ```js, ```javascript, ```cjs   CommonJS: saved as block.cjs and run with node
//   ```mjs                         an ES module: saved as block.mjs and run with node
//   ```ts, ```mts                  TypeScript: saved as block.ts / block.mts and type-checked
//                                  with tsc (strict, nodenext), not run
//   anything else (```sh, ```text, a bare ```) is not a program and is not run.
// A block runs alone, with nothing added to it, in a fresh temp directory that is its cwd and
// its TMPDIR (so os.tmpdir() too), and must exit with code 0 by itself (servers it starts
// closed, connections ended). There `abio` resolves to this repository (node_modules/abio is a
// link to it; the repository's other packages are linked beside it, for blocks that import
// hono or node-forge), and cert.pem, key.pem (localhost, 127.0.0.1 and ::1) and ca.pem (the CA
// that signed it) are there, as a TLS user has them (helpers/tls.js makes them). Where network
// namespaces can be made (root), each block runs in one of its own with only loopback up, so a
// fixed port (8080) collides with nothing else on the machine.
const cp = require('child_process')
const fs = require('fs')
const os = require('os')
const path = require('path')
const netns = require('./helpers/netns')
const { certs } = require('./helpers/tls')

const ROOT = path.join(__dirname, '..')
const README = path.join(ROOT, 'README.md')
const RUN_LIMIT_MS = 60000

const RUN = { js: '.cjs', javascript: '.cjs', cjs: '.cjs', mjs: '.mjs' }
const CHECK = { ts: '.ts', mts: '.mts' }

/** The fenced code blocks of a Markdown text: { line (1-based, the opening fence), lang, code }. */
function codeBlocks(text) {
  const blocks = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const open = /^( {0,3})(`{3,}|~{3,})\s*([^\s`]*)/.exec(lines[i])
    if (!open) continue
    const [, indent, fence, info] = open
    const body = []
    let j = i + 1
    while (j < lines.length && !new RegExp(`^ {0,3}${fence[0]}{${fence.length},}\\s*$`).test(lines[j])) {
      body.push(lines[j].startsWith(indent) ? lines[j].slice(indent.length) : lines[j].trimStart())
      j++
    }
    blocks.push({ line: i + 1, lang: info.toLowerCase(), code: body.join('\n') + '\n' })
    i = j
  }
  return blocks
}

const blocks = codeBlocks(fs.readFileSync(README, 'utf8'))
const runnable = blocks.filter((b) => RUN[b.lang])
const typed = blocks.filter((b) => CHECK[b.lang])

let tmpRoot
let seq = 0
const canIsolate = netns.cannotMakeNamespaces() === null

beforeAll(() => {
  tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'abio-readme-'))
})
afterAll(() => {
  if (tmpRoot) fs.rmSync(tmpRoot, { recursive: true, force: true })
})

/** A fresh directory where `abio` (and the repository's other packages) resolve, with the PEM files. */
function blockDir() {
  const dir = path.join(tmpRoot, `block-${++seq}`)
  const modules = path.join(dir, 'node_modules')
  fs.mkdirSync(modules, { recursive: true })
  fs.symlinkSync(ROOT, path.join(modules, 'abio'), 'dir')
  const repoModules = path.join(ROOT, 'node_modules')
  for (const name of fs.readdirSync(repoModules)) {
    if (name.startsWith('.') || name === 'abio') continue
    fs.symlinkSync(path.join(repoModules, name), path.join(modules, name), 'dir')
  }
  const { ca, leaf } = certs()
  fs.writeFileSync(path.join(dir, 'cert.pem'), leaf.cert)
  fs.writeFileSync(path.join(dir, 'key.pem'), leaf.key)
  fs.writeFileSync(path.join(dir, 'ca.pem'), ca.cert)
  return dir
}

/** Runs `node ...args` in `dir` (in a network namespace of its own when possible): { code, signal, stdout, stderr }. */
async function node(args, dir) {
  const options = { cwd: dir, env: { ...process.env, TMPDIR: dir } }
  if (canIsolate) {
    const ns = netns.isolated()
    try {
      return await ns.exec(args, RUN_LIMIT_MS, options)
    } finally {
      ns.remove()
    }
  }
  const r = cp.spawnSync(process.execPath, args, { ...options, encoding: 'utf8', timeout: RUN_LIMIT_MS })
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr }
}

test('README.md has JavaScript blocks to run', () => {
  expect(runnable.length).toBeGreaterThan(5)
})

describe.each(runnable.map((b) => [`README.md:${b.line} (${b.lang})`, b]))('%s', (_, block) => {
  test(
    'runs as written and exits with code 0',
    async () => {
      const dir = blockDir()
      const file = `block${RUN[block.lang]}`
      fs.writeFileSync(path.join(dir, file), block.code)
      const r = await node([file], dir)
      const said = `${r.stderr}`.trim()
      expect({ code: r.code, signal: r.signal, stderr: said }).toEqual({ code: 0, signal: null, stderr: '' })
    },
    RUN_LIMIT_MS + 30000,
  )
})

const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
const TS_OPTIONS = { strict: true, noEmit: true, target: 'es2022', module: 'nodenext', types: ['node'] }

describe.each(typed.map((b) => [`README.md:${b.line} (${b.lang})`, b]))('%s', (_, block) => {
  test(
    'type-checks with tsc',
    () => {
      const dir = blockDir()
      const file = `block${CHECK[block.lang]}`
      fs.writeFileSync(path.join(dir, file), block.code)
      fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: TS_OPTIONS, files: [file] }))
      const r = cp.spawnSync(process.execPath, [TSC, '-p', dir], { cwd: dir, encoding: 'utf8', timeout: RUN_LIMIT_MS })
      expect({ code: r.status, out: `${r.stdout}${r.stderr}`.trim() }).toEqual({ code: 0, out: '' })
    },
    RUN_LIMIT_MS + 30000,
  )
})
