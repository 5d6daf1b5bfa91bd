'use strict'
// `jest --detectOpenHandles` is quiet after a test closes everything it opened (issue 16).
// Jest's collectHandles lists every async resource made from a test that is not destroyed
// when the run ends, unless the resource's `hasRef()` says it does not hold the event loop.
// abio's one thread-safe function per environment lives as long as the environment: its
// async resource answers `hasRef()` with whether a socket, server or connect holds the loop
// (src/runtime/js.rs). napi-rs's `CustomGC` function is made unref'd and jest (>= 30.5)
// skips it by name.
// Each case runs jest in a child process over one fixture test file (fixtures/open-handles/).
const cp = require('child_process')
const path = require('path')

const FIX = path.join(__dirname, 'fixtures', 'open-handles')
const JEST = require.resolve('jest/bin/jest')

/** Runs jest --detectOpenHandles over one fixture file; returns its exit status and output. */
function jestOver(file) {
  const config = { rootDir: FIX, testMatch: [`<rootDir>/${file}`], testEnvironment: 'node' }
  const r = cp.spawnSync(
    process.execPath,
    [JEST, '--detectOpenHandles', '--ci', '--no-watchman', '--colors=false', '--config', JSON.stringify(config)],
    { cwd: FIX, encoding: 'utf8', timeout: 120000, env: { ...process.env, FORCE_COLOR: '0' } },
  )
  return { status: r.status, error: r.error && r.error.message, output: `${r.stdout}\n${r.stderr}` }
}

test('a test file that closes what it opened leaves no open handle', () => {
  const run = jestOver('closed.js')
  expect({ status: run.status, error: run.error }).toEqual({ status: 0, error: undefined })
  expect(run.output).toMatch(/Tests:\s+4 passed, 4 total/)
  expect(run.output).not.toMatch(/open handle/i)
  expect(run.output).not.toMatch(/●\s+(abio|CustomGC)\b/)
}, 180000)

test('a server left listening is still reported, as abio', () => {
  const run = jestOver('left-open.js')
  expect({ status: run.status, error: run.error }).toEqual({ status: 0, error: undefined })
  expect(run.output).toMatch(/Tests:\s+1 passed, 1 total/)
  expect(run.output).toMatch(/detected the following 1 open handle/)
  expect(run.output).toMatch(/●\s+abio\b/)
}, 180000)
