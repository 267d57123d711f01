'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const util = require('node:util')

const { DeviceIdentity, verifySigned, fingerprintOf, sha256Hex } = require('..')
const { vectors, leaks, tmpDir, keyFileFor, codeOf } = require('./helpers')

const dir = tmpDir()
test.after(() => fs.rmSync(dir, { recursive: true, force: true }))

test('loadOrCreate creates a 0600 key file and reloads the same identity', () => {
  const p = path.join(dir, 'device.key')
  const id = DeviceIdentity.loadOrCreate(p)
  assert.ok(id instanceof DeviceIdentity)
  const st = fs.statSync(p)
  assert.equal(st.mode & 0o777, 0o600)
  assert.equal(st.size, 48)
  assert.match(id.publicKey(), /^[A-Za-z0-9_-]{43}$/)
  assert.match(id.fingerprint(), /^[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}$/)
  const again = DeviceIdentity.loadOrCreate(p)
  assert.equal(again.publicKey(), id.publicKey())
  assert.equal(DeviceIdentity.load(p).publicKey(), id.publicKey())
  assert.equal(fingerprintOf(id.publicKey()), id.fingerprint())
})

test('sign and verifySigned: ok, skew, bad signature, malformed', () => {
  const id = DeviceIdentity.loadOrCreate(path.join(dir, 'sign.key'))
  const now = Math.floor(Date.now() / 1000)
  const sha = sha256Hex(Buffer.from('blob'))
  const canonical = `push|dev_1|7|${sha}|${now}`
  const sig = id.signCanonical(canonical)
  assert.match(sig, /^[A-Za-z0-9_-]{86}$/)
  assert.deepEqual({ ...verifySigned(id.publicKey(), canonical, sig) }, { verb: 'push', deviceId: 'dev_1', ts: now })
  assert.equal(verifySigned(id.publicKey(), canonical, sig, now + 300, 300).verb, 'push')
  let e = codeOf(() => verifySigned(id.publicKey(), canonical, sig, now + 301))
  assert.equal(e.code, 'CLOCK_SKEW')
  assert.equal(e.skewSecs, -301)
  assert.equal(e.maxSecs, 300)
  e = codeOf(() => verifySigned(id.publicKey(), canonical, sig, now - 301, 300))
  assert.equal(e.skewSecs, 301)
  assert.equal(codeOf(() => verifySigned(id.publicKey(), `push|dev_1|8|${sha}|${now}`, sig, now)).code, 'BAD_SIGNATURE')
  assert.equal(codeOf(() => verifySigned(vectors.signature[0].public_key_b64u, canonical, sig, now)).code, 'BAD_SIGNATURE')
  assert.equal(codeOf(() => verifySigned(id.publicKey(), canonical, 'AAAA', now)).code, 'BAD_SIGNATURE')
  e = codeOf(() => verifySigned('not-a-key', canonical, sig, now))
  assert.equal(e.code, 'MALFORMED_FIELD')
  assert.equal(e.field, 'publicKey')
  assert.equal(codeOf(() => verifySigned(id.publicKey(), 'push|a|b', sig, now)).code, 'MALFORMED_FIELD')
  assert.equal(codeOf(() => fingerprintOf('AAAA')).code, 'MALFORMED_FIELD')
})

test('the key is not a signing oracle', () => {
  const id = DeviceIdentity.loadOrCreate(path.join(dir, 'oracle.key'))
  for (const c of ['anything goes', 'push|a|b|c|1', 'devices|a b|1', '']) {
    assert.equal(codeOf(() => id.signCanonical(c)).code, 'MALFORMED_FIELD', c)
  }
})

test('known answer: the published ed25519 vectors, from key files written here', () => {
  for (const [i, v] of vectors.signature.entries()) {
    const p = path.join(dir, `vector-${i}.key`)
    fs.writeFileSync(p, keyFileFor(Buffer.from(v.ed25519_seed_hex, 'hex')), { mode: 0o600 })
    const id = DeviceIdentity.load(p)
    assert.equal(id.publicKey(), v.public_key_b64u)
    assert.equal(id.signCanonical(v.canonical), v.signature_b64u)
    const ts = Number(v.canonical.split('|').pop())
    verifySigned(v.public_key_b64u, v.canonical, v.signature_b64u, ts)
  }
})

test('key file problems are KEY_FILE with a typed problem', () => {
  const p = path.join(dir, 'perm.key')
  DeviceIdentity.loadOrCreate(p)
  for (const mode of [0o644, 0o640, 0o604]) {
    fs.chmodSync(p, mode)
    const e = codeOf(() => DeviceIdentity.loadOrCreate(p))
    assert.equal(e.code, 'KEY_FILE')
    assert.equal(e.problem, 'insecurePermissions')
    assert.equal(e.mode, mode)
    assert.equal(e.path, p)
  }
  fs.chmodSync(p, 0o600)
  const good = fs.readFileSync(p)
  const flipped = Buffer.from(good)
  flipped[20] ^= 1
  fs.writeFileSync(p, flipped)
  assert.equal(codeOf(() => DeviceIdentity.load(p)).problem, 'corrupt')
  fs.writeFileSync(p, good.subarray(0, 47))
  assert.equal(codeOf(() => DeviceIdentity.loadOrCreate(p)).problem, 'corrupt')
  let e = codeOf(() => DeviceIdentity.loadOrCreate(path.join(dir, 'no-such-dir', 'device.key')))
  assert.equal(e.code, 'KEY_FILE')
  assert.equal(e.problem, 'missingDirectory')
  e = codeOf(() => DeviceIdentity.load(path.join(dir, 'missing.key')))
  assert.equal(e.problem, 'io')
  assert.equal(codeOf(() => DeviceIdentity.loadOrCreate('')).code, 'INVALID_ARGUMENT')
})

test('identity objects print nothing secret', () => {
  const p = path.join(dir, 'print.key')
  const id = DeviceIdentity.loadOrCreate(p)
  const seed = fs.readFileSync(p).subarray(8, 40)
  const sig = id.signCanonical(`devices|dev_1|${Math.floor(Date.now() / 1000)}`)
  const outputs = [
    util.inspect(id),
    util.inspect(id, { showHidden: true, depth: 10 }),
    String(id),
    JSON.stringify(id),
    JSON.stringify({ id }),
    Object.keys(id).join(','),
    id.publicKey(),
    id.fingerprint(),
    sig,
  ]
  for (const out of outputs) assert.ok(!leaks(out, seed), `leaks: ${out}`)
  assert.equal(String(id), `DeviceIdentity(publicKey=${id.publicKey()}, privateKey=<redacted>)`)
  assert.deepEqual(Object.keys(id), [])
  const proto = Object.getOwnPropertyNames(Object.getPrototypeOf(id)).sort()
  assert.deepEqual(proto, ['constructor', 'fingerprint', 'publicKey', 'signCanonical', 'toJSON', 'toString'])
  const e = codeOf(() => { fs.chmodSync(p, 0o644); DeviceIdentity.load(p) })
  assert.ok(!leaks(e.message + util.inspect(e), seed))
})
