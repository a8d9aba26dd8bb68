import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DGG, DggError, saveGraph, writeLabels, type Graph } from '../ts/index';
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

/**
 * Recomputes the checksum as a writer who knows the format would (crates/dgg-core/src/model.rs
 * `checksum`): SHA-256 over each metadata entry but the checksum, by key, then each tensor's name,
 * dtype, shape and bytes, by name, every item preceded by its length (u64, little-endian).
 */
function sealed(parts: Parts): Parts {
  const out = unsealed(parts);
  const h = createHash('sha256');
  const put = (b: Buffer) => {
    const n = Buffer.alloc(8);
    n.writeBigUInt64LE(BigInt(b.length));
    h.update(n).update(b);
  };
  const meta = out.header.__metadata__ as Record<string, string>;
  for (const k of Object.keys(meta).sort()) {
    put(Buffer.from(k));
    put(Buffer.from(meta[k]));
  }
  for (const name of Object.keys(out.header).filter((k) => k !== '__metadata__').sort()) {
    const t = out.header[name];
    put(Buffer.from(name));
    put(Buffer.from(JSON.stringify(t.dtype)));
    const dims = Buffer.alloc(8 * t.shape.length);
    t.shape.forEach((x: number, i: number) => dims.writeBigUInt64LE(BigInt(x), 8 * i));
    put(dims);
    put(out.data.subarray(t.data_offsets[0], t.data_offsets[1]));
  }
  meta.checksum = `sha256:${h.digest('hex')}`;
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

async function written(name: string, b: Buffer): Promise<string> {
  const file = path.join(dir, name);
  fs.writeFileSync(file, b);
  return file;
}

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

  it('should refuse a bad config in a sealed file with MODEL_FORMAT naming the file and the field, from load and fromBuffer', async () => {
    const p = split(bytes);
    // Each file carries a recomputed checksum, so only the metadata checks can refuse it.
    expect((await DGG.load(await written('resealed.dgg', join(sealed(p))))).options).toEqual(model.options);
    const both = (edit: (v: any) => void) => editMeta(editMeta(p, 'config', edit), 'shape', edit);
    const poisson = unsealed(p);
    poisson.header.__metadata__.likelihood = '"poisson"';
    const cases: [string, Parts, RegExp][] = [
      ['latent', both((v) => (v.latent_dim = 0)), /'config' is invalid: latentDim: .*got 0/],
      ['latent-shape', editMeta(p, 'shape', (s) => (s.latent_dim = 0)), /'shape\.latent_dim' is 0/],
      ['clusters', both((v) => (v.n_clusters = 0)), /'config' is invalid: nClusters: .*got 0/],
      ['hidden', both((v) => (v.hidden = [32, 0])), /'config' is invalid: hidden\[1\]: .*got 0/],
      ['likelihood', poisson, /'likelihood' is invalid: unknown variant `poisson`/],
      ['config-likelihood', editMeta(p, 'config', (c) => (c.likelihood = 'poisson')), /'config' is invalid: unknown variant `poisson`/],
      // The engine takes a u64 seed; the SDK's options allow 0..2^32 - 1.
      ['seed', editMeta(p, 'config', (c) => (c.seed = 2 ** 33)), /'config' is invalid: seed: .*8589934592/],
    ];
    for (const [name, parts, re] of cases) {
      const b = join(sealed(parts));
      expect((await loadError(`${name}.dgg`, b)).message).toMatch(re);
      const e = await failure(DGG.fromBuffer(b));
      expect(e.code, e.message).toBe('MODEL_FORMAT');
      expect(e.message).toMatch(/^buffer: metadata field /);
      expect(e.message).toMatch(re);
    }
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

  it('should name the folder when it is missing or removed during a save', async () => {
    const missing = path.join(dir, 'missing');
    const gone = `the folder '${missing}' does not exist (or was removed during the save)`;
    expect((await failure(model.save(path.join(missing, 'm.dgg')))).message).toBe(`${path.join(missing, 'm.dgg')}: finding its folder failed: ${gone}`);
    expect((await failure(saveGraph(graph, path.join(missing, 'g.bin')))).message).toContain(gone);
    expect((await failure(writeLabels(path.join(missing, 'l.csv'), [0, 1]))).message).toBe(
      `cannot write '${path.join(missing, 'l.csv')}': its folder '${missing}' does not exist (or was removed during the write) (ENOENT)`,
    );
    // Two saves to one path racing the folder's removal: whichever step each has reached, the error
    // names the folder (before, "No such file or directory (os error 2) at path <temporary file>").
    for (let round = 0; round < 30; round++) {
      const sub = path.join(dir, `d${round}`);
      fs.mkdirSync(sub);
      // Files appearing while it removes the folder make rmdir fail (ENOTEMPTY): it tries again.
      const remove = async () => {
        for (let i = 0; i < 100 && fs.existsSync(sub); i++) {
          await new Promise((r) => setTimeout(r, i === 0 ? round % 3 : 1));
          try {
            fs.rmSync(sub, { recursive: true, force: true });
          } catch {
            // ENOTEMPTY: again
          }
        }
      };
      const [results] = await Promise.all([
        Promise.allSettled([model.save(path.join(sub, 'm.dgg')), model.save(path.join(sub, 'm.dgg')), writeLabels(path.join(sub, 'l.csv'), [0, 1])]),
        remove(),
      ]);
      for (const r of results) {
        if (r.status === 'fulfilled') continue;
        expect(r.reason).toBeInstanceOf(DggError);
        expect(r.reason.code, r.reason.message).toBe('IO_ERROR');
        expect(r.reason.message).toMatch(new RegExp(`folder '${sub}' does not exist \\(or was removed during the (save|write)\\)`));
      }
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
