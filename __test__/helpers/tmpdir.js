'use strict'
// A temp directory per suite: `useTempDir(prefix)` makes it before the suite's tests and removes
// it after them, `tmpDir()` is its path; `tmp(name)` is a fresh path inside it (nothing there
// yet), `freshDir(name)` a fresh, empty sub-directory. Jest loads this module once per suite
// file, so every suite has its own directory and counter.

const fs = require('fs')
const os = require('os')
const path = require('path')

let dir
let seq = 0
let defaultName = 'f'

/**
 * Makes this suite's temp directory before its tests (`prefix` then random characters) and
 * removes it after them; `name` is `tmp()`'s default. Call it at the top of a suite file.
 */
function useTempDir(prefix, name = 'f') {
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
    defaultName = name
  })
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true })
  })
}

/** This suite's temp directory. */
const tmpDir = () => dir

/** A fresh path inside this suite's temp directory (nothing there yet). */
const tmp = (name = defaultName) => path.join(dir, `${name}-${++seq}`)

/** A fresh, empty sub-directory. */
const freshDir = (name = 'd') => {
  const d = tmp(name)
  fs.mkdirSync(d)
  return d
}

module.exports = { useTempDir, tmpDir, tmp, freshDir }
