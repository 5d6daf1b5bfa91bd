'use strict'
// abio: move bytes between JavaScript memory, disk and network without copies.
// The public entry: the thin JS layer of lib/ in front of the native binding.

module.exports = {
  ...require('./lib/bytes').public,
  ...require('./lib/fs'),
  ...require('./lib/pack'),
  ...require('./lib/net'),
  ...require('./lib/http'),
}
