// @ts-check
'use strict'
// abio: move bytes between JavaScript memory, disk and network without copies.
// The public entry: the thin JS layer of lib/ in front of the native binding.
//
// Every export is assigned here by name (`exports.x = …`), a form Node's ESM loader reads
// (cjs-module-lexer does not follow object spreads): `import { readFile } from 'abio'` works,
// and the lib/ helpers the public names are built from do not leak into the namespace. The
// list is exactly what index.d.ts declares (pinned by __test__/exports.test.js).

const bytes = require('./lib/bytes')
const fs = require('./lib/fs')
const packing = require('./lib/pack')
const net = require('./lib/net')
const http = require('./lib/http')
const client = require('./lib/client')
const ws = require('./lib/ws')

exports.writeFile = fs.writeFile
exports.writeFileSync = fs.writeFileSync
exports.readFile = fs.readFile
exports.readFileSync = fs.readFileSync
exports.readFileInto = fs.readFileInto
exports.writeFiles = fs.writeFiles
exports.readFiles = fs.readFiles
exports.open = fs.open
exports.FileHandle = fs.FileHandle
exports.toArrayBuffer = bytes.toArrayBuffer
exports.toBuffer = bytes.toBuffer
exports.pack = packing.pack
exports.packedSize = packing.packedSize
exports.packInto = packing.packInto
exports.unpack = packing.unpack
exports.savePacked = packing.savePacked
exports.loadPacked = packing.loadPacked
exports.connect = net.connect
exports.listen = net.listen
exports.Socket = net.Socket
exports.Server = net.Server
exports.serve = http.serve
exports.HttpServer = http.HttpServer
exports.ServeRequest = http.ServeRequest
exports.request = client.request
exports.download = client.download
exports.WebSocket = ws.WebSocket
exports.connectWebSocket = ws.connectWebSocket
