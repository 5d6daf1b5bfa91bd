#!/usr/bin/env node
'use strict'
// `npm run pack:all`: the two tarballs a user on this machine's platform installs, in dist/:
//   dist/abio-<version>.tgz              the JS package (loader, typings, lib/), no binary
//   dist/abio-<platform>-<version>.tgz   the prebuilt addon for this platform
//
// The release flow napi-rs projects use (and .github/workflows/release.yml runs on every
// platform), done in a staging copy so the repository's package.json stays as it is:
//   1. `npm run build`: the release addon, abio.<platform>.node
//   2. `napi artifacts`: moves it into npm/<platform>/ (made by `napi create-npm-dirs`)
//   3. `napi prepublish`: writes every platform package into `optionalDependencies`
//   4. `npm pack` of the main package and of this platform's package
// The repository's package.json does not list the platform packages itself: until they
// are on the registry, `npm ci` would refuse a lockfile that cannot hold them.
// `--no-build` packs the addon already built (CI downloads it as an artifact).

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')
const dist = path.join(root, 'dist')
const stage = path.join(dist, 'stage')
const { parseTriple } = require('@napi-rs/cli')
const pkg = require('../package.json')
const npmCmd = process.platform === 'win32' ? 'npm.cmd' : 'npm'

/** Runs a command with its output shown, or returned when `capture` is set. */
function run(cmd, args, { cwd = root, capture = false } = {}) {
  console.log(`> ${cmd} ${args.join(' ')}${cwd === root ? '' : `   (in ${path.relative(root, cwd)})`}`)
  const stdio = ['ignore', capture ? 'pipe' : 'inherit', 'inherit']
  const out = execFileSync(cmd, args, { cwd, stdio, shell: process.platform === 'win32' })
  return capture ? out.toString() : ''
}

function writeJson(file, value) {
  fs.writeFileSync(file, JSON.stringify(value, null, 2) + '\n')
}

/** Every built addon: `abio.<platform>.node` in the root (`npm run build`) and under
 * artifacts/ (where CI downloads each platform's build), by napi-rs platform name. */
function builtAddons() {
  const found = new Map()
  const look = (dir, deep) => {
    if (!fs.existsSync(dir)) return
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name)
      if (e.isDirectory() && deep) look(full, deep)
      const m = e.isFile() && /^abio\.(.+)\.node$/.exec(e.name)
      if (m) found.set(m[1], full)
    }
  }
  look(path.join(root, 'artifacts'), true)
  look(root, false)
  return found
}

function main() {
  if (!process.argv.includes('--no-build')) run(npmCmd, ['run', 'build'])
  const byPlatform = new Map(pkg.napi.targets.map((t) => [parseTriple(t).platformArchABI, t]))
  const addons = builtAddons()
  for (const platform of addons.keys()) {
    if (!byPlatform.has(platform)) throw new Error(`abio.${platform}.node is not one of napi.targets`)
    if (!fs.existsSync(path.join(root, 'npm', platform, 'package.json'))) {
      throw new Error(`no npm/${platform} package: run \`npx napi create-npm-dirs\``)
    }
  }
  if (addons.size === 0) throw new Error('no built addon: run `npm run build` (or drop --no-build)')

  fs.rmSync(stage, { recursive: true, force: true })
  fs.mkdirSync(path.join(stage, 'artifacts'), { recursive: true })
  // The main package: exactly what its `files` lists, plus what npm always packs.
  for (const entry of [...pkg.files, 'package.json', 'README.md', 'LICENSE', 'CHANGELOG.md']) {
    fs.cpSync(path.join(root, entry), path.join(stage, entry), { recursive: true })
  }
  fs.cpSync(path.join(root, 'npm'), path.join(stage, 'npm'), { recursive: true })
  for (const [platform, file] of addons) {
    const dir = path.join(stage, 'artifacts', `bindings-${byPlatform.get(platform)}`)
    fs.mkdirSync(dir)
    fs.copyFileSync(file, path.join(dir, `abio.${platform}.node`))
  }

  // `napi artifacts` moves each .node into its npm/<platform> package and `napi prepublish`
  // checks those packages and lists them in optionalDependencies. Both refuse a configured
  // target with no binary, so they see the targets built here (all of them in CI's release).
  const built = [...addons.keys()].map((p) => byPlatform.get(p))
  const stagedJson = path.join(stage, 'package.json')
  writeJson(stagedJson, { ...pkg, napi: { ...pkg.napi, targets: built } })
  run('npx', ['napi', 'artifacts', '--cwd', stage, '--output-dir', 'artifacts', '--npm-dir', 'npm'])
  run('npx', ['napi', 'prepublish', '--cwd', stage, '-t', 'npm', '--skip-optional-publish'])
  // The main tarball names every platform's package, built here or not: it is the one users
  // get, and npm skips the optional packages that do not fit their platform (or, before
  // they are published, do not exist).
  const staged = JSON.parse(fs.readFileSync(stagedJson, 'utf8'))
  const optional = { ...staged.optionalDependencies }
  for (const platform of byPlatform.keys()) optional[`${pkg.name}-${platform}`] ??= pkg.version
  writeJson(stagedJson, { ...staged, napi: pkg.napi, optionalDependencies: optional })

  const made = []
  const dirs = [stage, ...[...addons.keys()].map((p) => path.join(stage, 'npm', p))]
  for (const dir of dirs) {
    const out = run(npmCmd, ['pack', '--json', '--ignore-scripts', '--pack-destination', dist], {
      cwd: dir,
      capture: true,
    })
    made.push(JSON.parse(out)[0])
  }
  fs.rmSync(stage, { recursive: true, force: true })

  console.log(`\noptionalDependencies: ${Object.keys(optional).join(', ')}`)
  for (const info of made) {
    const kib = (info.size / 1024).toFixed(1)
    console.log(`dist/${info.filename}  ${kib} KiB packed, ${info.entryCount} files`)
  }
}

main()
