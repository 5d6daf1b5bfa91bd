'use strict'
// Bun, the third figure of a benchmark where Bun does the same job (design.md: "Where Bun does
// the same job, benches print its figure too"). Its binary comes from the npm package `bun`
// (its binary is in `@oven/bun-linux-x64`; if npm skipped the postinstall,
// `node node_modules/bun/install.js` links it). Not a dependency of abio: a benchmark that
// finds no Bun leaves its column out and says how to get one.

const fs = require('fs')
const path = require('path')
const { spawnSync } = require('child_process')

const ROOT = path.resolve(__dirname, '..', '..')

/** How to get a Bun binary, for a benchmark's "not found" line. */
const HOW_TO_GET_BUN = 'npm install --no-save bun (or BUN=/path/to/bun)'

/**
 * Bun's binary and version: { bin, version } (version e.g. '1.2.3'), or undefined when no
 * working Bun is found. Looks at $BUN (a path), then node_modules/.bin/bun of the
 * repository, then `bun` on the PATH; each is run once (`bun --version`).
 */
function findBun() {
  const candidates = []
  if (process.env.BUN) candidates.push(process.env.BUN)
  const local = path.join(ROOT, 'node_modules', '.bin', 'bun')
  if (fs.existsSync(local)) candidates.push(local)
  candidates.push('bun')
  for (const bin of candidates) {
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 10000 })
    if (r.error || r.status !== 0) continue
    const version = r.stdout.trim().split('\n')[0]
    if (/^\d+\.\d+/.test(version)) return { bin, version }
  }
  return undefined
}

module.exports = { findBun, HOW_TO_GET_BUN }
