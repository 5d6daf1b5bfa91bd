'use strict'
// What a benchmark reports: the machine, one row per comparison, and the final table with the
// `BENCH_JSON {...}` line (the README's benchmark table is built from it).

const fs = require('fs')
const os = require('os')
const path = require('path')
const { since } = require('./timing')
const { fmtRate, fmtSeconds, fmtRatio, ratio, printTable } = require('./format')

/** The file system type of the mount that holds `dir` (from /proc/mounts), or ''. */
function fsTypeOf(dir) {
  try {
    const real = fs.realpathSync(dir)
    let best = ''
    let type = ''
    for (const line of fs.readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const [, mnt, t] = line.split(' ')
      if (!mnt) continue
      if ((real === mnt || real.startsWith(mnt.endsWith('/') ? mnt : mnt + '/')) && mnt.length >= best.length) {
        best = mnt
        type = t
      }
    }
    return type
  } catch {
    return ''
  }
}

function machineInfo(dir) {
  const cpus = os.cpus()
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    kernel: os.release(),
    cpu: cpus[0] ? cpus[0].model.trim() : 'unknown',
    cores: cpus.length,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    dir: dir ? path.resolve(dir) : undefined,
    fs: dir ? fsTypeOf(dir) : undefined,
  }
}

/** The machine in one phrase: `node v22.1.0, linux-x64, 2 x <cpu>, 8 GiB`. */
function machineLine(info) {
  return `node ${info.node}, ${info.platform}, ${info.cores} x ${info.cpu}, ${info.memGiB} GiB`
}

/**
 * Records one comparison of abio with another contender: adds its row to `rows` (as
 * report() prints them) and prints a line. rate: units of work per second = amount / median
 * seconds; `amount` is bytes (unit GB/s) or a count (files/s, parts/s). abio and other are
 * interleave() results ({ median, times }). otherKey: the other contender's field in the row
 * ('node', 'other'; see report()); otherLabel: its name in the printed line (default: `against`).
 * Optional:
 *   abio: null     abio could not run this case (`abioMissing` says why): the row has the other
 *                  contender's figure, no ratio, and ok: null (neither met nor missed).
 *   limit          { rate, label }: a physical limit measured in the same run (e.g. iperf3 on
 *                  loopback), printed beside the figures (report()'s limit column).
 *   targetNote     how `target` was derived, when it is not a plain constant (e.g. '0.9x iperf3').
 *   target: null   a comparison shown for information, judged against no target.
 *   bun            Bun doing the same job, measured in the same run (an interleave() result,
 *                  as `other`): its figure and abio's ratio to it are printed beside, for
 *                  information (the target is against `other`); report() adds its columns.
 *   info           { [key]: number | string }: further figures of the row for tools (e.g. the
 *                  servers' peak RSS), kept in the row and written to BENCH_JSON as `info`.
 */
function record(
  rows,
  { id, work, against, unit, amount, abio: a, other: o, target, reps, limit, targetNote, abioMissing, bun, info },
  { otherKey, otherLabel },
) {
  const abioRate = a ? amount / a.median : NaN
  const otherRate = amount / o.median
  const r = a ? ratio(a.median, o.median) : NaN
  const row = {
    case: id,
    work,
    against,
    unit,
    reps,
    abio: a ? { rate: abioRate, medianSeconds: a.median, times: a.times } : null,
    [otherKey]: { rate: otherRate, medianSeconds: o.median, times: o.times },
    ratio: r,
    target,
    ok: a && target !== null ? r >= target : null,
  }
  if (targetNote) row.targetNote = targetNote
  if (info) row.info = info
  if (limit) row.limit = { rate: limit.rate, label: limit.label }
  if (bun) {
    row.bun = { rate: amount / bun.median, medianSeconds: bun.median, times: bun.times }
    row.bunRatio = a ? ratio(a.median, bun.median) : NaN
  }
  rows.push(row)
  const abioPart = a
    ? `abio ${fmtRate(abioRate, unit)} (median ${fmtSeconds(a.median)})`
    : `abio n/a (${abioMissing || 'not run'})`
  const limitPart = limit ? `; ${limit.label} ${fmtRate(limit.rate, unit)}` : ''
  const bunPart = row.bun
    ? `; bun ${fmtRate(row.bun.rate, unit)} (median ${fmtSeconds(bun.median)}${a ? `, abio/bun ${fmtRatio(row.bunRatio)}` : ''})`
    : ''
  const targetPart = target === null ? 'no target' : `target >= ${target}x${targetNote ? ` = ${targetNote}` : ''}`
  console.log(
    `  ${work} vs ${against}: ${abioPart}, ` +
      `${otherLabel ?? against} ${fmtRate(otherRate, unit)} (median ${fmtSeconds(o.median)})${limitPart}${bunPart} -> ${fmtRatio(r)} ` +
      `(${targetPart}; ${reps} reps)${row.ok === false ? '  MISSED' : ''}`,
  )
  return row
}

/**
 * Prints the end of a benchmark run: `header` with the total time since `started`, the table
 * of `rows`, the MISSED / all met summary, one line per error, and last the `BENCH_JSON {...}`
 * line for tools. rows, errors and started are what runCases() returns. Sets the exit code:
 * 1 when a case failed (a wrong result or a crash), else 0; a missed target is reported, not
 * failed.
 * rows: as record() makes them, { case, work, against, unit, reps, abio, [otherKey], ratio,
 * target, ok } with abio and [otherKey] = { rate, medianSeconds }, or { case, work, error }.
 * A row may have abio: null (abio did not run: no ratio, counted neither met nor missed) and
 * a limit ({ rate, label }): then the table has a `limitTitle` column (default 'limit').
 * otherKey: the name of the contender abio is compared with ('node', 'other'): its field in
 * the rows, its column title, and its fields in BENCH_JSON (`${otherKey}`, `${otherKey}MedianSeconds`).
 * Rows with a Bun figure (record()'s `bun`) add the columns `bun` and `abio/bun` (information,
 * not judged), and `bun`, `bunMedianSeconds`, `bunRatio` in BENCH_JSON; rows with record()'s
 * `info` add it to BENCH_JSON as it is.
 */
function report({ bench, header, otherKey, quick, machine, limitTitle = 'limit', rows, errors, started }) {
  const log = (...args) => console.log(...args)
  log(`\n${header}; total ${fmtSeconds(since(started))}\n`)
  const withLimit = rows.some((r) => r.limit)
  const withBun = rows.some((r) => r.bun)
  const table = rows.map((r) => {
    const cells = r.error
      ? [r.work, '—', '—', '—', '—', 'ERROR']
      : [
          `${r.work} vs ${r.against}`,
          r.abio ? fmtRate(r.abio.rate, r.unit) : '—',
          fmtRate(r[otherKey].rate, r.unit),
          r.abio ? fmtRatio(r.ratio) : '—',
          r.target === null ? '-' : `>= ${r.target}x${r.targetNote ? ` (${r.targetNote})` : ''}`,
          r.ok === null ? (r.abio ? 'info' : 'no abio') : r.ok ? 'ok' : 'MISSED',
        ]
    if (withLimit) cells.splice(3, 0, r.limit ? fmtRate(r.limit.rate, r.unit) : '—')
    if (withBun) {
      const bunCells = r.bun ? [fmtRate(r.bun.rate, r.unit), r.abio ? fmtRatio(r.bunRatio) : '—'] : ['—', '—']
      cells.splice(cells.length - 2, 0, ...bunCells)
    }
    return cells
  })
  const columns = [
    { title: 'work' },
    { title: 'abio', align: 'right' },
    { title: otherKey, align: 'right' },
    { title: 'ratio', align: 'right' },
    { title: 'target', align: 'right' },
    { title: 'ok?' },
  ]
  if (withLimit) columns.splice(3, 0, { title: limitTitle, align: 'right' })
  if (withBun)
    columns.splice(columns.length - 2, 0, { title: 'bun', align: 'right' }, { title: 'abio/bun', align: 'right' })
  printTable(columns, table)
  const judged = rows.filter((r) => !r.error && r.ok !== null)
  const missed = judged.filter((r) => !r.ok).length
  const unjudged = rows.filter((r) => !r.error && r.ok === null && !r.abio).length
  log('')
  if (missed) log(`MISSED: ${missed} of ${judged.length} targets`)
  else if (judged.length) log(`all ${judged.length} targets met`)
  if (unjudged) log(`not judged: ${unjudged} row${unjudged === 1 ? '' : 's'} without an abio figure`)
  for (const e of errors) log(`ERROR: ${e.case}: ${e.error && e.error.message ? e.error.message : e.error}`)

  const perSecond = (r, rate) => (r.unit === 'GB/s' ? rate / 1e9 : rate)
  const json = {
    bench,
    quick,
    machine,
    results: rows.map((r) =>
      r.error
        ? { case: r.case, error: r.error }
        : {
            case: r.case,
            work: r.work,
            against: r.against,
            unit: r.unit,
            reps: r.reps,
            abio: r.abio ? perSecond(r, r.abio.rate) : null,
            [otherKey]: perSecond(r, r[otherKey].rate),
            ...(r.limit ? { limit: perSecond(r, r.limit.rate), limitLabel: r.limit.label } : {}),
            abioMedianSeconds: r.abio ? r.abio.medianSeconds : null,
            [`${otherKey}MedianSeconds`]: r[otherKey].medianSeconds,
            ratio: r.abio ? r.ratio : null,
            target: r.target,
            ...(r.targetNote ? { targetNote: r.targetNote } : {}),
            ok: r.ok,
            ...(r.bun
              ? {
                  bun: perSecond(r, r.bun.rate),
                  bunMedianSeconds: r.bun.medianSeconds,
                  bunRatio: r.abio ? r.bunRatio : null,
                }
              : {}),
            ...(r.info ? { info: r.info } : {}),
          },
    ),
  }
  log(`BENCH_JSON ${JSON.stringify(json)}`)
  process.exitCode = errors.length ? 1 : 0
}

/**
 * record() bound to `rows`, for comparisons that carry the other contender's interleave()
 * result in the field named `otherKey` ('node', 'ws', 'other').
 */
function recorder(rows, { otherKey, otherLabel }) {
  return ({ [otherKey]: other, ...comparison }) => record(rows, { ...comparison, other }, { otherKey, otherLabel })
}

module.exports = { machineInfo, machineLine, record, recorder, report }
