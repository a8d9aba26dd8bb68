#!/usr/bin/env node
// The build command prebuildify runs in place of node-gyp (see scripts/prebuild.mjs).
//
// prebuildify calls `<node-gyp> rebuild --target=<node> ... --release` and then takes the first
// `.node` file in build/Release. This addon is Rust, so the build is napi-rs's instead: the Rust
// target comes from DGG_PREBUILD_TARGET (set by scripts/prebuild.mjs; glibc targets carry zig's
// `.2.17` suffix), built through cargo-zigbuild with the `dist` profile (LTO, stripped).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const target = process.env.DGG_PREBUILD_TARGET;
if (!target) {
  console.error('napi-gyp: DGG_PREBUILD_TARGET is not set (run `npm run prebuild`, not this script)');
  process.exit(2);
}
const out = path.join(root, 'build', 'Release');
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
const napi = path.join(root, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js');
const args = [
  napi, 'build', '--platform', '--profile', 'dist', '--cross-compile', '--target', target,
  '--manifest-path', 'crates/dgg-node/Cargo.toml', '--package-json-path', 'package.json',
  '--target-dir', path.join('target', 'prebuild'), '--output-dir', out, '--no-js',
];
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);
for (const f of fs.readdirSync(out)) if (!f.endsWith('.node')) fs.rmSync(path.join(out, f), { recursive: true, force: true });
