'use strict'
// Shared fixtures: the published vectors (tests/vectors/wire-v1.json) and a
// scanner that looks for secret bytes in any printable form.
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const crypto = require('node:crypto')

const vectors = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', '..', '..', 'tests', 'vectors', 'wire-v1.json'), 'utf8'),
)

function b64url(buf) {
  return Buffer.from(buf).toString('base64url')
}

// Does `text` (string or bytes) contain `secret` raw, as hex (either case),
// base64 or base64url, or as a 16-byte window of any of those?
function leaks(text, secret) {
  const hay = Buffer.isBuffer(text) || text instanceof Uint8Array ? Buffer.from(text) : Buffer.from(String(text))
  const s = Buffer.from(secret)
  const forms = [s, s.subarray(0, 16), s.subarray(16)]
  for (const f of forms) {
    if (hay.includes(f)) return true
    for (const enc of [f.toString('hex'), f.toString('hex').toUpperCase(), f.toString('base64url').slice(0, 20), f.toString('base64').slice(0, 20)]) {
      if (hay.includes(Buffer.from(enc))) return true
    }
  }
  // Arrays of numbers (e.g. a leaked Uint8Array printed by util.inspect).
  if (hay.toString().includes(Array.from(s.subarray(0, 8)).join(', '))) return true
  return false
}

function tmpDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'azmx-node-test-'))
}

// A key file for a known seed: "AZMXDK01" | seed | sha256(magic | seed)[..8].
function keyFileFor(seed) {
  const magic = Buffer.from('AZMXDK01')
  const sum = crypto.createHash('sha256').update(magic).update(seed).digest().subarray(0, 8)
  return Buffer.concat([magic, seed, sum])
}

// Asserts that `fn` throws (or the promise rejects with) an Error with `code`.
function codeOf(fn) {
  try {
    fn()
  } catch (e) {
    if (!(e instanceof Error)) throw new Error(`not an Error: ${e}`)
    return e
  }
  throw new Error('did not throw')
}

module.exports = { vectors, b64url, leaks, tmpDir, keyFileFor, codeOf }
