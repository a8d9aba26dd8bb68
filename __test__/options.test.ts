import { describe, expect, it } from 'vitest';
import { DggError } from '../ts/errors';
import { checkOption, DEFAULTS, parseOptions, toNativeOptions } from '../ts/options';

function optionError(input: unknown): DggError {
  try {
    parseOptions(input);
  } catch (e) {
    expect(e).toBeInstanceOf(DggError);
    expect((e as DggError).code).toBe('INVALID_OPTION');
    return e as DggError;
  }
  throw new Error(`parseOptions accepted ${JSON.stringify(input)}`);
}

describe('DEFAULTS', () => {
  it('should hold the paper values for the network and the graph', () => {
    expect(DEFAULTS.latentDim).toBe(10);
    expect(DEFAULTS.neighbours).toBe(10);
    expect(DEFAULTS.keepBest).toBe(true);
    expect(DEFAULTS.hidden).toEqual([500, 500, 2000]);
  });

  it('should be deeply frozen', () => {
    expect(Object.isFrozen(DEFAULTS)).toBe(true);
    expect(Object.isFrozen(DEFAULTS.epochs)).toBe(true);
    expect(Object.isFrozen(DEFAULTS.hidden)).toBe(true);
  });
});

describe('parseOptions', () => {
  it('should fill every default when only nClusters is given', () => {
    expect(parseOptions({ nClusters: 3 })).toEqual({ nClusters: 3, ...DEFAULTS });
  });

  it('should merge partial epochs and learningRates over the defaults', () => {
    const o = parseOptions({ nClusters: 4, epochs: { dgg: 5, siamese: 0 }, learningRates: { vae: 0.01 } });
    expect(o.epochs).toEqual({ ...DEFAULTS.epochs, dgg: 5, siamese: 0 });
    expect(o.learningRates).toEqual({ ...DEFAULTS.learningRates, vae: 0.01 });
  });

  it('should keep given values', () => {
    const input = {
      nClusters: 7,
      latentDim: 5,
      hidden: [64, 32],
      likelihood: 'gaussian',
      scale: 'standardize',
      graph: 'euclidean',
      neighbours: 5,
      weighting: 'gaussian',
      classifier: 'mlp',
      batchSize: 64,
      weightDecay: 0,
      kmeansRestarts: 3,
      seed: 2 ** 32 - 1,
      device: 'cpu',
    } as const;
    expect(parseOptions(input)).toMatchObject({ ...input, hidden: [64, 32] });
  });

  it('should return a fresh hidden array each time', () => {
    const a = parseOptions({ nClusters: 2 });
    a.hidden.push(1);
    expect(parseOptions({ nClusters: 2 }).hidden).toEqual([...DEFAULTS.hidden]);
  });

  it('should report a bad value with the option path, the rule and the value', () => {
    expect(optionError({ nClusters: 1 }).message).toBe('nClusters: must be an integer in 2..100000, got 1');
  });

  it('should report a missing nClusters as required', () => {
    expect(optionError({}).message).toMatch(/^nClusters: is required/);
  });

  it.each([
    [{ nClusters: 2.5 }, 'nClusters'],
    [{ nClusters: '3' }, 'nClusters'],
    [{ nClusters: 3, latentDim: 0 }, 'latentDim'],
    [{ nClusters: 3, latentDim: 1025 }, 'latentDim'],
    [{ nClusters: 3, latentDim: Number.NaN }, 'latentDim'],
    [{ nClusters: 3, hidden: [] }, 'hidden'],
    [{ nClusters: 3, hidden: [1, 2, 3, 4, 5, 6, 7, 8, 9] }, 'hidden'],
    [{ nClusters: 3, hidden: 'big' }, 'hidden'],
    [{ nClusters: 3, hidden: [500, 0] }, 'hidden[1]'],
    [{ nClusters: 3, hidden: [65537] }, 'hidden[0]'],
    [{ nClusters: 3, likelihood: 'poisson' }, 'likelihood'],
    [{ nClusters: 3, scale: 'log' }, 'scale'],
    [{ nClusters: 3, graph: 'knn' }, 'graph'],
    [{ nClusters: 3, neighbours: 0 }, 'neighbours'],
    [{ nClusters: 3, neighbours: 257 }, 'neighbours'],
    [{ nClusters: 3, weighting: 'cosine' }, 'weighting'],
    [{ nClusters: 3, classifier: 'svm' }, 'classifier'],
    [{ nClusters: 3, epochs: 5 }, 'epochs'],
    [{ nClusters: 3, epochs: { dgg: -1 } }, 'epochs.dgg'],
    [{ nClusters: 3, epochs: { pretrain: 1.5 } }, 'epochs.pretrain'],
    [{ nClusters: 3, batchSize: 0 }, 'batchSize'],
    [{ nClusters: 3, batchSize: 65537 }, 'batchSize'],
    [{ nClusters: 3, dggBatchSize: 0 }, 'dggBatchSize'],
    [{ nClusters: 3, learningRates: { vae: 0 } }, 'learningRates.vae'],
    [{ nClusters: 3, learningRates: { dgg: -1e-3 } }, 'learningRates.dgg'],
    [{ nClusters: 3, weightDecay: -1 }, 'weightDecay'],
    [{ nClusters: 3, kmeansRestarts: 0 }, 'kmeansRestarts'],
    [{ nClusters: 3, kmeansRestarts: 1001 }, 'kmeansRestarts'],
    [{ nClusters: 3, seed: -1 }, 'seed'],
    [{ nClusters: 3, seed: 2 ** 32 }, 'seed'],
    [{ nClusters: 3, device: 'gpu' }, 'device'],
  ])('should name the option in the error for %j', (input, name) => {
    const msg = optionError(input).message;
    expect(msg.startsWith(`${name}: must be `)).toBe(true);
    expect(msg).toMatch(/, got /);
  });

  it('should list the allowed values of an enum', () => {
    expect(optionError({ nClusters: 3, device: 'gpu' }).message).toBe("device: must be one of 'auto', 'cpu', 'cuda', got 'gpu'");
    expect(optionError({ nClusters: 3, siamesePositives: 'latent' }).message).toBe(
      "siamesePositives: must be one of 'euclidean', 'agreed', got 'latent'",
    );
  });

  it('should reject unknown options and suggest a close name', () => {
    const msg = optionError({ nCluster: 3 }).message;
    expect(msg).toMatch(/^unknown option 'nCluster' \(did you mean 'nClusters'\?\)/);
  });

  it('should reject unknown keys inside epochs and learningRates', () => {
    expect(optionError({ nClusters: 3, epochs: { dg: 3 } }).message).toMatch(/unknown option 'epochs\.dg' \(did you mean 'epochs\.dgg'\?\)/);
    expect(optionError({ nClusters: 3, learningRates: { momentum: 0.9 } }).message).toMatch(/unknown option 'learningRates\.momentum'/);
  });

  it('should reject input that is not an object', () => {
    expect(optionError(null).message).toMatch(/^options must be an object/);
    expect(optionError([3]).message).toMatch(/^options must be an object/);
  });

  it('should report every problem at once', () => {
    const msg = optionError({ nClusters: 1, latentDim: 0 }).message;
    expect(msg).toMatch(/nClusters: /);
    expect(msg).toMatch(/latentDim: /);
  });
});

describe('checkOption', () => {
  it('should return undefined for a valid value and the problem otherwise', () => {
    expect(checkOption('nClusters', 5)).toBeUndefined();
    expect(checkOption('nClusters', 1)).toBe('must be an integer in 2..100000, got 1');
    expect(checkOption('graph', 'knn')).toMatch(/^must be one of 'siamese', 'euclidean', 'latent', 'auto', 'none'/);
  });
});

describe('toNativeOptions', () => {
  it('should flatten the options into the fields the addon takes', () => {
    const n = toNativeOptions(parseOptions({ nClusters: 5, epochs: { dgg: 7 }, learningRates: { vae: 0.1 } }));
    expect(Object.keys(n).sort()).toEqual(
      [
        'nClusters', 'latentDim', 'hidden', 'likelihood', 'scale', 'graph', 'neighbours', 'weighting', 'siamesePositives', 'classifier', 'init',
        'epochsLayerwise', 'epochsPretrain', 'epochsVae', 'epochsSiamese', 'epochsClassifier', 'epochsDgg',
        'batchSize', 'dggBatchSize', 'lrPretrain', 'lrVae', 'lrSiamese', 'lrClassifier', 'lrDgg', 'keepBest', 'weightDecay', 'kmeansRestarts',
        'seed', 'device', 'threads',
      ].sort(),
    );
    expect(n).toMatchObject({
      nClusters: 5,
      epochsDgg: 7,
      epochsPretrain: DEFAULTS.epochs.pretrain,
      epochsLayerwise: DEFAULTS.epochs.layerwise,
      lrVae: 0.1,
      lrDgg: DEFAULTS.learningRates.dgg,
      hidden: [...DEFAULTS.hidden],
      device: DEFAULTS.device,
    });
    // Unset, the DGG phase takes batchSize (the addon reads a missing value as "use batchSize").
    expect(n.dggBatchSize).toBeUndefined();
    expect(toNativeOptions(parseOptions({ nClusters: 5, dggBatchSize: 4096 })).dggBatchSize).toBe(4096);
  });
});
