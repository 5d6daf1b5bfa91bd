'use strict'
// Shared helpers for the benchmarks (bench/*.js) and the tour (examples/tour.js), one module
// per concern:
//   timing.js    the clock, medians, interleave() (contenders in turn: A, B, A, B, ...)
//   bytes.js     bytes views, result checks (`wrong result: ...`), fill patterns
//   format.js    figures and tables
//   report.js    the machine, one row per comparison, the final table and BENCH_JSON line
//   cli.js       the command line, the cases, main()
//   children.js  child processes (spawn, ready handshake, stop) and scratch directories
// Required on their own, by the benchmarks that use those tools: iperf3.js (the loopback limit),
// wrk.js (the HTTP load generator), bun.js (Bun's binary, for its figures).
// Timing uses process.hrtime.bigint(); every figure reported is a median of N repetitions,
// and contenders are run interleaved in one process.

module.exports = {
  ...require('./timing'),
  ...require('./bytes'),
  ...require('./format'),
  ...require('./report'),
  ...require('./cli'),
  ...require('./children'),
  log: (...args) => console.log(...args),
}
