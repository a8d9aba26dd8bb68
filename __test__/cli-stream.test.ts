// The CLI for pipes and large files: '-' for stdin and stdout, --format, predict in chunks (its
// outputs equal to predicting the whole file at once), and inspect. Runs the built CLI (dist/).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DGG, readDataFile } from '../ts/index';
import { blobs, SMALL } from './helpers';

const root = path.resolve(__dirname, '..');
const cliPath = path.join(root, 'dist', 'cli.js');

function cli(args: string[], input?: string | Buffer) {
  const r = spawnSync(process.execPath, [cliPath, ...args], { cwd: root, input, encoding: 'utf8', maxBuffer: 1 << 26 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the CLI with pipes and in chunks', () => {
  let dir: string;
  let csv: string;
  let text: string;
  let config: string;
  const data = blobs(30, 9);
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgg-cli-stream-'));
    text = data.rows.map((r) => r.join(',')).join('\n') + '\n';
    csv = path.join(dir, 'rows.csv');
    fs.writeFileSync(csv, text);
    config = path.join(dir, 'small.json');
    fs.writeFileSync(config, JSON.stringify(SMALL));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("should fit from stdin and print the labels alone on stdout with --out -", () => {
    const model = path.join(dir, 'm.dgg');
    const r = cli(['fit', '-', '--config', config, '--out', '-', '--model', model, '--quiet'], text);
    expect(r.stderr).toMatch(/^fit -: 90 x 9, k = 3/);
    expect(r.status).toBe(0);
    const labels = r.stdout.trim().split('\n');
    expect(labels).toHaveLength(90);
    expect(labels.every((l) => /^[0-2]$/.test(l))).toBe(true);
    expect(fs.existsSync(model)).toBe(true);
  });

  it('should predict from stdin and from a file in chunks, as the SDK predicts the whole', async () => {
    const model = path.join(dir, 'p.dgg');
    const m = new DGG(SMALL);
    await m.fit(data.rows);
    await m.save(model);
    const whole = Array.from(await m.predict(data.rows)).join('\n') + '\n';
    const piped = cli(['predict', '--model', model, '-', '--out', '-', '--chunk-rows', '7'], text);
    expect(piped.stderr).toBe('');
    expect(piped.stdout).toBe(whole);
    expect(cli(['predict', '--model', model, csv, '--chunk-rows', '16']).stdout).toBe(whole);

    // File outputs, written chunk by chunk, equal the whole-file writers' results.
    const [out, proba, probaCsv] = ['l.npy', 'p.npy', 'p.csv'].map((f) => path.join(dir, f));
    const r = cli(['predict', '--model', model, csv, '--chunk-rows', '7', '--out', out, '--proba', proba]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/predict .*rows\.csv: 90 x 9, k = 3/);
    const labels = await readDataFile(out);
    expect(Array.from(labels.matrix.data)).toEqual(Array.from(await m.predict(data.rows)));
    // A chunk goes through another GEMM blocking than the whole: equal to float rounding.
    const p = await m.predictProba(data.rows);
    const close = (got: Float32Array) => {
      expect(got.length).toBe(p.data.length);
      for (let i = 0; i < got.length; i++) expect(Math.abs(got[i] - p.data[i])).toBeLessThan(1e-5);
    };
    const back = await readDataFile(proba);
    expect([back.matrix.rows, back.matrix.cols]).toEqual([90, 3]);
    close(back.matrix.data);
    cli(['predict', '--model', model, csv, '--chunk-rows', '7', '--out', path.join(dir, 'l.json'), '--proba', probaCsv]);
    close((await readDataFile(probaCsv)).matrix.data);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'l.json'), 'utf8'))).toEqual(Array.from(await m.predict(data.rows)));

    const empty = cli(['predict', '--model', model, '-', '--json'], '');
    expect(empty.status).toBe(2);
    expect(empty.stderr).toMatch(/INVALID_DATA\]: stdin: data is empty/);
    // A failed run leaves no output file behind.
    const failed = cli(['predict', '--model', model, '-', '--out', path.join(dir, 'none.csv')], '1,2\n');
    expect(failed.stderr).toMatch(/DIMENSION_MISMATCH/);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('none.csv'))).toEqual([]);
  });

  it('should read .npy from stdin by its magic, and score a label column', async () => {
    const model = path.join(dir, 'p.dgg');
    const npy = path.join(dir, 'rows.npy');
    const { writeMatrix } = await import('../ts/io');
    await writeMatrix(npy, { data: Float32Array.from(data.rows.flat()), rows: 90, cols: 9 });
    const r = cli(['predict', '--model', model, '-', '--json', '--chunk-rows', '50'], fs.readFileSync(npy));
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ n: 90, d: 9, k: 3 });
    expect(out.labels).toHaveLength(90);
    expect(out.counts.reduce((a: number, b: number) => a + b, 0)).toBe(90);
    // A label column, scored across chunks (the labels are text: numbered by first appearance).
    const labelled = data.rows.map((row, i) => [...row, `class${data.labels[i]}`].join(',')).join('\n');
    const s = cli(['predict', '--model', model, '-', '--label-column', 'last', '--chunk-rows', '8', '--json'], labelled);
    expect(JSON.parse(s.stdout).acc).toBeGreaterThan(0.95);
    // A text stream with --format npy is refused by its content.
    expect(cli(['predict', '--model', model, '-', '--format', 'npy'], text).stderr).toMatch(/INVALID_DATA/);
  });

  it('should print what a model holds with inspect', () => {
    const model = path.join(dir, 'p.dgg');
    const j = cli(['inspect', '--model', model, '--json']);
    expect(j.status).toBe(0);
    const info = JSON.parse(j.stdout);
    expect(info).toMatchObject({ model, inputDim: 9, nClusters: 3, latentDim: 4, hidden: [32, 32], format: 'dgg-native-model', formatVersion: 1 });
    expect(info.options).toMatchObject({ nClusters: 3, neighbours: 5, batchSize: 32, epochs: SMALL.epochs });
    const t = cli(['inspect', '--model', model]);
    expect(t.stdout).toMatch(/input dim: 9\nclusters \(K\): 3\n/);
    expect(t.stdout).toMatch(/encoder: 9-32-32-4; classifier: linear 4-3/);
    const missing = cli(['inspect', '--model', path.join(dir, 'none.dgg')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/IO_ERROR/);
  });
});
