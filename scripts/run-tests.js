#!/usr/bin/env node
'use strict'
// `npm test`: everything, in the order design.md section 1 lists. Each step stops the run
// on failure with its exit code.
//   1. a release build if src/, crates/ or the Cargo files are newer than the .node
//   2. cargo test --workspace
//   3. jest --runInBand
//   4. tsc --noEmit over __test__/types.ts against index.d.ts
//   5. tsc over lib/*.js and index.js (`// @ts-check`) against the generated binding.d.ts

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')

function newest(p) {
  const st = fs.statSync(p)
  if (!st.isDirectory()) return st.mtimeMs
  let m = st.mtimeMs
  for (const e of fs.readdirSync(p)) {
    if (e === 'target' || e === 'node_modules') continue
    m = Math.max(m, newest(path.join(p, e)))
  }
  return m
}

function addonTime() {
  const found = fs.readdirSync(root).filter((f) => f.startsWith('abio.') && f.endsWith('.node'))
  return found.length ? Math.min(...found.map((f) => fs.statSync(path.join(root, f)).mtimeMs)) : -1
}

function run(cmd, args) {
  console.log(`\n> ${cmd} ${args.join(' ')}`)
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' })
  if (r.status !== 0) process.exit(r.status ?? 1)
}

const sources = ['src', 'crates', 'Cargo.toml', 'Cargo.lock', 'build.rs']
  .map((p) => path.join(root, p))
  .filter(fs.existsSync)
if (addonTime() < Math.max(...sources.map(newest))) run('npm', ['run', 'build'])
else console.log('addon is up to date')

run('cargo', ['test', '--workspace'])
run('npx', ['jest', '--runInBand', ...process.argv.slice(2)])
run('npx', ['tsc', '--noEmit', '-p', '__test__'])
run('npx', ['tsc', '-p', 'tsconfig.lib.json'])
