/**
 * Reading data and labels from files (CSV/TSV, .npy, IDX, JSON, any of them gzipped) and writing
 * results (CSV, JSON, .npy) atomically.
 *
 * Every failure is a {@link DggError} whose message starts with the file path: `IO_ERROR` when a
 * file cannot be read or written, `INVALID_DATA` when its content is malformed. Text formats report
 * 1-based line and column numbers; binary formats report 0-based row and column indices.
 *
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { type Matrix, toLabels, toMatrix } from './data';
import { DggError } from './errors';

const gunzip = promisify(zlib.gunzip);
const HOST_LE = os.endianness() === 'LE';

/** Options of {@link readDataFile}. */
export interface ReadDataOptions {
  /**
   * A column holding labels, removed from the features and returned as `labels`: a 0-based index
   * (negative counts from the end, -1 = last), a header name (CSV with a header only), or `'last'`.
   */
  labelColumn?: number | string | 'last';
  /** Whether a CSV file starts with a header row; `'auto'` (default): when a first-row cell is non-numeric where the second row's is numeric. */
  header?: boolean | 'auto';
}

/** What {@link readDataFile} returns. */
export interface DataFile {
  /** The features, one row per point. */
  matrix: Matrix;
  /** Labels from the label column: its integers as they are when all are >= 0, else 0..C-1 in order of first appearance. */
  labels?: Int32Array;
  /** Names of the feature columns, when the file has a header. */
  columns?: string[];
  /** When labels were remapped (e.g. strings), `labelNames[i]` is the original value of label `i`. */
  labelNames?: string[];
}

type Format = 'csv' | 'npy' | 'idx' | 'json';

// ---------------------------------------------------------------------------------------------
// Errors and raw bytes

const SYS_REASONS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'a parent is not a directory',
  ENOSPC: 'no space left on device',
  EROFS: 'read-only file system',
  EEXIST: 'file exists',
};

function ioError(verb: 'read' | 'write', file: string, e: unknown): DggError {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const reason = (code && SYS_REASONS[code]) || (e instanceof Error ? e.message : String(e));
  return new DggError('IO_ERROR', `cannot ${verb} '${file}': ${reason}${code ? ` (${code})` : ''}`, { cause: e });
}

function invalid(message: string): DggError {
  return new DggError('INVALID_DATA', message);
}

/** Runs `fn`, putting `${file}: ` in front of any DggError it throws that does not name the file yet. */
async function inFile<T>(file: string, fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof DggError) throw e.message.includes(file) ? e : e.withPrefix(`${file}: `);
    throw new DggError('INTERNAL', `${file}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

async function readBytes(file: string): Promise<Buffer> {
  let buf: Buffer;
  try {
    buf = await fsp.readFile(file);
  } catch (e) {
    throw ioError('read', file, e);
  }
  const gz = /\.gz$/i.test(file);
  // Trust the gzip magic over the name: a misnamed .gz is still readable.
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      return await gunzip(buf);
    } catch (e) {
      throw invalid(`${file}: cannot decompress: ${(e as Error).message}`);
    }
  }
  if (gz) throw invalid(`${file}: not a gzip file (the name ends in .gz)`);
  return buf;
}

function formatOf(file: string, buf: Buffer): Format {
  const name = path.basename(file).toLowerCase().replace(/\.gz$/, '');
  if (/\.(csv|tsv|txt|dat)$/.test(name)) return 'csv';
  if (name.endsWith('.npy')) return 'npy';
  if (name.endsWith('.json')) return 'json';
  if (/\.idx\d*$/.test(name) || /[.-]idx\d+-ubyte$/.test(name)) return 'idx';
  // Unknown name: sniff the two binary formats by their magic.
  if (buf.length >= 6 && buf.subarray(0, 6).equals(NPY_MAGIC)) return 'npy';
  if (buf.length >= 4 && buf[0] === 0 && buf[1] === 0 && IDX_TYPES[buf[2]] !== undefined) return 'idx';
  throw invalid(
    `${file}: unsupported file type '${path.extname(name) || name}' (expected .csv, .tsv, .txt, .npy, .json or IDX, optionally .gz)`,
  );
}

// ---------------------------------------------------------------------------------------------
// Labels

/**
 * Turns raw label values into ints: non-negative integers stay as they are (so 0..9 digit labels
 * keep their meaning); anything else is numbered 0..C-1 in order of first appearance.
 */
function encodeLabels(values: readonly (string | number)[], where: (i: number) => string): { labels: Int32Array; names?: string[] } {
  const labels = new Int32Array(values.length);
  let plain = true;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v === 'number' && !Number.isFinite(v)) throw invalid(`non-finite label at ${where(i)}`);
    if (typeof v === 'string' && v === '') throw invalid(`empty label at ${where(i)}`);
    const n = typeof v === 'number' ? v : Number(v);
    if (Number.isInteger(n) && n >= 0 && n <= 0x7fffffff) labels[i] = n;
    else {
      plain = false;
      break;
    }
  }
  if (plain) return { labels };
  const index = new Map<string, number>();
  const names: string[] = [];
  for (let i = 0; i < values.length; i++) {
    const key = String(values[i]);
    let id = index.get(key);
    if (id === undefined) {
      id = names.length;
      index.set(key, id);
      names.push(key);
    }
    labels[i] = id;
  }
  return { labels, names };
}

function resolveLabelColumn(spec: ReadDataOptions['labelColumn'], cols: number, header: string[] | undefined): number {
  if (spec === 'last') return cols - 1;
  if (typeof spec === 'number') {
    if (!Number.isInteger(spec)) throw new DggError('INVALID_OPTION', `labelColumn must be an integer, a name or 'last', got ${spec}`);
    const idx = spec < 0 ? cols + spec : spec;
    if (idx < 0 || idx >= cols) throw invalid(`label column ${spec} is out of range: the data has ${cols} columns (0-based)`);
    return idx;
  }
  if (typeof spec === 'string') {
    if (!header) throw invalid(`label column '${spec}' needs a header row naming the columns, and this file has none`);
    let idx = header.indexOf(spec);
    if (idx < 0) idx = header.findIndex((h) => h.toLowerCase() === spec.toLowerCase());
    if (idx < 0) throw invalid(`no column named '${spec}' (columns: ${header.join(', ')})`);
    return idx;
  }
  throw new DggError('INVALID_OPTION', `labelColumn must be an integer, a name or 'last', got ${typeof spec}`);
}

/** Removes column `idx` of `m`, returning the rest and the removed values. */
function splitColumn(m: Matrix, idx: number): { rest: Matrix; column: Float32Array } {
  const cols = m.cols - 1;
  if (cols === 0) throw invalid('no feature columns left after removing the label column');
  const rest = new Float32Array(m.rows * cols);
  const column = new Float32Array(m.rows);
  for (let r = 0; r < m.rows; r++) {
    const src = r * m.cols;
    rest.set(m.data.subarray(src, src + idx), r * cols);
    rest.set(m.data.subarray(src + idx + 1, src + m.cols), r * cols + idx);
    column[r] = m.data[src + idx];
  }
  return { rest: { data: rest, rows: m.rows, cols }, column };
}

// ---------------------------------------------------------------------------------------------
// CSV

// Numeric cells: what Number() accepts minus its surprises (empty string, hex, "Infinity").
const NUMERIC = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const NON_FINITE_TEXT = /^[+-]?(nan|inf|infinity)$/i;

function isNumeric(cell: string): boolean {
  return NUMERIC.test(cell.trim());
}

type Splitter = (line: string) => string[];

function makeSplitter(delim: string): Splitter {
  if (delim === ' ') return (line) => line.trim().split(/\s+/);
  return (line) => (line.includes('"') ? splitQuoted(line, delim) : line.split(delim));
}

/** Splits one line with RFC 4180 quoting ("a,b" is one cell, "" an escaped quote); no multi-line cells. */
function splitQuoted(line: string, delim: string): string[] {
  const cells: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"') {
        if (line[i + 1] === '"') {
          cur += '"';
          i++;
        } else quoted = false;
      } else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === delim) {
      cells.push(cur);
      cur = '';
    } else cur += ch;
  }
  cells.push(cur);
  return cells;
}

function detectDelimiter(line: string): string {
  let best = '';
  let bestCount = 0;
  for (const d of [',', '\t', ';']) {
    const count = splitQuoted(line, d).length - 1;
    if (count > bestCount) [best, bestCount] = [d, count];
  }
  if (best) return best;
  // No ',', tab or ';': whitespace-separated (numpy.savetxt's default) or a single column.
  return /\S\s+\S/.test(line.trim()) ? ' ' : ',';
}

/** Lines that hold data: not blank, not a '#' comment; with their 1-based line numbers. */
function contentLines(text: string): { lines: string[]; numbers: number[] } {
  const all = text.split('\n');
  const lines: string[] = [];
  const numbers: number[] = [];
  for (let i = 0; i < all.length; i++) {
    let line = all[i];
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (i === 0 && line.charCodeAt(0) === 0xfeff) line = line.slice(1);
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    lines.push(line);
    numbers.push(i + 1);
  }
  return { lines, numbers };
}

function detectHeader(first: string[], second: string[] | undefined): boolean {
  if (first.every(isNumeric)) return false;
  if (!second) return true;
  // A header cell is text above a number; a text label column alone is not a header.
  return first.some((cell, j) => !isNumeric(cell) && j < second.length && isNumeric(second[j]));
}

function cellValue(cell: string, line: number, col: number): number {
  let s = cell;
  if (s.length === 0 || s.charCodeAt(0) <= 32 || s.charCodeAt(s.length - 1) <= 32) s = s.trim();
  // Hot loop: a character scan is several times faster than the NUMERIC regex. Only digits, sign,
  // '.', 'e'/'E' may pass (no hex, no "Infinity"); Number() then rejects malformed ones like "1-2".
  let ok = s.length > 0;
  for (let i = 0; ok && i < s.length; i++) {
    const c = s.charCodeAt(i);
    ok = (c >= 48 && c <= 57) || c === 46 || c === 45 || c === 43 || c === 101 || c === 69;
  }
  const v = ok ? Number(s) : Number.NaN;
  if (v - v !== 0) {
    if (s === '') throw invalid(`empty value at line ${line}, column ${col}`);
    if (NON_FINITE_TEXT.test(s)) throw invalid(`non-finite value '${s}' at line ${line}, column ${col}`);
    throw invalid(`non-numeric value '${s.length > 30 ? `${s.slice(0, 30)}…` : s}' at line ${line}, column ${col}`);
  }
  if (!Number.isFinite(Math.fround(v))) throw invalid(`value '${s}' at line ${line}, column ${col} is outside the float32 range`);
  return v;
}

// Exact doubles: m * 10^e and m / 10^e are then correctly rounded for m < 2^53 (Clinger's fast path).
const POW10 = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));

/**
 * Parses a line of plain decimal cells straight into `data` at `k`, without making a substring
 * per cell (several times faster than split + Number on wide files). Returns false on anything
 * else (spaces, quotes, text, a wrong cell count); the general path then parses the line and
 * reports the problem. Gives the same float32 values as Number(cell).
 */
function fastRow(line: string, delim: number, cols: number, labelIdx: number, data: Float32Array, k: number, labels: string[]): boolean {
  const n = line.length;
  let pos = 0;
  let label: string | undefined;
  for (let j = 0; j < cols; j++) {
    const start = pos;
    if (j === labelIdx) {
      while (pos < n && line.charCodeAt(pos) !== delim) pos++;
      label = line.slice(start, pos).trim();
      if (label.includes('"')) return false;
    } else {
      let c = pos < n ? line.charCodeAt(pos) : -1;
      let neg = false;
      if (c === 45 || c === 43) {
        neg = c === 45;
        c = ++pos < n ? line.charCodeAt(pos) : -1;
      }
      let m = 0;
      let digits = 0; // significant digits held in m
      let scale = 0;
      let any = false;
      let slow = false; // more than 15 significant digits: leave it to Number()
      while (c >= 48 && c <= 57) {
        if (digits < 15) {
          m = m * 10 + (c - 48);
          if (m !== 0) digits++;
        } else slow = true;
        any = true;
        c = ++pos < n ? line.charCodeAt(pos) : -1;
      }
      if (c === 46) {
        c = ++pos < n ? line.charCodeAt(pos) : -1;
        while (c >= 48 && c <= 57) {
          if (digits < 15) {
            m = m * 10 + (c - 48);
            if (m !== 0) digits++;
            scale--;
          } else slow = true;
          any = true;
          c = ++pos < n ? line.charCodeAt(pos) : -1;
        }
      }
      if (!any) return false;
      if (c === 101 || c === 69) {
        c = ++pos < n ? line.charCodeAt(pos) : -1;
        let eneg = false;
        if (c === 45 || c === 43) {
          eneg = c === 45;
          c = ++pos < n ? line.charCodeAt(pos) : -1;
        }
        let e = 0;
        let edigits = 0;
        while (c >= 48 && c <= 57) {
          if (e < 1e6) e = e * 10 + (c - 48);
          edigits++;
          c = ++pos < n ? line.charCodeAt(pos) : -1;
        }
        if (edigits === 0) return false;
        scale += eneg ? -e : e;
      }
      if (c !== delim && c !== -1) return false;
      let v: number;
      if (slow || scale > 22 || scale < -22) v = Number(line.slice(start, pos));
      else {
        v = scale >= 0 ? m * POW10[scale] : m / POW10[-scale];
        if (neg) v = -v;
      }
      data[k] = v;
      const f = data[k++];
      if (f - f !== 0) return false;
    }
    if (j < cols - 1) {
      if (pos >= n || line.charCodeAt(pos) !== delim) return false;
      pos++;
    }
  }
  if (pos !== n) return false;
  if (label !== undefined) labels.push(label);
  return true;
}

function parseCsv(text: string, opts: ReadDataOptions): DataFile {
  const { lines, numbers } = contentLines(text);
  if (lines.length === 0) throw invalid('data is empty');
  const delim = detectDelimiter(lines[0]);
  const split = makeSplitter(delim);
  const fast = delim === ' ' ? -1 : delim.charCodeAt(0);
  const first = split(lines[0]);
  const headerOpt = opts.header ?? 'auto';
  const hasHeader = headerOpt === 'auto' ? detectHeader(first, lines.length > 1 ? split(lines[1]) : undefined) : headerOpt;
  const header = hasHeader ? first.map((c) => c.trim()) : undefined;
  const start = hasHeader ? 1 : 0;
  const rows = lines.length - start;
  if (rows === 0) throw invalid('data is empty (only a header row)');
  const cols = first.length;
  const labelIdx = opts.labelColumn === undefined ? -1 : resolveLabelColumn(opts.labelColumn, cols, header);
  const featureCols = labelIdx >= 0 ? cols - 1 : cols;
  if (featureCols === 0) throw invalid('no feature columns left after removing the label column');
  const data = new Float32Array(rows * featureCols);
  const labelCells: string[] = [];
  let k = 0;
  for (let i = start; i < lines.length; i++) {
    if (fast >= 0 && fastRow(lines[i], fast, cols, labelIdx, data, k, labelCells)) {
      k += featureCols;
      continue;
    }
    const cells = split(lines[i]);
    const line = numbers[i];
    if (cells.length !== cols) throw invalid(`line ${line} has ${cells.length} values, expected ${cols}`);
    for (let j = 0; j < cols; j++) {
      if (j === labelIdx) labelCells.push(cells[j].trim());
      else data[k++] = cellValue(cells[j], line, j + 1);
    }
  }
  const out: DataFile = { matrix: { data, rows, cols: featureCols } };
  if (header) out.columns = header.filter((_, j) => j !== labelIdx);
  if (labelIdx >= 0) {
    const enc = encodeLabels(labelCells, (i) => `line ${numbers[start + i]}, column ${labelIdx + 1}`);
    out.labels = enc.labels;
    if (enc.names) out.labelNames = enc.names;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// .npy and IDX (binary arrays)

/** A decoded n-d array; `values` holds the numbers in C order. */
interface NdArray {
  shape: number[];
  values: Float32Array | Float64Array | Uint8Array | Int8Array | Int16Array | Uint16Array | Int32Array | Uint32Array;
}

type Kind = 'f4' | 'f8' | 'u1' | 'i1' | 'i2' | 'u2' | 'i4' | 'u4' | 'i8';
const ITEM_SIZE: Record<Kind, number> = { f4: 4, f8: 8, u1: 1, i1: 1, i2: 2, u2: 2, i4: 4, u4: 4, i8: 8 };

/** Decodes `count` numbers of `kind` at `offset`, copying into an aligned buffer. */
function decode(buf: Buffer, offset: number, count: number, kind: Kind, littleEndian: boolean): NdArray['values'] {
  const size = ITEM_SIZE[kind];
  const bytes = new Uint8Array(count * size);
  bytes.set(buf.subarray(offset, offset + count * size));
  if (size === 1 || littleEndian === HOST_LE) {
    switch (kind) {
      case 'f4': return new Float32Array(bytes.buffer);
      case 'f8': return new Float64Array(bytes.buffer);
      case 'u1': return bytes;
      case 'i1': return new Int8Array(bytes.buffer);
      case 'i2': return new Int16Array(bytes.buffer);
      case 'u2': return new Uint16Array(bytes.buffer);
      case 'i4': return new Int32Array(bytes.buffer);
      case 'u4': return new Uint32Array(bytes.buffer);
      case 'i8': {
        // Exact up to 2^53, which covers every count and label a file could hold.
        const big = new BigInt64Array(bytes.buffer);
        const out = new Float64Array(count);
        for (let i = 0; i < count; i++) out[i] = Number(big[i]);
        return out;
      }
    }
  }
  // Byte order differs from the host's (IDX is big-endian): read through a DataView.
  const dv = new DataView(bytes.buffer);
  const le = littleEndian;
  const read: Record<Exclude<Kind, 'u1' | 'i1'>, () => NdArray['values']> = {
    f4: () => Float32Array.from({ length: count }, (_, i) => dv.getFloat32(i * 4, le)),
    f8: () => Float64Array.from({ length: count }, (_, i) => dv.getFloat64(i * 8, le)),
    i2: () => Int16Array.from({ length: count }, (_, i) => dv.getInt16(i * 2, le)),
    u2: () => Uint16Array.from({ length: count }, (_, i) => dv.getUint16(i * 2, le)),
    i4: () => Int32Array.from({ length: count }, (_, i) => dv.getInt32(i * 4, le)),
    u4: () => Uint32Array.from({ length: count }, (_, i) => dv.getUint32(i * 4, le)),
    i8: () => Float64Array.from({ length: count }, (_, i) => Number(dv.getBigInt64(i * 8, le))),
  };
  return read[kind as Exclude<Kind, 'u1' | 'i1'>]();
}

const NPY_MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // "\x93NUMPY"
const NPY_KINDS: Record<string, Kind> = {
  f4: 'f4', f8: 'f8', u1: 'u1', b1: 'u1', i1: 'i1', i2: 'i2', u2: 'u2', i4: 'i4', u4: 'u4', i8: 'i8',
};

function product(dims: number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

function parseNpy(buf: Buffer): NdArray {
  if (buf.length < 10 || !buf.subarray(0, 6).equals(NPY_MAGIC)) {
    throw invalid(buf.length < 10 && buf.subarray(0, Math.min(6, buf.length)).equals(NPY_MAGIC.subarray(0, Math.min(6, buf.length)))
      ? 'truncated .npy file (incomplete header)'
      : 'not a .npy file (bad magic)');
  }
  const major = buf[6];
  let headerLen: number;
  let start: number;
  if (major === 1) [headerLen, start] = [buf.readUInt16LE(8), 10];
  else if (major === 2 || major === 3) {
    if (buf.length < 12) throw invalid('truncated .npy file (incomplete header)');
    [headerLen, start] = [buf.readUInt32LE(8), 12];
  } else throw invalid(`unsupported .npy format version ${major}`);
  if (buf.length < start + headerLen) throw invalid('truncated .npy file (incomplete header)');
  const header = buf.toString(major === 3 ? 'utf8' : 'latin1', start, start + headerLen);
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(header)?.[1];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw invalid(`malformed .npy header: ${header.trim()}`);
  if (fortran === 'True') throw invalid('.npy arrays in Fortran order are not supported; save with numpy.ascontiguousarray');
  const order = descr[0];
  const kind = NPY_KINDS[/^[<>|=]/.test(descr) ? descr.slice(1) : descr];
  if (kind === undefined) throw invalid(`unsupported .npy dtype '${descr}' (expected float32, float64, int8..int64 or uint8..uint32)`);
  if (order === '>' && ITEM_SIZE[kind] > 1) throw invalid(`big-endian .npy dtype '${descr}' is not supported; convert with astype('<${descr.slice(1)}')`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => {
    if (!/^\d+L?$/.test(s)) throw invalid(`malformed .npy shape (${shapeText})`);
    return parseInt(s, 10);
  });
  const offset = start + headerLen;
  const count = product(shape);
  const need = count * ITEM_SIZE[kind];
  if (buf.length - offset < need) {
    throw invalid(`truncated .npy file: shape (${shape.join(', ')}) needs ${need} bytes of data, found ${buf.length - offset}`);
  }
  // '=' (native) is little-endian on every platform Node.js supports.
  return { shape, values: decode(buf, offset, count, kind, order !== '>') };
}

// IDX type byte → element kind (data is big-endian).
const IDX_TYPES: Record<number, Kind> = { 0x08: 'u1', 0x09: 'i1', 0x0b: 'i2', 0x0c: 'i4', 0x0d: 'f4', 0x0e: 'f8' };

function parseIdx(buf: Buffer): NdArray {
  if (buf.length < 4) throw invalid('truncated IDX file (incomplete header)');
  if (buf[0] !== 0 || buf[1] !== 0) throw invalid('not an IDX file (bad magic)');
  const kind = IDX_TYPES[buf[2]];
  if (kind === undefined) throw invalid(`unsupported IDX type byte 0x${buf[2].toString(16).padStart(2, '0')}`);
  const ndim = buf[3];
  if (ndim === 0) throw invalid('IDX file has no dimensions');
  const offset = 4 + 4 * ndim;
  if (buf.length < offset) throw invalid('truncated IDX file (incomplete header)');
  const shape = Array.from({ length: ndim }, (_, i) => buf.readUInt32BE(4 + 4 * i));
  const count = product(shape);
  const need = count * ITEM_SIZE[kind];
  if (buf.length - offset < need) {
    throw invalid(`truncated IDX file: shape ${shape.join(' x ')} needs ${need} bytes of data, found ${buf.length - offset}`);
  }
  return { shape, values: decode(buf, offset, count, kind, false) };
}

/** Rows = first dimension; every further dimension is flattened into columns (images → pixels). */
function ndToMatrix(a: NdArray): Matrix {
  if (a.shape.length === 0) throw invalid('expected an array of rows, got a scalar');
  const rows = a.shape[0];
  const cols = a.shape.length === 1 ? 1 : product(a.shape.slice(1));
  return toMatrix({ data: a.values as Float32Array, shape: [rows, cols] });
}

function ndToLabelValues(a: NdArray): number[] {
  const ok = a.shape.length === 1 || (a.shape.length === 2 && a.shape[1] === 1);
  if (!ok) throw invalid(`labels must be a 1-D array (or n x 1), got shape (${a.shape.join(', ')})`);
  return Array.from(a.values);
}

// ---------------------------------------------------------------------------------------------
// JSON

function parseJsonText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw invalid(`invalid JSON: ${(e as Error).message}`);
  }
}

function jsonToMatrix(v: unknown): Matrix {
  // A flat array of numbers is one feature per row.
  if (Array.isArray(v) && v.length > 0 && typeof v[0] !== 'object') {
    return toMatrix({ data: v as number[], shape: [v.length, 1] });
  }
  return toMatrix(v as Matrix);
}

// ---------------------------------------------------------------------------------------------
// Public readers

/**
 * Reads a data file, choosing the format from the extension (after an optional `.gz`):
 * - `.csv`, `.tsv`, `.txt`: delimited text; delimiter `,`, tab or `;` (or whitespace) detected from
 *   the first line; header detected unless `opts.header` says; `#` lines and blank lines skipped;
 * - `.npy`: float32/float64/(u)int8..int64, little-endian, C order; dimensions after the first are
 *   flattened into columns;
 * - IDX (`.idx`, `*-idx3-ubyte`, …): as MNIST ships it; images flattened to rows × (h·w);
 * - `.json`: `number[][]` or `{ data, shape }`.
 * Gzipped files are recognised by their magic bytes and decompressed first.
 *
 * @throws DggError `IO_ERROR` (unreadable file, with the path) or `INVALID_DATA` (with the path and
 *   line/column for text, row/column for binary formats).
 *
 * @example
 * ```ts
 * const { matrix, labels } = await readDataFile('iris.csv', { labelColumn: 'species' });
 * ```
 */
export async function readDataFile(file: string, opts: ReadDataOptions = {}): Promise<DataFile> {
  if (opts.header !== undefined && opts.header !== 'auto' && typeof opts.header !== 'boolean') {
    throw new DggError('INVALID_OPTION', `header must be true, false or 'auto', got ${JSON.stringify(opts.header)}`);
  }
  const buf = await readBytes(file);
  return inFile(file, () => {
    const format = formatOf(file, buf);
    if (format === 'csv') return parseCsv(buf.toString('utf8'), opts);
    const matrix = format === 'json' ? jsonToMatrix(parseJsonText(buf.toString('utf8'))) : ndToMatrix(format === 'npy' ? parseNpy(buf) : parseIdx(buf));
    if (opts.labelColumn === undefined) return { matrix };
    const idx = resolveLabelColumn(opts.labelColumn, matrix.cols, undefined);
    const { rest, column } = splitColumn(matrix, idx);
    const enc = encodeLabels(Array.from(column), (i) => `row ${i}`);
    const out: DataFile = { matrix: rest, labels: enc.labels };
    if (enc.names) out.labelNames = enc.names;
    return out;
  });
}

/**
 * Reads a label vector: text with one value per line (optional header), a 1-D `.npy` or IDX array,
 * or a JSON array. Non-negative integer labels are kept as they are; other values (strings,
 * negative numbers) are numbered 0..C-1 in order of first appearance.
 *
 * @param opts - `header`: whether a text file has a header line (`'auto'`: when the first line is
 *   non-numeric and the second numeric)
 * @throws DggError `IO_ERROR` or `INVALID_DATA`, with the path.
 */
export async function readLabelsFile(file: string, opts: { header?: boolean | 'auto' } = {}): Promise<Int32Array> {
  const buf = await readBytes(file);
  return inFile(file, () => {
    const format = formatOf(file, buf);
    if (format === 'npy' || format === 'idx') {
      const values = ndToLabelValues(format === 'npy' ? parseNpy(buf) : parseIdx(buf));
      if (values.length === 0) throw invalid('labels are empty');
      return encodeLabels(values, (i) => `index ${i}`).labels;
    }
    if (format === 'json') {
      const v = parseJsonText(buf.toString('utf8'));
      if (!Array.isArray(v)) throw invalid('expected a JSON array of labels');
      if (v.length === 0) throw invalid('labels are empty');
      v.forEach((x, i) => {
        if (typeof x !== 'number' && typeof x !== 'string') throw invalid(`label at index ${i} must be a number or a string`);
      });
      return encodeLabels(v as (string | number)[], (i) => `index ${i}`).labels;
    }
    const { lines, numbers } = contentLines(buf.toString('utf8'));
    const header = opts.header ?? 'auto';
    const skip = header === 'auto' ? lines.length > 1 && !isNumeric(lines[0]) && isNumeric(lines[1]) : header;
    const cells: string[] = [];
    for (let i = skip ? 1 : 0; i < lines.length; i++) {
      const line = lines[i];
      const split = makeSplitter(detectDelimiter(line))(line);
      if (split.length !== 1) throw invalid(`line ${numbers[i]} has ${split.length} values, expected one label per line`);
      cells.push(split[0].trim());
    }
    if (cells.length === 0) throw invalid('labels are empty');
    const offset = skip ? 1 : 0;
    return encodeLabels(cells, (i) => `line ${numbers[i + offset]}`).labels;
  });
}

/**
 * Where the package's bundled 8x8 digits data lives (1797 × 64, values 0..16, label in the last of
 * its 65 columns, no header; the UCI optdigits test set as scikit-learn ships it).
 *
 * @example
 * ```ts
 * const { matrix, labels } = await readDataFile(bundledDigitsPath(), { labelColumn: 'last', header: false });
 * ```
 */
export function bundledDigitsPath(): string {
  // Same relative place from ts/io.ts (tests) and dist/io.js (the package).
  return path.join(__dirname, '..', 'data', 'digits.csv.gz');
}

// ---------------------------------------------------------------------------------------------
// Writers

/**
 * Writes `content` to `file` atomically: into `${file}.tmp-<pid>-<random>` in the same directory,
 * flushed, then renamed over `file`. On any failure the temporary file is removed and `file` keeps
 * its old content (or stays absent).
 *
 * @param content - bytes, text, or a function writing to the open temporary file
 * @throws DggError `IO_ERROR` with the path; a DggError thrown by `content` is passed through.
 */
export async function writeFileAtomic(
  file: string,
  content: string | Uint8Array | ((handle: FileHandle) => Promise<void>),
): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  let handle: FileHandle | undefined;
  try {
    handle = await fsp.open(tmp, 'wx');
    if (typeof content === 'function') await content(handle);
    else await handle.writeFile(content);
    // Flush before the rename so that a crash cannot leave a renamed but empty file.
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fsp.rename(tmp, file);
  } catch (e) {
    await handle?.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw e instanceof DggError ? e : ioError('write', file, e);
  }
}

type OutFormat = 'csv' | 'tsv' | 'json' | 'npy';

function outFormat(file: string): OutFormat {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.csv' || ext === '.txt') return 'csv';
  if (ext === '.tsv') return 'tsv';
  if (ext === '.json') return 'json';
  if (ext === '.npy') return 'npy';
  throw new DggError('INVALID_OPTION', `cannot write '${file}': unsupported extension '${ext}' (use .csv, .tsv, .txt, .json or .npy)`);
}

/** The shortest decimal text that reads back as the same float32. */
function f32Text(v: number): string {
  for (let p = 6; p < 9; p++) {
    const s = Number(v.toPrecision(p));
    if (Math.fround(s) === v) return String(s);
  }
  return String(Number(v.toPrecision(9)));
}

function npyBytes(descr: string, shape: number[], values: Float32Array | Int32Array): Buffer {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // numpy pads the header with spaces so that the data starts on a 64-byte boundary.
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  NPY_MAGIC.copy(head, 0);
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  let body = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  if (!HOST_LE) {
    body = Buffer.from(body);
    body.swap32();
  }
  return Buffer.concat([head, Buffer.from(header, 'latin1'), body]);
}

/** Writes text produced row by row, in chunks, so large outputs never build one huge string. */
function chunked(rows: number, rowText: (r: number) => string, prefix = '', suffix = ''): (h: FileHandle) => Promise<void> {
  return async (h) => {
    let chunk = prefix;
    for (let r = 0; r < rows; r++) {
      chunk += rowText(r);
      if (chunk.length >= 1 << 16) {
        await h.write(chunk);
        chunk = '';
      }
    }
    await h.write(chunk + suffix);
  };
}

/**
 * Writes one label per point, atomically, by extension: `.csv`/`.txt`/`.tsv` (one label per line,
 * no header), `.json` (an array), `.npy` (int32, 1-D).
 *
 * @throws DggError `INVALID_OPTION` for an unsupported extension, `INVALID_DATA` for invalid labels,
 *   `IO_ERROR` when the file cannot be written.
 */
export async function writeLabels(file: string, labels: Int32Array | ArrayLike<number>): Promise<void> {
  const format = outFormat(file);
  const l = toLabels(labels);
  if (format === 'npy') return writeFileAtomic(file, npyBytes('<i4', [l.length], l));
  if (format === 'json') return writeFileAtomic(file, chunked(l.length, (i) => (i ? `,${l[i]}` : `${l[i]}`), '[', ']\n'));
  return writeFileAtomic(file, chunked(l.length, (i) => `${l[i]}\n`));
}

/**
 * Writes a matrix, atomically, by extension: `.csv`/`.txt` (comma-separated, no header), `.tsv`,
 * `.json` (`number[][]`), `.npy` (float32, C order). Text holds the shortest decimal form that
 * reads back as the same float32.
 *
 * @throws DggError `INVALID_OPTION` for an unsupported extension, `INVALID_DATA` for an invalid
 *   matrix, `IO_ERROR` when the file cannot be written.
 */
export async function writeMatrix(file: string, m: Matrix): Promise<void> {
  const format = outFormat(file);
  const { data, rows, cols } = toMatrix(m);
  if (format === 'npy') return writeFileAtomic(file, npyBytes('<f4', [rows, cols], data));
  const row = (r: number, sep: string) => {
    const parts = new Array<string>(cols);
    for (let c = 0; c < cols; c++) parts[c] = f32Text(data[r * cols + c]);
    return parts.join(sep);
  };
  if (format === 'json') {
    return writeFileAtomic(file, chunked(rows, (r) => `${r ? ',\n' : ''}[${row(r, ',')}]`, '[', ']\n'));
  }
  const sep = format === 'tsv' ? '\t' : ',';
  return writeFileAtomic(file, chunked(rows, (r) => `${row(r, sep)}\n`));
}
