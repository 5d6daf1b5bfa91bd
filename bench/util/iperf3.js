'use strict'
// iperf3, the loopback limit a TCP benchmark measures in the same run as its contenders.

const fs = require('fs')
const net = require('net')
const { once } = require('events')
const { spawnSync, execFile } = require('child_process')
const { now, since } = require('./timing')
const { check } = require('./bytes')
const { fmtRate } = require('./format')

const HOST = '127.0.0.1'

/** iperf3's version, e.g. 'iperf 3.12', or undefined when there is no iperf3. */
function findIperf3() {
  const r = spawnSync('iperf3', ['--version'], { encoding: 'utf8' })
  if (r.error || r.status !== 0) return undefined
  return (r.stdout.split('\n')[0] || 'iperf3').replace(/\s*\(.*$/, '')
}

/** A port free on 127.0.0.1 right now. */
async function freePort() {
  const srv = net.createServer()
  srv.listen(0, HOST)
  await once(srv, 'listening')
  const { port } = srv.address()
  srv.close()
  await once(srv, 'close')
  return port
}

/** Resolves once something listens on 127.0.0.1:port (from /proc/net/tcp, without connecting). */
async function waitListening(port, exited) {
  const key = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`
  let gone = false
  exited.then(() => (gone = true))
  const t0 = now()
  for (;;) {
    const lines = fs.readFileSync('/proc/net/tcp', 'utf8').split('\n')
    if (lines.some((l) => l.includes(` ${key} `) && l.split(/\s+/)[4] === '0A')) return
    if (gone) throw new Error('the iperf3 server ended before listening')
    if (since(t0) > 10) throw new Error(`the iperf3 server is not listening on ${port} after 10 s`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/**
 * One iperf3 run: a one-off server (`iperf3 -s -1`, a child of `run`, a resources()) and
 * `iperf3 -c 127.0.0.1 -l <chunk> -n <bytes> -J` (`-Z`: sendfile). Resolves with { bytes, rate }
 * of the sender, as iperf3 reports them.
 */
async function iperf3(run, bytes, { chunk, zerocopy = false }) {
  const port = await freePort()
  const server = run.spawn('iperf3', ['-s', '-1', '-p', String(port), '-B', HOST], { stdio: 'ignore' })
  try {
    await waitListening(port, server.exited)
    const args = ['-c', HOST, '-p', String(port), '-l', String(chunk), '-n', String(bytes), '-J']
    if (zerocopy) args.push('-Z')
    const stdout = await new Promise((resolve, reject) => {
      execFile('iperf3', args, { maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, out) => {
        let why = err && err.message
        try {
          const j = JSON.parse(out)
          if (j.error) why = j.error
        } catch {}
        if (why) reject(new Error(`iperf3 ${args.join(' ')}: ${why}`))
        else resolve(out)
      })
    })
    const sent = JSON.parse(stdout).end.sum_sent
    const got = { bytes: sent.bytes, rate: sent.bits_per_second / 8 }
    const done = await Promise.race([server.exited, new Promise((resolve) => setTimeout(resolve, 5000, null))])
    if (!done) throw new Error('the iperf3 server did not end after its one test')
    return got
  } finally {
    server.kill('SIGTERM') // a no-op once it has ended
  }
}

/**
 * The iperf3 contender of interleave() (options as iperf3()'s, and `verbose`: print each
 * repetition's rate): run() returns iperf3's own report, checked, and the figures are iperf3's
 * sender rates (not the wall time of starting two processes): bytes / rate.
 */
function iperf3Contender(run, bytes, { verbose, ...options }) {
  return {
    run: () => iperf3(run, bytes, options),
    after(rep, got) {
      check(got.bytes >= bytes, `iperf3 sent ${got.bytes} bytes, expected ${bytes}`)
      if (rep >= 0 && verbose)
        console.log(`    rep ${rep + 1} iperf3: ${fmtRate(got.rate, 'GB/s')} (its sender's figure)`)
    },
    figure: (got) => bytes / got.rate,
  }
}

module.exports = { findIperf3, iperf3, iperf3Contender }
