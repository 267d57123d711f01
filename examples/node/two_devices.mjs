// Two devices syncing through a local relay with the SyncEngine of the Node
// addon: each device keeps its stores in JS Maps (tombstones kept), the
// laptop writes a snippet, both sync, and the desktop prints what it sees.
//
// Build the addon and the CLI first (see bindings/node/README.md), then:
//   node examples/node/two_devices.mjs
// It starts `target/debug/azmx-sync relay serve` itself on 127.0.0.1 (set
// AZMX_SYNC_CLI to use another binary) and stops it at the end.
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const { SyncEngine } = require('../../bindings/node')

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const cli = process.env.AZMX_SYNC_CLI || path.join(process.env.CARGO_TARGET_DIR || path.join(root, 'target'), 'debug', 'azmx-sync')
const tmp = (p) => fs.mkdtempSync(path.join(os.tmpdir(), `azmx-example-${p}-`))

// 1. A local relay with one license (the key is the last word printed).
const data = tmp('relay')
const licenseKey = execFileSync(cli, ['relay', 'license', 'add', 'lic_demo', '--data-dir', data], { encoding: 'utf8' }).trim().split(/\s+/).pop()
const relay = spawn(cli, ['relay', 'serve', '--data-dir', data, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'ignore'] })
const [line] = await Promise.race([
  once(readline.createInterface({ input: relay.stdout }), 'line'),
  once(relay, 'exit').then(([code]) => Promise.reject(new Error(`relay exited with ${code}`))),
  new Promise((_, reject) => setTimeout(() => reject(new Error('relay did not start in 20 s')), 20000).unref()),
])
const relayUrl = line.replace(/^listening on /, '').trim()
console.log(`relay at ${relayUrl}`)

// 2. A store adapter: snapshot() returns every record, apply() stores each change's record.
function mapStore() {
  const map = new Map()
  const key = (r) => `${r.scope ?? ''}/${r.id}`
  return {
    map,
    put: (r) => map.set(key(r), r),
    snapshot: () => [...map.values()],
    apply: (changes) => changes.forEach((c) => map.set(key(c.record), c.record)),
  }
}

function device(name) {
  const engine = new SyncEngine(tmp(name))
  const snippets = mapStore()
  engine.registerSnippets(snippets)
  engine.registerTodos(mapStore())
  engine.registerMemory(mapStore())
  const id = engine.register(relayUrl, 'lic_demo', licenseKey, name)
  engine.setReceipt(Buffer.from('correct horse battery staple')) // the Buffer is wiped
  engine.verifyReceipt() // WRONG_RECEIPT if it does not match the license's first device
  console.log(`${name}: device ${id}, fingerprint ${engine.fingerprint}, ${engine}`)
  return { name, engine, snippets }
}

try {
  const laptop = device('laptop')
  const desktop = device('desktop')

  // 3. The laptop writes two snippets and syncs; the desktop syncs and sees them.
  const now = Date.now()
  laptop.snippets.put({ id: 's0', scope: 'me', updatedAt: now, deviceId: laptop.engine.deviceId, body: { text: 'ls -la' } })
  laptop.snippets.put({ id: 's1', scope: 'me', updatedAt: now, deviceId: laptop.engine.deviceId, body: { text: 'git log --oneline' } })
  const pushed = laptop.engine.syncNow()
  console.log(`laptop pushed ${pushed.pushedRecords} records (${pushed.sealedBytes} sealed bytes, seq ${pushed.pushedSeq})`)
  const pulled = desktop.engine.syncNow()
  console.log(`desktop pulled ${pulled.pulledBlobs} blob(s), applied ${pulled.appliedChanges} change(s)`)
  const seen = [...desktop.snippets.map.values()].filter((r) => !r.deleted).map((r) => `${r.id}: ${r.body.text}`).sort()
  console.log(`desktop now has: ${seen.join(', ')}`)

  // 4. A delete is a tombstone; it propagates too.
  laptop.snippets.put({ id: 's0', scope: 'me', updatedAt: now + 1, deleted: true, deviceId: laptop.engine.deviceId })
  laptop.engine.syncNow()
  desktop.engine.syncNow()
  console.log(`after the delete the desktop has: ${[...desktop.snippets.map.values()].filter((r) => !r.deleted).map((r) => r.id).join(', ')}`)

  // 5. In an Electron main process: the background schedule (JS timers on
  // this thread, 30 s – 60 min; unref'd, so it does not keep this script alive).
  console.log(`a 10 s interval is clamped to ${desktop.engine.setIntervalSecs(10)} s`)
  desktop.engine.start()
  desktop.engine.stop()
  console.log('last events:', desktop.engine.recentActivity(3).map((e) => e.type).join(', '))
} catch (e) {
  console.error(`error ${e.code}: ${e.message}`)
  process.exitCode = 1
} finally {
  relay.kill('SIGTERM')
}
