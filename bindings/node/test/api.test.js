'use strict'
// The reviewed surface: every export, so a new one is a deliberate change
// (none may return a receipt, key bytes or a private key).
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')

const azmx = require('..')

test('exports are exactly the reviewed surface', () => {
  assert.deepEqual(Object.keys(azmx).filter((k) => k !== '__napiBindingTarget').sort(), [
    'ChangeOp',
    'DeviceIdentity',
    'EnvelopeKey',
    'MergeContract',
    'StoreValidator',
    'SyncEngine',
    'builtinStore',
    'builtinStores',
    'checkStoreSpec',
    'fingerprintOf',
    'mergeRecords',
    'sha256Hex',
    'validateTodos',
    'verifyBlob',
    'verifySigned',
  ])
  assert.deepEqual(Object.getOwnPropertyNames(azmx.EnvelopeKey).filter((k) => !['length', 'name', 'prototype', 'arguments', 'caller'].includes(k)).sort(), ['derive', 'deriveAsync'])
  assert.deepEqual(Object.getOwnPropertyNames(azmx.DeviceIdentity).filter((k) => !['length', 'name', 'prototype', 'arguments', 'caller'].includes(k)).sort(), ['load', 'loadOrCreate'])
})

// The facade's engine method set (bindings/shared, azmx_sync_bridge::Engine) in
// camelCase, plus what only Node has: the getters `deviceId`/`fingerprint`/
// `publicKey`/`started`, `onCycle` (its schedule runs on JS timers, so no
// engine-thread listener), the deprecated `export`/`import`, and the redacted
// `toJSON`/`toString`.
test('SyncEngine methods are the facade method set', () => {
  assert.deepEqual(Object.getOwnPropertyNames(azmx.SyncEngine.prototype).filter((k) => k !== 'constructor').sort(), [
    'deviceId',
    'devices',
    'export',
    'exportTo',
    'fingerprint',
    'import',
    'importFrom',
    'onCycle',
    'publicKey',
    'recentActivity',
    'register',
    'registerCustomStore',
    'registerMemory',
    'registerSnippets',
    'registerStore',
    'registerTodos',
    'revoke',
    'setIntervalSecs',
    'setReceipt',
    'setVisible',
    'start',
    'started',
    'status',
    'stop',
    'syncNow',
    'toJSON',
    'toString',
    'trigger',
    'unsynced',
    'verifyReceipt',
  ])
  assert.equal(typeof azmx.SyncEngine.clampIntervalSecs, 'function')
})

test('the loaded addon is the one built here', () => {
  const node = fs.readdirSync(path.join(__dirname, '..')).filter((f) => f.endsWith('.node'))
  assert.ok(node.length >= 1, 'a .node file next to index.js')
  assert.equal(azmx.__napiBindingTarget, 'native')
})

test('index.d.ts declares every export', () => {
  const dts = fs.readFileSync(path.join(__dirname, '..', 'index.d.ts'), 'utf8')
  for (const name of Object.keys(azmx)) {
    assert.match(dts, new RegExp(`export (declare )?(class|function|const|type) ${name}\\b`), name)
  }
})

test('Node-API version: the addon needs at most N-API 4 (README)', () => {
  assert.ok(Number(process.versions.napi) >= 4)
  const cargo = fs.readFileSync(path.join(__dirname, '..', 'Cargo.toml'), 'utf8')
  const napiLine = cargo.split('\n').find((l) => l.startsWith('napi ='))
  assert.match(napiLine, /default-features = false/)
  const levels = [...napiLine.matchAll(/"napi(\d+)"/g)].map((m) => Number(m[1]))
  assert.deepEqual(levels, [4])
})
