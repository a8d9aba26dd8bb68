import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildGraph, DGG, DggError, evaluate, graphPurity, loadGraph, saveGraph, type ProgressEvent } from '../ts/index';
import { blobs, rejection, SMALL } from './helpers';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgg-graph-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('graphs', () => {
  it('should build a Euclidean graph whose rows sum to 1 and whose edges stay within the blobs', async () => {
    const { rows, labels } = blobs(30, 9);
    const g = await buildGraph(rows, { ...SMALL, graph: 'euclidean', neighbours: 6 });
    expect(g.n).toBe(90);
    expect(g.k).toBe(6);
    for (let i = 0; i < g.n; i++) {
      let s = 0;
      for (let e = 0; e < g.k; e++) {
        s += g.weights[i * g.k + e];
        expect(g.indices[i * g.k + e]).not.toBe(i);
      }
      expect(Math.abs(s - 1)).toBeLessThan(1e-5);
    }
    expect(graphPurity(g, labels)).toBe(1);
  });

  it('should save and load a graph unchanged, and refuse a foreign file', async () => {
    const g = await buildGraph(blobs(10, 4).rows, { ...SMALL, graph: 'euclidean', neighbours: 3 });
    const file = path.join(dir, 'g.graph');
    await saveGraph(g, file);
    const back = await loadGraph(file);
    expect(Array.from(back.indices)).toEqual(Array.from(g.indices));
    expect(Array.from(back.weights)).toEqual(Array.from(g.weights));
    fs.writeFileSync(path.join(dir, 'x.graph'), 'not a graph');
    await expect(loadGraph(path.join(dir, 'x.graph'))).rejects.toBeInstanceOf(DggError);
  });

  it('should train with a caller-supplied graph and return it', async () => {
    const { rows, labels } = blobs(30, 9, 2);
    const graph = await buildGraph(rows, { ...SMALL, graph: 'euclidean' });
    const res = await new DGG({ ...SMALL, init: 'kmeans' }).fit(rows, { graph });
    expect(Array.from(res.graph!.indices)).toEqual(Array.from(graph.indices));
    expect(evaluate(res.labels, labels).acc).toBeGreaterThan(0.95);
  });

  it('should reject a graph of another size or with broken rows', async () => {
    const graph = await buildGraph(blobs(10, 4).rows, { ...SMALL, graph: 'euclidean', neighbours: 3 });
    await expect(new DGG(SMALL).fit(blobs(20, 4).rows, { graph })).rejects.toThrow(/graph/);
    const broken = { ...graph, weights: graph.weights.map(() => 0.9) };
    const e = await new DGG(SMALL).fit(blobs(10, 4).rows, { graph: broken }).catch((x) => x);
    expect(e).toBeInstanceOf(DggError);
    expect(e.message).toMatch(/sum/);
  });

  it('should report progress and stop on abort, as fit does', async () => {
    const { rows } = blobs(40, 6);
    const events: ProgressEvent[] = [];
    await buildGraph(rows, { ...SMALL, graph: 'siamese' }, { onProgress: (e) => events.push(e) });
    const phases = new Set(events.map((e) => e.phase));
    expect(phases).toEqual(new Set(['knn', 'siamese']));
    // 1-based, like every phase of fit.
    for (const e of events) expect(e.epoch >= 1 && e.batch >= 1 && e.batch <= e.batches).toBe(true);
    expect(events.filter((e) => e.phase === 'siamese').at(-1)?.epoch).toBe(SMALL.epochs!.siamese);

    const ac = new AbortController();
    const seen: ProgressEvent[] = [];
    const p = buildGraph(rows, { ...SMALL, graph: 'siamese', epochs: { siamese: 10_000 } }, {
      signal: ac.signal,
      onProgress: (e) => {
        seen.push(e);
        if (e.phase === 'siamese' && e.epoch === 2) ac.abort();
      },
    });
    expect(await rejection(p, 'CANCELLED')).toMatch(/cancel/i);
    expect(Math.max(...seen.map((e) => e.epoch))).toBeLessThan(10);
    await expect(buildGraph(rows, SMALL, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'CANCELLED' });
  });
});
