// `npm run bench:service [-- --seconds 30 --connections 64 --model FILE]` (after `npm run build`):
// the service example (examples/service/server.mjs) under load. A digits model with the paper's
// network (64-500-500-2000-10) is fitted briefly (inference cost depends on the network, not on
// how long it trained) unless --model names one; the service runs in a child process and
// autocannon drives POST /predict with one digits row per request (JSON) from this process.
// rss_start_mb is the service's RSS after a 3 s warm-up, rss_end_mb after the run (with samples
// every 5 s between); load_average_at_start says whether other work shared the machine. Prints one
// JSON line last and writes benches/results/service.json.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { writeResult } from './lib/result.mjs';
import autocannon from 'autocannon';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { DGG, readDataFile, bundledDigitsPath } = require(path.join(root, 'dist', 'index.js'));

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const seconds = Number(arg('seconds', 30));
const connections = Number(arg('connections', 64));

const rssMb = (pid) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
};
const run = (opts) => new Promise((resolve, reject) => autocannon(opts, (e, r) => (e ? reject(e) : resolve(r))));

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgg-service-bench-'));
let child;
try {
  const { matrix } = await readDataFile(bundledDigitsPath(), { labelColumn: 'last', header: false });
  let modelPath = arg('model');
  if (!modelPath) {
    modelPath = path.join(dir, 'digits.dgg');
    const model = new DGG({ nClusters: 10, graph: 'euclidean', epochs: { layerwise: 0, pretrain: 1, siamese: 0, classifier: 1, dgg: 1 }, device: 'cpu' });
    await model.fit(matrix);
    await model.save(modelPath);
  }
  child = spawn(process.execPath, [path.join(root, 'examples', 'service', 'server.mjs'), '--model', modelPath, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const base = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (b) => {
      out += b;
      const line = out.split('\n').find((l) => l.includes('listening'));
      if (line) resolve(JSON.parse(line).listening);
    });
    child.on('exit', (code) => reject(new Error(`the service exited with ${code}`)));
  });
  const row = Array.from(matrix.data.subarray(0, matrix.cols));
  const request = { url: `${base}/predict`, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([row]) };
  await run({ ...request, connections, duration: 3 });
  const rssStart = rssMb(child.pid);
  const statsBefore = (await (await fetch(`${base}/healthz`)).json()).batches;
  // RSS every 5 s of the run: a leak shows as a climb, a warm heap as a plateau.
  const samples = [];
  const sampler = setInterval(() => samples.push(+rssMb(child.pid).toFixed(1)), 5000);
  const load = os.loadavg()[0];
  const r = await run({ ...request, connections, duration: seconds });
  clearInterval(sampler);
  const rssEnd = rssMb(child.pid);
  const statsAfter = (await (await fetch(`${base}/healthz`)).json()).batches;
  const batches = statsAfter.batches - statsBefore.batches;

  const result = {
    bench: 'service',
    model: arg('model') ? path.basename(modelPath) : 'digits 64-500-500-2000-10',
    request: 'POST /predict, one 64-d row as JSON',
    connections,
    seconds,
    requests_per_s: Math.round(r.requests.average),
    p50_ms: r.latency.p50,
    p99_ms: r.latency.p99,
    errors: r.errors + r.timeouts + r.non2xx,
    requests: r.requests.total,
    rows_per_batch: batches > 0 ? +((statsAfter.rows - statsBefore.rows) / batches).toFixed(1) : null,
    rss_start_mb: +rssStart.toFixed(1),
    rss_end_mb: +rssEnd.toFixed(1),
    rss_every_5s_mb: samples,
    load_average_at_start: +load.toFixed(2),
    command: `npm run bench:service${args.length ? ` -- ${args.join(' ')}` : ''}`,
    note:
      `autocannon ran on the same ${os.availableParallelism()} cores as the service` +
      (load >= 1 ? `; the machine was shared with other work (load average ${load.toFixed(1)} at the start)` : ''),
  };
  writeResult('service', result);
} finally {
  child?.kill('SIGTERM');
  fs.rmSync(dir, { recursive: true, force: true });
}
