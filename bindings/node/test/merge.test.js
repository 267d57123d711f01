'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')

const { mergeRecords, builtinStores, builtinStore, checkStoreSpec, validateTodos } = require('..')
const { codeOf } = require('./helpers')

const snip = (id, updatedAt, deviceId, body, extra = {}) => ({ id, scope: 'me', updatedAt, deviceId, body, ...extra })

test('built-in stores', () => {
  assert.deepEqual(builtinStores(), [
    { name: 'snippets', contract: 'lwwByTime', validator: 'requireScope' },
    { name: 'todos', contract: 'lwwPerGroup', validator: 'todos' },
    { name: 'memory', contract: 'lwwByVersion', validator: 'noScope' },
  ])
  assert.deepEqual(builtinStore('memory'), builtinStores()[2])
  assert.equal(codeOf(() => builtinStore('notes')).code, 'UNKNOWN_STORE')
})

test('snippets: LWW per id, additive, invalid incoming rejected one by one', () => {
  const local = [snip('s0', 5, 'a', 'local only'), snip('s1', 1, 'a', { text: 'old' })]
  const incoming = [
    snip('s1', 2, 'b', { text: 'new' }),
    snip('s2', 1, 'b', 'x'),
    { id: 's3', updatedAt: 1, deviceId: 'b', body: 'BODYTEXT' },
  ]
  const out = mergeRecords('snippets', local, incoming)
  assert.deepEqual(out.counts, { applied: 2, keptLocal: 0, rejectedInvalid: 1, unchanged: 0 })
  assert.deepEqual(out.state.map((r) => r.id), ['s0', 's1', 's2'])
  assert.deepEqual(out.state[1].body, { text: 'new' })
  assert.equal(out.state[0].body, 'local only')
  assert.deepEqual(out.changes.map((c) => [c.op, c.record.id]), [['update', 's1'], ['insert', 's2']])
  assert.equal(out.rejected.length, 1)
  assert.equal(out.rejected[0].id, 's3')
  assert.equal(out.rejected[0].reason, 'missingScope')
  assert.ok(!out.rejected[0].message.includes('BODYTEXT'))
  // Same result with the spec object, and order-independent.
  const again = mergeRecords(builtinStore('snippets'), local, [...incoming].reverse())
  assert.deepEqual(again.state, out.state)
})

test('local wins when newer; equal is unchanged', () => {
  const out = mergeRecords('snippets', [snip('s', 9, 'a', 1)], [snip('s', 3, 'b', 2)])
  assert.deepEqual(out.counts, { applied: 0, keptLocal: 1, rejectedInvalid: 0, unchanged: 0 })
  const same = mergeRecords('snippets', [snip('s', 9, 'a', 1)], [snip('s', 9, 'a', 1)])
  assert.equal(same.counts.unchanged, 1)
  assert.equal(same.changes.length, 0)
})

test('todos: invariants enforced on incoming lists', () => {
  const ok = { items: [{ id: '1', content: 'ship', status: 'in_progress' }] }
  const bad = { items: [{ id: '1', content: 'SECRET A', status: 'in_progress' }, { id: '2', content: 'b', status: 'in_progress' }] }
  const out = mergeRecords('todos', [], [
    { id: 'sess1', updatedAt: 2, deviceId: 'b', body: bad },
    { id: 'sess2', updatedAt: 2, deviceId: 'b', body: ok },
  ])
  assert.equal(out.counts.applied, 1)
  assert.equal(out.rejected[0].reason, 'todo')
  assert.deepEqual(out.rejected[0].detail, { multipleInProgress: { index: 1 } })
  assert.ok(!out.rejected[0].message.includes('SECRET'))
})

test('memory: version beats time; tombstones become deletes', () => {
  const local = [{ id: 'm', updatedAt: 9, version: 3, deviceId: 'a', body: 1 }]
  let out = mergeRecords('memory', local, [
    { id: 'm', updatedAt: 1, version: 4, deviceId: 'b', body: 2 },
    { id: 'n', updatedAt: 1, deviceId: 'b', body: 2 },
  ])
  assert.equal(out.state[0].version, 4)
  assert.equal(out.state[0].body, 2)
  assert.equal(out.rejected[0].reason, 'missingVersion')
  out = mergeRecords('memory', local, [{ id: 'm', updatedAt: 1, version: 5, deleted: true, deviceId: 'b' }])
  assert.deepEqual(out.changes.map((c) => c.op), ['delete'])
  assert.equal(out.state[0].deleted, true)
  assert.equal(out.state[0].body, undefined)
  assert.equal(codeOf(() => mergeRecords('memory', [], [{ id: 'x', updatedAt: 1, version: -1, deviceId: 'b', body: 1 }])).code, 'INVALID_ARGUMENT')
})

test('host-registered stores and spec checks', () => {
  const notes = { name: 'notes', contract: 'lwwByTime', validator: 'shapeOnly' }
  checkStoreSpec(notes)
  const out = mergeRecords(notes, [], [{ id: 'n1', updatedAt: 3, deviceId: 'b', body: { t: 1 } }])
  assert.equal(out.counts.applied, 1)
  let e = codeOf(() => checkStoreSpec({ ...notes, name: 'Bad/Name' }))
  assert.equal(e.code, 'INVALID_STORE_NAME')
  assert.equal(e.problem, 'badStart')
  e = codeOf(() => checkStoreSpec({ ...notes, name: 'team-workspace' }))
  assert.equal(e.problem, 'workspaceScoped')
  e = codeOf(() => mergeRecords({ name: 'memory', contract: 'lwwByTime', validator: 'noScope' }, [], []))
  assert.equal(e.code, 'INVALID_STORE_NAME')
  assert.equal(e.problem, 'builtinRedefined')
  checkStoreSpec(builtinStore('todos'))
  assert.throws(() => checkStoreSpec({ ...notes, contract: 'nope' }), Error)
})

test('validateTodos: typed problem and index, never content', () => {
  validateTodos({ items: [{ id: '1', content: 'x', status: 'pending' }] })
  let e = codeOf(() => validateTodos({ items: [{ id: '1', content: 'TOPSECRET', status: 'pending' }, { id: '1', content: 'b', status: 'pending' }] }))
  assert.equal(e.code, 'INVALID_RECORD')
  assert.equal(e.problem, 'duplicateId')
  assert.equal(e.index, 1)
  assert.ok(!e.message.includes('TOPSECRET'))
  e = codeOf(() => validateTodos({ items: [{ id: '1', content: 'x', status: 'done' }] }))
  assert.equal(e.problem, 'badStatus')
  assert.equal(codeOf(() => validateTodos([])).problem, 'notAnObject')
  assert.equal(codeOf(() => validateTodos({})).problem, 'missingItems')
})
