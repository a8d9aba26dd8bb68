// `npm run bench:read -- [--npy-mb 3000] [--csv-mb 1000] [--dir DIR]`: time and peak memory of
// readDataFile on a large float32 .npy (default 3 GB: over Node's 2 GiB readFile limit) and a large
// CSV (default 1 GB), written into a temporary folder (default os.tmpdir()) and deleted afterwards.
// Each file is read in a child process of its own, so that its peak RSS (process.resourceUsage()
// .maxRSS) is its own; `baseline_rss_mb` is that of a child that only loads the package.
// Reads the built package: run `npm run build:ts` first. Prints one JSON line last and writes
// benches/results/read.json.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { writeResult } from './lib/result.mjs';

const require = createRequire(import.meta.url);
const here = fileURLToPath(import.meta.url);
const root = path.resolve(path.dirname(here), '..');
const MB = 1e6;

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};

// Child: read one file (or none) and report.
if (args[0] === '--child') {
  const { readDataFile } = require(path.join(root, 'dist', 'index.js'));
  const file = args[1];
  const out = { rss_mb: 0, seconds: 0, rows: 0, cols: 0 };
  if (file) {
    const t = performance.now();
    const { matrix } = await readDataFile(file);
    out.seconds = (performance.now() - t) / 1000;
    [out.rows, out.cols] = [matrix.rows, matrix.cols];
  }
  out.rss_mb = (process.resourceUsage().maxRSS * 1024) / MB;
  console.log(JSON.stringify(out));
  process.exit(0);
}

const npyMb = Number(arg('npy-mb', 3000));
const csvMb = Number(arg('csv-mb', 1000));
const dir = fs.mkdtempSync(path.join(arg('dir', os.tmpdir()), 'dgg-read-bench-'));
const COLS = 784; // an MNIST-like width for the .npy
const CSV_COLS = 32;

/** Deterministic values in [-8, 8) with 7 significant digits, without holding the data. */
function* values(seed) {
  let x = seed >>> 0;
  for (;;) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    yield Math.fround((x / 2 ** 32) * 16 - 8);
  }
}

function writeNpy(file, bytes) {
  const rows = Math.max(1, Math.floor(bytes / (4 * COLS)));
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${COLS}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const head = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(head);
  head.writeUInt16LE(header.length, 8);
  const fd = fs.openSync(file, 'w');
  fs.writeSync(fd, Buffer.concat([head, Buffer.from(header, 'latin1')]));
  const chunk = new Float32Array(COLS * 4096);
  const gen = values(1);
  for (let left = rows * COLS; left > 0; left -= chunk.length) {
    const n = Math.min(left, chunk.length);
    for (let i = 0; i < n; i++) chunk[i] = gen.next().value;
    fs.writeSync(fd, new Uint8Array(chunk.buffer, 0, n * 4));
  }
  fs.closeSync(fd);
}

function writeCsv(file, bytes) {
  const fd = fs.openSync(file, 'w');
  const gen = values(2);
  let written = 0;
  let text = `${Array.from({ length: CSV_COLS }, (_, j) => `x${j}`).join(',')}\n`;
  while (written + text.length < bytes) {
    const cells = new Array(CSV_COLS);
    for (let j = 0; j < CSV_COLS; j++) cells[j] = gen.next().value.toPrecision(7);
    text += `${cells.join(',')}\n`;
    if (text.length >= 1 << 20) {
      fs.writeSync(fd, text);
      written += text.length;
      text = '';
    }
  }
  fs.writeSync(fd, text);
  fs.closeSync(fd);
}

function child(file) {
  const out = execFileSync(process.execPath, [here, '--child', ...(file ? [file] : [])], { encoding: 'utf8', maxBuffer: 1 << 20 });
  return JSON.parse(out.trim().split('\n').pop());
}

const files = [];
try {
  const baseline = child();
  for (const [format, mb, write] of [['npy', npyMb, writeNpy], ['csv', csvMb, writeCsv]]) {
    if (!(mb > 0)) continue;
    const file = path.join(dir, `data.${format}`);
    write(file, mb * MB);
    const bytes = fs.statSync(file).size;
    const r = child(file);
    fs.rmSync(file, { force: true });
    files.push({
      format,
      file_mb: +(bytes / MB).toFixed(1),
      rows: r.rows,
      cols: r.cols,
      float32_mb: +((r.rows * r.cols * 4) / MB).toFixed(1),
      seconds: +r.seconds.toFixed(3),
      peak_rss_mb: +r.rss_mb.toFixed(1),
    });
    console.error(`${format}: ${files.at(-1).file_mb} MB in ${files.at(-1).seconds} s, peak RSS ${files.at(-1).peak_rss_mb} MB`);
  }
  const result = {
    bench: 'read',
    files,
    baseline_rss_mb: +baseline.rss_mb.toFixed(1),
    command: `npm run bench:read -- --npy-mb ${npyMb} --csv-mb ${csvMb}`,
  };
  writeResult('read', result);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
