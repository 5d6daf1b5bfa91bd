'use strict'
// wrk, the HTTP load generator of the server benchmarks: find it, run it (tracked, so an
// interrupted run ends it), read its report and check it. http:// and https:// alike (the
// Debian build links OpenSSL; it does not verify the server's certificate).

const { spawnSync, execFile } = require('child_process')
const { check } = require('./bytes')
const { fmtInt } = require('./format')

const KiB = 1024
const UNITS = { B: 1, KB: KiB, MB: KiB ** 2, GB: KiB ** 3, TB: KiB ** 4 } // wrk's are binary

/** wrk's version, e.g. 'wrk debian/4.1.0-3+b2', or undefined when there is no wrk. */
function findWrk() {
  const r = spawnSync('wrk', ['-v'], { encoding: 'utf8' })
  if (r.error) return undefined // wrk -v exits with 1: its first line is the version
  return (r.stdout.split('\n')[0] || 'wrk').replace(/\s*\[.*$/, '')
}

/** wrk's report: { requests, bytes (read), rps, socketErrors, non2xx3xx, out }. */
function parseWrk(out, cmd) {
  const done = /(\d+) requests in [\d.]+\w+, ([\d.]+)([KMGT]?B) read/.exec(out)
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out)
  if (!done || !rps) throw new Error(`${cmd}: could not read its report:\n${out}`)
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  const bad = /Non-2xx or 3xx responses: (\d+)/.exec(out)
  return {
    requests: Number(done[1]),
    bytes: Number(done[2]) * UNITS[done[3]],
    rps: Number(rps[1]),
    socketErrors: se ? { connect: +se[1], read: +se[2], write: +se[3], timeout: +se[4] } : null,
    non2xx3xx: bad ? Number(bad[1]) : 0,
    out,
  }
}

/**
 * `wrk -t<threads> -c<connections> -d<seconds>s [-H header ...] <url>`, the child tracked in
 * `children` (a Set, e.g. resources().children) while it runs: resolves with parseWrk()'s report.
 */
function wrk(children, url, { threads, connections, seconds, headers = [] }) {
  const args = ['-t', String(threads), '-c', String(connections), '-d', `${seconds}s`]
  for (const h of headers) args.push('-H', h)
  args.push(url)
  const cmd = `wrk ${args.join(' ')}`
  return new Promise((resolve, reject) => {
    const child = execFile('wrk', args, { encoding: 'utf8', timeout: (seconds + 30) * 1000 }, (err, stdout, stderr) => {
      children.delete(child)
      if (err) reject(new Error(`${cmd}: ${err.message}\n${stdout}${stderr}`))
      else {
        try {
          resolve(parseWrk(stdout, cmd))
        } catch (e) {
          reject(e)
        }
      }
    })
    children.add(child)
  })
}

/**
 * Throws a wrong result unless every request of the wrk run `r` was answered 2xx/3xx without
 * a socket error, and at least (requests x bodySize) bytes were read.
 */
function checkWrk(name, r, bodySize) {
  check(r.requests > 0, `${name}: wrk completed no request`)
  if (r.socketErrors) {
    const e = r.socketErrors
    throw new Error(
      `wrong result: ${name}: wrk saw socket errors: connect ${e.connect}, read ${e.read}, write ${e.write}, timeout ${e.timeout}`,
    )
  }
  check(r.non2xx3xx === 0, `${name}: ${r.non2xx3xx} non-2xx or 3xx responses`)
  // wrk prints what it read rounded to 3 significant digits: allow 1%
  check(
    r.bytes >= 0.99 * r.requests * bodySize,
    `${name}: wrk read ${fmtInt(r.bytes)} bytes for ${r.requests} responses of ${bodySize} bytes`,
  )
}

module.exports = { findWrk, parseWrk, wrk, checkWrk }
