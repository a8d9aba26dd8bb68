/**
 * In-memory data: the {@link Matrix} type handed to the native addon, and validation of the input
 * shapes users pass ({@link toMatrix}) and of label vectors ({@link toLabels}).
 *
 * Row and column numbers in these messages are 0-based indices, as in the arrays themselves
 * (file readers report 1-based line numbers instead).
 *
 * @packageDocumentation
 */
import { DggError } from './errors';

/** A dense row-major float32 matrix: element (r, c) is `data[r * cols + c]`. */
export interface Matrix {
  /** `rows * cols` values, row after row. */
  data: Float32Array;
  /** Number of rows (points). */
  rows: number;
  /** Number of columns (features). */
  cols: number;
}

/**
 * What the fitting and prediction APIs accept as data:
 * - a {@link Matrix};
 * - an array of rows (`number[][]`);
 * - `{ data, shape: [rows, cols] }` with flat row-major values;
 * - a flat `Float32Array`, with the shape as a separate argument.
 */
export type DataInput =
  | Matrix
  | number[][]
  | { data: Float32Array | Float64Array | number[]; shape: [number, number] }
  | Float32Array; /* with a separate shape argument */

function invalid(message: string): DggError {
  return new DggError('INVALID_DATA', message);
}

function isCount(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

function checkShape(shape: unknown): [number, number] {
  if (!Array.isArray(shape) || shape.length !== 2 || !isCount(shape[0]) || !isCount(shape[1])) {
    throw invalid(`shape must be [rows, cols] with two integers >= 0, got ${JSON.stringify(shape)}`);
  }
  return [shape[0], shape[1]];
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (ArrayBuffer.isView(v)) return v.constructor.name;
  return typeof v;
}

/** Throws INVALID_DATA at the first NaN or ±Infinity in a row-major buffer. */
function checkFinite(data: ArrayLike<number>, cols: number): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    // `v - v` is NaN exactly for NaN and ±Infinity; cheaper than Number.isFinite in this loop.
    if (v - v !== 0) {
      const row = Math.floor(i / cols);
      throw invalid(`non-finite value at row ${row}, column ${i - row * cols}`);
    }
  }
}

/** Converts flat numbers to float32, checking types and the float32 range on the way. */
function flatToFloat32(data: ArrayLike<unknown>, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    const row = Math.floor(i / cols);
    const col = i - row * cols;
    if (typeof v !== 'number') throw invalid(`value at row ${row}, column ${col} is not a number (got ${kindOf(v)})`);
    out[i] = v;
    const f = out[i]; // read back: the float32 value, which may have overflowed
    if (f - f !== 0) {
      if (v - v !== 0) throw invalid(`non-finite value at row ${row}, column ${col}`);
      throw invalid(`value ${v} at row ${row}, column ${col} is outside the float32 range`);
    }
  }
  return out;
}

function fromFlat(data: unknown, shape: [number, number]): Matrix {
  const [rows, cols] = shape;
  if (rows === 0 || cols === 0) throw invalid('data is empty');
  if (data === null || typeof data !== 'object') {
    throw invalid(`data must be a Float32Array, Float64Array or number[], got ${kindOf(data)}`);
  }
  const length = (data as ArrayLike<unknown>).length;
  if (length !== rows * cols) {
    throw invalid(`data has ${length} values, but shape [${rows}, ${cols}] needs ${rows * cols}`);
  }
  if (data instanceof Float32Array) {
    checkFinite(data, cols);
    return { data, rows, cols };
  }
  if (data instanceof Float64Array || Array.isArray(data)) return { data: flatToFloat32(data, cols), rows, cols };
  if (ArrayBuffer.isView(data) && !(data instanceof DataView) && typeof (data as unknown as ArrayLike<unknown>)[0] !== 'bigint') {
    // Integer typed arrays (e.g. Uint8Array images) convert exactly.
    return { data: flatToFloat32(data as unknown as ArrayLike<number>, cols), rows, cols };
  }
  throw invalid(`data must be a Float32Array, Float64Array or number[], got ${kindOf(data)}`);
}

function fromRows(input: unknown[]): Matrix {
  const rows = input.length;
  if (rows === 0) throw invalid('data is empty');
  const first = input[0];
  if (!Array.isArray(first)) throw invalid(`row 0 is not an array (got ${kindOf(first)})`);
  const cols = first.length;
  if (cols === 0) throw invalid('data is empty');
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const row = input[r];
    if (!Array.isArray(row)) throw invalid(`row ${r} is not an array (got ${kindOf(row)})`);
    if (row.length !== cols) throw invalid(`row ${r} has ${row.length} values, expected ${cols}`);
    const base = r * cols;
    for (let c = 0; c < cols; c++) {
      const v: unknown = row[c];
      if (typeof v !== 'number') throw invalid(`value at row ${r}, column ${c} is not a number (got ${kindOf(v)})`);
      out[base + c] = v;
      const f = out[base + c];
      if (f - f !== 0) {
        if (v - v !== 0) throw invalid(`non-finite value at row ${r}, column ${c}`);
        throw invalid(`value ${v} at row ${r}, column ${c} is outside the float32 range`);
      }
    }
  }
  return { data: out, rows, cols };
}

/**
 * Validates `input` and converts it to a float32 {@link Matrix}.
 *
 * A Float32Array (as a Matrix, in `{ data, shape }` or with `shape`) is used as is, without a copy;
 * anything else is copied into a new Float32Array.
 *
 * @param input - the data, in any {@link DataInput} form
 * @param shape - `[rows, cols]`, required when `input` is a flat Float32Array; for other forms, it is
 *   checked against the input's own shape when given
 * @throws DggError `INVALID_DATA`: `data is empty`, `row 3 has 5 values, expected 4`,
 *   `non-finite value at row 12, column 7`, a non-number entry, or a length that is not rows × cols
 *   (indices are 0-based).
 */
export function toMatrix(input: DataInput, shape?: [number, number]): Matrix {
  const m = toMatrixUnchecked(input as unknown, shape);
  if (shape !== undefined) {
    const [r, c] = checkShape(shape);
    if (r !== m.rows || c !== m.cols) {
      throw invalid(`shape [${r}, ${c}] does not match the data's shape [${m.rows}, ${m.cols}]`);
    }
  }
  return m;
}

function toMatrixUnchecked(input: unknown, shape?: [number, number]): Matrix {
  if (ArrayBuffer.isView(input)) {
    if (shape === undefined) throw invalid('a flat typed array needs a shape [rows, cols]');
    return fromFlat(input, checkShape(shape));
  }
  if (Array.isArray(input)) {
    if (input.length > 0 && typeof input[0] === 'number' && shape !== undefined) return fromFlat(input, checkShape(shape));
    return fromRows(input);
  }
  if (input !== null && typeof input === 'object') {
    const o = input as Record<string, unknown>;
    if ('shape' in o) return fromFlat(o.data, checkShape(o.shape));
    if ('rows' in o || 'cols' in o) {
      if (!isCount(o.rows) || !isCount(o.cols)) {
        throw invalid(`rows and cols must be integers >= 0, got ${JSON.stringify(o.rows)} and ${JSON.stringify(o.cols)}`);
      }
      return fromFlat(o.data, [o.rows, o.cols]);
    }
  }
  throw invalid(
    `data must be a Matrix, number[][], { data, shape } or a Float32Array with a shape, got ${kindOf(input)}`,
  );
}

/**
 * Validates a label vector and returns it as an Int32Array (the same array when it already is a
 * valid Int32Array).
 *
 * @param x - one label per point: integers >= 0 that fit in int32
 * @param n - the expected length (the number of rows of the data), when known
 * @throws DggError `INVALID_DATA` for an empty vector or a label that is not an integer >= 0;
 *   `DIMENSION_MISMATCH` when the length is not `n`.
 */
export function toLabels(x: ArrayLike<number>, n?: number): Int32Array {
  if (x === null || typeof x !== 'object' || typeof (x as ArrayLike<number>).length !== 'number') {
    throw invalid(`labels must be an array of integers, got ${kindOf(x)}`);
  }
  if (n !== undefined && x.length !== n) {
    throw new DggError('DIMENSION_MISMATCH', `labels have ${x.length} values, expected ${n} (one per row)`);
  }
  if (x.length === 0) throw invalid('labels are empty');
  const out = x instanceof Int32Array ? x : new Int32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v: unknown = x[i];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0x7fffffff) {
      throw invalid(`label at index ${i} must be an integer >= 0, got ${typeof v === 'number' ? v : kindOf(v)}`);
    }
    out[i] = v;
  }
  return out;
}
