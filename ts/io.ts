/**
 * Reading data and labels from files (CSV/TSV, .npy, IDX, JSON, any of them gzipped) and writing
 * results (CSV, JSON, .npy) atomically.
 *
 * Every failure is a {@link DggError} whose message starts with the file path: `IO_ERROR` when a
 * file cannot be read or written, `INVALID_DATA` when its content is malformed. Text formats report
 * 1-based line and column numbers; binary formats report 0-based row and column indices.
 *
 * Files are read front to back in chunks, never whole: text is parsed line by line into float32
 * chunks, and binary arrays are validated from their header before their data is allocated. Memory
 * therefore stays within about twice the float32 result, and gzip output is capped
 * ({@link ReadDataOptions.maxBytes}) so that a small hostile file cannot inflate without bound.
 *
 * @packageDocumentation
 */
import { constants as bufferConstants } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { type Stats, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable, pipeline } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import * as zlib from 'node:zlib';
import { type Matrix, toLabels, toMatrix } from './data';
import { DggError } from './errors';

const HOST_LE = os.endianness() === 'LE';

/** Default of {@link ReadDataOptions.maxBytes}: 4 GiB of decompressed data. */
export const DEFAULT_MAX_BYTES = 4 * 2 ** 30;

/** The longest line a text file may hold, in characters (64 Mi); a longer one is an `INVALID_DATA` error. */
export const MAX_LINE_LENGTH = 64 * 2 ** 20;

/** Options of {@link readDataFile}. */
export interface ReadDataOptions {
  /**
   * A column holding labels, removed from the features and returned as `labels`: a 0-based index
   * (negative counts from the end, -1 = last), a header name (CSV with a header only), or `'last'`.
   */
  labelColumn?: number | string | 'last';
  /**
   * Whether a CSV file starts with a header row; `'auto'` (default): when a first-row cell is
   * non-numeric where the second row's is numeric. Missing-value cells (`NaN`, `NA`, `N/A`, `null`,
   * empty, …) do not make a header: such a first row is data, and is reported as such.
   */
  header?: boolean | 'auto';
  /**
   * The most bytes a gzipped file may decompress to (default {@link DEFAULT_MAX_BYTES}, 4 GiB;
   * `Infinity` for no limit). Reading stops with `INVALID_DATA` as soon as the output passes it, so a
   * decompression bomb never gets into memory. Uncompressed files are bounded by their size on disk.
   */
  maxBytes?: number;
  /**
   * The format, for a stream or a file whose name does not say it (`-`, `data`): `csv` (also TSV
   * and whitespace-separated text), `npy`, `idx` or `json`. Without it the name's extension
   * decides, then the magic bytes of `.npy` and IDX.
   */
  format?: DataFormat;
}

/** The input formats {@link readDataFile} reads. */
export type DataFormat = 'csv' | 'npy' | 'idx' | 'json';

/** The formats {@link ReadDataOptions.format} accepts. */
export const DATA_FORMATS: readonly DataFormat[] = ['csv', 'npy', 'idx', 'json'];

/** Data to read: a path, or a stream of bytes (`process.stdin`, a `Readable`, any async iterable of chunks). */
export type DataSource = string | AsyncIterable<Uint8Array>;

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

type Format = DataFormat;

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
  // A write's ENOENT comes from the folder (missing, or removed while the file was written).
  const reason =
    verb === 'write' && code === 'ENOENT'
      ? `its folder '${path.dirname(file)}' does not exist (or was removed during the write)`
      : (code && SYS_REASONS[code]) || (e instanceof Error ? e.message : String(e));
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

const CHUNK = 1 << 20; // bytes per read from disk
const MAX_TEXT = bufferConstants.MAX_STRING_LENGTH; // V8's longest string
const READ_MAX = 1 << 30; // the most one read() call asks for (the OS and Node cap a read near 2 GiB)

/**
 * A file's bytes, front to back, decompressed on the way when the file is gzipped (by its magic,
 * whatever its name). Holds at most one chunk besides what the caller asks for; gzip output past
 * `maxBytes` stops the read with an error.
 */
class ByteSource {
  private held: Buffer | undefined; // bytes taken from the file (or gunzip) but not yet handed out
  private inflated = 0;
  private gunzip: zlib.Gunzip | undefined;
  private chunkIter: AsyncIterator<Buffer> | undefined;

  private constructor(
    readonly file: string,
    /** The open file; undefined for a stream, whose chunks come through `chunkIter`. */
    private readonly handle: FileHandle | undefined,
    /** Position of the next read for a regular file; null (sequential) for a pipe or device. */
    private pos: number | null,
    /** Bytes left to read, when known up front (an uncompressed regular file). */
    private left: number | undefined,
    readonly maxBytes: number,
  ) {}

  static async open(file: string, maxBytes: number): Promise<ByteSource> {
    let handle: FileHandle;
    try {
      handle = await fsp.open(file, 'r');
    } catch (e) {
      throw ioError('read', file, e);
    }
    try {
      const st = await handle.stat();
      const regular = st.isFile();
      const magic = Buffer.alloc(2);
      const { bytesRead } = await handle.read(magic, 0, 2, regular ? 0 : null);
      const head = magic.subarray(0, bytesRead);
      const src = new ByteSource(file, handle, regular ? bytesRead : null, regular ? st.size - bytesRead : undefined, maxBytes);
      // Trust the gzip magic over the name: a misnamed .gz is still readable.
      if (bytesRead === 2 && magic[0] === 0x1f && magic[1] === 0x8b) src.startGunzip(src.fileChunks(head));
      else if (/\.gz$/i.test(file)) throw invalid(`${file}: not a gzip file (the name ends in .gz)`);
      else src.held = head;
      return src;
    } catch (e) {
      await handle.close().catch(() => undefined);
      throw e instanceof DggError ? e : ioError('read', file, e);
    }
  }

  /**
   * A stream's bytes, front to back (`name` is how errors call it), gunzipped when they start with
   * the gzip magic. The stream is read as the caller asks, one chunk at a time, and is not closed.
   */
  static async fromStream(name: string, stream: AsyncIterable<Uint8Array>, maxBytes: number): Promise<ByteSource> {
    const it = stream[Symbol.asyncIterator]();
    // Readable.from(['text']) yields strings: take them as UTF-8.
    const buf = (v: Uint8Array | string) =>
      typeof v === 'string' ? Buffer.from(v) : Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    const src = new ByteSource(name, undefined, null, undefined, maxBytes);
    let head: Buffer = Buffer.alloc(0);
    try {
      while (head.length < 2) {
        const r = await it.next();
        if (r.done) break;
        head = head.length === 0 ? buf(r.value) : Buffer.concat([head, buf(r.value)]);
      }
    } catch (e) {
      throw ioError('read', name, e);
    }
    async function* rest(): AsyncGenerator<Buffer> {
      if (head.length > 0) yield head;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        const b = buf(r.value);
        // An empty chunk would read as the end.
        if (b.length > 0) yield b;
      }
    }
    if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) src.startGunzip(rest());
    else src.chunkIter = rest();
    return src;
  }

  /** The file's bytes from `head` on, read chunk by chunk. */
  private async *fileChunks(head: Buffer): AsyncGenerator<Buffer> {
    yield head;
    for (;;) {
      const b = await this.readRaw(CHUNK);
      if (b.length === 0) return;
      yield b;
    }
  }

  private startGunzip(raw: AsyncIterable<Buffer>): void {
    this.left = undefined;
    this.gunzip = zlib.createGunzip({ chunkSize: 1 << 16 });
    // pipeline passes a read error of the source on to gunzip, whose iterator then throws it.
    pipeline(Readable.from(raw, { objectMode: false }), this.gunzip, () => undefined);
    this.chunkIter = this.gunzip[Symbol.asyncIterator]();
  }

  /** Up to `n` bytes straight from the file (fewer only at its end). */
  private async readRaw(n: number): Promise<Buffer> {
    if (!this.handle) return Buffer.alloc(0);
    const b = Buffer.allocUnsafe(n);
    const { bytesRead } = await this.handle.read(b, 0, n, this.pos);
    if (this.pos !== null) this.pos += bytesRead;
    return b.subarray(0, bytesRead);
  }

  /** The next chunk of content, empty at the end. */
  private async next(): Promise<Buffer> {
    if (this.held && this.held.length > 0) {
      const b = this.held;
      this.held = undefined;
      return b;
    }
    try {
      if (!this.chunkIter) {
        const b = await this.readRaw(CHUNK);
        if (this.left !== undefined) this.left -= b.length;
        return b;
      }
      const r = await this.chunkIter.next();
      if (r.done) return Buffer.alloc(0);
      if (!this.gunzip) return r.value;
      this.inflated += r.value.length;
      if (this.inflated > this.maxBytes) {
        this.gunzip?.destroy();
        throw invalid(
          `${this.file}: decompresses to more than ${this.maxBytes} bytes, the limit (option maxBytes); refusing to read further`,
        );
      }
      return r.value;
    } catch (e) {
      throw this.failure(e);
    }
  }

  private failure(e: unknown): DggError {
    if (e instanceof DggError) return e;
    const code = (e as NodeJS.ErrnoException).code;
    if (this.gunzip && typeof code === 'string' && code.startsWith('Z_')) {
      return invalid(`${this.file}: cannot decompress: ${(e as Error).message}`);
    }
    return ioError('read', this.file, e);
  }

  /** Bytes left, when known without reading them (an uncompressed regular file). */
  remaining(): number | undefined {
    return this.left === undefined ? undefined : this.left + (this.held?.length ?? 0);
  }

  /** The first `n` bytes of what is left (fewer at the end), without consuming them. */
  async peek(n: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let got = 0;
    while (got < n) {
      const b = await this.next();
      if (b.length === 0) break;
      parts.push(b);
      got += b.length;
    }
    this.held = Buffer.concat(parts);
    return this.held.subarray(0, n);
  }

  /** Fills `into` from what is left; returns how many bytes it got (fewer than asked only at the end). */
  async read(into: Uint8Array): Promise<number> {
    let got = 0;
    while (got < into.length) {
      if (this.handle && !this.chunkIter && !(this.held && this.held.length > 0)) {
        // Uncompressed: straight into the destination, positioned, in chunks the OS accepts.
        let n: number;
        try {
          ({ bytesRead: n } = await this.handle.read(into, got, Math.min(into.length - got, READ_MAX), this.pos));
        } catch (e) {
          throw this.failure(e);
        }
        if (n === 0) break;
        if (this.pos !== null) this.pos += n;
        if (this.left !== undefined) this.left -= n;
        got += n;
        continue;
      }
      const b = await this.next();
      if (b.length === 0) break;
      const take = Math.min(b.length, into.length - got);
      into.set(b.subarray(0, take), got);
      got += take;
      if (take < b.length) this.held = b.subarray(take);
    }
    return got;
  }

  /** What is left, chunk by chunk. */
  async *chunks(): AsyncGenerator<Buffer> {
    for (;;) {
      const b = await this.next();
      if (b.length === 0) return;
      yield b;
    }
  }

  /** All that is left as one string (for JSON, which has no streaming parser). */
  async text(): Promise<string> {
    const parts: Buffer[] = [];
    let size = 0;
    for await (const b of this.chunks()) {
      parts.push(b);
      size += b.length;
      if (size > MAX_TEXT) throw invalid(`more than ${MAX_TEXT} bytes, too large to parse as one JSON text; use .npy or CSV`);
    }
    return Buffer.concat(parts).toString('utf8');
  }

  async close(): Promise<void> {
    this.gunzip?.destroy();
    await this.handle?.close().catch(() => undefined);
  }
}

/** How errors name a stream: `stdin` for the process's own, else `<stream>`. */
export function sourceName(input: DataSource): string {
  return typeof input === 'string' ? input : input === (process.stdin as unknown) ? 'stdin' : '<stream>';
}

/** Opens `input`, runs `fn` on its bytes, and closes it; errors name the file (or the stream). */
async function withSource<T>(input: DataSource, maxBytes: number | undefined, fn: (src: ByteSource) => Promise<T>): Promise<T> {
  const src = await openSource(input, maxBytes);
  const name = sourceName(input);
  try {
    return await inFile(name, () => fn(src));
  } finally {
    await src.close();
  }
}

async function openSource(input: DataSource, maxBytes: number | undefined): Promise<ByteSource> {
  if (maxBytes !== undefined && !(typeof maxBytes === 'number' && maxBytes > 0)) {
    throw new DggError('INVALID_OPTION', `maxBytes must be a number > 0 (Infinity for no limit), got ${String(maxBytes)}`);
  }
  if (typeof input === 'string') return ByteSource.open(input, maxBytes ?? DEFAULT_MAX_BYTES);
  if (input === null || typeof input !== 'object' || typeof input[Symbol.asyncIterator] !== 'function') {
    throw new DggError('INVALID_OPTION', `the data source must be a path or a readable stream, got ${input === null ? 'null' : typeof input}`);
  }
  return ByteSource.fromStream(sourceName(input), input, maxBytes ?? DEFAULT_MAX_BYTES);
}

function formatOf(file: string, magic: Buffer, forced?: Format): Format {
  if (forced !== undefined) {
    if (!(DATA_FORMATS as readonly string[]).includes(forced)) {
      throw new DggError('INVALID_OPTION', `format must be one of ${DATA_FORMATS.join(', ')}, got ${JSON.stringify(forced)}`);
    }
    return forced;
  }
  const name = path.basename(file).toLowerCase().replace(/\.gz$/, '');
  if (/\.(csv|tsv|txt|dat)$/.test(name)) return 'csv';
  if (name.endsWith('.npy')) return 'npy';
  if (name.endsWith('.json')) return 'json';
  if (/\.idx\d*$/.test(name) || /[.-]idx\d+-ubyte$/.test(name)) return 'idx';
  // Unknown name: sniff the two binary formats by their magic.
  if (magic.length >= 6 && magic.subarray(0, 6).equals(NPY_MAGIC)) return 'npy';
  if (magic.length >= 4 && magic[0] === 0 && magic[1] === 0 && IDX_TYPES[magic[2]] !== undefined) return 'idx';
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
// Cells that stand for a missing value (among pandas' defaults), besides the empty cell and NaN.
const MISSING_TEXT = /^(na|n\/a|#n\/a|#na|<na>|null|none)$/i;

function isNumeric(cell: string): boolean {
  return NUMERIC.test(cell.trim());
}

/** A number, or a placeholder where a number is missing (empty, NaN, NA, null, …): a data cell, never a column name. */
function isValueCell(cell: string): boolean {
  const s = cell.trim();
  return s === '' || NUMERIC.test(s) || NON_FINITE_TEXT.test(s) || MISSING_TEXT.test(s);
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

/** How many times `delim` occurs outside quotes (the cell count less one, as splitQuoted would split). */
function countDelimiters(line: string, delim: string): number {
  const d = delim.charCodeAt(0);
  let count = 0;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === 34) quoted = !quoted; // an escaped "" flips twice
    else if (c === d && !quoted) count++;
  }
  return count;
}

function detectDelimiter(line: string): string {
  let best = '';
  let bestCount = 0;
  for (const d of [',', '\t', ';']) {
    const count = countDelimiters(line, d);
    if (count > bestCount) [best, bestCount] = [d, count];
  }
  if (best) return best;
  // No ',', tab or ';': whitespace-separated (numpy.savetxt's default) or a single column.
  return /\S\s+\S/.test(line.trim()) ? ' ' : ',';
}

/**
 * Calls `onLine` with each line that holds data (not blank, not a '#' comment) and its 1-based
 * number, decoding the file chunk by chunk. A line longer than {@link MAX_LINE_LENGTH} stops the
 * read before it is held whole.
 */
async function eachLine(src: ByteSource, onLine: (line: string, number: number) => void): Promise<void> {
  for await (const _ of lineBatches(src, onLine));
}

/** {@link eachLine}, pausing after each chunk read (so a caller can take the rows parsed so far). */
async function* lineBatches(src: ByteSource, onLine: (line: string, number: number) => void): AsyncGenerator<void> {
  const decoder = new StringDecoder('utf8');
  const tooLong = (n: number) => invalid(`line ${n} is longer than ${MAX_LINE_LENGTH} characters, the most a line may hold`);
  let n = 0; // lines ended so far
  const emit = (raw: string) => {
    n++;
    if (raw.length > MAX_LINE_LENGTH) throw tooLong(n);
    let line = raw;
    if (line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1);
    if (n === 1 && line.charCodeAt(0) === 0xfeff) line = line.slice(1);
    // Most lines start and end with a printable ASCII character, the first not '#': no trim needed
    // to see that they hold data.
    const first = line.charCodeAt(0);
    const last = line.charCodeAt(line.length - 1);
    if (!(first > 32 && first < 127 && first !== 35 && last > 32 && last < 127)) {
      const t = line.trim();
      if (t === '' || t.startsWith('#')) return;
    }
    onLine(line, n);
  };
  let carry = ''; // the start of a line whose end has not been read yet
  for await (const chunk of src.chunks()) {
    const s = decoder.write(chunk);
    let nl = s.indexOf('\n');
    if (nl < 0) {
      carry += s;
      if (carry.length > MAX_LINE_LENGTH) throw tooLong(n + 1);
      continue;
    }
    emit(carry + s.slice(0, nl));
    let from = nl + 1;
    while ((nl = s.indexOf('\n', from)) >= 0) {
      emit(s.slice(from, nl));
      from = nl + 1;
    }
    carry = s.slice(from);
    yield;
  }
  const last = carry + decoder.end();
  if (last !== '') emit(last);
}

function detectHeader(first: string[], second: string[] | undefined): boolean {
  // Numbers and missing values (NaN, NA, empty, …) are data; only other text can name a column.
  if (first.every(isValueCell)) return false;
  if (!second) return true;
  // A header cell is text above a number; a text label column alone is not a header.
  return first.some((cell, j) => !isValueCell(cell) && j < second.length && isNumeric(second[j]));
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
    if (MISSING_TEXT.test(s)) throw invalid(`missing value '${s}' at line ${line}, column ${col}`);
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

// Values per chunk of a CSV being read: the data grows in chunks (no reallocation, so no 3x peak
// while doubling) and is copied once into the result at the end, so memory peaks near 2x the result.
const MIN_CHUNK_VALUES = 1 << 12;
const MAX_CHUNK_VALUES = 1 << 22; // 16 MiB

/**
 * Float32 values of whole rows, gathered in chunks and joined once at the end; or, with
 * `chunkRows`, handed out in chunks of that many rows as they fill ({@link RowStore.take}).
 */
class RowStore {
  private done: Float32Array[] = [];
  private stored = 0; // values in `done`
  /** The chunk being filled, and the next free index in it. */
  cur = new Float32Array(0);
  k = 0;

  constructor(
    private readonly rowLen: number,
    private readonly chunkRows?: number,
  ) {}

  /** Makes room for one more row in `cur` at `k`. */
  room(): void {
    if (this.k + this.rowLen <= this.cur.length) return;
    if (this.k > 0) {
      this.done.push(this.cur.subarray(0, this.k));
      this.stored += this.k;
    }
    if (this.chunkRows !== undefined) {
      this.cur = new Float32Array(this.chunkRows * this.rowLen);
      this.k = 0;
      return;
    }
    const want = Math.min(MAX_CHUNK_VALUES, Math.max(MIN_CHUNK_VALUES, this.stored));
    this.cur = new Float32Array(Math.max(1, Math.floor(want / this.rowLen)) * this.rowLen);
    this.k = 0;
  }

  /** All values, in one array; the store is empty afterwards. */
  join(): Float32Array {
    const out = new Float32Array(this.stored + this.k);
    let at = 0;
    for (const c of this.done) {
      out.set(c, at);
      at += c.length;
    }
    out.set(this.cur.subarray(0, this.k), at);
    this.done = [];
    this.cur = new Float32Array(0);
    return out;
  }

  /** The full chunks so far, and with `all` the partly filled one too; they leave the store. */
  take(all: boolean): Float32Array[] {
    const out = this.done;
    this.done = [];
    this.stored = 0;
    if (all && this.k > 0) {
      out.push(this.cur.subarray(0, this.k));
      this.cur = new Float32Array(0);
      this.k = 0;
    }
    return out;
  }
}

/** A CSV parser fed line by line: the first two lines set the layout, then rows go into `store`. */
interface CsvRows {
  onLine: (line: string, number: number) => void;
  /** The layout and rows once known (after two lines, or at the end with `finish`). */
  state: () => CsvState | undefined;
  /** Ends the input: the layout of a one-line file is set now. */
  finish: () => CsvState;
}

interface CsvState {
  header?: string[];
  labelIdx: number;
  featureCols: number;
  store: RowStore;
  /** The label column's cells, trimmed, one per row not yet taken. */
  labelCells: string[];
  rows: number;
}

function csvRows(opts: ReadDataOptions, chunkRows?: number): CsvRows {
  const head: [string, number][] = [];
  let add: ((line: string, number: number) => void) | undefined;
  let state: CsvState | undefined;

  const start = (): CsvState => {
    if (head.length === 0) throw invalid('data is empty');
    const delim = detectDelimiter(head[0][0]);
    const split = makeSplitter(delim);
    const fast = delim === ' ' ? -1 : delim.charCodeAt(0);
    const first = split(head[0][0]);
    const headerOpt = opts.header ?? 'auto';
    const hasHeader = headerOpt === 'auto' ? detectHeader(first, head.length > 1 ? split(head[1][0]) : undefined) : headerOpt;
    const header = hasHeader ? first.map((c) => c.trim()) : undefined;
    if (hasHeader && head.length === 1) throw invalid('data is empty (only a header row)');
    const cols = first.length;
    const labelIdx = opts.labelColumn === undefined ? -1 : resolveLabelColumn(opts.labelColumn, cols, header);
    const featureCols = labelIdx >= 0 ? cols - 1 : cols;
    if (featureCols === 0) throw invalid('no feature columns left after removing the label column');
    const st: CsvState = { header, labelIdx, featureCols, store: new RowStore(featureCols, chunkRows), labelCells: [], rows: 0 };
    const { store, labelCells } = st;
    add = (text, line) => {
      store.room();
      st.rows++;
      if (fast >= 0 && fastRow(text, fast, cols, labelIdx, store.cur, store.k, labelCells)) store.k += featureCols;
      else {
        const cells = split(text);
        if (cells.length !== cols) throw invalid(`line ${line} has ${cells.length} values, expected ${cols}`);
        for (let j = 0; j < cols; j++) {
          if (j === labelIdx) labelCells.push(cells[j].trim());
          else store.cur[store.k++] = cellValue(cells[j], line, j + 1);
        }
      }
      // Checked here, while the line number is known (the only label error text can have).
      if (labelIdx >= 0 && labelCells[labelCells.length - 1] === '') throw invalid(`empty label at line ${line}, column ${labelIdx + 1}`);
    };
    state = st;
    for (const [text, line] of head.slice(hasHeader ? 1 : 0)) add(text, line);
    return st;
  };

  return {
    onLine: (text, line) => {
      if (add) add(text, line);
      else {
        head.push([text, line]);
        if (head.length === 2) start();
      }
    },
    state: () => state,
    finish: () => state ?? start(),
  };
}

async function readCsv(src: ByteSource, opts: ReadDataOptions): Promise<DataFile> {
  const parser = csvRows(opts);
  await eachLine(src, parser.onLine);
  const { store, rows, featureCols, header, labelIdx, labelCells } = parser.finish();
  const out: DataFile = { matrix: { data: store.join(), rows, cols: featureCols } };
  if (header) out.columns = header.filter((_, j) => j !== labelIdx);
  if (labelIdx >= 0) {
    const enc = encodeLabels(labelCells, (i) => `data row ${i + 1}, column ${labelIdx + 1}`);
    out.labels = enc.labels;
    if (enc.names) out.labelNames = enc.names;
  }
  return out;
}

/** One chunk of rows from {@link readDataChunks}. */
export interface DataChunk {
  /** The chunk's rows (at most `chunkRows`). */
  matrix: Matrix;
  /** The index of the chunk's first row in the whole input. */
  offset: number;
  /** The label column's cells of these rows, as text (with `labelColumn`). */
  labels?: string[];
  /** The column names, when the input has a header (every chunk carries them). */
  columns?: string[];
}

/** Rows per chunk of {@link readDataChunks} when not given. */
export const DEFAULT_CHUNK_ROWS = 65_536;

/**
 * Reads data chunk by chunk: CSV is parsed as it streams in, so memory holds one chunk of rows
 * and one chunk of text, whatever the input's size. `.npy`, IDX and JSON are read whole and then
 * handed out in chunks.
 *
 * @param input - a path, or a stream of bytes (`process.stdin`); a stream without
 *   {@link ReadDataOptions.format} is read as CSV unless it starts with the `.npy` or IDX magic
 * @param opts - as {@link readDataFile}, and `chunkRows` (default {@link DEFAULT_CHUNK_ROWS})
 * @throws DggError as {@link readDataFile}, naming the line of a bad row.
 *
 * @example
 * ```ts
 * for await (const { matrix, offset } of readDataChunks('big.csv', { chunkRows: 10_000 })) console.log(offset, matrix.rows);
 * ```
 */
export async function* readDataChunks(input: DataSource, opts: ReadDataOptions & { chunkRows?: number } = {}): AsyncGenerator<DataChunk> {
  const chunkRows = opts.chunkRows ?? DEFAULT_CHUNK_ROWS;
  if (!Number.isInteger(chunkRows) || chunkRows < 1) {
    throw new DggError('INVALID_OPTION', `chunkRows must be an integer >= 1, got ${String(opts.chunkRows)}`);
  }
  checkHeaderOption(opts.header);
  const name = sourceName(input);
  const src = await inFile(name, () => openSource(input, opts.maxBytes));
  try {
    const format = await inFile(name, async () => streamFormat(input, await src.peek(6), opts.format));
    if (format !== 'csv') {
      const whole = await inFile(name, () => readWhole(src, format, opts));
      const { data, rows, cols } = whole.matrix;
      const names = whole.labelNames;
      for (let r = 0; r < rows || (rows === 0 && r === 0); r += chunkRows) {
        const n = Math.min(chunkRows, rows - r);
        const chunk: DataChunk = { matrix: { data: data.subarray(r * cols, (r + n) * cols), rows: n, cols }, offset: r };
        if (whole.labels) chunk.labels = Array.from(whole.labels.subarray(r, r + n), (l) => (names ? names[l] : String(l)));
        yield chunk;
      }
      return;
    }
    const parser = csvRows(opts, chunkRows);
    let offset = 0;
    const take = function* (all: boolean): Generator<DataChunk> {
      const st = parser.state();
      if (!st) return;
      const columns = st.header?.filter((_, j) => j !== st.labelIdx);
      for (const data of st.store.take(all)) {
        const rows = data.length / st.featureCols;
        const chunk: DataChunk = { matrix: { data, rows, cols: st.featureCols }, offset };
        if (st.labelIdx >= 0) chunk.labels = st.labelCells.splice(0, rows);
        if (columns) chunk.columns = columns;
        offset += rows;
        yield chunk;
      }
    };
    const lines = lineBatches(src, parser.onLine);
    for (;;) {
      const r = await inFile(name, () => lines.next());
      if (r.done) break;
      yield* take(false);
    }
    await inFile(name, async () => parser.finish());
    yield* take(true);
  } finally {
    await src.close();
  }
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

/** Views the raw bytes of `count` numbers of `kind` as numbers, swapping them in place first when their byte order is not the host's. */
function decode(buf: ArrayBuffer, count: number, kind: Kind, littleEndian: boolean): NdArray['values'] {
  const size = ITEM_SIZE[kind];
  if (size > 1 && littleEndian !== HOST_LE) {
    // (IDX is big-endian.) Buffer views are limited in length, so swap in slices.
    const step = Math.floor(READ_MAX / 8) * 8;
    for (let at = 0; at < buf.byteLength; at += step) {
      const b = Buffer.from(buf, at, Math.min(step, buf.byteLength - at));
      if (size === 2) b.swap16();
      else if (size === 4) b.swap32();
      else b.swap64();
    }
  }
  switch (kind) {
    case 'f4': return new Float32Array(buf);
    case 'f8': return new Float64Array(buf);
    case 'u1': return new Uint8Array(buf);
    case 'i1': return new Int8Array(buf);
    case 'i2': return new Int16Array(buf);
    case 'u2': return new Uint16Array(buf);
    case 'i4': return new Int32Array(buf);
    case 'u4': return new Uint32Array(buf);
    case 'i8': {
      // Exact up to 2^53, which covers every count and label a file could hold.
      const big = new BigInt64Array(buf);
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = Number(big[i]);
      return out;
    }
  }
}

const NPY_MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // "\x93NUMPY"
const NPY_KINDS: Record<string, Kind> = {
  f4: 'f4', f8: 'f8', u1: 'u1', b1: 'u1', i1: 'i1', i2: 'i2', u2: 'u2', i4: 'i4', u4: 'u4', i8: 'i8',
};
// numpy writes a few hundred bytes; a longer header is not one we could read anyway.
const NPY_MAX_HEADER = 1 << 16;

function product(dims: number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** What a binary header says: the element kind and byte order, and the shape. */
interface NdHeader {
  kind: Kind;
  littleEndian: boolean;
  shape: number[];
}

async function npyHeader(src: ByteSource): Promise<NdHeader> {
  const pre = Buffer.alloc(12);
  const got = await src.read(pre.subarray(0, 10));
  const buf = pre.subarray(0, got);
  if (got < 10 || !buf.subarray(0, 6).equals(NPY_MAGIC)) {
    throw invalid(got < 10 && buf.subarray(0, Math.min(6, got)).equals(NPY_MAGIC.subarray(0, Math.min(6, got)))
      ? 'truncated .npy file (incomplete header)'
      : 'not a .npy file (bad magic)');
  }
  const major = buf[6];
  let headerLen: number;
  if (major === 1) headerLen = buf.readUInt16LE(8);
  else if (major === 2 || major === 3) {
    if ((await src.read(pre.subarray(10, 12))) < 2) throw invalid('truncated .npy file (incomplete header)');
    headerLen = pre.readUInt32LE(8);
  } else throw invalid(`unsupported .npy format version ${major}`);
  if (headerLen > NPY_MAX_HEADER) throw invalid(`malformed .npy header: ${headerLen} bytes long, more than ${NPY_MAX_HEADER}`);
  const text = Buffer.alloc(headerLen);
  if ((await src.read(text)) < headerLen) throw invalid('truncated .npy file (incomplete header)');
  const header = text.toString(major === 3 ? 'utf8' : 'latin1');
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
  // '=' (native) is little-endian on every platform Node.js supports.
  return { kind, littleEndian: order !== '>', shape };
}

// IDX type byte → element kind (data is big-endian).
const IDX_TYPES: Record<number, Kind> = { 0x08: 'u1', 0x09: 'i1', 0x0b: 'i2', 0x0c: 'i4', 0x0d: 'f4', 0x0e: 'f8' };

async function idxHeader(src: ByteSource): Promise<NdHeader> {
  const pre = Buffer.alloc(4);
  if ((await src.read(pre)) < 4) throw invalid('truncated IDX file (incomplete header)');
  if (pre[0] !== 0 || pre[1] !== 0) throw invalid('not an IDX file (bad magic)');
  const kind = IDX_TYPES[pre[2]];
  if (kind === undefined) throw invalid(`unsupported IDX type byte 0x${pre[2].toString(16).padStart(2, '0')}`);
  const ndim = pre[3];
  if (ndim === 0) throw invalid('IDX file has no dimensions');
  const dims = Buffer.alloc(4 * ndim);
  if ((await src.read(dims)) < dims.length) throw invalid('truncated IDX file (incomplete header)');
  return { kind, littleEndian: false, shape: Array.from({ length: ndim }, (_, i) => dims.readUInt32BE(4 * i)) };
}

/**
 * Reads a .npy or IDX array: the header first, then, once the shape is known to match the bytes
 * that follow (the file size, or the gzip limit while decompressing), the data straight into its
 * typed array. A header that promises more or less data than there is fails before the data is
 * allocated or decompressed.
 */
async function readNd(src: ByteSource, format: 'npy' | 'idx'): Promise<NdArray> {
  const { kind, littleEndian, shape } = format === 'npy' ? await npyHeader(src) : await idxHeader(src);
  const name = format === 'npy' ? '.npy' : 'IDX';
  const shapeText = format === 'npy' ? `(${shape.join(', ')})` : shape.join(' x ');
  const count = product(shape);
  const need = count * ITEM_SIZE[kind];
  const left = src.remaining();
  if (left !== undefined && left < need) throw invalid(`truncated ${name} file: shape ${shapeText} needs ${need} bytes of data, found ${left}`);
  if (left !== undefined && left > need) {
    throw invalid(`${name} file has ${left} bytes of data, but shape ${shapeText} needs ${need}: a wrong shape in the header?`);
  }
  if (left === undefined && need > src.maxBytes) {
    throw invalid(`shape ${shapeText} needs ${need} bytes of data, more than the limit of ${src.maxBytes} (option maxBytes)`);
  }
  let buf: ArrayBuffer;
  try {
    buf = new ArrayBuffer(need);
  } catch {
    throw invalid(`shape ${shapeText} needs ${need} bytes of data, more than this process can allocate`);
  }
  const got = await src.read(new Uint8Array(buf));
  if (got < need) throw invalid(`truncated ${name} file: shape ${shapeText} needs ${need} bytes of data, found ${got}`);
  // Decompressed data has no size up front: check that nothing follows the array.
  if (left === undefined && (await src.read(new Uint8Array(1))) > 0) {
    throw invalid(`${name} file has more data than shape ${shapeText} needs (${need} bytes): a wrong shape in the header?`);
  }
  return { shape, values: decode(buf, count, kind, littleEndian) };
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
 *   at most {@link MAX_LINE_LENGTH} characters a line;
 * - `.npy`: float32/float64/(u)int8..int64, little-endian, C order; dimensions after the first are
 *   flattened into columns;
 * - IDX (`.idx`, `*-idx3-ubyte`, …): as MNIST ships it; images flattened to rows × (h·w);
 * - `.json`: `number[][]` or `{ data, shape }`.
 * Gzipped files are recognised by their magic bytes and decompressed while reading, up to
 * `opts.maxBytes`. Files are streamed: memory stays near twice the float32 result (once for .npy
 * and IDX float32 data), whatever the file's size.
 *
 * @throws DggError `IO_ERROR` (unreadable file, with the path) or `INVALID_DATA` (with the path and
 *   line/column for text, row/column for binary formats; also a line too long, gzip output past
 *   `maxBytes`, or a binary header whose shape does not match the data that follows).
 *
 * @example
 * ```ts
 * const { matrix, labels } = await readDataFile('iris.csv', { labelColumn: 'species' });
 * ```
 */
export async function readDataFile(file: DataSource, opts: ReadDataOptions = {}): Promise<DataFile> {
  checkHeaderOption(opts.header);
  return withSource(file, opts.maxBytes, async (src) => {
    const format = streamFormat(file, await src.peek(6), opts.format);
    return format === 'csv' ? readCsv(src, opts) : readWhole(src, format, opts);
  });
}

function checkHeaderOption(header: unknown): void {
  if (header !== undefined && header !== 'auto' && typeof header !== 'boolean') {
    throw new DggError('INVALID_OPTION', `header must be true, false or 'auto', got ${JSON.stringify(header)}`);
  }
}

/** The format of a path (see {@link formatOf}) or of a stream (CSV unless its magic says otherwise). */
function streamFormat(input: DataSource, magic: Buffer, forced: Format | undefined): Format {
  if (typeof input === 'string' || forced !== undefined) return formatOf(sourceName(input), magic, forced);
  try {
    return formatOf('', magic);
  } catch {
    return 'csv';
  }
}

/** A binary or JSON file, read whole, with its label column split off. */
async function readWhole(src: ByteSource, format: Exclude<Format, 'csv'>, opts: ReadDataOptions): Promise<DataFile> {
  const matrix = format === 'json' ? jsonToMatrix(parseJsonText(await src.text())) : ndToMatrix(await readNd(src, format));
  if (opts.labelColumn === undefined) return { matrix };
  const idx = resolveLabelColumn(opts.labelColumn, matrix.cols, undefined);
  const { rest, column } = splitColumn(matrix, idx);
  const enc = encodeLabels(Array.from(column), (i) => `row ${i}`);
  const out: DataFile = { matrix: rest, labels: enc.labels };
  if (enc.names) out.labelNames = enc.names;
  return out;
}

/**
 * Reads a label vector: text with one value per line (optional header), a 1-D `.npy` or IDX array,
 * or a JSON array. Non-negative integer labels are kept as they are; other values (strings,
 * negative numbers) are numbered 0..C-1 in order of first appearance.
 *
 * @param opts - `header`: whether a text file has a header line (`'auto'`: when the first line is
 *   neither a number nor a missing-value token and the second is numeric); `maxBytes`: as in
 *   {@link ReadDataOptions.maxBytes}
 * @throws DggError `IO_ERROR` or `INVALID_DATA`, with the path.
 */
export async function readLabelsFile(file: string, opts: Pick<ReadDataOptions, 'header' | 'maxBytes'> = {}): Promise<Int32Array> {
  return withSource(file, opts.maxBytes, async (src) => {
    const format = formatOf(file, await src.peek(6));
    if (format === 'npy' || format === 'idx') {
      const values = ndToLabelValues(await readNd(src, format));
      if (values.length === 0) throw invalid('labels are empty');
      return encodeLabels(values, (i) => `index ${i}`).labels;
    }
    if (format === 'json') {
      const v = parseJsonText(await src.text());
      if (!Array.isArray(v)) throw invalid('expected a JSON array of labels');
      if (v.length === 0) throw invalid('labels are empty');
      v.forEach((x, i) => {
        if (typeof x !== 'number' && typeof x !== 'string') throw invalid(`label at index ${i} must be a number or a string`);
      });
      return encodeLabels(v as (string | number)[], (i) => `index ${i}`).labels;
    }
    const header = opts.header ?? 'auto';
    const cells: string[] = [];
    const numbers: number[] = [];
    const take = (line: string, n: number) => {
      const split = makeSplitter(detectDelimiter(line))(line);
      if (split.length !== 1) throw invalid(`line ${n} has ${split.length} values, expected one label per line`);
      cells.push(split[0].trim());
      numbers.push(n);
    };
    // With header 'auto', the first line waits for the second to tell whether it is a header.
    let first: [string, number] | undefined;
    let seen = 0;
    await eachLine(src, (line, n) => {
      seen++;
      if (seen === 1) {
        if (header === 'auto') first = [line, n];
        else if (!header) take(line, n);
        return;
      }
      if (first) {
        if (isValueCell(first[0]) || !isNumeric(line)) take(...first);
        first = undefined;
      }
      take(line, n);
    });
    if (first) take(...first);
    if (cells.length === 0) throw invalid('labels are empty');
    return encodeLabels(cells, (i) => `line ${numbers[i]}`).labels;
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

/** The last write queued for each target (by resolved path), so writes to one file run one at a time. */
const writing = new Map<string, Promise<void>>();

function fileKind(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'a special file';
}

/**
 * Refuses a target that exists and is not a regular file (a FIFO, a device such as `/dev/null`, a
 * directory, a socket), before anything else about it is checked: the writers put a new file in
 * place by rename, which a FIFO's reader or a device would never see. Only stats `file`; an absent
 * target passes (the write reports any other failure). `hint` is appended to the message (the CLI
 * suggests `-` for stdout).
 *
 * @throws DggError `IO_ERROR`: `cannot write '<file>': it exists and is a FIFO, not a regular file`.
 */
export async function checkWriteTarget(file: string, hint = ''): Promise<void> {
  let st: Stats;
  try {
    st = await fsp.stat(file);
  } catch {
    return;
  }
  if (!st.isFile()) throw new DggError('IO_ERROR', `cannot write '${file}': it exists and is ${fileKind(st)}, not a regular file${hint}`);
}

/**
 * Writes `content` to `file` atomically: into a new temporary file beside it
 * (`${file}.tmp-<pid>-<random>`, created exclusively, so a file or symlink planted at that name is
 * never followed), flushed, then renamed over `file`. On any failure the temporary file is removed
 * and `file` keeps its old content (or stays absent). Writes to the same path from this process run
 * one after another, in call order, so the last one wins whole.
 *
 * @param content - bytes, text, or a function writing to the open temporary file
 * @throws DggError `IO_ERROR` with the path, also when `file` exists and is not a regular file (a
 *   directory, FIFO, socket or device); a DggError thrown by `content` is passed through.
 */
export async function writeFileAtomic(
  file: string,
  content: string | Uint8Array | ((handle: FileHandle) => Promise<void>),
): Promise<void> {
  const out = await AtomicFile.open(file);
  try {
    if (typeof content === 'function') await content(out.handle);
    else await out.handle.writeFile(content);
  } catch (e) {
    await out.abort();
    throw e instanceof DggError ? e : ioError('write', file, e);
  }
  await out.commit();
}

/**
 * A file written in pieces and put in place atomically by {@link AtomicFile.commit}, as
 * {@link writeFileAtomic} does (which is built on it): a temporary file beside the target,
 * created exclusively, flushed and renamed over it; {@link AtomicFile.abort} removes it and leaves
 * the target as it was. Writes to one path from this process run one after another: `open` waits
 * for the previous one to commit or abort.
 */
export class AtomicFile {
  private done = false;

  private constructor(
    readonly file: string,
    /** The open temporary file. */
    readonly handle: FileHandle,
    private readonly tmp: string,
    private readonly release: () => void,
  ) {}

  /** @throws DggError `IO_ERROR` with the path, also when `file` exists and is not a regular file. */
  static async open(file: string): Promise<AtomicFile> {
    const key = path.resolve(file);
    const previous = writing.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    writing.set(key, mine);
    const done = () => {
      release();
      if (writing.get(key) === mine) writing.delete(key);
    };
    await previous;
    try {
      let st: Stats | undefined;
      try {
        st = await fsp.stat(file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError('write', file, e);
      }
      if (st && !st.isFile()) throw new DggError('IO_ERROR', `cannot write '${file}': it exists and is ${fileKind(st)}, not a regular file`);
      const tmp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
      let handle: FileHandle;
      try {
        handle = await fsp.open(tmp, 'wx');
      } catch (e) {
        throw ioError('write', file, e);
      }
      return new AtomicFile(file, handle, tmp, done);
    } catch (e) {
      done();
      throw e;
    }
  }

  /** Flushes the file and renames it over the target. */
  async commit(): Promise<void> {
    if (this.done) return;
    this.done = true;
    try {
      // Flush before the rename so that a crash cannot leave a renamed but empty file.
      await this.handle.sync();
      await this.handle.close();
      await fsp.rename(this.tmp, this.file);
    } catch (e) {
      await this.handle.close().catch(() => undefined);
      // Only the file this call created: whatever held the name before (EEXIST) is not ours to remove.
      await fsp.rm(this.tmp, { force: true }).catch(() => undefined);
      throw ioError('write', this.file, e);
    } finally {
      this.release();
    }
  }

  /** Removes the temporary file; the target keeps its old content (or stays absent). */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.handle.close().catch(() => undefined);
    await fsp.rm(this.tmp, { force: true }).catch(() => undefined);
    this.release();
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
  await checkWriteTarget(file);
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
  await checkWriteTarget(file);
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

/** The size of a streamed `.npy` header: room for any shape, patched in when the rows are known. */
const NPY_STREAM_HEADER = 128;

function npyHeaderBytes(descr: string, shape: number[], size: number): Buffer {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // Padded with spaces to `size` bytes (a multiple of 64, as numpy aligns the data).
  header += ' '.repeat(size - 10 - header.length - 1) + '\n';
  const head = Buffer.alloc(10);
  NPY_MAGIC.copy(head, 0);
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1')]);
}

/**
 * Labels or matrix rows written chunk by chunk, with the formats and text of {@link writeLabels}
 * and {@link writeMatrix}, so an output never has to be held whole: text goes out as each chunk
 * comes, and a `.npy` file gets its header (the row count) at {@link ChunkWriter.close}. The file
 * appears, atomically, only at `close`; {@link ChunkWriter.abort} leaves the target untouched.
 *
 * @example
 * ```ts
 * const out = await ChunkWriter.open('labels.npy', 'labels');
 * for await (const { labels } of model.predictStream('big.csv')) await out.write(labels);
 * await out.close();
 * ```
 */
export class ChunkWriter {
  private rows = 0;
  private cols = -1;
  private pos = 0;

  private constructor(
    private readonly out: AtomicFile,
    private readonly kind: 'labels' | 'matrix',
    private readonly format: OutFormat,
  ) {}

  /** @throws DggError `INVALID_OPTION` for an unsupported extension, `IO_ERROR` when the file cannot be created. */
  static async open(file: string, kind: 'labels' | 'matrix'): Promise<ChunkWriter> {
    await checkWriteTarget(file);
    const format = outFormat(file);
    const w = new ChunkWriter(await AtomicFile.open(file), kind, format);
    if (format === 'npy') await w.put(Buffer.alloc(NPY_STREAM_HEADER, 0x20));
    else if (format === 'json') await w.put('[');
    return w;
  }

  private async put(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    try {
      await this.out.handle.write(bytes, 0, bytes.length, this.pos);
    } catch (e) {
      throw ioError('write', this.out.file, e);
    }
    this.pos += bytes.length;
  }

  /** Appends labels (`kind` 'labels') or the rows of a matrix (`kind` 'matrix'). */
  async write(chunk: Int32Array | Matrix): Promise<void> {
    if (this.kind === 'labels') {
      const l = toLabels(chunk as Int32Array);
      if (this.format === 'npy') {
        let body = Buffer.from(l.buffer, l.byteOffset, l.byteLength);
        if (!HOST_LE) (body = Buffer.from(body)).swap32();
        await this.put(body);
      } else {
        const sep = this.format === 'json' ? ',' : '\n';
        let text = '';
        for (let i = 0; i < l.length; i++) text += this.format === 'json' ? `${this.rows + i ? sep : ''}${l[i]}` : `${l[i]}\n`;
        await this.put(text);
      }
      this.rows += l.length;
      return;
    }
    const { data, rows, cols } = toMatrix(chunk as Matrix);
    if (this.cols >= 0 && cols !== this.cols) {
      throw new DggError('DIMENSION_MISMATCH', `${this.out.file}: a chunk has ${cols} columns, the earlier ones ${this.cols}`);
    }
    this.cols = cols;
    if (this.format === 'npy') {
      let body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      if (!HOST_LE) (body = Buffer.from(body)).swap32();
      await this.put(body);
    } else {
      const sep = this.format === 'tsv' ? '\t' : ',';
      let text = '';
      const parts = new Array<string>(cols);
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) parts[c] = f32Text(data[r * cols + c]);
        text += this.format === 'json' ? `${this.rows + r ? ',\n' : ''}[${parts.join(',')}]` : `${parts.join(sep)}\n`;
      }
      await this.put(text);
    }
    this.rows += rows;
  }

  /** Finishes the file and puts it in place. */
  async close(): Promise<void> {
    try {
      if (this.format === 'json') await this.put(']\n');
      if (this.format === 'npy') {
        const shape = this.kind === 'labels' ? [this.rows] : [this.rows, Math.max(this.cols, 0)];
        const head = npyHeaderBytes(this.kind === 'labels' ? '<i4' : '<f4', shape, NPY_STREAM_HEADER);
        await this.out.handle.write(head, 0, head.length, 0);
      }
    } catch (e) {
      await this.out.abort();
      throw e instanceof DggError ? e : ioError('write', this.out.file, e);
    }
    await this.out.commit();
  }

  /** Drops what was written; the target keeps its old content (or stays absent). */
  async abort(): Promise<void> {
    await this.out.abort();
  }
}
