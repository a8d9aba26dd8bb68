import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

describe('package.json', () => {
  it('should pin the Node engines and expose the dgg-native bin', () => {
    expect(pkg.engines.node).toBe('>=20.17');
    expect(pkg.bin['dgg-native']).toBe('dist/cli.js');
    expect(fs.readFileSync(path.join(root, 'ts', 'cli.ts'), 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
  });

  it('should ship the bundled digits with their licence note', () => {
    for (const f of ['data/digits.csv.gz', 'data/README.md']) expect(fs.existsSync(path.join(root, f))).toBe(true);
    expect(pkg.files).toContain('data');
  });
});

// The README's main job, run the way a user runs it: from the packed tarball installed into an
// empty folder, with no access to this checkout and no Rust toolchain on PATH. The tarball carries
// prebuildify's prebuilds/; where this checkout has none for this platform (a clone that ran
// `npm run build` but not `npm run build:prebuilds`), the local build is staged in its place in a
// copy of the package, so that the loader and the install are still tested (CI builds the real one).
const platformDir = `${process.platform}-${process.arch}`;
const libcTag = process.platform === 'linux' ? (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime ? 'glibc' : 'musl' : '';
const napiPlatform = process.platform === 'linux' ? `${platformDir}-${libcTag === 'glibc' ? 'gnu' : 'musl'}` : process.platform === 'win32' ? `${platformDir}-msvc` : platformDir;
const prebuildName = `dgg-native${libcTag ? `.${libcTag}` : ''}.node`;

/** The folder to pack: this checkout when it has this platform's prebuild, else a staged copy. */
function packSource(tmp: string): { dir: string; staged: boolean } {
  if (fs.existsSync(path.join(root, 'prebuilds', platformDir, prebuildName))) return { dir: root, staged: false };
  const stage = path.join(tmp, 'stage');
  for (const f of [...pkg.files, 'package.json']) {
    if (f === 'prebuilds' || !fs.existsSync(path.join(root, f))) continue;
    fs.cpSync(path.join(root, f), path.join(stage, f), { recursive: true });
  }
  fs.mkdirSync(path.join(stage, 'prebuilds', platformDir), { recursive: true });
  fs.copyFileSync(path.join(root, 'native', `dgg-native.${napiPlatform}.node`), path.join(stage, 'prebuilds', platformDir, prebuildName));
  return { dir: stage, staged: true };
}

/** PATH without the folders that hold cargo or rustc (node and npm stay). */
function pathWithoutRust(): string {
  const has = (dir: string, exe: string) => fs.existsSync(path.join(dir, exe)) || fs.existsSync(path.join(dir, `${exe}.exe`));
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter((d) => d && !has(d, 'cargo') && !has(d, 'rustc'))
    .join(path.delimiter);
}

describe('the CLI from the npm pack tarball', () => {
  let dir: string;
  let tarball: string;
  let files: string[];
  const env = { ...process.env, PATH: pathWithoutRust(), DGG_NATIVE_ADDON: '' };
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgg-pack-'));
    const src = packSource(dir);
    const out = execFileSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: src.dir, encoding: 'utf8' });
    const packed = JSON.parse(out)[0];
    tarball = path.join(dir, packed.filename);
    files = packed.files.map((f: { path: string }) => f.path);
    const consumer = path.join(dir, 'consumer');
    fs.mkdirSync(consumer);
    fs.writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
    // The per-platform packages are not on the registry yet: the install must succeed without them.
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--omit=optional', tarball], { cwd: consumer, stdio: 'pipe', env });
    dir = consumer;
  }, 300_000);
  afterAll(() => fs.rmSync(path.dirname(dir), { recursive: true, force: true }));

  const cli = (args: string[], extra: Record<string, string> = {}) =>
    execFileSync(path.join(dir, 'node_modules', '.bin', 'dgg-native'), args, { cwd: dir, encoding: 'utf8', env: { ...env, ...extra } });

  it('should run where no Rust toolchain is on PATH', () => {
    for (const exe of ['cargo', 'rustc']) expect(() => execFileSync(exe, ['--version'], { env, stdio: 'pipe' })).toThrow();
  });

  it('should carry prebuilds, the types, the licences and no local build or Rust source', () => {
    expect(files).toContain(`prebuilds/${platformDir}/${prebuildName}`);
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'native/index.d.ts', 'LICENSE', 'data/LICENSE-digits', 'package.json']) expect(files).toContain(f);
    expect(files.filter((f) => f.startsWith('crates/') || /^native\/.*\.node$/.test(f) || f === 'native/index.js')).toEqual([]);
  });

  it('should print help and say which binary it loaded and from where', () => {
    expect(cli(['--help'])).toMatch(/fit/);
    const info = JSON.parse(cli(['info', '--json']));
    expect(info.features).toContain('cpu');
    expect(info.addon).toBe('cpu');
    expect(info.addonSource).toBe('prebuilds');
    expect(info.addonPath).toBe(path.join(dir, 'node_modules', 'dgg-native', 'prebuilds', platformDir, prebuildName));
    expect(info.platform).toBe(napiPlatform);
  });

  it('should load through the exports map from CommonJS and from an ES module', () => {
    const cjs = execFileSync(process.execPath, ['-e', "const m = require('dgg-native'); console.log(typeof m.DGG, typeof m.info)"], { cwd: dir, encoding: 'utf8', env });
    expect(cjs.trim()).toBe('function function');
    const esm = execFileSync(process.execPath, ['--input-type=module', '-e', "import { DGG, info } from 'dgg-native'; console.log(typeof DGG, typeof info)"], { cwd: dir, encoding: 'utf8', env });
    expect(esm.trim()).toBe('function function');
    const version = execFileSync(process.execPath, ['-e', "console.log(require('dgg-native/package.json').version)"], { cwd: dir, encoding: 'utf8', env });
    expect(version.trim()).toBe(pkg.version);
  });

  it('should name the platform, the supported ones and how to build from source on an unsupported platform', () => {
    const r = spawnSync(process.execPath, ['-e', "require('dgg-native')"], { cwd: dir, encoding: 'utf8', env: { ...env, DGG_NATIVE_PLATFORM: 'freebsd-x64' } });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('UNSUPPORTED_PLATFORM');
    expect(r.stderr).toContain('dgg-native has no binary for freebsd-x64');
    for (const p of ['linux-x64-gnu', 'linux-arm64-musl', 'darwin-arm64', 'win32-x64-msvc']) expect(r.stderr).toContain(p);
    expect(r.stderr).toMatch(/build from source.*npm run build/);
    // The CLI says the same in one line.
    const c = spawnSync(path.join(dir, 'node_modules', '.bin', 'dgg-native'), ['info'], { cwd: dir, encoding: 'utf8', env: { ...env, DGG_NATIVE_PLATFORM: 'freebsd-x64' } });
    expect(c.status).not.toBe(0);
    expect(c.stderr.trim().split('\n')).toHaveLength(1);
    expect(c.stderr).toContain('[UNSUPPORTED_PLATFORM]: dgg-native has no binary for freebsd-x64');
  });

  it('should cluster the bundled digits and print one JSON object with the scores', () => {
    const started = Date.now();
    const out = cli(['fit', '--json', '--out', 'labels.csv', '--model', 'digits.dgg']);
    const result = JSON.parse(out.trim());
    expect(result.n).toBe(1797);
    expect(result.d).toBe(64);
    for (const key of ['acc', 'nmi', 'ari', 'seconds']) expect(typeof result[key]).toBe('number');
    expect(Array.isArray(result.warnings)).toBe(true);
    // The default fit on digits, seed 42: 0.9466 since 68e45b7 (benches/results/suite-digits.json;
    // the three-seed mean is 0.951). A floor just under it catches a broken binary or loader.
    expect(result.acc).toBeGreaterThanOrEqual(0.94);
    expect(Date.now() - started).toBeLessThan(300_000);
    const labels = fs.readFileSync(path.join(dir, 'labels.csv'), 'utf8').trim().split('\n');
    expect(labels.length).toBeGreaterThanOrEqual(1797);
    // The saved model predicts the same labels for the same data.
    const digits = path.join(dir, 'node_modules', 'dgg-native', 'data', 'digits.csv.gz');
    const pred = JSON.parse(cli(['predict', '--model', 'digits.dgg', digits, '--label-column', 'last', '--json']));
    expect(pred.n).toBe(1797);
    expect(pred.labels.map(String)).toEqual(labels.slice(-1797));
    expect(pred.acc).toBeCloseTo(result.acc, 10);
  }, 600_000);

  it('should fail with one clear line and a non-zero exit for a missing file', () => {
    try {
      cli(['fit', 'no-such-file.csv', '--k', '3']);
      throw new Error('expected a failure');
    } catch (e) {
      const err = e as { status: number; stderr: string };
      expect(err.status).not.toBe(0);
      expect(err.stderr.trim().split('\n')).toHaveLength(1);
      expect(err.stderr).toMatch(/IO_ERROR.*no-such-file\.csv/);
    }
  });
});
