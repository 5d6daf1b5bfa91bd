#!/usr/bin/env node
'use strict'
// `npm run test:install`: abio as a user gets it. `npm run pack:all` writes the two tarballs
// (the JS package and this platform's prebuilt addon) into dist/; then, in a fresh temporary
// directory, with no cargo or rustc on PATH:
//   1. `npm install` of the main tarball alone fails to load with "Cannot find native
//      binding" (what a lockfile that dropped the optional packages gives, npm/cli#4828);
//   2. `npm install` of both tarballs, and a script that uses files, pack, TCP, HTTP and a
//      WebSocket once each, checking every byte, loads the addon from the platform package;
//      an ES module consumer imports the public names by name;
//   3. a TypeScript consumer compiles with `tsc --strict` against the installed typings.
// `--no-pack` uses the tarballs already in dist/.

const { execFileSync, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.join(__dirname, '..')
const dist = path.join(root, 'dist')
const pkg = require('../package.json')
const win = process.platform === 'win32'
const npmCmd = win ? 'npm.cmd' : 'npm'

/** PATH without any directory that holds cargo or rustc: a machine without Rust. */
function pathWithoutRust() {
  const exe = (name) => (win ? [`${name}.exe`, name] : [name])
  return process.env.PATH.split(path.delimiter)
    .filter((dir) => ![...exe('cargo'), ...exe('rustc')].some((f) => fs.existsSync(path.join(dir, f))))
    .join(path.delimiter)
}

const env = { ...process.env, PATH: pathWithoutRust() }
for (const k of Object.keys(env)) {
  // Nothing may point the loader (or npm) back at this repository.
  if (k.startsWith('NAPI_RS_') || k.startsWith('npm_') || k === 'INIT_CWD') delete env[k]
}

function sh(cmd, args, cwd, { allowFail = false } = {}) {
  console.log(`> ${cmd} ${args.join(' ')}`)
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', shell: win, timeout: 180_000 })
  if (r.status !== 0 && !allowFail) {
    process.stdout.write(r.stdout)
    process.stderr.write(r.stderr)
    throw new Error(`${cmd} ${args.join(' ')} failed with exit code ${r.status}`)
  }
  return r
}

/** This machine's platform as napi-rs names its packages (`linux-x64-gnu`, `darwin-arm64`, ...). */
function thisPlatform() {
  const abi =
    process.platform === 'linux'
      ? process.report.getReport().header.glibcVersionRuntime
        ? '-gnu'
        : '-musl'
      : process.platform === 'win32'
        ? '-msvc'
        : ''
  return `${process.platform}-${process.arch}${abi}`
}

/** The main tarball and this platform's, as `npm run pack:all` wrote them. */
function tarballs() {
  const main = path.join(dist, `${pkg.name}-${pkg.version}.tgz`)
  const platform = path.join(dist, `${pkg.name}-${thisPlatform()}-${pkg.version}.tgz`)
  for (const f of [main, platform]) if (!fs.existsSync(f)) throw new Error(`no ${f}: run \`npm run pack:all\``)
  return { main, platform }
}

function freshProject(name) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `abio-${name}-`))
  fs.writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({ name: `abio-${name}`, version: '1.0.0', private: true }, null, 2),
  )
  return dir
}

const install = (dir, specs) => sh(npmCmd, ['install', '--no-audit', '--no-fund', ...specs], dir)

function main() {
  if (!process.argv.includes('--no-pack')) {
    execFileSync(npmCmd, ['run', 'pack:all'], { cwd: root, stdio: 'inherit', shell: win })
  }
  const { main: mainTgz, platform: platformTgz } = tarballs()
  for (const tool of ['cargo', 'rustc']) {
    const found = sh(win ? 'where' : 'sh', win ? [tool] : ['-c', `command -v ${tool}`], root, { allowFail: true })
    if (found.status === 0) throw new Error(`${tool} is still on PATH: ${found.stdout.trim()}`)
  }
  const dirs = []
  try {
    // 1. The main package alone: no binary, and the error says what to do.
    const bare = freshProject('bare')
    dirs.push(bare)
    install(bare, [mainTgz])
    const r = sh(process.execPath, ['-e', "require('abio')"], bare, { allowFail: true })
    if (r.status === 0 || !/Cannot find native binding/.test(r.stderr)) {
      throw new Error(`the main package alone should fail with "Cannot find native binding", got:\n${r.stderr}`)
    }
    console.log('main package alone: "Cannot find native binding", as the README says')

    // 2. Both tarballs (and @types/node for the TypeScript consumer, at the version the
    //    repository tests with): the addon from the platform package, used for real.
    const app = freshProject('app')
    dirs.push(app)
    const typesNode = require('@types/node/package.json').version
    install(app, [mainTgz, platformTgz, `@types/node@${typesNode}`])
    for (const f of ['consumer.js', 'consumer.mjs', 'consumer.ts', 'consumer.mts']) {
      fs.copyFileSync(path.join(__dirname, 'install', f), path.join(app, f))
    }
    const run = sh(process.execPath, ['consumer.js'], app)
    process.stdout.write(run.stdout)
    process.stdout.write(sh(process.execPath, ['consumer.mjs'], app).stdout)

    // 3. tsc --strict against the installed typings (the repository's compiler, the
    //    consumer's node_modules).
    fs.writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          target: 'es2022',
          module: 'nodenext',
          moduleResolution: 'nodenext',
          types: ['node'],
          lib: ['es2022', 'esnext.disposable'],
        },
        files: ['consumer.ts', 'consumer.mts'],
      }),
    )
    const ts = path.dirname(require.resolve('typescript/package.json', { paths: [root] }))
    const tsc = path.join(ts, require(path.join(ts, 'package.json')).bin.tsc)
    sh(process.execPath, [tsc, '-p', 'tsconfig.json'], app)
    console.log('consumer.ts, consumer.mts: tsc --strict passes against the installed typings')
    console.log(
      `\ntest:install ok (${path.basename(mainTgz)} + ${path.basename(platformTgz)}, no cargo or rustc on PATH)`,
    )
  } finally {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true })
  }
}

main()
