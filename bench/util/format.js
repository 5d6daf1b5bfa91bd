'use strict'
// Formatting of figures and tables.

function fmtInt(n) {
  return Math.round(n).toLocaleString('en-US')
}

function humanBytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  while (n >= 1024 && i < units.length - 1 && n % 1024 === 0) {
    n /= 1024
    i++
  }
  return `${n} ${units[i]}`
}

/** 3 significant digits, e.g. 1.23, 12.3, 123. */
function sig3(x) {
  if (!Number.isFinite(x)) return String(x)
  if (x >= 100) return x.toFixed(0)
  if (x >= 10) return x.toFixed(1)
  return x.toFixed(2)
}

/**
 * A rate with its unit: fmtRate(2.5e9, 'GB/s') -> '2.50 GB/s' (bytes per second in,
 * decimal GB out); fmtRate(123456, 'files/s') -> '123 k files/s'.
 */
function fmtRate(perSecond, unit) {
  if (!Number.isFinite(perSecond)) return 'n/a'
  if (unit === 'GB/s') return `${sig3(perSecond / 1e9)} GB/s`
  if (unit === 'MB/s') return `${sig3(perSecond / 1e6)} MB/s`
  if (perSecond >= 1e6) return `${sig3(perSecond / 1e6)} M ${unit}`
  if (perSecond >= 1e3) return `${sig3(perSecond / 1e3)} k ${unit}`
  return `${sig3(perSecond)} ${unit}`
}

function fmtSeconds(s) {
  if (!Number.isFinite(s)) return 'n/a'
  if (s >= 1) return `${s.toFixed(2)} s`
  if (s >= 1e-3) return `${(s * 1e3).toFixed(2)} ms`
  return `${(s * 1e6).toFixed(1)} µs`
}

function fmtRatio(r) {
  if (!Number.isFinite(r)) return 'n/a'
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}x`
}

/**
 * ratio of throughputs, abio / node (higher = abio faster), from median times
 * of the same amount of work: node seconds / abio seconds.
 */
function ratio(abioSeconds, nodeSeconds) {
  return nodeSeconds / abioSeconds
}

/**
 * Prints an aligned table.
 * columns: [{ title, align?: 'left' | 'right' }]; rows: arrays of strings.
 */
function printTable(columns, rows, { indent = '', write = (s) => process.stdout.write(s) } = {}) {
  const widths = columns.map((c, i) => Math.max(strWidth(c.title), ...rows.map((r) => strWidth(String(r[i] ?? '')))))
  const cell = (s, i) => {
    s = String(s ?? '')
    const pad = ' '.repeat(widths[i] - strWidth(s))
    return columns[i].align === 'right' ? pad + s : s + pad
  }
  const line = (cells) => indent + '| ' + cells.map(cell).join(' | ') + ' |\n'
  let out = line(columns.map((c) => c.title))
  out +=
    indent +
    '|' +
    widths.map((w, i) => (columns[i].align === 'right' ? '-'.repeat(w + 1) + ':' : '-'.repeat(w + 2))).join('|') +
    '|\n'
  for (const r of rows) out += line(r)
  write(out)
}

// printable width: counts code points (the tables only hold plain text, ✓, µ, ×)
function strWidth(s) {
  let n = 0
  for (const _ of s) n++
  return n
}

function padRight(s, w) {
  s = String(s)
  return s + ' '.repeat(Math.max(0, w - strWidth(s)))
}

function padLeft(s, w) {
  s = String(s)
  return ' '.repeat(Math.max(0, w - strWidth(s))) + s
}

module.exports = { fmtInt, humanBytes, sig3, fmtRate, fmtSeconds, fmtRatio, ratio, printTable, padRight, padLeft }
