import { expect } from 'vitest';
import { DggError, type DggErrorCode } from '../ts/errors';
import type { FitOptions } from '../ts/options';

/** Three separable blobs in `d` dimensions with values in [0, 1], and their labels. */
export function blobs(per: number, d: number, seed = 1): { rows: number[][]; labels: number[] } {
  let s = seed;
  const rand = () => {
    // A small LCG: deterministic test data without a dependency.
    s = (s * 1664525 + 1013904223) % 4294967296;
    return s / 4294967296;
  };
  const rows: number[][] = [];
  const labels: number[] = [];
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < per; i++) {
      rows.push(Array.from({ length: d }, (_, j) => Math.min(1, Math.max(0, (j % 3 === c ? 0.8 : 0.2) + (rand() - 0.5) * 0.2))));
      labels.push(c);
    }
  }
  return { rows, labels };
}

/** A network and schedule small enough for unit tests (a second or two per fit). */
export const SMALL: FitOptions = {
  nClusters: 3,
  hidden: [32, 32],
  latentDim: 4,
  graph: 'euclidean',
  neighbours: 5,
  batchSize: 32,
  epochs: { layerwise: 1, pretrain: 10, vae: 0, siamese: 2, classifier: 10, dgg: 10 },
  // Adam moves every weight by about lr per step; in a network this small that moves whole
  // clusters of the latent space, so the DGG rate is scaled down (as in the Rust tests).
  learningRates: { dgg: 2e-4 },
  device: 'cpu',
};

/** The message of the DggError with `code` that `p` rejects with (fails the test otherwise). */
export async function rejection(p: Promise<unknown>, code: DggErrorCode): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(DggError);
    expect((e as DggError).code).toBe(code);
    return (e as DggError).message;
  }
  throw new Error('expected a rejection');
}
