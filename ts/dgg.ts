/**
 * The DGG model: fit on unlabelled rows, then predict, predict probabilities, embed, save and load.
 *
 * @packageDocumentation
 */
import { toLabels, toMatrix, type DataInput, type Matrix } from './data';
import { DggError, fromNative, rethrowNative } from './errors';
import type { Graph } from './graph';
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

/** Turns native per-step reports into {@link ProgressEvent}s with elapsed time and an ETA per phase. */
function progressTracker(onProgress: (e: ProgressEvent) => void): (p: NativeProgress) => void {
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
  /** The validated options, every default filled in. */
  readonly options: ResolvedOptions;
  private model: NativeModel | null = null;

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

  private fitted(): NativeModel {
    if (!this.model) throw new DggError('INVALID_OPTION', 'the model is not trained: call fit() or DGG.load() first');
    return this.model;
  }

  /** Soft assignments q(c | x) of new rows, N x K. */
  async predictProba(data: DataInput, shape?: [number, number]): Promise<Matrix> {
    const model = this.fitted();
    const m = toMatrix(data, shape);
    return matrix(await rethrowNative(model.predictProba(m.data, m.rows, m.cols)), model.nClusters);
  }

  /** The cluster of each new row. */
  async predict(data: DataInput, shape?: [number, number]): Promise<Int32Array> {
    const p = await this.predictProba(data, shape);
    const labels = new Int32Array(p.rows);
    for (let i = 0; i < p.rows; i++) {
      let best = 0;
      for (let c = 1; c < p.cols; c++) if (p.data[i * p.cols + c] > p.data[i * p.cols + best]) best = c;
      labels[i] = best;
    }
    return labels;
  }

  /** Synchronous single-call prediction for latency-critical paths (small inputs only). */
  predictProbaSync(data: DataInput, shape?: [number, number]): Matrix {
    const model = this.fitted();
    const m = toMatrix(data, shape);
    try {
      return matrix(model.predictProbaSync(m.data, m.rows, m.cols), model.nClusters);
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** The latent mean embedding of new rows, N x M. */
  async transform(data: DataInput, shape?: [number, number]): Promise<Matrix> {
    const model = this.fitted();
    const m = toMatrix(data, shape);
    return matrix(await rethrowNative(model.transform(m.data, m.rows, m.cols)), model.latentDim);
  }

  /** Writes the trained model to one file, atomically (temporary file + rename). */
  async save(path: string): Promise<void> {
    await rethrowNative(this.fitted().save(path));
  }

  /** Reads a model written by {@link DGG.save}; a corrupt, truncated or foreign file is a `MODEL_FORMAT` error. */
  static async load(path: string): Promise<DGG> {
    const model = await rethrowNative(native.NativeModel.load(path));
    const c = JSON.parse(model.configJson);
    const dgg = new DGG({
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
    dgg.model = model;
    return dgg;
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
