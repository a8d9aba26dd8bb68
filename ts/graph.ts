/**
 * Neighbour graphs: build one once and reuse it across fits, save and load it, measure its purity.
 *
 * @packageDocumentation
 */
import { toLabels, toMatrix, type DataInput } from './data';
import { progressTracker } from './dgg';
import { DggError, fromNative, rethrowNative } from './errors';
import { native, rethrowDevice, type NativeGraph } from './native';
import { parseOptions, toNativeOptions, type FitOptions } from './options';
import type { ProgressEvent } from './progress';

/** A kNN graph: row i lists its `k` neighbours in `indices` and their weights (rows sum to 1). */
export type Graph = NativeGraph;

/** What {@link buildGraph} accepts besides the data and the options. */
export interface BuildGraphCallOptions {
  /** Called per chunk of the neighbour search (phase `knn`) and per Siamese step, on the JS thread. */
  onProgress?: (e: ProgressEvent) => void;
  /** Aborting cancels the build between chunks; the promise rejects with code `CANCELLED`. */
  signal?: AbortSignal;
}

/**
 * Builds the graph `fit` would build with these options (`graph: 'euclidean'` or `'siamese'`; a
 * Siamese network starts from random weights here, from the pretrained encoder inside `fit`, and
 * without that encoder `siamesePositives: 'agreed'` has no latent space to agree with, so the
 * data's nearest neighbours are its positives).
 *
 * @example
 * ```ts
 * const graph = await buildGraph(rows, { nClusters: 10, graph: 'euclidean', neighbours: 20 });
 * await saveGraph(graph, 'digits.graph');
 * const result = await new DGG({ nClusters: 10 }).fit(rows, { graph });
 * ```
 */
export async function buildGraph(data: DataInput, options: FitOptions, opts: BuildGraphCallOptions = {}): Promise<Graph> {
  const m = toMatrix(data);
  const nativeOptions = toNativeOptions(parseOptions(options));
  const { signal } = opts;
  if (signal?.aborted) throw new DggError('CANCELLED', 'cancelled before the graph build started');
  const token = new native.CancelToken();
  const abort = () => token.cancel();
  signal?.addEventListener('abort', abort, { once: true });
  try {
    const graph = await rethrowDevice(
      Promise.resolve().then(() =>
        native.buildGraph(m.data, m.rows, m.cols, nativeOptions, opts.onProgress ? progressTracker(opts.onProgress) : null, token),
      ),
    );
    // As in fit: let queued progress events run before the result.
    if (opts.onProgress) await new Promise((resolve) => setTimeout(resolve, 1));
    return graph;
  } finally {
    signal?.removeEventListener('abort', abort);
  }
}

/** Writes a graph atomically (a small binary file with a checksum). */
export async function saveGraph(graph: Graph, path: string): Promise<void> {
  return rethrowNative(Promise.resolve().then(() => native.saveGraph(graph, path)));
}

/** Reads a graph written by {@link saveGraph}; a corrupt or foreign file is a `MODEL_FORMAT` error. */
export async function loadGraph(path: string): Promise<Graph> {
  return rethrowNative(native.loadGraph(path));
}

/** The fraction of neighbour slots whose label equals the point's own (1 = every edge within a class). */
export function graphPurity(graph: Graph, labels: ArrayLike<number>): number {
  try {
    return native.graphPurity(graph, toLabels(labels, graph.n));
  } catch (e) {
    throw fromNative(e);
  }
}
