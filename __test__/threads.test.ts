// Training must not sit on libuv's thread pool: a service's fs, zlib and dns calls share its 4
// threads (here 2, as UV_THREADPOOL_SIZE=2 makes them), and two fits that held them would stall
// every fs call until one of them ended. A child process with a 2-thread pool runs two fits at
// once and times fs calls meanwhile. As a control it first holds both libuv threads with two
// crypto.pbkdf2 calls (which run on that pool) and shows that the same measurement then sees
// the stall: that is what this test would see if fits ran on libuv's pool.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');

const CHILD = `
const fs = require('node:fs');
const crypto = require('node:crypto');
const { DGG } = require(process.env.DGG_DIST);
const file = process.env.PROBE_FILE;

// fs calls one after another, 10 ms apart, until done() says stop: the slowest, median, count.
async function probe(done) {
  const ms = [];
  while (!done()) {
    const t = performance.now();
    await fs.promises.stat(file);
    await fs.promises.readFile(file);
    ms.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, 10));
  }
  ms.sort((a, b) => a - b);
  return { max: ms.at(-1) ?? 0, p50: ms[Math.floor(ms.length / 2)] ?? 0, n: ms.length };
}

async function window(work) {
  let finished = false;
  const t = performance.now();
  const all = Promise.all(work).finally(() => (finished = true));
  // Let the work take its threads first.
  await new Promise((r) => setTimeout(r, 50));
  const fsLatency = await probe(() => finished);
  await all;
  return { seconds: (performance.now() - t) / 1000, ...fsLatency };
}

(async () => {
  // Control: two pbkdf2 calls (about a second each on 2 cores) hold both libuv threads.
  const pbkdf2 = () => new Promise((res, rej) => crypto.pbkdf2('x', 'y', 3_000_000, 32, 'sha256', (e) => (e ? rej(e) : res())));
  const control = await window([pbkdf2(), pbkdf2()]);

  let s = 1;
  const rand = () => ((s = (s * 1664525 + 1013904223) % 4294967296) / 4294967296);
  const rows = [];
  for (let i = 0; i < 600; i++) rows.push(Array.from({ length: 24 }, (_, j) => (j % 3 === i % 3 ? 0.8 : 0.2) + (rand() - 0.5) * 0.2));
  const options = {
    nClusters: 3, hidden: [64, 64], latentDim: 4, graph: 'euclidean', neighbours: 5, batchSize: 32, device: 'cpu', threads: 1,
    epochs: { layerwise: 1, pretrain: 100, vae: 0, siamese: 0, classifier: 10, dgg: 5 },
  };
  const fits = await window([new DGG(options).fit(rows), new DGG(options).fit(rows)]);
  console.log(JSON.stringify({ control, fits, pool: process.env.UV_THREADPOOL_SIZE }));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
`;

describe('training off the libuv thread pool', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgg-threads-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('should keep fs calls fast while two fits run, with a libuv pool of 2 threads', () => {
    const script = path.join(dir, 'child.cjs');
    const probe = path.join(dir, 'probe.txt');
    fs.writeFileSync(script, CHILD);
    fs.writeFileSync(probe, 'x'.repeat(4096));
    const r = spawnSync(process.execPath, [script], {
      encoding: 'utf8',
      timeout: 240_000,
      env: { ...process.env, UV_THREADPOOL_SIZE: '2', DGG_DIST: path.join(root, 'dist', 'index.js'), PROBE_FILE: probe },
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const { control, fits } = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    console.log(`fs latency with 2 pbkdf2 calls on the pool: ${JSON.stringify(control)}; with 2 fits: ${JSON.stringify(fits)}`);
    // The control holds the pool while the pbkdf2 calls run (their length depends on the CPU):
    // the first fs call waits for most of it, and far longer than any call during the fits.
    expect(control.max).toBeGreaterThan(0.5 * control.seconds * 1000);
    expect(control.max).toBeGreaterThan(200);
    // The fits last long enough to be measured, and fs calls stay fast throughout.
    expect(fits.seconds).toBeGreaterThan(1);
    expect(fits.n).toBeGreaterThan(20);
    expect(fits.max).toBeLessThan(200);
    // The child runs about 5 s (a 2 s control, then the fits), more on a busy machine: vitest's
    // default 5 s would fail a run whose every measure passed.
  }, 240_000);
});
