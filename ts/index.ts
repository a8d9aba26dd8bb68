/**
 * dgg-native: deep clustering (DGG) for Node.js, with the math in Rust.
 *
 * @packageDocumentation
 */
export { DGG, evaluate, info, type FitCallOptions, type FitResult, type Mixture } from './dgg';
export { buildGraph, graphPurity, loadGraph, saveGraph, type Graph } from './graph';
export { toMatrix, toLabels, type DataInput, type Matrix } from './data';
export { DggError, type DggErrorCode } from './errors';
export { readDataFile, readLabelsFile, writeLabels, writeMatrix, bundledDigitsPath, DEFAULT_MAX_BYTES, MAX_LINE_LENGTH } from './io';
export { DEFAULTS, parseOptions, type FitOptions, type ResolvedOptions } from './options';
export { formatProgress, type ProgressEvent } from './progress';
