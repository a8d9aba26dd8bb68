// Where a bench's figures come from, and how they are kept: every `npm run bench:*` script written
// in JavaScript prints its result as one JSON line last and writes it to benches/results/<name>.json
// with the machine, the date and the commit.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The machine, the date and the commit of this run. */
export function provenance() {
  let commit = '';
  try {
    commit = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {}
  let cpu = os.cpus()[0]?.model ?? '';
  try {
    cpu = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) ?? [])[1] ?? cpu;
  } catch {}
  return {
    node: process.version,
    machine: `${os.availableParallelism()} cores, ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    commit,
  };
}

/** Adds {@link provenance}, writes benches/results/<name>.json atomically and prints the line. */
export function writeResult(name, result) {
  const line = JSON.stringify({ ...result, ...provenance() });
  const out = path.join(root, 'benches', 'results');
  fs.mkdirSync(out, { recursive: true });
  const tmp = path.join(out, `.${name}.json.tmp`);
  fs.writeFileSync(tmp, `${line}\n`);
  fs.renameSync(tmp, path.join(out, `${name}.json`));
  console.log(line);
}
