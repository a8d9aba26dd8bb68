import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DGG, DggError, evaluate, info, type ProgressEvent } from '../ts/index';
import { blobs, SMALL } from './helpers';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgg-test-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

async function code(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(DggError);
    return (e as DggError).code;
  }
  throw new Error('expected an error');
}

describe('DGG.fit', () => {
  it('should cluster separable blobs and return consistent shapes', async () => {
    const { rows, labels } = blobs(40, 12);
    const res = await new DGG(SMALL).fit(rows);
    expect(res.labels.length).toBe(120);
    expect(res.probabilities.rows).toBe(120);
    expect(res.probabilities.cols).toBe(3);
    expect(res.embedding.cols).toBe(4);
    for (let i = 0; i < 120; i++) {
      let s = 0;
      for (let c = 0; c < 3; c++) s += res.probabilities.data[i * 3 + c];
      expect(Math.abs(s - 1)).toBeLessThan(1e-4);
    }
    expect(res.gmm.means.rows).toBe(3);
    expect(res.gmm.variances.data.every((v) => v > 0)).toBe(true);
    expect(Object.keys(res.timings)).toEqual(['pretrain', 'graph', 'partition', 'init', 'dgg']);
    expect(res.history.some((h) => h.phase === 'dgg' && 'recon' in h.losses)).toBe(true);
    expect(res.graph?.k).toBe(5);
    expect(evaluate(res.labels, labels).acc).toBeGreaterThan(0.95);
  });

  it('should give identical labels for the same seed', async () => {
    const { rows } = blobs(30, 9, 3);
    const a = await new DGG({ ...SMALL, seed: 7 }).fit(rows);
    const b = await new DGG({ ...SMALL, seed: 7 }).fit(rows);
    expect(Array.from(a.labels)).toEqual(Array.from(b.labels));
    expect(Array.from(a.embedding.data)).toEqual(Array.from(b.embedding.data));
  });

  it('should resume from a checkpoint folder to the same result, and keep other fits apart', async () => {
    const { rows } = blobs(30, 9, 4);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgg-ckpt-'));
    try {
      const whole = await new DGG(SMALL).fit(rows);
      const first = await new DGG(SMALL).fit(rows, { checkpointDir: dir });
      expect(Array.from(first.embedding.data)).toEqual(Array.from(whole.embedding.data));
      const files = fs.readdirSync(dir).sort();
      expect(files.map((f) => f.replace(/-[0-9a-f]{16}\./, '.'))).toEqual(
        ['graph.dgggraph', 'initialised.safetensors', 'pretrained.safetensors', 'trained.safetensors'],
      );
      // As if the process had died after the graph.
      for (const f of files.filter((f) => /^(trained|initialised)-/.test(f))) fs.rmSync(path.join(dir, f));
      const resumed = await new DGG(SMALL).fit(rows, { checkpointDir: dir });
      expect(Array.from(resumed.labels)).toEqual(Array.from(whole.labels));
      expect(Array.from(resumed.embedding.data)).toEqual(Array.from(whole.embedding.data));
      // Another seed shares no stage: its files go beside the first fit's.
      await new DGG({ ...SMALL, seed: 5 }).fit(rows, { checkpointDir: dir });
      expect(fs.readdirSync(dir)).toHaveLength(8);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('should report progress with phases, losses and an ETA', async () => {
    const events: ProgressEvent[] = [];
    // Without keepBest the DGG phase runs every epoch (with it, it may stop after its best).
    await new DGG({ ...SMALL, keepBest: false }).fit(blobs(20, 6).rows, { onProgress: (e) => events.push(e) });
    const phases = new Set(events.map((e) => e.phase));
    // Default init is spectral: the classifier is fitted in the 'align' phase.
    for (const p of ['layerwise-1', 'pretrain', 'align', 'dgg']) expect(phases).toContain(p);
    const last = events.filter((e) => e.phase === 'dgg').at(-1)!;
    expect(last.epoch).toBe(10);
    expect(last.batch).toBe(last.batches);
    expect(Number.isFinite(last.losses.loss)).toBe(true);
    expect(last.etaSeconds).toBe(0);
    // The loss terms come in the engine's order, the same in every event of a phase.
    const dgg = events.filter((e) => e.phase === 'dgg').map((e) => Object.keys(e.losses).join(','));
    expect(new Set(dgg)).toEqual(new Set(['loss,recon,gmm,entropy,prior']));
  });

  it('should train the DGG phase alone with dggBatchSize, and keep it through save and load', async () => {
    const events: ProgressEvent[] = [];
    const m = new DGG({ ...SMALL, dggBatchSize: 7 });
    await m.fit(blobs(20, 6).rows, { onProgress: (e) => events.push(e) });
    const batches = (phase: string) => new Set(events.filter((e) => e.phase === phase).map((e) => e.batches));
    // 60 points: ceil(60 / 7) = 9 steps per DGG epoch; the other phases keep batchSize.
    expect(batches('dgg')).toEqual(new Set([9]));
    expect(batches('pretrain')).toEqual(new Set([Math.ceil(60 / SMALL.batchSize!)]));
    const file = path.join(dir, 'small.dgg');
    await m.save(file);
    expect((await DGG.load(file)).options.dggBatchSize).toBe(7);
  });

  it('should keep the event loop responsive while training', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const started = Date.now();
    await new DGG({ ...SMALL, epochs: { ...SMALL.epochs, dgg: 40 } }).fit(blobs(40, 12).rows);
    clearInterval(timer);
    const elapsed = Date.now() - started;
    // A blocked loop would give ~0 ticks; allow for slow timers on a busy machine.
    expect(ticks).toBeGreaterThan(Math.min(20, elapsed / 50));
  });

  it('should cancel within one batch when the signal aborts', async () => {
    const ac = new AbortController();
    let lastEpoch = 0;
    const p = new DGG({ ...SMALL, epochs: { ...SMALL.epochs, pretrain: 10_000 } }).fit(blobs(40, 12).rows, {
      signal: ac.signal,
      onProgress: (e) => {
        if (e.phase === 'pretrain') lastEpoch = Math.max(lastEpoch, e.epoch);
        if (e.phase === 'pretrain' && e.epoch === 2) ac.abort();
      },
    });
    expect(await code(p)).toBe('CANCELLED');
    // Events queued before the abort may still arrive (more of them on a busy machine), but the
    // engine stops at its next batch: nowhere near the 10,000 epochs asked for.
    expect(lastEpoch).toBeLessThan(10);
  });

  it('should reject a signal that is already aborted', async () => {
    const ac = new AbortController();
    ac.abort();
    expect(await code(new DGG(SMALL).fit(blobs(5, 3).rows, { signal: ac.signal }))).toBe('CANCELLED');
  });
});

describe('bad input', () => {
  const model = () => new DGG(SMALL);
  it('should reject empty, ragged and non-finite data with the row and column', async () => {
    expect(await code(model().fit([]))).toBe('INVALID_DATA');
    const ragged = [
      [1, 2],
      [3, 4],
      [5],
    ];
    await expect(model().fit(ragged)).rejects.toThrow(/row 2/);
    const nan = blobs(5, 3).rows;
    nan[4][1] = NaN;
    await expect(model().fit(nan)).rejects.toThrow(/row 4, column 1/);
    expect(await code(model().fit(new Float32Array([1, 2, Infinity, 4]), { shape: [2, 2] }))).toBe('INVALID_DATA');
  });

  it('should reject K < 2 in the options and K > N at fit', async () => {
    expect(await code(() => new DGG({ ...SMALL, nClusters: 1 }))).toBe('INVALID_OPTION');
    await expect(new DGG({ ...SMALL, nClusters: 5, neighbours: 1 }).fit([[0], [1], [0.5]])).rejects.toThrow(/nClusters/);
  });

  it('should reject unknown options by name', async () => {
    expect(() => new DGG({ ...SMALL, nCluster: 3 } as never)).toThrow(/nCluster/);
  });

  it('should reject a feature-count mismatch at predict', async () => {
    const m = model();
    await m.fit(blobs(20, 6).rows);
    const e = await m.predict([[0.1, 0.2]]).catch((x) => x);
    expect(e.code).toBe('DIMENSION_MISMATCH');
    expect(e.message).toMatch(/expects 6 features, the data has 2/);
  });

  it('should refuse to predict before fit', async () => {
    expect(await code(model().predict([[1, 2]]))).toBe('NOT_FITTED');
  });

  it('should reject bernoulli for data outside [0, 1] without scaling', async () => {
    const rows = blobs(10, 3).rows.map((r) => r.map((v) => v * 5 - 1));
    await expect(new DGG({ ...SMALL, likelihood: 'bernoulli', scale: 'none' }).fit(rows)).rejects.toThrow(/likelihood/);
  });
});

describe('save and load', () => {
  it('should give identical predictions after a round trip', async () => {
    const { rows } = blobs(30, 9);
    const m = new DGG(SMALL);
    await m.fit(rows);
    const file = path.join(dir, 'model.dgg');
    await m.save(file);
    expect(fs.readdirSync(dir)).toEqual(['model.dgg']);
    const back = await DGG.load(file);
    expect(back.options.nClusters).toBe(3);
    expect(back.options.init).toBe(m.options.init);
    expect(back.options.hidden).toEqual(m.options.hidden);
    // Every option comes back as trained, epochs and learning rates included.
    expect(back.options).toEqual(m.options);
    const [p1, p2] = [await m.predictProba(rows), await back.predictProba(rows)];
    expect(Array.from(p2.data)).toEqual(Array.from(p1.data));
    expect(Array.from(await back.transform(rows).then((t) => t.data))).toEqual(Array.from(await m.transform(rows).then((t) => t.data)));
    // One row goes through a different GEMM blocking than a batch: equal to float rounding.
    const single = back.predictProbaSync([rows[0]]).data;
    for (let c = 0; c < 3; c++) expect(single[c]).toBeCloseTo(p1.data[c], 6);
  });

  it('should reject truncated, corrupt, foreign and missing files with clear codes', async () => {
    const m = new DGG(SMALL);
    await m.fit(blobs(10, 4).rows);
    const file = path.join(dir, 'model.dgg');
    await m.save(file);
    const bytes = fs.readFileSync(file);
    fs.writeFileSync(path.join(dir, 'truncated.dgg'), bytes.subarray(0, bytes.length - 100));
    expect(await code(DGG.load(path.join(dir, 'truncated.dgg')))).toBe('MODEL_FORMAT');
    const corrupt = Buffer.from(bytes);
    corrupt.writeUInt32LE(0xffffffff, 0);
    fs.writeFileSync(path.join(dir, 'corrupt.dgg'), corrupt);
    expect(await code(DGG.load(path.join(dir, 'corrupt.dgg')))).toBe('MODEL_FORMAT');
    fs.writeFileSync(path.join(dir, 'foreign.dgg'), 'hello, world');
    await expect(DGG.load(path.join(dir, 'foreign.dgg'))).rejects.toThrow(/not a dgg-native model/);
    expect(await code(DGG.load(path.join(dir, 'missing.dgg')))).toBe('IO_ERROR');
    // A newer format version is refused by name.
    const header = bytes.readBigUInt64LE(0);
    const json = bytes.subarray(8, 8 + Number(header)).toString('utf8').replace('"format_version":"1"', '"format_version":"9"');
    fs.writeFileSync(path.join(dir, 'future.dgg'), Buffer.concat([bytes.subarray(0, 8), Buffer.from(json), bytes.subarray(8 + Number(header))]));
    await expect(DGG.load(path.join(dir, 'future.dgg'))).rejects.toThrow(/format version 9/);
  });

  it('should leave an existing file untouched when the write fails', async () => {
    const m = new DGG(SMALL);
    await m.fit(blobs(10, 4).rows);
    expect(await code(m.save(path.join(dir, 'no-such-dir', 'model.dgg')))).toBe('IO_ERROR');
  });
});

describe('evaluate and info', () => {
  it('should score permuted labels as perfect and known cases exactly', () => {
    expect(evaluate([2, 2, 0, 0, 1], [0, 0, 1, 1, 2])).toEqual({ acc: 1, nmi: 1, ari: 1 });
    const s = evaluate([0, 0, 1, 2], [0, 0, 1, 1]);
    expect(s.nmi).toBeCloseTo(0.8, 10);
    expect(s.ari).toBeCloseTo(4 / 7, 10);
    expect(s.acc).toBeCloseTo(0.75, 10);
  });

  it('should describe the build and the device', () => {
    const i = info();
    expect(i.features).toContain('cpu');
    expect(i.devices[0]).toBe('cpu');
    expect(i.reason.length).toBeGreaterThan(0);
  });
});
