/**
 * The DGG model: fit on unlabelled rows, then predict, predict probabilities, embed, save and load.
 *
 * @packageDocumentation
 */
import { toLabels, toMatrix, type DataInput, type Matrix } from './data';
import { DggError, fromNative, rethrowNative } from './errors';
import type { Graph } from './graph';
import { readDataChunks, type DataSource, type ReadDataOptions } from './io';
import { addonChoice, native, rethrowDevice, skippedAddons, type NativeModel, type NativeProgress } from './native';
import { DEFAULTS, parseOptions, toNativeOptions, type FitOptions, type ResolvedOptions } from './options';
import type { ProgressEvent } from './progress';

/** What {@link DGG.fit} accepts besides the data. */
export interface FitCallOptions {
  /** Called for every training step, on the JS thread. */
  onProgress?: (e: ProgressEvent) => void;
  /** Aborting cancels training within one batch; the promise rejects with code `CANCELLED`. */
  signal?: AbortSignal;
  /** A graph from {@link buildGraph} or your own: replaces the graph build. */
  graph?: Graph;
  /** The shape of a flat Float32Array input, `[rows, cols]`. */
  shape?: [number, number];
  /**
   * A folder for resumable training: each stage (pretrained, graph, initialised, trained) is saved
   * there, and a later fit with the same data, options and folder skips the stages already saved,
   * with the same result as an uninterrupted run. Stage files are named by a fingerprint of the
   * data, the options their stage and earlier ones read, and a supplied graph: a fit that differs
   * only in later options (say, DGG epochs) reuses the earlier stages; other fits never collide.
   */
  checkpointDir?: string;
}

/** The parameters of the Gaussian mixture in the latent space. */
export interface Mixture {
  /** K x M means. */
  means: Matrix;
  /** K x M diagonal variances. */
  variances: Matrix;
  /** The mixture weights: the mean of the soft assignments over the training data (length K). */
  weights: Float32Array;
}

/** The outcome of {@link DGG.fit}. */
export interface FitResult {
  /** Cluster of each row (argmax of `probabilities`). */
  labels: Int32Array;
  /** Soft assignments q(c | x), N x K. */
  probabilities: Matrix;
  /** The latent mean embedding, N x M. */
  embedding: Matrix;
  gmm: Mixture;
  /** The device that trained the model (`cpu` or `cuda:0`). */
  device: string;
  /** Seconds spent in each phase: pretrain, graph, partition (the spectral or k-means start), init, dgg. */
  timings: Record<string, number>;
  /** The mean of each loss term per epoch and phase. */
  history: Array<{ phase: string; epoch: number; seconds: number; losses: Record<string, number> }>;
  /** The graph DGG trained with (absent for `graph: 'none'`). */
  graph?: Graph;
  /**
   * What the fit noticed: an earlier DGG epoch kept (see `keepBest`), an autoencoder retrained
   * from fresh weights because layer-wise pretraining left a layer dead, or clusters left empty.
   * Empty when there is nothing to say.
   */
  warnings: string[];
}

/** What a model holds besides its weights ({@link DGG.info}). */
export interface ModelInfo {
  /** The file format's name (`dgg-native-model`) and version. */
  format: string;
  formatVersion: number;
  /** D, the number of features a row must have. */
  inputDim: number;
  /** The encoder's hidden layer sizes. */
  hidden: number[];
  /** M, the size of the latent space. */
  latentDim: number;
  /** K, the number of clusters. */
  nClusters: number;
  /** The classifier's hidden layers (empty for the linear classifier). */
  classifierHidden: number[];
  /** The likelihood the fit resolved (`auto` is resolved at fit time). */
  likelihood: string;
  /** The input scaling the fit resolved, applied to every row predicted: `none`, `max` or `standardize`. */
  scale: string;
  /** Trainable parameters of the networks and the mixture. */
  parameters: number;
  /** The device the model runs on in this process. */
  device: string;
}

/** Options of {@link DGG.predictStream}. */
export interface PredictStreamOptions extends ReadDataOptions {
  /** Rows per chunk (default 65,536): memory holds about one chunk of rows and 1 MiB of text. */
  chunkRows?: number;
  /** Also yield the soft assignments of each chunk. */
  proba?: boolean;
}

/** One chunk of {@link DGG.predictStream}'s output. */
export interface PredictChunk {
  /** The cluster of each row of the chunk. */
  labels: Int32Array;
  /** q(c | x) of each row, rows x K (with `proba: true`). */
  proba?: Matrix;
  /** The index of the chunk's first row in the whole input. */
  offset: number;
  /** The label column's cells (with `labelColumn`), as text. */
  truth?: string[];
}

/** The cluster of each row of an N x K probability matrix (the first of equal maxima). */
function argmaxRows(p: Matrix): Int32Array {
  const labels = new Int32Array(p.rows);
  for (let i = 0; i < p.rows; i++) {
    let best = 0;
    for (let c = 1; c < p.cols; c++) if (p.data[i * p.cols + c] > p.data[i * p.cols + best]) best = c;
    labels[i] = best;
  }
  return labels;
}

/** Turns native per-step reports into {@link ProgressEvent}s with elapsed time and an ETA per phase. */
export function progressTracker(onProgress: (e: ProgressEvent) => void): (p: NativeProgress) => void {
  let phase = '';
  let started = 0;
  return (p) => {
    const now = performance.now();
    if (p.phase !== phase) {
      phase = p.phase;
      started = now;
    }
    const elapsedSeconds = (now - started) / 1000;
    const total = p.epochs * p.batches;
    const done = (p.epoch - 1) * p.batches + p.batch;
    const etaSeconds = total > 0 && done > 0 ? (elapsedSeconds * (total - done)) / done : null;
    try {
      onProgress({ ...p, elapsedSeconds, etaSeconds });
    } catch {
      // A throwing listener must not break training; the caller can still abort via the signal.
    }
  };
}

function matrix(data: Float32Array, cols: number): Matrix {
  return { data, rows: cols > 0 ? data.length / cols : 0, cols };
}

/**
 * Deep clustering with DGG (a Gaussian-mixture VAE whose posteriors are tied to neighbours on a
 * similarity graph).
 *
 * @example
 * ```ts
 * import { DGG, evaluate } from 'dgg-native';
 * const model = new DGG({ nClusters: 10 });
 * const { labels } = await model.fit(rows, { onProgress: (e) => console.log(e.phase, e.epoch) });
 * console.log(evaluate(labels, truth));           // { acc, nmi, ari }
 * await model.save('model.dgg');
 * const again = await DGG.load('model.dgg');
 * const predicted = await again.predict(newRows);
 * ```
 */
export class DGG {
  /**
   * The validated options, every default filled in; for a loaded model, the options it was
   * trained with (`threads`, which a model file does not store, excepted).
   */
  readonly options: ResolvedOptions;
  private model: NativeModel | null = null;
  /** The mixture weights of the last fit (a model file does not store them). */
  private weights: Float32Array | undefined;

  /** @throws {DggError} `INVALID_OPTION` naming the option when an option is unknown or out of range. */
  constructor(options: FitOptions) {
    this.options = parseOptions(options);
  }

  /** Trains on `data` (rows x features). Training runs off the JS thread. */
  async fit(data: DataInput, opts: FitCallOptions = {}): Promise<FitResult> {
    const m = toMatrix(data, opts.shape);
    const { signal } = opts;
    if (signal?.aborted) throw new DggError('CANCELLED', 'cancelled before training started');
    const token = new native.CancelToken();
    const abort = () => token.cancel();
    signal?.addEventListener('abort', abort, { once: true });
    try {
      // The addon validates some arguments synchronously: start it inside the promise so every
      // failure arrives as a DggError rejection.
      const res = await rethrowDevice(
        Promise.resolve().then(() => native.fit(
          m.data,
          m.rows,
          m.cols,
          toNativeOptions(this.options),
          opts.graph ?? null,
          opts.onProgress ? progressTracker(opts.onProgress) : null,
          token,
          opts.checkpointDir ?? null,
        )),
      );
      // Progress events travel through their own queue and may still be pending when the work
      // completes: let them run first, so the caller sees every event before the result.
      if (opts.onProgress) await new Promise((resolve) => setTimeout(resolve, 1));
      this.model = res.model;
      const k = this.options.nClusters;
      const probabilities = matrix(res.probabilities, k);
      const weights = new Float32Array(k);
      for (let i = 0; i < res.probabilities.length; i++) weights[i % k] += res.probabilities[i] / m.rows;
      this.weights = weights;
      const mix = res.model.mixture();
      const M = res.model.latentDim;
      return {
        labels: res.labels,
        probabilities,
        embedding: matrix(res.embedding, M),
        gmm: { means: matrix(mix.means, M), variances: matrix(mix.variances, M), weights },
        device: res.device,
        timings: Object.fromEntries(res.timings.map((t) => [t.phase, t.seconds])),
        history: res.history,
        graph: res.graph,
        warnings: res.warnings,
      };
    } finally {
      signal?.removeEventListener('abort', abort);
    }
  }

  private fitted(what: string): NativeModel {
    if (!this.model) throw new DggError('NOT_FITTED', `${what}: the model is not trained: call fit(), DGG.load() or DGG.fromBuffer() first`);
    return this.model;
  }

  /** D, the number of features each row must have. @throws {DggError} `NOT_FITTED` before fit or load. */
  get inputDim(): number {
    return this.fitted('inputDim').inputDim;
  }

  /** K, the number of clusters (known from the options, before fitting too). */
  get nClusters(): number {
    return this.model?.nClusters ?? this.options.nClusters;
  }

  /**
   * The Gaussian mixture in the latent space: K x M means and variances, and after a fit in this
   * process the mixture weights (a model file does not store them, so a loaded model has none).
   *
   * @throws {DggError} `NOT_FITTED` before fit or load.
   */
  get mixture(): Omit<Mixture, 'weights'> & { weights?: Float32Array } {
    const model = this.fitted('mixture');
    let mix: { means: Float32Array; variances: Float32Array };
    try {
      mix = model.mixture();
    } catch (e) {
      throw fromNative(e);
    }
    const M = model.latentDim;
    return { means: matrix(mix.means, M), variances: matrix(mix.variances, M), ...(this.weights ? { weights: this.weights } : {}) };
  }

  /** What the model holds: its shape, the resolved likelihood and scaling, its size. @throws {DggError} `NOT_FITTED` before fit or load. */
  get info(): ModelInfo {
    const model = this.fitted('info');
    try {
      return model.info();
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** Soft assignments q(c | x) of new rows, N x K. */
  async predictProba(data: DataInput, shape?: [number, number]): Promise<Matrix> {
    const model = this.fitted('predictProba');
    const m = toMatrix(data, shape);
    return matrix(await rethrowNative(model.predictProba(m.data, m.rows, m.cols)), model.nClusters);
  }

  /** The cluster of each new row. */
  async predict(data: DataInput, shape?: [number, number]): Promise<Int32Array> {
    this.fitted('predict');
    return argmaxRows(await this.predictProba(data, shape));
  }

  /**
   * Predicts a file or stream too large to hold, chunk by chunk: CSV is parsed as it streams in
   * (`.npy`, IDX and JSON are read whole first), so memory holds about one chunk of rows.
   *
   * @param input - a path, or a stream of bytes (`process.stdin`, a `Readable`); a stream is read
   *   as CSV unless `format` says otherwise or it starts with the `.npy` or IDX magic
   * @param opts - the reader's options (`labelColumn`, `header`, `format`, …), `chunkRows` and `proba`
   * @throws {DggError} `NOT_FITTED`, or the reader's and predict's errors (`INVALID_DATA` naming the line,
   *   `DIMENSION_MISMATCH`) when the chunk that holds the problem is reached.
   *
   * @example
   * ```ts
   * for await (const { labels, offset } of model.predictStream('big.csv', { chunkRows: 10_000 })) {
   *   console.log(offset, labels.length);
   * }
   * ```
   */
  async *predictStream(input: DataSource, opts: PredictStreamOptions = {}): AsyncGenerator<PredictChunk> {
    const model = this.fitted('predictStream');
    const { proba: withProba, ...read } = opts;
    for await (const chunk of readDataChunks(input, read)) {
      const m = chunk.matrix;
      const p = matrix(await rethrowNative(model.predictProba(m.data, m.rows, m.cols)), model.nClusters);
      const out: PredictChunk = { labels: argmaxRows(p), offset: chunk.offset };
      if (withProba) out.proba = p;
      if (chunk.labels) out.truth = chunk.labels;
      yield out;
    }
  }

  /** Synchronous single-call prediction for latency-critical paths (small inputs only). */
  predictProbaSync(data: DataInput, shape?: [number, number]): Matrix {
    const model = this.fitted('predictProbaSync');
    const m = toMatrix(data, shape);
    try {
      return matrix(model.predictProbaSync(m.data, m.rows, m.cols), model.nClusters);
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** The latent mean embedding of new rows, N x M. */
  async transform(data: DataInput, shape?: [number, number]): Promise<Matrix> {
    const model = this.fitted('transform');
    const m = toMatrix(data, shape);
    return matrix(await rethrowNative(model.transform(m.data, m.rows, m.cols)), model.latentDim);
  }

  /** Writes the trained model to one file, atomically (temporary file + rename). */
  async save(path: string): Promise<void> {
    const model = this.fitted('save');
    await rethrowNative(model.save(path));
  }

  /** The model as bytes: exactly what {@link DGG.save} writes to a file. */
  async toBuffer(): Promise<Buffer> {
    const model = this.fitted('toBuffer');
    return rethrowNative(model.toBuffer());
  }

  /** Reads a model written by {@link DGG.save}; a corrupt, truncated or foreign file is a `MODEL_FORMAT` error. */
  static async load(path: string): Promise<DGG> {
    return DGG.fromNative(await rethrowNative(native.NativeModel.load(path)), path);
  }

  /**
   * A model from the bytes of a model file ({@link DGG.toBuffer}, or a file read by other means),
   * checked exactly as {@link DGG.load} checks a file.
   *
   * @throws {DggError} `MODEL_FORMAT` for corrupt, truncated or foreign bytes; `INVALID_OPTION` when `bytes` is not a Uint8Array.
   */
  static async fromBuffer(bytes: Uint8Array): Promise<DGG> {
    if (!(bytes instanceof Uint8Array)) throw new DggError('INVALID_OPTION', 'fromBuffer: expected a Buffer or Uint8Array of model file bytes');
    const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return DGG.fromNative(await rethrowNative(native.NativeModel.fromBuffer(buf, 'buffer')), 'buffer');
  }

  /**
   * A DGG around a loaded native model, with the options the model file stores. The engine checks
   * the ranges it shares with a fit; an option only this layer limits (a seed above 2^32 - 1) is a
   * `MODEL_FORMAT` error naming `origin` (the file, or "buffer") and the field, like the engine's.
   */
  private static fromNative(model: NativeModel, origin: string): DGG {
    const c = JSON.parse(model.configJson);
    let dgg: DGG;
    try {
      dgg = DGG.fromConfig(c);
    } catch (e) {
      if (e instanceof DggError && e.code === 'INVALID_OPTION') {
        throw new DggError('MODEL_FORMAT', `${origin}: metadata field 'config' is invalid: ${e.message}`, { cause: e });
      }
      throw e;
    }
    dgg.model = model;
    return dgg;
  }

  /** The options of a model file's `config` (the engine's snake_case JSON). */
  private static fromConfig(c: any): DGG {
    return new DGG({
      nClusters: c.n_clusters,
      latentDim: c.latent_dim,
      hidden: c.hidden,
      graph: c.graph,
      neighbours: c.neighbours,
      weighting: c.weighting,
      siamesePositives: c.siamese_positives ?? DEFAULTS.siamesePositives,
      classifier: c.classifier,
      init: c.init,
      likelihood: c.likelihood ?? 'auto',
      scale: c.scale,
      epochs: c.epochs,
      batchSize: c.batch_size,
      dggBatchSize: c.dgg_batch_size ?? undefined,
      learningRates: c.lr,
      // Models saved before keepBest existed ended DGG at its last epoch.
      keepBest: c.keep_best ?? false,
      weightDecay: c.weight_decay,
      kmeansRestarts: c.kmeans_restarts,
      seed: c.seed,
      device: c.device,
    });
  }
}

/** Clustering accuracy (best one-to-one matching), NMI and ARI of `labels` against `truth`. */
export function evaluate(labels: ArrayLike<number>, truth: ArrayLike<number>): { acc: number; nmi: number; ari: number } {
  const p = toLabels(labels);
  const t = toLabels(truth, p.length);
  try {
    return native.evaluate(p, t);
  } catch (e) {
    throw fromNative(e);
  }
}

/**
 * Version, build features, devices found and the device `'auto'` picks, with the reason; which
 * addon was loaded (`cuda`, `cpu` or `custom`), its file and where it came from (`package`: the
 * per-platform npm package; `prebuilds`: this package's prebuilds/; `local`: a build in a checkout;
 * `env`: DGG_NATIVE_ADDON), and the platform name it was chosen for.
 */
export function info(): {
  version: string;
  features: string[];
  devices: string[];
  device: string;
  reason: string;
  addon: string;
  addonPath: string;
  addonSource: string;
  platform: string;
} {
  const i = native.buildInfo();
  const skipped = skippedAddons();
  const reason = skipped && i.device === 'cpu' ? `${i.reason}; ${skipped}` : i.reason;
  return { ...i, reason, addon: addonChoice.addon, addonPath: addonChoice.path, addonSource: addonChoice.source, platform: addonChoice.platform };
}
