'use strict'
// A network namespace joined to this one by an impaired point-to-point link, for tests that
// need TCP to meet real packet loss, delay and reordering. Each direction gets netem's
// `delay 2ms loss 0.5% reorder 25% 50%` by default.
//
// The link is made the first way that works (ABIO_NETEM=netem|wire|veth forces one, =off skips):
//   netem  a veth pair with `tc qdisc add ... root netem` on both ends (the kernel's sch_netem)
//   wire   two TUN devices joined by fixtures/netem-wire.pl, a userspace copy of netem's loss,
//          reorder and delay model, for kernels built without sch_netem (e.g. microVM guests
//          with CONFIG_NET_SCH_NETEM unset and no loadable modules)
//   veth   a plain veth pair, no impairment (only when forced: tells a plumbing problem from
//          an impairment one)
//
// probe() is synchronous and cheap (a throwaway namespace, some tens of ms), so a test file can
// pick `describe` or `describe.skip` at load time and print why. probe().setup() builds the
// link; teardown() ends every process it started and deletes every device and namespace it
// made, also after a failed setup. setup() first deletes what runs that died left behind
// (names carry the pid).
const cp = require('child_process')
const fs = require('fs')
const path = require('path')
const readline = require('readline')
const { run, attempt, problem, alive, cannotMakeNamespaces } = require('./netns')

const WIRE = path.join(__dirname, '..', 'fixtures', 'netem-wire.pl')
const DEFAULTS = { delayMs: 2, lossPct: 0.5, reorderPct: 25, reorderCorrPct: 50 }
const STEP_TIMEOUT_MS = 10000

/** `tc netem` arguments for one direction. */
function netemArgs(p) {
  return [
    'netem',
    'delay',
    `${p.delayMs}ms`,
    'loss',
    `${p.lossPct}%`,
    'reorder',
    `${p.reorderPct}%`,
    `${p.reorderCorrPct}%`,
  ]
}

/** Names and addresses unique to this process: two /32 peers, from the pid (pids are < 2^22). */
function namesFor(pid) {
  const a = (pid >> 16) & 0x3f
  const bc = `${(pid >> 8) & 0xff}.${pid & 0xff}`
  return {
    nsName: `abio-netem-${pid}`,
    hostIf: `abn${pid}h`,
    nsIf: `abn${pid}n`,
    hostAddr: `10.${128 + a}.${bc}`,
    nsAddr: `10.${192 + a}.${bc}`,
  }
}

/** Delete the namespaces and devices of runs whose process is gone. */
function sweepStale() {
  for (const line of run('ip', ['netns', 'list']).split('\n')) {
    const m = /^(abio-(?:netem|probe)-(\d+))\b/.exec(line)
    if (m && !alive(Number(m[2]))) attempt('ip', ['netns', 'del', m[1]])
  }
  for (const line of run('ip', ['-o', 'link', 'show']).split('\n')) {
    const m = /^\d+:\s+(abn(\d+)[hn])[@:]/.exec(line)
    if (m && !alive(Number(m[2]))) attempt('ip', ['link', 'del', m[1]])
  }
}

function unavailable(reason) {
  return { available: false, reason, mode: null, description: null, setup: null }
}

/**
 * Can this process build the link, and how? Synchronous.
 * @returns {{available: boolean, reason?: string, note?: string, mode: 'netem'|'wire'|'veth'|null,
 *            description: string|null, setup: null | ((options?: object) => Promise<Lab>)}}
 */
function probe() {
  const want = (process.env.ABIO_NETEM || 'auto').toLowerCase()
  if (!['auto', 'netem', 'wire', 'veth', 'off'].includes(want))
    return unavailable(`ABIO_NETEM=${want} is not one of auto, netem, wire, veth, off`)
  if (want === 'off') return unavailable('ABIO_NETEM=off')
  const cannot = cannotMakeNamespaces()
  if (cannot) return unavailable(cannot)

  const ns = `abio-probe-${process.pid}`
  try {
    run('ip', ['netns', 'add', ns])
  } catch (e) {
    return unavailable(`cannot create a network namespace: ${problem(e)}`)
  }
  const problems = []
  let mode = null
  try {
    try {
      run('ip', ['-n', ns, 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p1'])
    } catch (e) {
      problems.push(`no veth pairs: ${problem(e)}`)
    }
    if (want === 'veth' && !problems.length) mode = 'veth'
    if (!mode && (want === 'auto' || want === 'netem') && !problems.length) {
      try {
        run('tc', ['-n', ns, 'qdisc', 'add', 'dev', 'p0', 'root', ...netemArgs(DEFAULTS)])
        mode = 'netem'
      } catch (e) {
        problems.push(`no tc netem: ${problem(e)} (the kernel needs sch_netem, CONFIG_NET_SCH_NETEM)`)
      }
    }
    if (!mode && (want === 'auto' || want === 'wire')) {
      try {
        fs.accessSync('/dev/net/tun', fs.constants.R_OK | fs.constants.W_OK)
        run('ip', ['-n', ns, 'tuntap', 'add', 'dev', 'pt', 'mode', 'tun'])
        run('perl', ['-MTime::HiRes', '-e', '1'])
        mode = 'wire'
      } catch (e) {
        problems.push(`no userspace wire either: ${problem(e)}`)
      }
    }
  } finally {
    attempt('ip', ['-n', ns, 'link', 'del', 'pt'])
    attempt('ip', ['netns', 'del', ns])
  }
  if (!mode) return unavailable(problems.join('; '))

  const p = DEFAULTS
  const model = `${p.delayMs} ms delay, ${p.lossPct}% loss, ${p.reorderPct}% reordered (${p.reorderCorrPct}% correlated) each way`
  const description = {
    netem: `tc netem on a veth pair: ${model}`,
    wire: `a userspace netem (TUN devices + netem-wire.pl): ${model}`,
    veth: 'a plain veth pair, no impairment (ABIO_NETEM=veth)',
  }[mode]
  return {
    available: true,
    mode,
    description,
    note: problems.length ? problems.join('; ') : undefined,
    setup: (options) => setup(mode, options),
  }
}

/** Build the namespace and the link. Tears down what it made if any step fails. */
async function setup(mode, options = {}) {
  const params = { ...DEFAULTS, ...options }
  sweepStale()
  const lab = new Lab(mode, params, namesFor(process.pid))
  try {
    await lab.start()
  } catch (e) {
    await lab.teardown().catch(() => {})
    throw e
  }
  return lab
}

class Lab {
  constructor(mode, params, names) {
    this.mode = mode
    this.params = params
    Object.assign(this, names) // nsName, hostIf, nsIf, hostAddr, nsAddr
    this.children = new Set()
    this.wire = null
    this.wireLines = null
    this.wireStderr = '' // what netem-wire.pl said on stderr: nothing, when all is well
    this.tornDown = null
  }

  async start() {
    const { nsName, hostIf, nsIf, hostAddr, nsAddr } = this
    run('ip', ['netns', 'add', nsName])
    run('ip', ['-n', nsName, 'link', 'set', 'lo', 'up'])
    if (this.mode === 'wire') {
      await this.startWire()
      run('ip', ['link', 'set', nsIf, 'netns', nsName])
    } else {
      run('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf, 'netns', nsName])
    }
    run('ip', ['addr', 'add', hostAddr, 'peer', nsAddr, 'dev', hostIf])
    run('ip', ['-n', nsName, 'addr', 'add', nsAddr, 'peer', hostAddr, 'dev', nsIf])
    if (this.mode === 'netem') {
      run('tc', ['qdisc', 'add', 'dev', hostIf, 'root', ...netemArgs(this.params)])
      run('tc', ['-n', nsName, 'qdisc', 'add', 'dev', nsIf, 'root', ...netemArgs(this.params)])
    }
    run('ip', ['link', 'set', hostIf, 'up'])
    run('ip', ['-n', nsName, 'link', 'set', nsIf, 'up'])
  }

  async startWire() {
    const p = this.params
    const args = [WIRE, this.hostIf, this.nsIf, p.delayMs, p.lossPct, p.reorderPct, p.reorderCorrPct, process.pid]
    const wire = cp.spawn('perl', args.map(String), { stdio: ['pipe', 'pipe', 'pipe'] })
    this.wire = wire
    wire.stderr.setEncoding('utf8').on('data', (d) => (this.wireStderr += d))
    this.wireLines = readline.createInterface({ input: wire.stdout })[Symbol.asyncIterator]()
    const exited = new Promise((resolve) => wire.once('exit', resolve))
    let timer
    const first = await Promise.race([
      this.wireLines.next(),
      exited.then(() => ({ value: null })),
      new Promise((resolve) => (timer = setTimeout(resolve, STEP_TIMEOUT_MS, { value: null }))),
    ]).finally(() => clearTimeout(timer))
    if (!first.value || !JSON.parse(first.value).ready)
      throw new Error(
        `netem-wire.pl did not start: ${this.wireStderr.trim() || 'no output within ' + STEP_TIMEOUT_MS + ' ms'}`,
      )
  }

  /**
   * Spawn `node ...args` inside the namespace (stdio piped). teardown() kills it if still running.
   * @param {string[]} args
   * @param {import('child_process').SpawnOptions} [options]
   */
  exec(args, options = {}) {
    const child = cp.spawn('ip', ['netns', 'exec', this.nsName, process.execPath, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...options,
    })
    this.children.add(child)
    child.once('exit', () => this.children.delete(child))
    return child
  }

  /** What the impairment did so far: {packets, dropped, early?} over both directions. */
  async stats() {
    if (this.mode === 'wire') {
      this.wire.stdin.write('stats\n')
      const { value } = await this.wireLines.next()
      return JSON.parse(value)
    }
    if (this.mode === 'netem') {
      const total = { packets: 0, dropped: 0 }
      for (const args of [
        ['-s', 'qdisc', 'show', 'dev', this.hostIf],
        ['-n', this.nsName, '-s', 'qdisc', 'show', 'dev', this.nsIf],
      ]) {
        const m = /Sent \d+ bytes (\d+) pkt \(dropped (\d+)/.exec(run('tc', args))
        if (m) {
          total.packets += Number(m[1])
          total.dropped += Number(m[2])
        }
      }
      return total
    }
    return {}
  }

  /** What of ours still exists: namespace, host-side device. */
  leftovers() {
    const left = []
    if (
      run('ip', ['netns', 'list'])
        .split('\n')
        .some((l) => l.split(' ')[0] === this.nsName)
    )
      left.push(`namespace ${this.nsName}`)
    if (attempt('ip', ['link', 'show', 'dev', this.hostIf])) left.push(`device ${this.hostIf}`)
    for (const c of this.children) left.push(`process ${c.pid} in the namespace`)
    if (this.wire && this.wire.exitCode === null && this.wire.signalCode === null)
      left.push(`netem-wire.pl (pid ${this.wire.pid})`)
    return left
  }

  /** Idempotent. Resolves once nothing of ours is left; rejects naming what is. */
  teardown() {
    if (!this.tornDown) this.tornDown = this.doTeardown()
    return this.tornDown
  }

  async doTeardown() {
    const gone = (child) =>
      child.exitCode !== null || child.signalCode !== null
        ? Promise.resolve()
        : new Promise((resolve) => {
            const t = setTimeout(resolve, 3000)
            child.once('exit', () => {
              clearTimeout(t)
              resolve()
            })
          })
    const children = [...this.children]
    for (const c of children) c.kill('SIGKILL')
    await Promise.all(children.map(gone))
    if (this.wire) {
      this.wire.stdin.end() // the wire exits at EOF; the kernel then removes both TUN devices
      const w = gone(this.wire)
      setTimeout(() => this.wire.kill('SIGKILL'), 1000).unref()
      await w
    }
    // Deleting one end of a veth pair deletes both; a deleted namespace may take a moment to
    // release the devices in it, so the host end goes first, explicitly.
    attempt('ip', ['link', 'del', this.hostIf])
    attempt('ip', ['netns', 'del', this.nsName])
    const left = this.leftovers()
    if (left.length) throw new Error(`netem teardown left behind: ${left.join(', ')}`)
  }
}

module.exports = { probe, namesFor }
