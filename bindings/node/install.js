#!/usr/bin/env node
// npm's `install` script of this package: `npm install ./bindings/node` (or
// the path of this directory from any project) builds the native addon with
// cargo and puts it where index.js loads it, `azmx-sync.<platform>.node`
// beside this file. Needs only Node and a Rust toolchain: no napi CLI (a
// devDependency, which npm does not install for a dependency) and no network
// beyond crates.io.
//
// cargo arguments: `--release` unless AZMX_SYNC_CARGO_ARGS gives others
// (whitespace-separated, e.g. `--profile dev`; CI passes its shared workspace
// build's arguments so nothing is compiled twice). CARGO names another cargo.
'use strict'

const { spawnSync } = require('child_process')
const fs = require('fs')
const path = require('path')

const LIB_TARGET = 'azmx_sync_node' // the cdylib target of Cargo.toml

function fail(message) {
  console.error(`azmx-sync: ${message}`)
  process.exit(1)
}

// The name index.js looks for first on this platform (napi-rs's naming).
function addonName(rustHost) {
  const { platform, arch } = process
  let abi = ''
  if (platform === 'linux') {
    const report = process.report && typeof process.report.getReport === 'function' ? process.report.getReport() : null
    const musl = report ? !(report.header && report.header.glibcVersionRuntime) : /-musl/.test(rustHost)
    abi = arch === 'arm' ? (musl ? '-musleabihf' : '-gnueabihf') : musl ? '-musl' : '-gnu'
  } else if (platform === 'win32') {
    abi = /-gnu$/.test(rustHost) ? '-gnu' : '-msvc'
  }
  return `azmx-sync.${platform}-${arch}${abi}.node`
}

function main() {
  const cargo = process.env.CARGO || 'cargo'
  const extra = (process.env.AZMX_SYNC_CARGO_ARGS || '--release').split(/\s+/).filter(Boolean)
  const rustc = spawnSync(process.env.RUSTC || 'rustc', ['-vV'], { encoding: 'utf8' })
  if (rustc.error || rustc.status !== 0) {
    fail('building the native addon needs a Rust toolchain (rustc and cargo, https://rustup.rs); none was found on PATH')
  }
  const hostLine = rustc.stdout.split('\n').find((l) => l.startsWith('host: '))
  const rustHost = hostLine ? hostLine.slice(6).trim() : ''

  const args = ['build', '--manifest-path', path.join(__dirname, 'Cargo.toml'),
    '--message-format=json-render-diagnostics', ...extra]
  console.error(`azmx-sync: ${cargo} ${args.join(' ')}`)
  // stdout is cargo's JSON messages; the compiler's own output goes to stderr.
  const build = spawnSync(cargo, args, { cwd: __dirname, stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 })
  if (build.error) fail(`could not run ${cargo}: ${build.error.message}`)
  if (build.status !== 0) fail(`${cargo} build failed (exit ${build.status}); see the messages above`)

  let built = null
  for (const line of build.stdout.split('\n')) {
    if (!line.startsWith('{')) continue
    const msg = JSON.parse(line)
    if (msg.reason === 'compiler-artifact' && msg.target && msg.target.name === LIB_TARGET
        && msg.target.kind.includes('cdylib') && !msg.profile.test) {
      built = msg.filenames.find((f) => /\.(so|dylib|dll)$/.test(f)) || built
    }
  }
  if (!built) fail(`${cargo} built no ${LIB_TARGET} library (cargo arguments: ${extra.join(' ')})`)

  // Through a temporary name and a rename: a process that has the old addon
  // loaded keeps its mapping instead of seeing the file rewritten under it.
  const dest = path.join(__dirname, addonName(rustHost))
  const tmp = `${dest}.${process.pid}.tmp`
  fs.copyFileSync(built, tmp)
  fs.renameSync(tmp, dest)
  console.error(`azmx-sync: ${path.basename(dest)} built from ${built}`)
}

main()
