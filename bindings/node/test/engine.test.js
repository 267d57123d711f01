'use strict'
// SyncEngine against a REAL relay (the `azmx-sync` CLI binary, started as a
// child process on loopback): two devices with JS Map-backed store adapters
// converge on snippets/todos/memory, deletes propagate, typed errors, and
// nothing secret is printable.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const util = require('node:util')
const { spawn, execFileSync } = require('node:child_process')
const readline = require('node:readline')

const { SyncEngine } = require('..')
const { tmpDir, codeOf } = require('./helpers')

const ROOT = path.join(__dirname, '..', '..', '..')
const TARGET = process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target')
const CLI = process.env.AZMX_SYNC_CLI || path.join(TARGET, 'debug', 'azmx-sync')
const RECEIPT = 'RCPT-7F3A-99C2-44D1-B0E8'
const LID = 'lic_node'

// --- the relay ---------------------------------------------------------------
let relay
let relayUrl
let licenseKey

async function startRelay() {
  if (!fs.existsSync(CLI)) {
    execFileSync('cargo', ['build', '-q', '-p', 'azmx-sync-cli'], { cwd: ROOT, stdio: 'inherit' })
  }
  const dataDir = tmpDir()
  const out = execFileSync(CLI, ['relay', 'license', 'add', LID, '--data-dir', dataDir], { encoding: 'utf8' })
  licenseKey = out.trim().split(/\s+/).pop()
  relay = spawn(CLI, ['relay', 'serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  })
  const rl = readline.createInterface({ input: relay.stdout })
  relayUrl = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('relay did not start')), 20000)
    relay.once('exit', (code) => reject(new Error(`relay exited with ${code}`)))
    rl.once('line', (line) => {
      clearTimeout(timer)
      const m = /^listening on (\S+)/.exec(line)
      m ? resolve(m[1]) : reject(new Error(`unexpected relay output: ${line}`))
    })
  })
  relay.stdout.resume()
}

// --- a device: an engine + three Map-backed stores (tombstones kept) -------
function mapAdapter(map) {
  const key = (r) => `${r.scope ?? ''}\u0000${r.id}`
  return {
    map,
    applied: 0,
    snapshot() {
      return [...map.values()]
    },
    apply(changes) {
      this.applied += changes.length
      for (const c of changes) map.set(key(c.record), c.record)
    },
    put(r) {
      map.set(key(r), r)
    },
  }
}

function device(name, receipt = RECEIPT, register = true) {
  const dir = tmpDir()
  const engine = new SyncEngine(dir)
  const stores = { snippets: mapAdapter(new Map()), todos: mapAdapter(new Map()), memory: mapAdapter(new Map()) }
  engine.registerSnippets(stores.snippets)
  engine.registerTodos(stores.todos)
  engine.registerMemory(stores.memory)
  if (register) {
    const id = engine.register(relayUrl, LID, licenseKey, name)
    assert.equal(engine.deviceId, id)
    engine.setReceipt(receipt)
  }
  return { engine, stores, dir, name }
}

function live(store) {
  return [...store.map.values()]
    .filter((r) => !r.deleted)
    .map((r) => ({ scope: r.scope ?? null, id: r.id, body: r.body }))
    .sort((a, b) => `${a.scope}/${a.id}`.localeCompare(`${b.scope}/${b.id}`))
}

let A
let B

test.before(async () => {
  await startRelay()
  A = device('laptop')
  A.engine.verifyReceipt() // first device: sets the license's key check
  B = device('desktop')
  B.engine.verifyReceipt()
})

test.after(() => {
  if (relay) relay.kill('SIGTERM')
})

test('two devices converge on snippets, todos and memory', () => {
  const now = Date.now()
  // explicit undefined fields are treated as absent
  A.stores.snippets.put({ id: 's1', scope: 'me', updatedAt: now, deleted: undefined, version: undefined, deviceId: A.engine.deviceId, body: { text: 'ls -la' } })
  A.stores.todos.put({ id: 'sess1', updatedAt: now, deviceId: A.engine.deviceId, body: { items: [{ id: 't1', content: 'write tests', status: 'pending' }] } })
  A.stores.memory.put({ id: 'm1', updatedAt: now, version: 1, deviceId: A.engine.deviceId, body: { fact: 'prefers tabs' } })
  const ra = A.engine.syncNow()
  assert.equal(typeof ra.durationMs, 'number')
  assert.ok(ra.pushedRecords >= 3, JSON.stringify(ra))

  B.stores.snippets.put({ id: 's2', scope: 'me', updatedAt: now + 1, deviceId: B.engine.deviceId, body: { text: 'git log --oneline' } })
  // a big memory version (above u32) travels as a plain number
  B.stores.memory.put({ id: 'm2', updatedAt: now + 1, version: now, deviceId: B.engine.deviceId, body: { fact: 'uses zsh' } })
  const rb = B.engine.syncNow()
  assert.ok(rb.appliedChanges >= 3, JSON.stringify(rb))
  A.engine.syncNow()

  for (const s of ['snippets', 'todos', 'memory']) {
    assert.deepEqual(live(A.stores[s]), live(B.stores[s]), s)
  }
  assert.deepEqual(live(A.stores.snippets).map((r) => r.body.text), ['ls -la', 'git log --oneline'])
  assert.equal(A.stores.memory.map.get('\u0000m2').version, now)
  assert.deepEqual(live(B.stores.todos)[0].body.items[0].content, 'write tests')
})

test('a delete (tombstone) propagates', () => {
  const at = Date.now() + 10
  A.stores.snippets.put({ id: 's2', scope: 'me', updatedAt: at, deleted: true, deviceId: A.engine.deviceId })
  A.engine.syncNow()
  B.engine.syncNow()
  const r = B.stores.snippets.map.get('me\u0000s2')
  assert.equal(r.deleted, true)
  assert.equal(r.body, undefined)
  assert.deepEqual(live(B.stores.snippets).map((x) => x.id), ['s1'])
})

test('status, recentActivity, devices', () => {
  const st = A.engine.status()
  assert.equal(st.deviceId, A.engine.deviceId)
  assert.equal(st.licenseId, LID)
  assert.equal(st.receiptSet, true)
  assert.equal(st.fingerprint, A.engine.fingerprint)
  assert.equal(st.lastCycle.ok, true)
  const ev = A.engine.recentActivity(50)
  assert.ok(ev.length > 0 && ev.length <= 50)
  for (const e of ev) assert.equal(typeof e.atMs, 'number')
  const types = new Set(ev.map((e) => e.type))
  for (const t of ['registered', 'cycleStarted', 'pushed', 'cycleFinished']) assert.ok(types.has(t), t)
  // never bodies
  const text = JSON.stringify(A.engine.recentActivity(512))
  assert.ok(!text.includes('ls -la') && !text.includes('prefers tabs'))
  const devs = A.engine.devices().map((d) => d.deviceId)
  assert.ok(devs.includes(A.engine.deviceId) && devs.includes(B.engine.deviceId))
  assert.equal(A.engine.unsynced().count, 0)
})

test('a wrong receipt gives WRONG_RECEIPT and changes nothing', () => {
  const C = device('intruder', 'not the receipt')
  assert.equal(codeOf(() => C.engine.verifyReceipt()).code, 'WRONG_RECEIPT')
  assert.equal(codeOf(() => C.engine.syncNow()).code, 'WRONG_RECEIPT')
  assert.equal(C.stores.snippets.map.size, 0)
  // B still syncs fine afterwards
  B.engine.syncNow()
})

test('engine errors before setup are typed', () => {
  const D = device('fresh', RECEIPT, false)
  assert.ok(['NO_RECEIPT', 'NOT_REGISTERED'].includes(codeOf(() => D.engine.syncNow()).code))
  assert.equal(codeOf(() => D.engine.setReceipt(RECEIPT)).code, 'NOT_REGISTERED')
  assert.equal(D.engine.deviceId, null)
  assert.equal(codeOf(() => D.engine.register('http://127.0.0.1:1', LID, licenseKey, 'x')).code, 'NETWORK')
  assert.equal(codeOf(() => D.engine.registerSnippets(mapAdapter(new Map()))).code, 'CONFIG')
  assert.equal(codeOf(() => D.engine.registerStore('memory', 'lwwByTime', mapAdapter(new Map()))).code, 'INVALID_STORE_NAME')
  assert.equal(codeOf(() => D.engine.registerStore('Bad Name', 'lwwByTime', mapAdapter(new Map()))).code, 'INVALID_STORE_NAME')
  D.engine.registerStore('notes', 'lwwByTime', mapAdapter(new Map()), 'requireScope')
})

test('an exception inside a JS adapter becomes STORE_ERROR, never a crash', () => {
  const E = device('broken')
  E.engine.registerStore('bad-snap', 'lwwByTime', {
    snapshot() {
      throw new Error('disk on fire')
    },
    apply() {},
  })
  const e = codeOf(() => E.engine.syncNow())
  assert.equal(e.code, 'STORE_ERROR')
  assert.equal(e.store, 'bad-snap')
  assert.match(e.message, /disk on fire/)
  // the engine is still usable
  assert.equal(E.engine.status().deviceId, E.engine.deviceId)

  const F = device('broken2')
  F.engine.registerStore('not-array', 'lwwByTime', { snapshot: () => 42, apply() {} })
  assert.equal(codeOf(() => F.engine.syncNow()).code, 'STORE_ERROR')

  const G = device('broken3')
  G.engine.registerStore('no-methods', 'lwwByTime', {})
  assert.equal(codeOf(() => G.engine.syncNow()).code, 'STORE_ERROR')

  // apply() throwing while pulling A's records
  const I = new SyncEngine(tmpDir())
  I.registerSnippets({
    snapshot: () => [],
    apply() {
      throw new TypeError('read-only store')
    },
  })
  I.register(relayUrl, LID, licenseKey, 'broken5')
  I.setReceipt(RECEIPT)
  const e2 = codeOf(() => I.syncNow())
  assert.equal(e2.code, 'STORE_ERROR')
  assert.equal(e2.store, 'snippets')
  assert.ok(I.recentActivity(100).some((x) => x.type === 'storeError'))
})

test('calling the engine from inside its own callback throws BUSY (no deadlock)', () => {
  const J = new SyncEngine(tmpDir())
  let inner
  J.registerSnippets({
    snapshot() {
      inner = codeOf(() => J.syncNow())
      return []
    },
    apply() {},
  })
  J.register(relayUrl, LID, licenseKey, 'reentrant')
  J.setReceipt(RECEIPT)
  J.syncNow()
  assert.equal(inner.code, 'BUSY')
})

test('export and import', () => {
  const file = path.join(tmpDir(), 'backup.azmx')
  const n = A.engine.export(file)
  assert.ok(n >= 3)
  assert.ok(fs.statSync(file).size > 0)
  const K = device('restored')
  const imported = K.engine.import(file)
  assert.ok(imported > 0 && imported <= n, `${imported} of ${n}`)
  for (const s of ['snippets', 'todos', 'memory']) assert.deepEqual(live(K.stores[s]), live(A.stores[s]), s)
  assert.equal(typeof codeOf(() => K.engine.import(path.join(tmpDir(), 'missing'))).code, 'string')
})

test('revoke: the revoked device gets REVOKED', () => {
  const L = device('lost-laptop')
  L.engine.syncNow()
  A.engine.revoke(L.engine.deviceId)
  assert.equal(codeOf(() => L.engine.syncNow()).code, 'REVOKED')
})

test('Buffer receipts are wiped; clampIntervalSecs', () => {
  const M = device('bufdev', RECEIPT, false)
  M.engine.register(relayUrl, LID, licenseKey, 'bufdev')
  const buf = Buffer.from(RECEIPT)
  M.engine.setReceipt(buf)
  assert.ok(buf.every((b) => b === 0))
  M.engine.verifyReceipt()
  assert.equal(SyncEngine.clampIntervalSecs(1), 30)
  assert.equal(SyncEngine.clampIntervalSecs(300), 300)
  assert.equal(SyncEngine.clampIntervalSecs(1e7), 3600)
})

test('nothing secret in inspect / toString / JSON / status / activity', () => {
  const e = A.engine
  const forms = [
    util.inspect(e, { showHidden: true, depth: 5 }),
    String(e),
    `${e}`,
    JSON.stringify(e),
    JSON.stringify({ e }),
    JSON.stringify(e.status()),
    JSON.stringify(e.recentActivity(512)),
    Object.getOwnPropertyNames(e).join(','),
  ]
  for (const f of forms) {
    assert.ok(!f.includes(RECEIPT), f)
    assert.ok(!f.includes(licenseKey), f)
  }
  assert.equal(String(e), 'SyncEngine(<redacted>)')
  assert.equal(JSON.stringify(e), '"SyncEngine(<redacted>)"')
  assert.match(util.inspect(e), /^SyncEngine \{\s*\}$/)
  // the state dir holds no receipt either
  for (const f of fs.readdirSync(A.dir)) {
    const bytes = fs.readFileSync(path.join(A.dir, f))
    assert.ok(!bytes.includes(Buffer.from(RECEIPT)), f)
    assert.ok(!bytes.includes(Buffer.from(licenseKey)), f)
  }
})
