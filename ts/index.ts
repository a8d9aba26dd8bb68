/**
 * dgg-native: deep clustering (DGG) for Node.js, with the math in Rust.
 *
 * @packageDocumentation
 */
export { DGG, evaluate, info, type FitCallOptions, type FitResult, type Mixture, type ModelInfo, type PredictChunk, type PredictStreamOptions } from './dgg';
export { buildGraph, graphPurity, loadGraph, saveGraph, type BuildGraphCallOptions, type Graph } from './graph';
export { toMatrix, toLabels, type DataInput, type Matrix } from './data';
export { DggError, type DggErrorCode } from './errors';
export {
  readDataFile,
  readDataChunks,
  readLabelsFile,
  writeLabels,
  writeMatrix,
  bundledDigitsPath,
  DEFAULT_MAX_BYTES,
  DEFAULT_CHUNK_ROWS,
  MAX_LINE_LENGTH,
  type DataChunk,
  type DataFormat,
  type DataSource,
} from './io';
export { DEFAULTS, parseOptions, type FitOptions, type ResolvedOptions } from './options';
export { formatProgress, type ProgressEvent } from './progress';
export { report, writeReport, type ReportOptions } from './report';
