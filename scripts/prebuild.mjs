#!/usr/bin/env node
// `npm run build:prebuilds [-- --targets T1,T2]`: the published binaries for Linux, built on this machine.
//
// For each Rust target, prebuildify lays out `prebuilds/<platform>-<arch>/dgg-native.<libc>.node`
// (the layout node-gyp-build loads, with its libc tag); its build command is scripts/napi-gyp.mjs,
// which runs napi-rs's build through cargo-zigbuild: glibc targets link against glibc 2.17, musl
// targets against musl, with the `dist` profile (LTO, one codegen unit, stripped). The same binary
// is then copied into napi-rs's per-platform package under npm/<platform>/.
//
// It ends with one JSON line (also written to benches/results/prebuild.json): each binary's size and
// its highest GLIBC symbol version (from `objdump -T`), which must be <= 2.17 for the gnu builds.
// Needs `cargo-zigbuild` and `ziglang` (pip install cargo-zigbuild ziglang), the rustup targets, and
// for the arm64 check binutils-aarch64-linux-gnu (Debian).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { root, writeResult } from '../benches/lib/result.mjs';

const require = createRequire(import.meta.url);
const prebuildify = require('prebuildify');

/** The Linux targets built here; macOS and Windows come from .github/workflows/release.yml. */
export const LINUX_TARGETS = {
  'x86_64-unknown-linux-gnu': { platform: 'linux', arch: 'x64', libc: 'glibc', npm: 'linux-x64-gnu', zig: '.2.17', objdump: 'objdump' },
  'aarch64-unknown-linux-gnu': { platform: 'linux', arch: 'arm64', libc: 'glibc', npm: 'linux-arm64-gnu', zig: '.2.17', objdump: 'aarch64-linux-gnu-objdump' },
  'x86_64-unknown-linux-musl': { platform: 'linux', arch: 'x64', libc: 'musl', npm: 'linux-x64-musl', zig: '', objdump: 'objdump' },
  'aarch64-unknown-linux-musl': { platform: 'linux', arch: 'arm64', libc: 'musl', npm: 'linux-arm64-musl', zig: '', objdump: 'aarch64-linux-gnu-objdump' },
};
const GLIBC_MAX = '2.17';

const { values } = parseArgs({ options: { targets: { type: 'string' } } });
const targets = values.targets ? values.targets.split(',').map((t) => t.trim()) : Object.keys(LINUX_TARGETS);
for (const t of targets) {
  if (!LINUX_TARGETS[t]) {
    console.error(`prebuild: unknown target ${t}; known: ${Object.keys(LINUX_TARGETS).join(', ')}`);
    process.exit(2);
  }
}

function build(target) {
  const t = LINUX_TARGETS[target];
  process.env.DGG_PREBUILD_TARGET = target + t.zig;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    prebuildify(
      {
        cwd: root,
        out: root,
        napi: true,
        tagLibc: true,
        platform: t.platform,
        arch: t.arch,
        libc: t.libc,
        nodeGyp: path.join(root, 'scripts', 'napi-gyp.mjs'),
        strip: false, // the dist profile strips; the host's `strip` cannot read other architectures
      },
      (err) => (err ? reject(err) : resolve((Date.now() - started) / 1000)),
    );
  });
}

/** The highest `GLIBC_x.y` version among the binary's dynamic symbols ('' when none). */
function glibcMax(file, objdump) {
  const out = execFileSync(objdump, ['-T', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const versions = [...out.matchAll(/GLIBC_(\d+)\.(\d+)(?:\.(\d+))?/g)].map((m) => [+m[1], +m[2], +(m[3] ?? 0)]);
  versions.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
  const top = versions.at(-1);
  return top ? top.slice(0, top[2] ? 3 : 2).join('.') : '';
}

const older = (a, b) => {
  const [x, y] = [a.split('.').map(Number), b.split('.').map(Number)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) < (y[i] ?? 0);
  return false;
};

const binaries = [];
let ok = true;
for (const target of targets) {
  const t = LINUX_TARGETS[target];
  console.error(`prebuild: ${target}${t.zig} ...`);
  const seconds = await build(target);
  const file = path.join('prebuilds', `${t.platform}-${t.arch}`, `dgg-native.${t.libc}.node`);
  const abs = path.join(root, file);
  if (!fs.existsSync(abs)) throw new Error(`prebuild: ${file} was not produced`);
  // napi-rs's per-platform package (npm/<platform>/) ships the same file under napi-rs's name.
  const pkgDir = path.join(root, 'npm', t.npm);
  fs.mkdirSync(pkgDir, { recursive: true });
  fs.copyFileSync(abs, path.join(pkgDir, `dgg-native.${t.npm}.node`));
  const glibc = t.libc === 'glibc' ? glibcMax(abs, t.objdump) : null;
  const fine = t.libc !== 'glibc' || (glibc !== '' && !older(GLIBC_MAX, glibc));
  ok &&= fine;
  binaries.push({ target, file, bytes: fs.statSync(abs).size, glibc_max: glibc, glibc_ok: fine, build_seconds: +seconds.toFixed(1) });
  console.error(`prebuild: ${file} ${(fs.statSync(abs).size / 2 ** 20).toFixed(2)} MiB${glibc === null ? '' : `, GLIBC <= ${glibc}`}`);
}
writeResult('prebuild', { bench: 'prebuild', profile: 'dist', glibc_limit: GLIBC_MAX, binaries, ok, command: `npm run build:prebuilds${values.targets ? ` -- --targets ${values.targets}` : ''}` });
if (!ok) {
  console.error(`prebuild: a gnu binary needs a glibc newer than ${GLIBC_MAX}`);
  process.exit(1);
}
