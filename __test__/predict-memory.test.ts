// `predict` streams its input: a 1 GB CSV (3.2 million rows of 32 features) goes through the CLI
// with its peak RSS under 500 MB, where reading it whole holds 415 MB of float32 alone (938 MB at
// peak: BENCHMARKS.md, bench:read). The CSV is written into a temporary folder and deleted after;
// the peak is the child's VmHWM, polled from /proc (Linux only). About a minute on 2 cores.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DGG } from '../ts/index';
import { blobs, SMALL } from './helpers';

const root = path.resolve(__dirname, '..');
const COLS = 32;
const BYTES = 1e9;

/** The peak RSS (VmHWM) of a process in MB, or 0 once it has gone. */
function peakMb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

describe.skipIf(process.platform !== 'linux')('predict on a file larger than the memory it may use', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgg-predict-1gb-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('should stream a 1 GB CSV through predict with a peak RSS under 500 MB', async () => {
    const { rows } = blobs(200, COLS);
    const model = path.join(dir, 'm.dgg');
    const m = new DGG(SMALL);
    await m.fit(rows);
    await m.save(model);

    // 600 rows of text (about 200 KB), repeated to 1 GB.
    const block = Buffer.from(rows.map((r) => r.map((v) => v.toPrecision(7)).join(',')).join('\n') + '\n');
    const csv = path.join(dir, 'big.csv');
    const fd = fs.openSync(csv, 'w');
    let size = 0;
    for (; size + block.length <= BYTES; size += block.length) fs.writeSync(fd, block);
    fs.closeSync(fd);
    const n = (size / block.length) * rows.length;

    const out = path.join(dir, 'labels.csv');
    const t0 = performance.now();
    const child = spawn(process.execPath, [path.join(root, 'dist', 'cli.js'), 'predict', '--model', model, csv, '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b) => (stdout += b));
    child.stderr.on('data', (b) => (stderr += b));
    let peak = 0;
    const poll = setInterval(() => (peak = Math.max(peak, peakMb(child.pid!))), 100);
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    clearInterval(poll);
    const seconds = (performance.now() - t0) / 1000;
    console.log(`predict of a ${(size / 1e6).toFixed(0)} MB CSV (${n} x ${COLS}): ${seconds.toFixed(1)} s, peak RSS ${peak.toFixed(0)} MB`);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain(`${n} x ${COLS}, k = 3`);
    expect(fs.statSync(out).size).toBe(2 * n); // one digit and a newline per row
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThan(500);
  }, 300_000);
});
