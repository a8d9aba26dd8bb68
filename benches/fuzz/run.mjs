// `npm run fuzz -- [--seconds 600] [--targets model,graph,csv,csv.gz,npy,npy.gz,idx,json] [--seed N]`:
// fuzzes the model loader, the graph loader and the TypeScript readers for a set time.
//
// The seconds are split evenly across the targets, which run one after another, each in its own
// process: `fuzz` (benches/src/bin/fuzz.rs, built here with cargo, which honours CARGO_TARGET_DIR)
// for model and graph, and benches/fuzz/readers.mjs for the readers, on ts/io.ts compiled to a
// temporary folder (dist/ is left alone). The seeds are benches/fuzz/corpus/<target>/ (written by
// benches/fuzz/make-corpus.mjs). A watchdog kills a target still running 30 s after its share and
// counts a hang; a target that dies (an abort, a killed process) counts a crash, and its input is
// the `.current` file it left in <tmp>/dgg-fuzz/. Crashing inputs are kept in <tmp>/dgg-fuzz/crashes/.
//
// Prints one JSON line last (executions, crashes, hangs and peak RSS per target, totals,
// provenance) and writes it to benches/results/fuzz.json. Exits 1 if anything crashed or hung.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const RUST = ['model', 'graph'];
const JS = ['csv', 'csv.gz', 'npy', 'npy.gz', 'idx', 'json'];
const GRACE_S = 30;

const argv = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = argv.indexOf(name);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : fallback;
};
const seconds = Number(arg('--seconds', '600'));
const targets = arg('--targets', [...RUST, ...JS].join(',')).split(',').filter(Boolean);
const seed = arg('--seed');
const unknown = targets.filter((t) => !RUST.includes(t) && !JS.includes(t));
if (!(seconds > 0) || unknown.length > 0 || targets.length === 0) {
  console.error(`usage: npm run fuzz -- [--seconds S] [--targets ${[...RUST, ...JS].join(',')}] [--seed N]${unknown.length ? ` (unknown: ${unknown})` : ''}`);
  process.exit(2);
}
const share = seconds / targets.length;

// Build what the targets need (not counted in the seconds).
let fuzzBin;
if (targets.some((t) => RUST.includes(t))) {
  execFileSync('cargo', ['build', '--release', '-q', '-p', 'dgg-benches', '--bin', 'fuzz'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  const targetDir = process.env.CARGO_TARGET_DIR ? path.resolve(root, process.env.CARGO_TARGET_DIR) : path.join(root, 'target');
  fuzzBin = path.join(targetDir, 'release', process.platform === 'win32' ? 'fuzz.exe' : 'fuzz');
}
let ioJs;
let tsOut;
if (targets.some((t) => JS.includes(t))) {
  const outDir = (tsOut = fs.mkdtempSync(path.join(os.tmpdir(), 'dgg-fuzz-ts-')));
  execFileSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(root, 'tsconfig.json'), '--outDir', outDir], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  ioJs = path.join(outDir, 'io.js');
}

/** Runs one target under the watchdog; resolves to its result (its last JSON line, or what we know). */
function runTarget(target) {
  const corpus = path.join(root, 'benches', 'fuzz', 'corpus', target);
  const common = ['--seconds', String(share), '--corpus', corpus, ...(seed ? ['--seed', seed] : [])];
  const [cmd, args] = RUST.includes(target)
    ? [fuzzBin, ['--target', target, ...common]]
    : [process.execPath, [path.join(root, 'benches', 'fuzz', 'readers.mjs'), '--format', target, '--io', ioJs, ...common]];
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    let killed = false;
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    const watchdog = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, (share + GRACE_S) * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(watchdog);
      const last = stdout.trim().split('\n').pop();
      let result;
      try {
        result = JSON.parse(last);
      } catch {
        result = undefined;
      }
      if (code === 0 && result) return resolve(result);
      // Died or was killed: the input it was reading is its `.current` file.
      const work = path.join(os.tmpdir(), 'dgg-fuzz');
      const left = fs.existsSync(work) ? fs.readdirSync(work).filter((f) => f.startsWith(`${target}-${child.pid}.current`)) : [];
      const files = left.map((f) => {
        const kept = path.join(work, 'crashes', f.replace('.current', killed ? '-hang' : '-abort'));
        fs.mkdirSync(path.dirname(kept), { recursive: true });
        fs.renameSync(path.join(work, f), kept);
        return kept;
      });
      const how = killed ? `killed by the watchdog after ${share + GRACE_S} s` : `exited with ${signal ?? `code ${code}`} without a result`;
      console.error(`fuzz ${target}: ${how}; input: ${files.join(', ') || 'unknown'}`);
      resolve({
        target,
        executions: result?.executions ?? null,
        crashes: (result?.crashes ?? 0) + (killed ? 0 : 1),
        hangs: (result?.hangs ?? 0) + (killed ? 1 : 0),
        peak_rss_mb: result?.peak_rss_mb ?? null,
        crash_files: [...(result?.crash_files ?? []), ...files],
        crash_messages: [...(result?.crash_messages ?? []), { message: how, count: 1 }],
      });
    });
  });
}

const results = {};
for (const target of targets) {
  const r = await runTarget(target);
  const round = (x) => (typeof x === 'number' ? Math.round(x * 10) / 10 : x);
  results[target] = { executions: r.executions, crashes: r.crashes, hangs: r.hangs, peak_rss_mb: round(r.peak_rss_mb), max_call_ms: round(r.max_call_ms) };
  if (r.crash_files?.length) results[target].crash_files = r.crash_files;
  if (r.crash_messages?.length) results[target].crash_messages = r.crash_messages;
  console.error(`fuzz ${target}: ${JSON.stringify(results[target])}`);
}

if (tsOut) fs.rmSync(tsOut, { recursive: true, force: true });

const sh = (cmd, args) => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
};
const sum = (key) => Object.values(results).reduce((a, r) => a + (r[key] ?? 0), 0);
const cpu = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) ?? [])[1] ?? '';
const result = {
  bench: 'fuzz',
  seconds,
  targets: results,
  crashes_total: sum('crashes'),
  hangs_total: sum('hangs'),
  peak_rss_mb: Math.max(...Object.values(results).map((r) => r.peak_rss_mb ?? 0)),
  machine: `${os.availableParallelism()} cores, ${cpu}`,
  date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  commit: sh('git', ['-C', root, 'rev-parse', '--short', 'HEAD']),
  command: `npm run fuzz${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
};
const out = path.join(root, 'benches', 'results');
fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(path.join(out, '.fuzz.json.tmp'), `${JSON.stringify(result)}\n`);
fs.renameSync(path.join(out, '.fuzz.json.tmp'), path.join(out, 'fuzz.json'));
console.log(JSON.stringify(result));
process.exitCode = result.crashes_total + result.hangs_total > 0 ? 1 : 0;
