'use strict'
// abio: move bytes between JavaScript memory, disk and network without copies.
// The public entry: the thin JS layer of lib/ in front of the native binding.
//
// Every export is named here, one by one, in a literal Node's ESM loader can read
// (cjs-module-lexer does not follow object spreads): `import { readFile } from 'abio'` works,
// and the lib/ helpers the public names are built from do not leak into the namespace. The
// list is exactly what index.d.ts declares (pinned by __test__/exports.test.js).

const { toArrayBuffer, toBuffer } = require('./lib/bytes')
const {
  writeFile,
  writeFileSync,
  readFile,
  readFileSync,
  readFileInto,
  writeFiles,
  readFiles,
  open,
  FileHandle,
} = require('./lib/fs')
const { pack, packedSize, packInto, unpack, savePacked, loadPacked } = require('./lib/pack')
const { connect, listen, Socket, Server } = require('./lib/net')
const { serve, HttpServer, Request } = require('./lib/http')
const { request, download } = require('./lib/client')
const { WebSocket, connectWebSocket } = require('./lib/ws')

module.exports = {
  writeFile,
  writeFileSync,
  readFile,
  readFileSync,
  readFileInto,
  writeFiles,
  readFiles,
  open,
  FileHandle,
  toArrayBuffer,
  toBuffer,
  pack,
  packedSize,
  packInto,
  unpack,
  savePacked,
  loadPacked,
  connect,
  listen,
  Socket,
  Server,
  serve,
  HttpServer,
  Request,
  request,
  download,
  WebSocket,
  connectWebSocket,
}
