// The fuzz target of the TypeScript readers (ts/io.ts): readDataFile and readLabelsFile on mutated
// .csv, .csv.gz, .npy, .npy.gz, IDX and .json files. Run by benches/fuzz/run.mjs:
//
//   node benches/fuzz/readers.mjs --format csv|csv.gz|npy|npy.gz|idx|json --seconds S \
//     --corpus DIR --io PATH/io.js [--seed N]
//
// `--io` is ts/io.ts compiled to JavaScript (run.mjs compiles it to a temporary folder). Until the
// time is up: pick a file from the corpus (the seed files in DIR, plus up to POOL mutants that
// read without error), mutate it (byte mutations; text mutations for CSV and JSON; header
// mutations for .npy and IDX; for gzip, either the compressed bytes or the content, re-compressed,
// and now and then a decompression bomb), write it to a file with the format's extension, and read
// it with both readers under a small `maxBytes`.
//
// A typed DggError (INVALID_DATA, IO_ERROR, ...) is the expected answer to a bad file. A crash is
// anything else: another exception, a DggError with code INTERNAL (the readers wrap unexpected
// exceptions in one), an uncaught exception or unhandled rejection, or a result that breaks the
// readers' contract (a matrix whose data does not match rows x cols, labels of the wrong length).
// A hang is one call over HANG_MS; a call stuck in synchronous code is killed by run.mjs's
// watchdog, and the input is then the `.current` file below. Crashing inputs are saved to
// <tmp>/dgg-fuzz/crashes/. The last stdout line is the JSON result.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { createRequire } from 'node:module';

const HANG_MS = 5000;
const POOL = 64;
const MAX_INPUT = 1 << 20;
// The gzip limit given to the readers: bombs stop after 1 MiB of output.
const MAX_BYTES = 1 << 20;

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
};
const format = arg('--format');
const seconds = Number(arg('--seconds'));
const corpus = arg('--corpus');
const ioPath = arg('--io');
const seed = Number(arg('--seed', String(Date.now() % 2 ** 31)));
const EXT = { csv: 'csv', 'csv.gz': 'csv.gz', npy: 'npy', 'npy.gz': 'npy.gz', idx: 'idx', json: 'json' };
if (!EXT[format] || !(seconds >= 0) || !corpus || !ioPath) {
  console.error('usage: readers.mjs --format csv|csv.gz|npy|npy.gz|idx|json --seconds S --corpus DIR --io PATH/io.js [--seed N]');
  process.exit(2);
}
const require = createRequire(import.meta.url);
const { readDataFile, readLabelsFile } = require(path.resolve(ioPath));
const { DggError } = require(path.join(path.dirname(path.resolve(ioPath)), 'errors.js'));

// ---------------------------------------------------------------------------------------------
// Random numbers: mulberry32, seeded, so a run can be repeated.

let state = seed >>> 0;
const random = () => {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
};
const int = (n) => Math.floor(random() * n); // 0..n-1
const pick = (xs) => xs[int(xs.length)];

// ---------------------------------------------------------------------------------------------
// Mutations

const INTERESTING = [0, 1, 2, 7, 8, 0x7f, 0x80, 0xff, 0x7fff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff];

/** One to four random byte-level mutations (as fuzz.rs's havoc). */
function havoc(base, other) {
  let b = Buffer.from(base);
  for (let m = 1 + int(4); m > 0; m--) {
    const len = b.length;
    switch (int(9)) {
      case 0: // flip a bit
        if (len > 0) b[int(len)] ^= 1 << int(8);
        break;
      case 1: // a byte to an interesting value
        if (len > 0) b[int(len)] = pick([0, 0xff, 0x7f, 0x80, 1, 0x20, 0x22, 0x2c, 0x0a, 0x2d, 0x39]);
        break;
      case 2: {
        // a 1, 2 or 4-byte field to an interesting integer, either byte order
        const width = pick([1, 2, 4]);
        if (len >= width) {
          const at = int(len - width + 1);
          const v = (pick(INTERESTING) + int(3) - 1) >>> 0;
          for (let i = 0; i < width; i++) b[at + i] = (random() < 0.5 ? v >>> (8 * i) : v >>> (8 * (width - 1 - i))) & 0xff;
        }
        break;
      }
      case 3: // a random byte
        if (len > 0) b[int(len)] = int(256);
        break;
      case 4: // truncate
        b = b.subarray(0, int(len + 1));
        break;
      case 5: // delete a run
        if (len > 0) {
          const at = int(len);
          const n = 1 + int(Math.min(64, len - at));
          b = Buffer.concat([b.subarray(0, at), b.subarray(at + n)]);
        }
        break;
      case 6: {
        // insert random bytes
        const at = int(len + 1);
        const run = Buffer.from(Array.from({ length: 1 + int(32) }, () => int(256)));
        b = Buffer.concat([b.subarray(0, at), run, b.subarray(at)]);
        break;
      }
      case 7: // duplicate a run, possibly many times over
        if (len > 0) {
          const at = int(len);
          const run = b.subarray(at, at + 1 + int(Math.min(256, len - at)));
          const to = int(len + 1);
          b = Buffer.concat([b.subarray(0, to), ...Array(1 + int(8)).fill(run), b.subarray(to)]);
        }
        break;
      default: // splice: this input's head and another's tail
        b = Buffer.concat([b.subarray(0, int(len + 1)), other.subarray(int(other.length + 1))]);
    }
  }
  return b;
}

// Cells that break assumptions: past float32 and float64, tokens for missing or non-finite
// values, hex, locale decimals, quotes, control characters, non-ASCII digits.
const CELLS = [
  '1e39', '-1e39', '1e309', '-1e309', '1e-400', '3.4028236e38', '9'.repeat(400), '-0', '0x10', '1_000', '1,5',
  'NaN', 'nan', '-NaN', 'NA', 'N/A', '#N/A', 'null', 'None', '<NA>', '', ' ', 'inf', '-inf', 'Infinity', '+Infinity',
  '"1"', '"', '""', '"a,b"', '"1""2"', '\t1', '1 2', '\u0000', '\u00a0', '\u0661', '１', 'é', '\ufeff1', '1e', '.', '-', '+', 'e5',
];

/** Text mutations of CSV: cells replaced, columns added or removed, lines repeated, long lines, other delimiters. */
function mutateCsv(buf) {
  const lines = buf.toString('latin1').split('\n');
  for (let m = 1 + int(3); m > 0; m--) {
    if (lines.length === 0) lines.push('');
    const i = int(lines.length);
    const delim = lines[i].includes('\t') ? '\t' : lines[i].includes(';') ? ';' : ',';
    const cells = lines[i].split(delim);
    switch (int(10)) {
      case 0:
      case 1:
      case 2: // a cell
        cells[int(cells.length)] = pick(CELLS);
        lines[i] = cells.join(delim);
        break;
      case 3: // one cell more or fewer
        if (random() < 0.5) cells.push(pick(['1', '', 'x']));
        else cells.splice(int(cells.length), 1);
        lines[i] = cells.join(delim);
        break;
      case 4: // a line repeated (up to about 64 KiB more)
        lines.splice(i, 0, ...Array(1 + int(Math.max(1, Math.floor(65536 / (lines[i].length + 1))))).fill(lines[i]));
        break;
      case 5: // a very long line (up to 256 Ki cells)
        lines[i] = Array(1 + int(1 << 18)).fill(pick(['1', '0.5', 'a', ''])).join(delim);
        break;
      case 6: // a line removed, or an empty, comment or header line added
        if (random() < 0.5) lines.splice(i, 1);
        else lines.splice(i, 0, pick(['', '#', '# comment', cells.map((_, j) => `c${j}`).join(delim), delim.repeat(cells.length)]));
        break;
      case 7: // another delimiter for this line or all
        if (random() < 0.5) lines[i] = cells.join(pick([',', ';', '\t', ' ', '  ', '|']));
        else for (let j = 0; j < lines.length; j++) lines[j] = lines[j].split(delim).join(pick([';', '\t', ' ']));
        break;
      case 8: // quotes around a cell, CR line ends, a byte-order mark
        if (random() < 0.4) {
          const j = int(cells.length);
          cells[j] = `"${cells[j]}${random() < 0.3 ? '' : '"'}`;
          lines[i] = cells.join(delim);
        } else if (random() < 0.5) for (let j = 0; j < lines.length; j++) lines[j] += '\r';
        else lines[0] = `\ufeff${lines[0]}`;
        break;
      default: // a number's digits
        lines[i] = lines[i].replace(/\d+/, () => pick(['0', '4294967296', '1e400', '99999999999999999999', '-1']));
    }
  }
  return Buffer.from(lines.join('\n'), 'latin1');
}

/** Text mutations of JSON: numbers, structure (nesting, empty arrays, ragged rows, strings), shape fields. */
function mutateJson(buf) {
  const text = buf.toString('utf8');
  let v;
  try {
    v = JSON.parse(text);
  } catch {
    return havoc(buf, buf);
  }
  switch (int(7)) {
    case 0: // a number's text
      return Buffer.from(text.replace(/-?\d+(\.\d+)?([eE][+-]?\d+)?/g, (s) => (random() < 0.3 ? pick(['1e309', '-1e400', '1e39', '9007199254740993', '-0', 'NaN', 'null', '"1"', '[]', '{}', '2.5']) : s)));
    case 1: // deep nesting
      return Buffer.from('['.repeat(1 + int(200000)) + ']'.repeat(int(200001)));
    case 2: // a ragged or empty row, or a row of strings
      if (Array.isArray(v) && v.length > 0) {
        const i = int(v.length);
        v[i] = pick([[], [1], Array.isArray(v[i]) ? [...v[i], 1] : 1, ['a', 'b'], null, {}, [[1, 2]], 'x', true]);
      } else v = pick([[], [[]], {}, null, 1, 'x']);
      return Buffer.from(JSON.stringify(v));
    case 3: // { data, shape } with a wrong or huge shape
      return Buffer.from(JSON.stringify({
        data: Array.isArray(v) ? v.flat(2) : v?.data,
        shape: pick([[2, 2], [0, 0], [1e9, 1e9], [-1, 4], [2.5, 2], [2 ** 31, 2], [4], [1, 1, 1], null, 'x', [2, 2, 2]]),
      }));
    case 4: // many rows (up to about 200 KiB)
      return Buffer.from(JSON.stringify(Array.isArray(v) && v.length > 0 ? Array(1 + int(20000)).fill(v[0]) : v));
    case 5: // a key removed or renamed
      if (v && typeof v === 'object' && !Array.isArray(v)) {
        const keys = Object.keys(v);
        const k = pick(keys);
        if (random() < 0.5) delete v[k];
        else v[pick(['__proto__', 'constructor', 'rows', 'cols', 'length', 'Data'])] = v[k];
      }
      return Buffer.from(JSON.stringify(v));
    default: // a number far out of float32 range in an array of arrays
      return Buffer.from(JSON.stringify(v).replace(/\d+/, pick(['1e39', '1e308', '5e-324'])));
  }
}

/** Header mutations of .npy: dtype, order, shape, header length, version. */
function mutateNpy(buf) {
  const major = buf[6];
  if (buf.length < (major === 1 ? 10 : 12)) return havoc(buf, buf);
  const start = major === 1 ? 10 : 12;
  const len = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  let header = buf.subarray(start, start + len).toString('latin1');
  let data = buf.subarray(start + len);
  switch (int(6)) {
    case 0:
      header = header.replace(/'descr': '[^']*'/, `'descr': '${pick(['<f4', '<f8', '|u1', '|b1', '<i2', '<u2', '<i4', '<u4', '<i8', '<u8', '>f4', '>f8', '=f4', '<f2', '<c8', '|O', 'f4', '<U3', '', '<f4<'])}'`);
      break;
    case 1:
      header = header.replace(/False|True/, pick(['True', 'False', 'false', '0', '']));
      break;
    case 2: // a dimension, or the whole shape
      header = random() < 0.6
        ? header.replace(/\d+/, pick(['0', '1', '4294967296', '9007199254740993', '99999999999999999999', '-1', '1L', '1e3', ' ', '']))
        : header.replace(/\([^)]*\)/, pick(['()', '(0,)', '(0, 1000000000)', '(1000000000, 0)', '(1, 1, 1, 1)', '(3, 4, 5)', '(65536, 65536, 65536)', '(2,,3)', '(', 'x']));
      break;
    case 3: // data of another length
      data = random() < 0.5 ? data.subarray(0, int(data.length + 1)) : Buffer.concat([data, data]);
      break;
    case 4: // the version byte
      return Buffer.concat([buf.subarray(0, 6), Buffer.from([pick([0, 2, 3, 4, 255]), 0]), buf.subarray(8)]);
    default: // the header length field
      {
        const b = Buffer.from(buf);
        b.writeUInt16LE(pick([0, 1, len - 1, len + 1, 0xffff, 65535]) & 0xffff, 8);
        return b;
      }
  }
  const head = Buffer.from(header, 'latin1');
  const pre = Buffer.from(buf.subarray(0, start));
  if (major === 1) pre.writeUInt16LE(Math.min(head.length, 0xffff), 8);
  else pre.writeUInt32LE(head.length, 8);
  return Buffer.concat([pre, head, data]);
}

/** Header mutations of IDX: type byte, number of dimensions, a dimension, the data's length. */
function mutateIdx(buf) {
  if (buf.length < 4) return havoc(buf, buf);
  const b = Buffer.from(buf);
  const ndim = b[3];
  switch (int(4)) {
    case 0:
      b[2] = pick([0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e, 0x0a, 0x0f, 0x00, 0xff]);
      return b;
    case 1:
      b[3] = pick([0, 1, 2, 3, 4, 255, ndim + 1, ndim - 1]) & 0xff;
      return b;
    case 2: // a dimension
      if (b.length >= 4 + 4 * ndim && ndim > 0) b.writeUInt32BE(pick([0, 1, 2, 0x7fffffff, 0xffffffff, 0x10000, 60000, 28]), 4 + 4 * int(ndim));
      return b;
    default: // data of another length
      return random() < 0.5 ? b.subarray(0, int(b.length + 1)) : Buffer.concat([b, b.subarray(4 + 4 * ndim)]);
  }
}

const INNER = { csv: mutateCsv, json: mutateJson, npy: mutateNpy, idx: mutateIdx };

function gunzip(b) {
  try {
    return zlib.gunzipSync(b, { maxOutputLength: MAX_INPUT });
  } catch {
    return undefined;
  }
}

function mutate(base, other) {
  const gz = format.endsWith('.gz');
  const inner = format.replace(/\.gz$/, '');
  const structured = (plain, otherPlain) => (random() < 0.4 ? havoc(plain, otherPlain) : INNER[inner](plain));
  if (!gz) return structured(base, other);
  const r = random();
  if (r < 0.3) return havoc(base, other); // the compressed bytes
  const plain = gunzip(base) ?? base;
  if (r < 0.33) {
    // A decompression bomb: the content repeated past maxBytes, compressed (to a few KB).
    const times = Math.ceil((MAX_BYTES + 1) / Math.max(1, plain.length));
    return zlib.gzipSync(Buffer.concat(Array(times).fill(plain)), { level: 9 });
  }
  if (r < 0.36) return Buffer.concat([base, random() < 0.5 ? base : Buffer.from('trailing garbage')]); // two members, or junk after one
  return zlib.gzipSync(structured(plain, gunzip(other) ?? other), { level: 1 });
}

// ---------------------------------------------------------------------------------------------
// The loop

const work = path.join(os.tmpdir(), 'dgg-fuzz');
const crashDir = path.join(work, 'crashes');
fs.mkdirSync(crashDir, { recursive: true });
// Where run.mjs finds the input if this process is killed.
const current = path.join(work, `${format}-${process.pid}.current.${EXT[format]}`);
const seeds = fs.readdirSync(corpus).sort().map((f) => path.join(corpus, f)).filter((f) => fs.statSync(f).isFile()).map((f) => fs.readFileSync(f));
if (seeds.length === 0) {
  console.error(`readers.mjs: no seed files in ${corpus}`);
  process.exit(2);
}
const pool = [];
const stats = { executions: 0, ok: 0, errors: 0, crashes: 0, hangs: 0, maxCallMs: 0 };
const crashFiles = [];
const messages = new Map();
let input = Buffer.alloc(0);

function crash(what, e) {
  stats.crashes++;
  // An INTERNAL DggError wraps the exception that escaped: its stack says where.
  const at = e instanceof DggError && e.cause instanceof Error ? e.cause : e;
  let stack;
  try {
    stack = at instanceof Error ? String(at.stack ?? at.message).split('\n').slice(0, 4).join(' | ') : String(at);
  } catch {
    stack = `a thrown ${typeof at} without a string form`;
  }
  if (what !== 'exception' && what !== 'DggError INTERNAL') console.error(`readers.mjs ${format}: ${what}: ${stack}`);
  const key = `${what}: ${stack.replace(/\d+/g, 'N').slice(0, 300)}`;
  messages.set(key, (messages.get(key) ?? 0) + 1);
  // One file per distinct failure (and at most 20 in all) is enough to reproduce it.
  if (messages.get(key) === 1 && crashFiles.length < 20) {
    const file = path.join(crashDir, `${format}-crash-${stats.crashes}-${process.pid}.${EXT[format]}`);
    fs.writeFileSync(file, input);
    crashFiles.push(file);
  }
}
process.on('uncaughtException', (e) => crash('uncaught exception', e));
process.on('unhandledRejection', (e) => crash('unhandled rejection', e));

/** Checks what a reader returned against its contract; a breach throws. */
function checkData(r) {
  const m = r.matrix;
  if (!(m.data instanceof Float32Array) || !Number.isInteger(m.rows) || !Number.isInteger(m.cols) || m.data.length !== m.rows * m.cols) {
    throw new Error(`contract: matrix ${m.rows} x ${m.cols} with ${m.data?.length} values`);
  }
  if (r.labels && r.labels.length !== m.rows) throw new Error(`contract: ${r.labels.length} labels for ${m.rows} rows`);
  if (r.columns && r.columns.length !== m.cols) throw new Error(`contract: ${r.columns.length} column names for ${m.cols} columns`);
}
function checkLabels(l) {
  if (!(l instanceof Int32Array) || l.length === 0 || l.some((v) => v < 0)) throw new Error('contract: labels not a non-empty Int32Array of values >= 0');
}

const DATA_OPTIONS = [{}, {}, { labelColumn: 'last' }, { labelColumn: 0 }, { labelColumn: -1 }, { header: true }, { header: false }, { labelColumn: 'species' }, { labelColumn: 'c1', header: true }, { labelColumn: 99 }];

/** Runs one reader call; returns true when it read the file. */
async function one(read, check) {
  const t = performance.now();
  let timer;
  const stuck = new Promise((resolve) => {
    timer = setTimeout(() => resolve('stuck'), 2 * HANG_MS);
  });
  let loaded = false;
  try {
    const r = await Promise.race([read(), stuck]);
    if (r !== 'stuck') {
      check(r);
      stats.ok++;
      loaded = true;
    }
  } catch (e) {
    if (e instanceof DggError && e.code !== 'INTERNAL') stats.errors++;
    else crash(e instanceof DggError ? 'DggError INTERNAL' : 'exception', e);
  } finally {
    clearTimeout(timer);
  }
  const ms = performance.now() - t;
  stats.maxCallMs = Math.max(stats.maxCallMs, ms);
  if (ms > HANG_MS) {
    stats.hangs++;
    if (crashFiles.length < 20) {
      const file = path.join(crashDir, `${format}-hang-${stats.hangs}-${process.pid}.${EXT[format]}`);
      fs.writeFileSync(file, input);
      crashFiles.push(file);
    }
  }
  return loaded;
}

// A failure of the loop itself (a bug of this script, not of the readers) exits with code 3.
async function main() {
  const start = performance.now();
  while ((performance.now() - start) / 1000 < seconds) {
    const all = pool.length ? seeds.concat(pool) : seeds;
    input = mutate(pick(all), pick(all)).subarray(0, MAX_INPUT);
    fs.writeFileSync(current, input);
    stats.executions++;
    const opts = { ...pick(DATA_OPTIONS), maxBytes: MAX_BYTES };
    const a = await one(() => readDataFile(current, opts), checkData);
    await one(() => readLabelsFile(current, { header: pick([undefined, true, false, 'auto']), maxBytes: MAX_BYTES }), checkLabels);
    if (a && pool.length < POOL) pool.push(input);
  }
  fs.rmSync(current, { force: true });
  console.log(JSON.stringify({
    target: format,
    executions: stats.executions,
    ok: stats.ok,
    errors: stats.errors,
    crashes: stats.crashes,
    hangs: stats.hangs,
    max_call_ms: Math.round(stats.maxCallMs * 1000) / 1000,
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    seconds: (performance.now() - start) / 1000,
    seed,
    crash_files: crashFiles,
    crash_messages: [...messages].map(([message, count]) => ({ message, count })),
  }));
}
main().catch((e) => {
  console.error(`readers.mjs ${format}: fuzzer error (not a reader's): ${e?.stack ?? e}`);
  process.exit(3);
});
