/**
 * Options of a DGG fit. The zod schema here owns every default and every range; the Rust side
 * re-validates what it receives but never invents a default of its own.
 *
 * @packageDocumentation
 */
import { z } from 'zod';
import { DggError } from './errors';

/** Deeply read-only view of `T` (used for {@link DEFAULTS}). */
export type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/**
 * Default value of every optional option. Values follow the DGG paper (latent 10, hidden
 * 500-500-2000) and its public code, except where the development suite (BENCHMARKS.md) chose
 * otherwise: 10 neighbours, and the DGG phase kept at its best epoch. Read them from here rather
 * than copying them.
 */
export const DEFAULTS = deepFreeze({
  latentDim: 10,
  hidden: [500, 500, 2000],
  likelihood: 'auto' as 'bernoulli' | 'gaussian' | 'auto',
  scale: 'auto' as 'auto' | 'none' | 'max' | 'standardize',
  graph: 'auto' as 'siamese' | 'euclidean' | 'latent' | 'auto' | 'none',
  neighbours: 10,
  weighting: 'uniform' as 'uniform' | 'gaussian',
  siamesePositives: 'euclidean' as 'euclidean' | 'agreed',
  classifier: 'linear' as 'linear' | 'mlp',
  init: 'spectral' as 'spectral' | 'kmeans',
  epochs: { layerwise: 2, pretrain: 15, vae: 0, siamese: 10, classifier: 40, dgg: 25 },
  batchSize: 256,
  learningRates: { pretrain: 1e-3, vae: 5e-4, siamese: 5e-4, classifier: 2e-2, dgg: 5e-4 },
  keepBest: true,
  weightDecay: 1e-4,
  kmeansRestarts: 10,
  seed: 42,
  device: 'auto' as 'auto' | 'cpu' | 'cuda',
});

function deepFreeze<T>(o: T): DeepReadonly<T> {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o as DeepReadonly<T>;
}

// Each field gets one "must be ..." text for all of its failures (wrong type, not an integer,
// out of range), so the message reads the same whichever check fired.
function must(what: string): { error: () => string } {
  return { error: () => `must be ${what}` };
}

/** The most clusters a fit may ask for (the engine's limit too). */
export const MAX_CLUSTERS = 100_000;
/** The most epochs any phase may run (the engine's limit too). */
export const MAX_EPOCHS = 100_000;

function intIn(min: number, max?: number) {
  const m = must(max === undefined ? `an integer >= ${min}` : `an integer in ${min}..${max}`);
  const s = z.int(m).min(min, m);
  return max === undefined ? s : s.max(max, m);
}

function positive() {
  const m = must('a positive number');
  return z.number(m).positive(m);
}

function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, must(`one of ${values.map((v) => `'${v}'`).join(', ')}`));
}

const epochsSchema = z.strictObject(
  {
    layerwise: intIn(0, MAX_EPOCHS).default(DEFAULTS.epochs.layerwise),
    pretrain: intIn(0, MAX_EPOCHS).default(DEFAULTS.epochs.pretrain),
    vae: intIn(0, MAX_EPOCHS).default(DEFAULTS.epochs.vae),
    siamese: intIn(0, MAX_EPOCHS).default(DEFAULTS.epochs.siamese),
    classifier: intIn(0, MAX_EPOCHS).default(DEFAULTS.epochs.classifier),
    dgg: intIn(0, MAX_EPOCHS).default(DEFAULTS.epochs.dgg),
  },
  must('an object of epoch counts'),
);

const learningRatesSchema = z.strictObject(
  {
    pretrain: positive().default(DEFAULTS.learningRates.pretrain),
    vae: positive().default(DEFAULTS.learningRates.vae),
    siamese: positive().default(DEFAULTS.learningRates.siamese),
    classifier: positive().default(DEFAULTS.learningRates.classifier),
    dgg: positive().default(DEFAULTS.learningRates.dgg),
  },
  must('an object of learning rates'),
);

const hiddenMust = must('an array of 1..8 layer sizes');

/**
 * The schema of {@link FitOptions}. Objects are strict (unknown keys are errors); `epochs` and
 * `learningRates` accept partial objects, merged over {@link DEFAULTS}.
 */
export const fitOptionsSchema = z.strictObject(
  {
    /** Number of clusters K (required). */
    nClusters: intIn(2, MAX_CLUSTERS),
    /** Dimension M of the latent space z. */
    latentDim: intIn(1, 1024).default(DEFAULTS.latentDim),
    /** Encoder hidden layer sizes; the decoder mirrors them. */
    hidden: z
      .array(intIn(1, 65536), hiddenMust)
      .min(1, hiddenMust)
      .max(8, hiddenMust)
      // A fresh copy, so callers mutating the result cannot change the defaults.
      .default(() => [...DEFAULTS.hidden]),
    /** p(x | z): Bernoulli for data in [0, 1], Gaussian otherwise; `auto` picks from the scaled data. */
    likelihood: oneOf(['bernoulli', 'gaussian', 'auto']).default(DEFAULTS.likelihood),
    /** Input scaling: `auto` = none when already in [0, 1], `max` when all >= 0, else `standardize`. */
    scale: oneOf(['auto', 'none', 'max', 'standardize']).default(DEFAULTS.scale),
    /**
     * Neighbour graph: learned Siamese distance, raw Euclidean distance, `latent` (the data's
     * nearest neighbours that the pretrained latent space confirms; `fit` only), `auto` (`latent`
     * from 20,000 rows on in `fit`, `euclidean` otherwise), or none (plain VaDE).
     */
    graph: oneOf(['siamese', 'euclidean', 'latent', 'auto', 'none']).default(DEFAULTS.graph),
    /** Neighbours per point in the graph (J). */
    neighbours: intIn(1, 256).default(DEFAULTS.neighbours),
    /** Graph weights w_ij: uniform, or a Gaussian kernel of the distance. */
    weighting: oneOf(['uniform', 'gaussian']).default(DEFAULTS.weighting),
    /**
     * The pairs the Siamese network pulls together (graph `siamese` only): the nearest neighbours
     * in the data (the paper), or those of them that are also among the 20 nearest in the
     * pretrained latent space (`agreed`: fewer wrong pairs).
     */
    siamesePositives: oneOf(['euclidean', 'agreed']).default(DEFAULTS.siamesePositives),
    /** The classifier q(c | z): one linear layer or a small MLP. */
    classifier: oneOf(['linear', 'mlp']).default(DEFAULTS.classifier),
    /**
     * The first partition, which initialises the mixture and the classifier: spectral clustering of
     * the neighbour graph, or k-means on the pretrained latent means (the paper). Without a graph
     * it is always k-means.
     */
    init: oneOf(['spectral', 'kmeans']).default(DEFAULTS.init),
    /** Epochs per training phase. */
    epochs: epochsSchema.prefault({}),
    /** Mini-batch size (points per step). */
    batchSize: intIn(1, 65536).default(DEFAULTS.batchSize),
    /**
     * The DGG phase's mini-batch, when it should differ from `batchSize`: a GPU runs an epoch
     * faster with larger batches (fewer, fuller steps). Unset: `batchSize`.
     */
    dggBatchSize: intIn(1, 65536).optional(),
    /** Learning rate per training phase. */
    learningRates: learningRatesSchema.prefault({}),
    /**
     * End the DGG phase at the epoch whose partition follows the graph best (modularity, read from
     * no labels; the start counts as epoch 0), instead of at its last epoch, and stop the phase
     * once 5 epochs in a row have neither beaten that best nor raised the phase's own best by 0.001. Epochs that empty a cluster are never
     * kept. `result.warnings` says when an earlier epoch was kept.
     */
    keepBest: z.boolean(must('true or false')).default(DEFAULTS.keepBest),
    /** Weight decay of every optimiser. */
    weightDecay: z.number(must('a number >= 0')).min(0, must('a number >= 0')).default(DEFAULTS.weightDecay),
    /** k-means restarts for the GMM initialisation. */
    kmeansRestarts: intIn(1, 1000).default(DEFAULTS.kmeansRestarts),
    /** Random seed (u32). */
    seed: intIn(0, 2 ** 32 - 1).default(DEFAULTS.seed),
    /** Compute device; `auto` uses CUDA when the addon was built with it and a GPU is present. */
    device: oneOf(['auto', 'cpu', 'cuda']).default(DEFAULTS.device),
    /**
     * CPU threads that train (and build graphs); unset: every core available to the process. Each
     * fit or graph build runs on a pool of its own with this many threads, outside libuv's pool.
     * Not stored in a model file: it changes how fast a fit runs, not what it computes.
     */
    threads: intIn(1, 1024).optional(),
  },
  must('an object'),
);

/** Options as users pass them: everything but `nClusters` is optional. */
export type FitOptions = z.input<typeof fitOptionsSchema>;

/** Options with every default filled in, as returned by {@link parseOptions}. */
export type ResolvedOptions = z.output<typeof fitOptionsSchema>;

/** The flat options object handed to the Rust side (see {@link toNativeOptions}). */
export interface NativeOptions {
  nClusters: number;
  latentDim: number;
  hidden: number[];
  likelihood: string;
  scale: string;
  graph: string;
  neighbours: number;
  weighting: string;
  siamesePositives: string;
  classifier: string;
  init: string;
  epochsLayerwise: number;
  epochsPretrain: number;
  epochsVae: number;
  epochsSiamese: number;
  epochsClassifier: number;
  epochsDgg: number;
  batchSize: number;
  dggBatchSize?: number;
  lrPretrain: number;
  lrVae: number;
  lrSiamese: number;
  lrClassifier: number;
  lrDgg: number;
  keepBest: boolean;
  weightDecay: number;
  kmeansRestarts: number;
  seed: number;
  device: string;
  threads?: number;
}

/** Renders an issue path as `epochs.dgg` or `hidden[1]`. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out;
}

/** A short, JSON-like rendering of an offending value for error messages. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'string') return `'${v.length > 40 ? `${v.slice(0, 40)}…` : v}'`;
  if (Array.isArray(v)) {
    const inner = v.slice(0, 8).map(describeValue).join(', ');
    return `[${inner}${v.length > 8 ? ', …' : ''}]`;
  }
  if (typeof v === 'function') return 'a function';
  return 'an object';
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length];
}

/** The closest of `candidates` to `name`, when it is close enough to be a plausible typo. */
export function suggest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const dist = editDistance(name, c);
    if (dist < bestD) [best, bestD] = [c, dist];
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/** Known keys of the (possibly nested) object schema at `path`, for typo suggestions. */
function keysAt(path: readonly PropertyKey[]): string[] {
  if (path.length === 0) return Object.keys(fitOptionsSchema.shape);
  if (path.length === 1 && path[0] === 'epochs') return Object.keys(epochsSchema.shape);
  if (path.length === 1 && path[0] === 'learningRates') return Object.keys(learningRatesSchema.shape);
  return [];
}

/** One line per zod issue, each naming the option path and the problem. */
function formatIssues(issues: readonly z.core.$ZodIssue[], input: unknown): string[] {
  const lines: string[] = [];
  // Unknown keys first: a typo ('nCluster') also makes the real key look missing.
  const ordered = [...issues].sort((a, b) => Number(b.code === 'unrecognized_keys') - Number(a.code === 'unrecognized_keys'));
  for (const issue of ordered) {
    const path = formatPath(issue.path);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const full = path ? `${path}.${key}` : key;
        const hint = suggest(key, keysAt(issue.path));
        lines.push(`unknown option '${full}'${hint ? ` (did you mean '${path ? `${path}.` : ''}${hint}'?)` : ''}`);
      }
      continue;
    }
    if (issue.path.length === 0) {
      lines.push(`options ${issue.message}, got ${describeValue(input)}`);
      continue;
    }
    // zod omits `input` for a missing key; `reportInput` gives it otherwise.
    const got = 'input' in issue ? issue.input : undefined;
    if (got === undefined && isMissing(input, issue.path)) {
      lines.push(`${path}: is required (${issue.message})`);
    } else {
      lines.push(`${path}: ${issue.message}, got ${describeValue(got)}`);
    }
  }
  return lines;
}

function isMissing(root: unknown, path: readonly PropertyKey[]): boolean {
  let cur: unknown = root;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object' || !(p in (cur as object))) return true;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur === undefined;
}

/**
 * Validates user options and fills in defaults.
 *
 * @throws DggError `INVALID_OPTION`, whose message names each bad option and its problem, e.g.
 *   `nClusters: must be an integer >= 2, got 1` or `unknown option 'nCluster' (did you mean 'nClusters'?)`.
 */
export function parseOptions(input: unknown): ResolvedOptions {
  const r = fitOptionsSchema.safeParse(input, { reportInput: true });
  if (r.success) return r.data;
  throw new DggError('INVALID_OPTION', formatIssues(r.error.issues, input).join('; '), { cause: r.error });
}

/**
 * Checks one top-level option value against its schema, without requiring the other options.
 *
 * @returns `undefined` when valid, else the problem without the option's name (e.g.
 *   `must be an integer >= 2, got 1`), so that a caller (the CLI) can name it by its flag.
 */
export function checkOption<K extends keyof typeof fitOptionsSchema.shape>(key: K, value: unknown): string | undefined {
  const r = fitOptionsSchema.shape[key].safeParse(value, { reportInput: true });
  if (r.success) return undefined;
  const issue = r.error.issues[0];
  if (issue.code === 'unrecognized_keys') return `unknown key '${issue.keys[0]}'`;
  const got = 'input' in issue ? issue.input : value;
  return `${issue.message}, got ${describeValue(got)}`;
}

/**
 * Flattens resolved options into the object the native addon takes (`epochs.dgg` →
 * `epochsDgg`, `learningRates.vae` → `lrVae`, …).
 */
export function toNativeOptions(o: ResolvedOptions): NativeOptions {
  return {
    nClusters: o.nClusters,
    latentDim: o.latentDim,
    hidden: [...o.hidden],
    likelihood: o.likelihood,
    scale: o.scale,
    graph: o.graph,
    neighbours: o.neighbours,
    weighting: o.weighting,
    siamesePositives: o.siamesePositives,
    classifier: o.classifier,
    init: o.init,
    epochsLayerwise: o.epochs.layerwise,
    epochsPretrain: o.epochs.pretrain,
    epochsVae: o.epochs.vae,
    epochsSiamese: o.epochs.siamese,
    epochsClassifier: o.epochs.classifier,
    epochsDgg: o.epochs.dgg,
    batchSize: o.batchSize,
    dggBatchSize: o.dggBatchSize,
    lrPretrain: o.learningRates.pretrain,
    lrVae: o.learningRates.vae,
    lrSiamese: o.learningRates.siamese,
    lrClassifier: o.learningRates.classifier,
    lrDgg: o.learningRates.dgg,
    keepBest: o.keepBest,
    weightDecay: o.weightDecay,
    kmeansRestarts: o.kmeansRestarts,
    seed: o.seed,
    device: o.device,
    threads: o.threads,
  };
}
