import { execFileSync } from 'node:child_process';
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
// empty folder, with no access to this checkout.
describe('the CLI from the npm pack tarball', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgg-pack-'));
    const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: root, encoding: 'utf8' });
    const tarball = path.join(dir, JSON.parse(out)[0].filename);
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', tarball], { cwd: dir, stdio: 'pipe' });
  }, 300_000);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const cli = (args: string[]) => execFileSync(path.join(dir, 'node_modules', '.bin', 'dgg-native'), args, { cwd: dir, encoding: 'utf8' });

  it('should print help and the build info', () => {
    expect(cli(['--help'])).toMatch(/fit/);
    const info = JSON.parse(cli(['info', '--json']));
    expect(info.features).toContain('cpu');
  });

  it('should cluster the bundled digits and print one JSON object with the scores', () => {
    const started = Date.now();
    const out = cli(['fit', '--json', '--out', 'labels.csv', '--model', 'digits.dgg']);
    const result = JSON.parse(out.trim());
    expect(result.n).toBe(1797);
    expect(result.d).toBe(64);
    for (const key of ['acc', 'nmi', 'ari', 'seconds']) expect(typeof result[key]).toBe('number');
    expect(Array.isArray(result.warnings)).toBe(true);
    // Regression floor for the default fit on digits (see BENCHMARKS.md for the current figures).
    expect(result.acc).toBeGreaterThan(0.8);
    expect(Date.now() - started).toBeLessThan(300_000);
    const labels = fs.readFileSync(path.join(dir, 'labels.csv'), 'utf8').trim().split('\n');
    expect(labels.length).toBeGreaterThanOrEqual(1797);
    // The saved model predicts the same labels for the same data.
    const pred = JSON.parse(cli(['predict', '--model', 'digits.dgg', path.join(root, 'data', 'digits.csv.gz'), '--label-column', 'last', '--json']));
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
