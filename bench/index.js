'use strict'
// `npm run bench`: runs every benchmark in bench/ (each bench/*.js but this file and
// the helpers), one after the other, each in its own Node process so that one
// benchmark's heap, threads and page cache do not bleed into the next.
// Arguments are passed through to every benchmark (e.g. `npm run bench -- --quick`).
// The exit code is non-zero if any benchmark failed (a wrong result or a crash;
// a missed target alone is not a failure).

const fs = require('fs')
const path = require('path')
const { spawnSync } = require('child_process')

const HELPERS = new Set(['index.js'])

const benches = fs
  .readdirSync(__dirname)
  .filter((f) => f.endsWith('.js') && !HELPERS.has(f) && !f.startsWith('_'))
  .sort()

const args = process.argv.slice(2)
const failed = []
const t0 = process.hrtime.bigint()
for (const f of benches) {
  console.log(`\n=== bench/${f} ${args.join(' ')}`.trimEnd() + '\n')
  const r = spawnSync(process.execPath, [path.join(__dirname, f), ...args], { stdio: 'inherit' })
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : r.signal ? `signal ${r.signal}` : `exit code ${r.status}`
    console.error(`\n=== bench/${f} failed (${why})`)
    failed.push(f)
  }
}
const secs = Number(process.hrtime.bigint() - t0) / 1e9
console.log(
  `\n=== ${benches.length} benchmark${benches.length === 1 ? '' : 's'} in ${secs.toFixed(1)} s${failed.length ? `; FAILED: ${failed.join(', ')}` : ''}`,
)
process.exitCode = failed.length ? 1 : 0
