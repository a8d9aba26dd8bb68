// The model as a service holds it: bytes in and out, what it reports about itself, NOT_FITTED
// before training, and prediction over inputs too large to hold.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DGG, DggError, type FitOptions } from '../ts/index';
import { blobs, rejection, SMALL } from './helpers';

let dir: string;
let trained: DGG;
const data = blobs(30, 9);

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgg-model-'));
  trained = new DGG(SMALL);
  await trained.fit(data.rows);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function csvOf(rows: number[][], labels?: number[]): string {
  return rows.map((r, i) => [...r, ...(labels ? [`c${labels[i]}`] : [])].join(',')).join('\n') + '\n';
}

describe('toBuffer and fromBuffer', () => {
  it('should give the bytes save writes, and a model that predicts the same', async () => {
    const file = path.join(dir, 'm.dgg');
    await trained.save(file);
    const bytes = await trained.toBuffer();
    expect(Buffer.isBuffer(bytes)).toBe(true);
    expect(bytes.equals(fs.readFileSync(file))).toBe(true);
    const back = await DGG.fromBuffer(bytes);
    expect(back.options).toEqual(trained.options);
    const [p1, p2] = [await trained.predictProba(data.rows), await back.predictProba(data.rows)];
    expect(Array.from(p2.data)).toEqual(Array.from(p1.data));
    // A Uint8Array view into a larger buffer works too.
    const padded = new Uint8Array(bytes.length + 16);
    padded.set(bytes, 8);
    expect((await DGG.fromBuffer(padded.subarray(8, 8 + bytes.length))).inputDim).toBe(9);
  });

  it('should check bytes as load checks a file: MODEL_FORMAT for truncated, corrupt and foreign bytes', async () => {
    const bytes = await trained.toBuffer();
    expect(await rejection(DGG.fromBuffer(bytes.subarray(0, bytes.length - 100)), 'MODEL_FORMAT')).toMatch(/^buffer: /);
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 5] ^= 0xff; // a weight's byte: only the checksum can tell
    expect(await rejection(DGG.fromBuffer(flipped), 'MODEL_FORMAT')).toMatch(/checksum/);
    expect(await rejection(DGG.fromBuffer(Buffer.from('hello, world')), 'MODEL_FORMAT')).toMatch(/not a dgg-native model/);
    expect(await rejection(DGG.fromBuffer('model' as never), 'INVALID_OPTION')).toMatch(/Buffer or Uint8Array/);
  });
});

describe('what a model reports', () => {
  it('should report its input dimension, K, mixture and info', () => {
    expect(trained.inputDim).toBe(9);
    expect(trained.nClusters).toBe(3);
    const mix = trained.mixture;
    expect([mix.means.rows, mix.means.cols, mix.variances.rows, mix.variances.cols]).toEqual([3, 4, 3, 4]);
    expect(mix.weights?.length).toBe(3);
    expect(mix.weights!.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect(trained.info).toMatchObject({
      format: 'dgg-native-model',
      formatVersion: 1,
      inputDim: 9,
      hidden: [32, 32],
      latentDim: 4,
      nClusters: 3,
      classifierHidden: [],
      likelihood: 'bernoulli', // resolved from 'auto': the blobs lie in [0, 1]
      scale: 'none',
      device: 'cpu',
    });
    // Encoder 9-32-32-4 (mean and log-variance heads), decoder 4-32-32-9, classifier 4-3, mixture 2 x 3 x 4.
    const enc = 9 * 32 + 32 + 32 * 32 + 32 + 2 * (32 * 4 + 4);
    const dec = 4 * 32 + 32 + 32 * 32 + 32 + 32 * 9 + 9;
    expect(trained.info.parameters).toBeGreaterThanOrEqual(enc + dec + 4 * 3 + 3);
  });

  it('should load with every option it was trained with, none of them defaults', async () => {
    const options: FitOptions = {
      nClusters: 3,
      latentDim: 3,
      hidden: [16, 8],
      likelihood: 'gaussian',
      scale: 'standardize',
      graph: 'siamese',
      neighbours: 4,
      weighting: 'gaussian',
      siamesePositives: 'agreed',
      classifier: 'mlp',
      init: 'kmeans',
      epochs: { layerwise: 1, pretrain: 2, vae: 1, siamese: 1, classifier: 2, dgg: 2 },
      batchSize: 16,
      dggBatchSize: 24,
      learningRates: { pretrain: 2e-3, vae: 4e-4, siamese: 3e-4, classifier: 1e-2, dgg: 1e-4 },
      keepBest: false,
      weightDecay: 2e-4,
      kmeansRestarts: 3,
      seed: 7,
      device: 'cpu',
    };
    const m = new DGG(options);
    await m.fit(data.rows);
    const back = await DGG.fromBuffer(await m.toBuffer());
    expect(back.options).toEqual(m.options);
    expect(back.options).toEqual({ ...options, threads: undefined });
    expect(back.info.classifierHidden.length).toBeGreaterThan(0);
    // The weights of the mixture come from the fit's data: a loaded model has none.
    expect(back.mixture.weights).toBeUndefined();
    expect(Array.from(back.mixture.means.data)).toEqual(Array.from(m.mixture.means.data));
  });
});

describe('NOT_FITTED', () => {
  it('should be what every model method of an untrained DGG throws', async () => {
    const m = new DGG(SMALL);
    expect(await rejection(m.predict(data.rows), 'NOT_FITTED')).toMatch(/predict: the model is not trained/);
    await rejection(m.predictProba(data.rows), 'NOT_FITTED');
    await rejection(m.transform(data.rows), 'NOT_FITTED');
    await rejection(m.save(path.join(dir, 'never.dgg')), 'NOT_FITTED');
    await rejection(m.toBuffer(), 'NOT_FITTED');
    await rejection(m.predictStream(Readable.from(['1,2\n'])).next(), 'NOT_FITTED');
    for (const get of [() => m.inputDim, () => m.mixture, () => m.info, () => m.predictProbaSync(data.rows)]) {
      let err: unknown;
      try {
        get();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(DggError);
      expect((err as DggError).code).toBe('NOT_FITTED');
    }
    expect(fs.existsSync(path.join(dir, 'never.dgg'))).toBe(false);
    expect(m.nClusters).toBe(3); // known from the options
  });
});

describe('predictStream', () => {
  it('should predict a CSV file chunk by chunk, as predict does on the whole', async () => {
    const file = path.join(dir, 'rows.csv');
    fs.writeFileSync(file, `${Array.from({ length: 9 }, (_, j) => `f${j}`).join(',')},label\n${csvOf(data.rows, data.labels)}`);
    const whole = await trained.predict(data.rows);
    const chunks = [];
    for await (const c of trained.predictStream(file, { chunkRows: 7, labelColumn: 'label', proba: true })) chunks.push(c);
    expect(chunks.map((c) => c.labels.length)).toEqual([...Array(12).fill(7), 6]);
    expect(chunks.map((c) => c.offset)).toEqual(chunks.map((_, i) => i * 7));
    expect(Array.from(chunks.flatMap((c) => Array.from(c.labels)))).toEqual(Array.from(whole));
    expect(chunks[0].proba?.rows).toBe(7);
    expect(chunks[0].proba?.cols).toBe(3);
    expect(chunks.flatMap((c) => c.truth)).toEqual(data.labels.map((l) => `c${l}`));
  });

  it('should read a stream, gzipped or not, and .npy files', async () => {
    const whole = Array.from(await trained.predict(data.rows));
    const text = csvOf(data.rows);
    // A stream cut anywhere, even inside a number.
    const pieces = [text.slice(0, 3), text.slice(3, 1000), text.slice(1000)].map((t) => Buffer.from(t));
    const fromStream: number[] = [];
    for await (const c of trained.predictStream(Readable.from(pieces), { chunkRows: 50 })) fromStream.push(...c.labels);
    expect(fromStream).toEqual(whole);
    const gz = (await import('node:zlib')).gzipSync(text);
    const fromGz: number[] = [];
    for await (const c of trained.predictStream(Readable.from([gz]))) fromGz.push(...c.labels);
    expect(fromGz).toEqual(whole);
    const npy = path.join(dir, 'rows.npy');
    const { writeMatrix } = await import('../ts/io');
    await writeMatrix(npy, { data: Float32Array.from(data.rows.flat()), rows: 90, cols: 9 });
    const fromNpy: number[] = [];
    for await (const c of trained.predictStream(npy, { chunkRows: 40 })) fromNpy.push(...c.labels);
    expect(fromNpy).toEqual(whole);
  });

  it('should name the line of a bad row and reject a wrong width', async () => {
    const rows = data.rows.slice(0, 20).map((r) => [...r]);
    const text = csvOf(rows).split('\n');
    text[15] = text[15].replace(/^[^,]*/, 'oops');
    // The rows before the bad line arrive first (the stream brings them in a piece of their own).
    const pieces = [text.slice(0, 12).join('\n') + '\n', text.slice(12).join('\n')];
    const it = trained.predictStream(Readable.from(pieces), { chunkRows: 10 });
    const first = await it.next();
    expect(first.value?.labels.length).toBe(10);
    expect(await rejection(it.next(), 'INVALID_DATA')).toMatch(/^<stream>: non-numeric value 'oops' at line 16, column 1/);
    const narrow = trained.predictStream(Readable.from(['1,2,3\n4,5,6\n']));
    expect(await rejection(narrow.next(), 'DIMENSION_MISMATCH')).toMatch(/9 features/);
  });
});
