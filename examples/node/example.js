'use strict'
// azmx-sync from Node.js / Electron: derive the envelope key, seal a snippet,
// verify and open it, sign the push request, and merge what a second device
// sent. Build the addon first (see bindings/node/README.md), then:
//   node examples/node/example.js
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { EnvelopeKey, DeviceIdentity, sha256Hex, verifyBlob, verifySigned, mergeRecords } = require('../../bindings/node')

async function main() {
  // 1. Derive (~100 ms, off the main thread). A Buffer receipt is wiped.
  const receipt = Buffer.from('correct horse battery staple')
  const key = await EnvelopeKey.deriveAsync(receipt, 'lic_0001')
  console.log(`derived ${key} (receipt buffer wiped: ${receipt.every((b) => b === 0)})`)

  // 2. Seal a snippet; the server only ever sees this blob and its sha256.
  const snippet = { id: 's1', scope: 'me', updatedAt: Date.now(), deviceId: 'dev_laptop', body: { text: 'git log --oneline' } }
  const blob = key.seal(Buffer.from(JSON.stringify([snippet])))
  const sha = sha256Hex(blob)
  console.log(`sealed into ${blob.length} bytes, sha256 ${sha}`)

  // 3. Sign the push canonical with this device's key (0600 file).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'azmx-node-example-'))
  const id = DeviceIdentity.loadOrCreate(path.join(dir, 'device.key'))
  const ts = Math.floor(Date.now() / 1000)
  const canonical = `push|dev_laptop|1|${sha}|${ts}`
  const sig = id.signCanonical(canonical)
  console.log(`device ${id.fingerprint()} signed ${canonical}`)
  console.log('relay-side verify:', verifySigned(id.publicKey(), canonical, sig))

  // 4. The other device pulls: sha first (corruption is BLOB_INTEGRITY), then open.
  verifyBlob(sha, blob)
  const incoming = JSON.parse(key.open(blob).toString())
  const desktopState = [{ id: 's0', scope: 'me', updatedAt: 1, deviceId: 'dev_desktop', body: { text: 'ls -la' } }]
  const out = mergeRecords('snippets', desktopState, incoming)
  console.log('desktop now has:', out.state.map((r) => `${r.id}: ${r.body.text}`).join(', '))
  console.log('changes to apply:', out.changes.map((c) => `${c.op} ${c.record.id}`).join(', '))

  // 5. Typed errors, not garbage.
  const wrong = EnvelopeKey.derive('not my receipt', 'lic_0001')
  try {
    wrong.open(blob)
  } catch (e) {
    console.log(`open with another receipt: ${e.code}`)
  }
  fs.rmSync(dir, { recursive: true, force: true })
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
