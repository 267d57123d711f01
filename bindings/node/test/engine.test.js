'use strict'
// SyncEngine against a REAL relay (the `azmx-sync` CLI binary, started as a
// child process on loopback): two devices with JS Map-backed store adapters
// converge on snippets/todos/memory, deletes propagate, typed errors, the
// JS-timer schedule (start/stop/trigger/setVisible) follows the core policy,
// and nothing secret is printable.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const util = require('node:util')
const { spawn, spawnSync, execFileSync } = require('node:child_process')
const readline = require('node:readline')

const { SyncEngine, fingerprintOf } = require('..')
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
  assert.equal(fingerprintOf(A.engine.publicKey), A.engine.fingerprint)
  assert.equal(st.lastCycle.ok, true)
  const ev = A.engine.recentActivity(50)
  assert.ok(ev.length > 0 && ev.length <= 50)
  for (const e of ev) assert.equal(typeof e.atMs, 'number')
  for (const e of ev) assert.ok(['info', 'warning', 'error'].includes(e.severity), e.type)
  assert.equal(ev.find((e) => e.type === 'pushed').severity, 'info')
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
  assert.equal(codeOf(() => D.engine.syncNow()).code, 'NOT_REGISTERED')
  // The receipt may come before register (which then checks it against
  // the license's authority key).
  D.engine.setReceipt(RECEIPT)
  assert.equal(D.engine.deviceId, null)
  assert.equal(codeOf(() => D.engine.register('http://127.0.0.1:1', LID, licenseKey, 'x')).code, 'NETWORK')
  assert.equal(codeOf(() => D.engine.registerSnippets(mapAdapter(new Map()))).code, 'CONFIG')
  assert.equal(codeOf(() => D.engine.registerStore('memory', 'lwwByTime', mapAdapter(new Map()))).code, 'INVALID_STORE_NAME')
  assert.equal(codeOf(() => D.engine.registerStore('Bad Name', 'lwwByTime', mapAdapter(new Map()))).code, 'INVALID_STORE_NAME')
  assert.equal(codeOf(() => D.engine.registerStore('Bad Name', 'lwwByTime', mapAdapter(new Map()))).problem, 'badStart')
  D.engine.registerStore('notes', 'lwwByTime', mapAdapter(new Map()), 'requireScope')
  // a custom store never takes a built-in name, whatever the contract
  const custom = codeOf(() => D.engine.registerCustomStore('snippets', 'lwwByTime', mapAdapter(new Map()), 'requireScope'))
  assert.equal(custom.code, 'INVALID_STORE_NAME')
  assert.equal(custom.problem, 'builtinRedefined')
  D.engine.registerCustomStore('journal', 'lwwByVersion', mapAdapter(new Map()), 'noScope')
  assert.equal(codeOf(() => D.engine.registerCustomStore('journal', 'lwwByVersion', mapAdapter(new Map()))).code, 'CONFIG')
  // registerStore takes a built-in name with its own contract (validator defaults to the built-in's)
  const X = new SyncEngine(tmpDir())
  X.registerStore('todos', 'lwwPerGroup', mapAdapter(new Map()))
  assert.equal(codeOf(() => X.registerStore('memory', 'lwwByVersion', mapAdapter(new Map()), 'shapeOnly')).problem, 'builtinRedefined')
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
  assert.equal(I.recentActivity(100).find((x) => x.type === 'storeError').severity, 'warning')
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

test('exportTo and importFrom', () => {
  const file = path.join(tmpDir(), 'backup.azmx')
  const n = A.engine.exportTo(file)
  assert.ok(n >= 3)
  assert.ok(fs.statSync(file).size > 0)
  const K = device('restored')
  const imported = K.engine.importFrom(file)
  assert.ok(imported > 0 && imported <= n, `${imported} of ${n}`)
  for (const s of ['snippets', 'todos', 'memory']) assert.deepEqual(live(K.stores[s]), live(A.stores[s]), s)
  assert.equal(typeof codeOf(() => K.engine.importFrom(path.join(tmpDir(), 'missing'))).code, 'string')
  // the old names still work
  const again = path.join(tmpDir(), 'again.azmx')
  assert.equal(A.engine.export(again), n)
  assert.equal(typeof K.engine.import(again), 'number')
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

// --- the background schedule (JS timers on this thread) ---------------------
async function waitFor(cond, ms = 5000) {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

test('trigger() runs a cycle through the schedule, on the JS thread, even when hidden', async () => {
  const S = device('sched')
  const now = Date.now()
  A.stores.snippets.put({ id: 'sched1', scope: 'me', updatedAt: now, deviceId: A.engine.deviceId, body: { text: 'uptime' } })
  A.engine.syncNow()
  const cycles = () => S.engine.recentActivity(100).filter((e) => e.type === 'cycleStarted')
  assert.equal(S.engine.started, false)
  S.engine.trigger() // not started: nothing to wake
  S.engine.start()
  S.engine.start() // no-op
  assert.equal(S.engine.started, true)
  S.engine.setVisible(false)
  S.engine.trigger()
  assert.equal(cycles().length, 0, 'trigger() returns before the cycle runs')
  await waitFor(() => S.engine.recentActivity(100).some((e) => e.type === 'cycleFinished'))
  assert.deepEqual(cycles().map((e) => e.trigger), ['trigger'])
  assert.ok(S.stores.snippets.map.has('me\u0000sched1'), 'pulled through the adapters')
  assert.equal(S.engine.status().lastCycle.ok, true)
  assert.equal(S.engine.started, true, 'still scheduled after the cycle')
  S.engine.stop()
  assert.equal(S.engine.started, false)
  S.engine.stop() // idempotent
})

test('the schedule follows the core policy: interval, hidden skips, backoff, onCycle, stop, REVOKED (fake setTimeout)', () => {
  const real = { setTimeout: globalThis.setTimeout, clearTimeout: globalThis.clearTimeout }
  const armed = []
  const cleared = []
  const fire = (t) => t.fn(...t.args)
  const last = () => armed[armed.length - 1]
  // synchronous test body: nothing else uses the patched timers meanwhile
  globalThis.setTimeout = (fn, ms, ...args) => {
    const t = { fn, ms, args, unrefd: false, unref() { this.unrefd = true; return this } }
    armed.push(t)
    return t
  }
  globalThis.clearTimeout = (t) => cleared.push(t)
  try {
    const P = device('policy')
    let failing = false
    P.engine.registerStore('flaky', 'lwwByTime', {
      snapshot() {
        if (failing) throw new Error('flaky disk')
        return []
      },
      apply() {},
    })
    const events = () => P.engine.recentActivity(1000)
    const calls = []
    P.engine.onCycle((err, report) => calls.push([err, report]))
    assert.equal(P.engine.setIntervalSecs(1), 30, 'clamped')
    P.engine.start()
    assert.equal(armed.length, 1)
    assert.equal(last().ms, 30000)
    assert.equal(last().unrefd, true, 'the schedule does not keep Node alive')

    // hidden: the timer fires, the cycle is skipped, the next one is armed
    P.engine.setVisible(false)
    let n = events().length
    fire(last())
    assert.deepEqual(events().slice(n).map((e) => [e.type, e.reason]), [['cycleSkipped', 'hidden']])
    assert.equal(calls.length, 0, 'onCycle is not called for a skipped cycle')
    assert.equal(armed.length, 2)
    assert.equal(last().ms, 30000)

    P.engine.setVisible(true)
    n = events().length
    fire(last())
    assert.equal(events().slice(n).find((e) => e.type === 'cycleStarted').trigger, 'schedule')
    assert.equal(P.engine.status().lastCycle.ok, true)
    assert.equal(last().ms, 30000)
    assert.equal(calls.length, 1)
    assert.equal(calls[0][0], null)
    assert.equal(typeof calls[0][1].durationMs, 'number')

    // failures: logged, never thrown; the wait doubles
    failing = true
    for (const ms of [60000, 120000, 240000]) {
      assert.doesNotThrow(() => fire(last()))
      assert.equal(last().ms, ms)
    }
    assert.equal(P.engine.status().lastCycle.ok, false)
    assert.ok(events().some((e) => e.type === 'cycleFinished' && e.ok === false))
    const [err, report] = calls[calls.length - 1]
    assert.ok(err instanceof Error)
    assert.deepEqual([err.code, err.store, report], ['STORE_ERROR', 'flaky', null])
    failing = false
    fire(last())
    assert.equal(last().ms, 30000, 'success resets the backoff')
    assert.equal(P.engine.setIntervalSecs(45), 45)
    fire(last())
    assert.equal(last().ms, 45000)

    // an exception from the host's own callback is not swallowed; the schedule goes on
    P.engine.onCycle(() => {
      throw new RangeError('host bug')
    })
    const armedBefore = armed.length
    assert.throws(() => fire(last()), RangeError)
    assert.equal(armed.length, armedBefore + 1)
    assert.equal(last().ms, 45000)
    P.engine.onCycle((err, report) => calls.push([err, report]))
    assert.throws(() => P.engine.onCycle(42))

    // trigger: the pending timer is cleared, a ref'd zero-delay one armed
    const pending = last()
    P.engine.trigger()
    assert.ok(cleared.includes(pending))
    assert.equal(last().ms, 0)
    assert.equal(last().unrefd, false, 'a requested cycle runs before exit')
    n = events().length
    const count = armed.length
    fire(pending) // a cleared timer that fires anyway does nothing
    assert.equal(events().length, n)
    assert.equal(armed.length, count)

    // stop clears the timer; a late fire does nothing
    const triggered = last()
    P.engine.stop()
    assert.ok(cleared.includes(triggered))
    fire(triggered)
    assert.equal(events().length, n)
    assert.equal(armed.length, count)

    // REVOKED ends the schedule
    P.engine.start()
    assert.equal(last().ms, 45000)
    A.engine.revoke(P.engine.deviceId)
    const before = armed.length
    assert.doesNotThrow(() => fire(last()))
    assert.ok(events().some((e) => e.type === 'revoked'))
    assert.equal(calls[calls.length - 1][0].code, 'REVOKED')
    assert.equal(armed.length, before, 'no next timer')
    assert.equal(P.engine.started, false)

    // a browser-style setTimeout (Electron renderer) returns a number
    globalThis.setTimeout = () => 7
    const Q = new SyncEngine(tmpDir())
    Q.start()
    Q.stop()
    assert.equal(cleared[cleared.length - 1], 7)
  } finally {
    Object.assign(globalThis, real)
  }
})

test('a started engine does not keep Node running; a trigger() still runs first', () => {
  const script = `
    const { SyncEngine } = require(${JSON.stringify(path.join(__dirname, '..'))})
    const e = new SyncEngine(${JSON.stringify(tmpDir())})
    e.start()
    e.trigger() // not registered: the cycle fails, into the activity log
    process.on('exit', () => console.log(JSON.stringify(e.recentActivity(20))))
  `
  const t0 = Date.now()
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 15000 })
  assert.equal(r.status, 0, `exit ${r.status} ${r.signal}: ${r.stderr}`)
  assert.ok(Date.now() - t0 < 10000)
  const events = JSON.parse(r.stdout.trim().split('\n').pop())
  assert.deepEqual(
    events.filter((e) => e.type.startsWith('cycle')).map((e) => [e.type, e.trigger ?? e.ok]),
    [['cycleStarted', 'trigger'], ['cycleFinished', false]],
  )
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
