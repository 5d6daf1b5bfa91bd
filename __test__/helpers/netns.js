'use strict'
// Network namespaces the tests make, so that traffic to anything but loopback stays inside
// them: `isolated()` is a namespace of its own with only `lo` up (no route out: a connect to
// any other address fails with ENETUNREACH), where a test runs `node` (exec) and may add
// devices and routes (ip). Also the command runners helpers/netem.js builds its link with.
const cp = require('child_process')
const fs = require('fs')
const path = require('path')

const STEP_TIMEOUT_MS = 10000

/** Run a command; its stdout, or an Error carrying its stderr. */
function run(cmd, args) {
  try {
    return cp.execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: STEP_TIMEOUT_MS })
  } catch (e) {
    const said = (e.stderr && String(e.stderr).trim()) || e.message
    throw new Error(`\`${cmd} ${args.join(' ')}\` failed: ${said}`)
  }
}

/** Run a command whose failure does not matter (cleanup of what may not exist). */
function attempt(cmd, args) {
  try {
    run(cmd, args)
    return true
  } catch {
    return false
  }
}

const problem = (e) => e.message.replace(/\s+/g, ' ')

function alive(pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return e.code === 'EPERM'
  }
}

/** Why this process cannot make a network namespace, or null when it can. */
function cannotMakeNamespaces() {
  if (process.platform !== 'linux') return `network namespaces are Linux-only (this is ${process.platform})`
  const uid = process.getuid()
  if (uid !== 0) return `not root (uid ${uid}): network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN`
  try {
    run('ip', ['-V'])
  } catch (e) {
    return `iproute2's \`ip\` is missing (apt-get install iproute2): ${problem(e)}`
  }
  return null
}

let seq = 0
const ETC_NETNS = '/etc/netns'

/** Deletes namespace `name` and its /etc/netns files. */
function removeNamespace(name) {
  attempt('ip', ['netns', 'del', name])
  fs.rmSync(path.join(ETC_NETNS, name), { recursive: true, force: true })
}

/**
 * A new namespace with only loopback up. `exec(args)` runs `node ...args` in it and resolves
 * with `{ code, signal, stdout, stderr }` (killed after `limitMs`; `options` are spawn's, such
 * as `cwd` and `env`); `ip(args)` runs
 * `ip -n <ns> ...args`; `remove()` deletes it (and whatever devices it holds). With `dns`,
 * its resolv.conf (/etc/netns/<name>/resolv.conf, which `ip netns exec` mounts) names
 * 127.0.0.1: a child there answers lookups itself (fixtures/nxdomain.js).
 */
function isolated({ dns = false } = {}) {
  // Namespaces of runs that died are swept by name (they carry the pid).
  for (const line of run('ip', ['netns', 'list']).split('\n')) {
    const m = /^(abio-ns-(\d+)-\d+)\b/.exec(line)
    if (m && !alive(Number(m[2]))) removeNamespace(m[1])
  }
  const name = `abio-ns-${process.pid}-${++seq}`
  run('ip', ['netns', 'add', name])
  try {
    run('ip', ['-n', name, 'link', 'set', 'lo', 'up'])
    if (dns) {
      fs.mkdirSync(path.join(ETC_NETNS, name), { recursive: true })
      fs.writeFileSync(path.join(ETC_NETNS, name, 'resolv.conf'), 'nameserver 127.0.0.1\noptions attempts:1\n')
    }
  } catch (e) {
    removeNamespace(name)
    throw e
  }
  return {
    name,
    ip: (args) => run('ip', ['-n', name, ...args]),
    exec(args, limitMs = 60000, options = {}) {
      return new Promise((resolve) => {
        const child = cp.spawn('ip', ['netns', 'exec', name, process.execPath, ...args], {
          ...options,
          stdio: ['ignore', 'pipe', 'pipe'],
        })
        let stdout = ''
        let stderr = ''
        child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d))
        child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
        const timer = setTimeout(() => child.kill('SIGKILL'), limitMs)
        child.on('close', (code, signal) => {
          clearTimeout(timer)
          resolve({ code, signal, stdout, stderr })
        })
      })
    },
    remove: () => removeNamespace(name),
  }
}

module.exports = { run, attempt, problem, alive, cannotMakeNamespaces, isolated }
