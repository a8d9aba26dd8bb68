import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DGG, DggError, saveGraph, type Graph } from '../ts/index';
import { blobs, SMALL } from './helpers';

// Hostile model files and unsafe save targets: every failure is a DggError with a code that names
// the file; nothing aborts the process, loads silently, or writes where it should not.

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgg-files-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

async function failure(p: Promise<unknown>): Promise<DggError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(DggError);
    return e as DggError;
  }
  throw new Error('expected an error');
}

/** A safetensors file as its header (JSON) and data. */
interface Parts {
  header: Record<string, any>;
  data: Buffer;
}

function split(bytes: Buffer): Parts {
  const n = Number(bytes.readBigUInt64LE(0));
  return { header: JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')), data: Buffer.from(bytes.subarray(8 + n)) };
}

function join({ header, data }: Parts): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const n = Buffer.alloc(8);
  n.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([n, json, data]);
}

/** The file without its checksum, as saved before checksums existed. */
function unsealed(parts: Parts): Parts {
  const header = structuredClone(parts.header);
  delete header.__metadata__.checksum;
  return { header, data: parts.data };
}

/** Rewrites a model file's metadata entry `key` (JSON text), without a checksum. */
function editMeta(parts: Parts, key: string, edit: (v: any) => void): Parts {
  const out = unsealed(parts);
  const v = JSON.parse(out.header.__metadata__[key]);
  edit(v);
  out.header.__metadata__[key] = JSON.stringify(v);
  return out;
}

const rows = blobs(20, 6).rows.map((r) => r.map((v) => v - 0.5));
let bytes: Buffer;
let model: DGG;
let graph: Graph;

beforeAll(async () => {
  // Standardised input, so the file holds a per-feature scaler.
  model = new DGG({ ...SMALL, scale: 'standardize' });
  graph = (await model.fit(rows)).graph!;
  const file = path.join(os.tmpdir(), `dgg-files-model-${process.pid}.dgg`);
  await model.save(file);
  bytes = fs.readFileSync(file);
  fs.rmSync(file);
});

async function loadError(name: string, b: Buffer): Promise<DggError> {
  const file = path.join(dir, name);
  fs.writeFileSync(file, b);
  const e = await failure(DGG.load(file));
  expect(e.code, e.message).toBe('MODEL_FORMAT');
  expect(e.message).toContain(file);
  return e;
}

describe('model files', () => {
  it('should refuse huge declared shapes with MODEL_FORMAT instead of aborting', async () => {
    const p = split(bytes);
    const cases: [string, Parts, RegExp][] = [
      ['input', editMeta(p, 'shape', (s) => (s.input_dim = 1e9)), /parameters/],
      ['clusters', editMeta(editMeta(p, 'shape', (s) => (s.n_clusters = 2 ** 40)), 'config', (c) => (c.n_clusters = 2 ** 40)), /nClusters/],
      [
        'classifier',
        editMeta(editMeta(p, 'shape', (s) => (s.classifier_hidden = [1e6, 1e6])), 'config', (c) => (c.classifier = 'mlp')),
        /classifier_hidden/,
      ],
      [
        'hidden',
        editMeta(editMeta(p, 'shape', (s) => (s.hidden = [65536, 65536, 65536])), 'config', (c) => (c.hidden = [65536, 65536, 65536])),
        /parameters/,
      ],
    ];
    for (const [name, parts, re] of cases) expect((await loadError(`${name}.dgg`, join(parts))).message).toMatch(re);
    expect(process.memoryUsage().rss).toBeLessThan(2 ** 30);
  });

  it('should refuse a bit flip in the tensor data as a checksum mismatch', async () => {
    const p = split(bytes);
    for (const at of [0, 1234, p.data.length - 1]) {
      const data = Buffer.from(p.data);
      data[at] ^= 0x04;
      expect((await loadError('flipped.dgg', join({ header: p.header, data }))).message).toMatch(/checksum mismatch/);
    }
  });

  it('should refuse hostile metadata and tensors, naming the field', async () => {
    const p = split(bytes);
    const bias = p.header['classifier.l0.bias'].data_offsets[0];
    const infinite = Buffer.from(p.data);
    infinite.writeFloatLE(Infinity, bias);
    const retyped = unsealed(p);
    retyped.header['encoder.l0.weight'].dtype = 'I32';
    const cases: [string, Parts, RegExp][] = [
      ['std', editMeta(p, 'scaler', (s) => (s.std[0] = 0)), /scaler\.std\[0\]/],
      ['short', editMeta(p, 'scaler', (s) => s.mean.pop()), /scaler\.mean/],
      ['latent', editMeta(editMeta(p, 'shape', (s) => (s.latent_dim = 0)), 'config', (c) => (c.latent_dim = 0)), /latentDim/],
      ['clusters', editMeta(editMeta(p, 'shape', (s) => (s.n_clusters = 1)), 'config', (c) => (c.n_clusters = 1)), /nClusters/],
      ['bias', unsealed({ header: p.header, data: infinite }), /classifier\.l0\.bias.*non-finite/],
      ['dtype', retyped, /encoder\.l0\.weight.*dtype I32/],
      // With its checksum, any change to a file is caught first.
      ['sealed', { header: p.header, data: infinite }, /checksum mismatch/],
    ];
    for (const [name, parts, re] of cases) expect((await loadError(`${name}.dgg`, join(parts))).message).toMatch(re);
  });

  it('should load a file saved before checksums existed', async () => {
    const p = split(bytes);
    expect(p.header.__metadata__.checksum).toMatch(/^sha256:[0-9a-f]{64}$/);
    const file = path.join(dir, 'old.dgg');
    fs.writeFileSync(file, join(unsealed(p)));
    const back = await DGG.load(file);
    expect(Array.from((await back.predictProba(rows)).data)).toEqual(Array.from((await model.predictProba(rows)).data));
  });
});

describe('saving', () => {
  it('should not follow a symlink planted at a predictable temporary name', async () => {
    const victim = path.join(dir, 'victim.txt');
    fs.writeFileSync(victim, 'keep me');
    // The name the old writer used.
    fs.symlinkSync(victim, path.join(dir, `.model.dgg.tmp-${process.pid}`));
    await model.save(path.join(dir, 'model.dgg'));
    expect(fs.readFileSync(victim, 'utf8')).toBe('keep me');
    expect((await DGG.load(path.join(dir, 'model.dgg'))).options).toEqual(model.options);
  });

  it('should complete 8 concurrent saves to one path, leaving one whole model', async () => {
    const other = new DGG({ ...SMALL, scale: 'standardize', seed: 9 });
    await other.fit(rows);
    const models = [model, other];
    const answers = await Promise.all(models.map(async (m) => Array.from((await m.predictProba(rows)).data)));
    const file = path.join(dir, 'model.dgg');
    for (let round = 0; round < 3; round++) {
      await Promise.all(Array.from({ length: 8 }, (_, i) => models[i % 2].save(file)));
      const back = Array.from((await (await DGG.load(file)).predictProba(rows)).data);
      expect(answers).toContainEqual(back);
      expect(fs.readdirSync(dir)).toEqual(['model.dgg']);
    }
  });

  it.skipIf(process.platform === 'win32')('should refuse to save onto a FIFO and leave it alone', async () => {
    const fifo = path.join(dir, 'pipe.dgg');
    execFileSync('mkfifo', [fifo]);
    const e = await failure(model.save(fifo));
    expect(e.code).toBe('IO_ERROR');
    expect(e.message).toContain(fifo);
    expect(e.message).toMatch(/a FIFO, not a regular file/);
    expect(fs.lstatSync(fifo).isFIFO()).toBe(true);
    // Graph files go through the same writer.
    const g = await failure(saveGraph(graph, fifo));
    expect(g.code).toBe('IO_ERROR');
    expect(g.message).toMatch(/a FIFO, not a regular file/);
    expect(fs.lstatSync(fifo).isFIFO()).toBe(true);
  });

  it('should give the second of two fits sharing a checkpoint folder a clear error', async () => {
    const ckpt = path.join(dir, 'ckpt');
    const results = await Promise.allSettled([new DGG(SMALL).fit(rows, { checkpointDir: ckpt }), new DGG(SMALL).fit(rows, { checkpointDir: ckpt })]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(rejected.reason).toBeInstanceOf(DggError);
    expect(rejected.reason.code).toBe('IO_ERROR');
    expect(rejected.reason.message).toMatch(/in use by another fit/);
    // The folder is free again once the first fit ends.
    await new DGG(SMALL).fit(rows, { checkpointDir: ckpt });
  });
});
