// The option limits that TypeScript checks (ts/options.ts) are the engine's (config.rs): each value
// just past a limit is refused by both, with the same field named, and the limit itself passes both.
import { describe, expect, it } from 'vitest';
import { parseOptions, toNativeOptions, MAX_CLUSTERS, MAX_EPOCHS } from '../ts/options';
import { native } from '../ts/native';
import { parseCli } from '../ts/cli';

const rows = 6;
const data = new Float32Array(rows * 2).map((_, i) => i % 7);
const base = toNativeOptions(parseOptions({ nClusters: 2, neighbours: 2 }));

/** The engine's verdict on raw native options: the error message, or 'ok' past option validation. */
async function engine(fields: Record<string, number>): Promise<string> {
  // nClusters above the row count fails after every range check: reaching it means they passed.
  const opts = { ...base, nClusters: rows + 1, ...fields };
  try {
    await native.fit(data, rows, 2, opts);
    return 'trained';
  } catch (e) {
    const m = (e as Error).message;
    return m.includes('number of rows') ? 'ok' : m;
  }
}

describe('option limits', () => {
  it('should refuse nClusters above MAX_CLUSTERS in TypeScript and in the engine alike', async () => {
    expect(() => parseOptions({ nClusters: MAX_CLUSTERS + 1 })).toThrow(/nClusters/);
    expect(parseOptions({ nClusters: MAX_CLUSTERS }).nClusters).toBe(MAX_CLUSTERS);
    expect(await engine({ nClusters: MAX_CLUSTERS + 1 })).toMatch(/nClusters.*2\.\.=100000/);
    expect(await engine({ nClusters: MAX_CLUSTERS })).toMatch(/number of rows|ok/);
  });

  it.each(['layerwise', 'pretrain', 'vae', 'siamese', 'classifier', 'dgg'] as const)(
    'should refuse epochs.%s above MAX_EPOCHS in TypeScript and in the engine alike',
    async (phase) => {
      expect(() => parseOptions({ nClusters: 2, epochs: { [phase]: MAX_EPOCHS + 1 } })).toThrow(new RegExp(`epochs.${phase}`));
      expect(parseOptions({ nClusters: 2, epochs: { [phase]: MAX_EPOCHS } }).epochs[phase]).toBe(MAX_EPOCHS);
      const field = `epochs${phase[0].toUpperCase()}${phase.slice(1)}`;
      expect(await engine({ [field]: MAX_EPOCHS + 1 })).toMatch(new RegExp(`epochs\\.${phase}`));
      expect(await engine({ [field]: MAX_EPOCHS })).toBe('ok');
    },
  );

  it('should refuse an epoch count that 32 bits would wrap, instead of skipping the phase', () => {
    expect(() => parseCli(['fit', 'x.csv', '--k', '3', '--epochs', '4294967296'])).toThrow(/--epochs/);
    expect(() => parseOptions({ nClusters: 2 ** 32 + 3 })).toThrow(/nClusters/);
  });
});

describe('memory check', () => {
  it('should refuse a fit larger than the memory available before allocating, naming the option', async () => {
    const { DGG } = await import('../ts/index');
    const { rejection } = await import('./helpers');
    const before = process.memoryUsage().rss;
    const rowsIn = Array.from({ length: 10 }, (_, i) => [i % 3, i % 5, i % 7]);
    const message = await rejection(new DGG({ nClusters: 2, neighbours: 3, hidden: [65536, 65536, 65536], device: 'cpu' }).fit(rowsIn), 'INVALID_OPTION');
    expect(message).toMatch(/^hidden: this fit needs about [\d.]+ [GT]B of memory \([\d.]+ [GT]B for the network parameters.* with hidden = \[65536, 65536, 65536\]\), more than the [\d.]+ [MGT]B available; reduce hidden, or set DGG_MEMORY_CHECK=off to try anyway$/);
    expect(process.memoryUsage().rss - before).toBeLessThan(2 ** 28);
  });
});
