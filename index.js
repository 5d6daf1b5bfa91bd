'use strict'
// abio: move bytes between JavaScript memory, disk and network without copies.
// The public entry: the thin JS layer of lib/ in front of the native binding.

const { connect, listen, Socket, Server } = require('./lib/net')
const { WebSocket, connectWebSocket } = require('./lib/ws')

module.exports = {
  ...require('./lib/bytes').public,
  ...require('./lib/fs'),
  ...require('./lib/pack'),
  connect,
  listen,
  Socket,
  Server,
  ...require('./lib/http'),
  ...require('./lib/client'),
  WebSocket,
  connectWebSocket,
}
