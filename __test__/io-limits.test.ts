// Hostile and large inputs: long lines, decompression bombs, lying binary headers, unusual write
// targets and concurrent writes. Files are generated small (or as repeated gzip members) so that
// the whole file runs in a few seconds (the heavier tests get 20 s for a loaded machine).
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { rejection } from './helpers';
import { ChunkWriter, DEFAULT_MAX_BYTES, MAX_LINE_LENGTH, readDataFile, readLabelsFile, writeFileAtomic, writeLabels, writeMatrix } from '../ts/io';

// randomBytes stays the real one unless a test asks for a known value (to plant a file at the
// temporary name a write will use).
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return { ...real, randomBytes: vi.fn(real.randomBytes) };
});

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgg-io-limits-'));
});
afterEach(() => {
  vi.restoreAllMocks();
  fs.rmSync(dir, { recursive: true, force: true });
});

function file(name: string, content?: string | Uint8Array): string {
  const p = path.join(dir, name);
  if (content !== undefined) fs.writeFileSync(p, content);
  return p;
}

/** A .npy file (format 1.0) with the given header fields and body. */
function npy(descr: string, shape: number[], body: Uint8Array): Buffer {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const head = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(head);
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), body]);
}

/** Runs `f`, returning its result with the seconds it took and how much the RSS grew meanwhile (MB). */
async function measured<T>(f: () => Promise<T>): Promise<{ value: T; seconds: number; rssMb: number }> {
  const rss0 = process.memoryUsage().rss;
  const t = performance.now();
  const value = await f();
  return { value, seconds: (performance.now() - t) / 1000, rssMb: (process.memoryUsage().rss - rss0) / 2 ** 20 };
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('readDataFile: streamed CSV', () => {
  /** 50,000 rows x 20 columns in varied number formats, a header, CRLF, and a text label with multibyte characters. */
  function bigCsv(): { text: string; values: Float32Array; labels: string[] } {
    const rows = 50_000;
    const cols = 20;
    let s = 7;
    const rand = () => {
      s = (s * 1664525 + 1013904223) % 4294967296;
      return s / 4294967296;
    };
    const lines = [`${Array.from({ length: cols }, (_, j) => `f${j}`).join(',')},kind`];
    const values = new Float32Array(rows * cols);
    const labels: string[] = [];
    for (let r = 0; r < rows; r++) {
      const cells: string[] = [];
      for (let c = 0; c < cols; c++) {
        const v = (rand() - 0.5) * 10 ** Math.floor(rand() * 12 - 6);
        const form = (r + c) % 4;
        const cell = form === 0 ? v.toPrecision(1 + ((r * 7 + c) % 9)) : form === 1 ? v.toExponential(5) : form === 2 ? String(v) : v.toFixed(3);
        cells.push(cell);
        values[r * cols + c] = Number(cell);
      }
      const label = ['grün', 'blå', 'ß', 'naïve'][r % 4];
      labels.push(label);
      lines.push(`${cells.join(',')},${label}`);
    }
    return { text: `${lines.join('\r\n')}\r\n`, values, labels };
  }

  it('should give the same float32 values as a reference parse, plain and gzipped', async () => {
    const { text, values, labels } = bigCsv();
    for (const name of ['big.csv', 'big.csv.gz']) {
      const body = name.endsWith('.gz') ? zlib.gzipSync(text, { level: 1 }) : text;
      const r = await readDataFile(file(name, body), { labelColumn: 'kind' });
      expect(r.matrix).toMatchObject({ rows: 50_000, cols: 20 });
      expect(r.columns).toEqual(Array.from({ length: 20 }, (_, j) => `f${j}`));
      let mismatches = 0;
      for (let i = 0; i < values.length; i++) if (!Object.is(r.matrix.data[i], values[i])) mismatches++;
      expect(mismatches).toBe(0);
      expect(r.labelNames).toEqual(['grün', 'blå', 'ß', 'naïve']);
      expect(Array.from(r.labels!.subarray(0, 8))).toEqual([0, 1, 2, 3, 0, 1, 2, 3]);
      expect(r.labels!.length).toBe(labels.length);
    }
  }, 20_000);

  it('should count lines across read chunks when reporting an error', async () => {
    const good = '0.5,1.5,2.5\n'.repeat(200_000);
    const text = `${good}1,x,3\n${good}`;
    for (const name of ['far.csv', 'far.csv.gz']) {
      const p = file(name, name.endsWith('.gz') ? zlib.gzipSync(text, { level: 1 }) : text);
      expect(await rejection(readDataFile(p), 'INVALID_DATA')).toBe(`${p}: non-numeric value 'x' at line 200001, column 2`);
    }
  }, 20_000);

  it('should stop at a line longer than MAX_LINE_LENGTH, with the file and line, without holding the file', async () => {
    const huge = Buffer.concat([Buffer.from('1,2\n3,4\n'), Buffer.alloc(MAX_LINE_LENGTH + (1 << 20), '7')]);
    const plain = file('long.csv', huge);
    const gz = file('long.csv.gz', zlib.gzipSync(huge, { level: 1 }));
    for (const p of [plain, gz]) {
      const { value: msg, seconds, rssMb } = await measured(() => rejection(readDataFile(p), 'INVALID_DATA'));
      expect(msg).toBe(`${p}: line 3 is longer than ${MAX_LINE_LENGTH} characters, the most a line may hold`);
      expect(seconds).toBeLessThan(10);
      expect(rssMb).toBeLessThan(500);
    }
  }, 20_000);
});

describe('readDataFile: gzip limits', () => {
  it('should stop a gzipped CSV that decompresses past maxBytes, naming the file', async () => {
    const p = file('bomb.csv.gz', zlib.gzipSync('1,2\n'.repeat(1 << 20)));
    const msg = await rejection(readDataFile(p, { maxBytes: 1 << 20 }), 'INVALID_DATA');
    expect(msg).toMatch(new RegExp(`^${escape(p)}: decompresses to more than 1048576 bytes, the limit \\(option maxBytes\\)`));
    expect(await rejection(readLabelsFile(file('l.txt.gz', zlib.gzipSync('1\n'.repeat(1 << 20))), { maxBytes: 1000 }), 'INVALID_DATA')).toMatch(/more than 1000 bytes/);
    // Within the limit (default or raised) the same file reads.
    expect((await readDataFile(p)).matrix.rows).toBe(1 << 20);
    expect((await readDataFile(p, { maxBytes: Infinity })).matrix.rows).toBe(1 << 20);
    expect(DEFAULT_MAX_BYTES).toBe(4 * 2 ** 30);
  }, 20_000);

  it('should reject a maxBytes that is not a positive number', async () => {
    const p = file('a.csv', '1,2\n');
    for (const maxBytes of [0, -1, Number.NaN, '1' as unknown as number]) {
      expect(await rejection(readDataFile(p, { maxBytes }), 'INVALID_OPTION')).toMatch(/maxBytes must be a number > 0/);
    }
  });

  it('should fail fast on a 1.2 MB .npy.gz that inflates to 1.2 GB behind a small shape', async () => {
    // Repeated gzip members: one 16 MiB run of zeros compresses to ~16 KB, and gunzip reads members back to back.
    const zeros = zlib.gzipSync(Buffer.alloc(16 << 20), { level: 9 });
    const first = zlib.gzipSync(npy('<f4', [1, 1], new Uint8Array(4)));
    const p = file('bomb.npy.gz', Buffer.concat([first, ...Array<Buffer>(75).fill(zeros)]));
    expect(fs.statSync(p).size).toBeLessThan(2e6);
    const { value: msg, seconds, rssMb } = await measured(() => rejection(readDataFile(p), 'INVALID_DATA'));
    expect(msg).toBe(`${p}: .npy file has more data than shape (1, 1) needs (4 bytes): a wrong shape in the header?`);
    expect(seconds).toBeLessThan(2);
    expect(rssMb).toBeLessThan(200);
  }, 20_000);

  it('should refuse a gzipped header whose shape needs more than maxBytes before allocating it', async () => {
    const p = file('big.npy.gz', zlib.gzipSync(npy('<f4', [1024, 1024], new Uint8Array(64))));
    expect(await rejection(readDataFile(p, { maxBytes: 1 << 20 }), 'INVALID_DATA')).toBe(
      `${p}: shape (1024, 1024) needs 4194304 bytes of data, more than the limit of 1048576 (option maxBytes)`,
    );
    const q = file('huge.npy.gz', zlib.gzipSync(npy('<f8', [1 << 30, 1 << 10], new Uint8Array(64))));
    expect(await rejection(readDataFile(q), 'INVALID_DATA')).toMatch(/needs 8796093022208 bytes of data, more than the limit of 4294967296/);
    const i = file('images-idx3-ubyte.gz', zlib.gzipSync(Buffer.from([0, 0, 8, 3, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0])));
    expect(await rejection(readDataFile(i), 'INVALID_DATA')).toMatch(/shape 65536 x 65536 x 65536 needs 281474976710656 bytes of data, more than the limit/);
  });
});

describe('readDataFile: binary headers checked before allocation', () => {
  it('should reject a plain .npy whose shape promises far more data than the file holds', async () => {
    // 2^42 float32 values: allocating them first would throw a RangeError (INTERNAL), not this.
    const p = file('lie.npy', npy('<f4', [1 << 30, 1 << 12], new Uint8Array(16)));
    expect(await rejection(readDataFile(p), 'INVALID_DATA')).toBe(`${p}: truncated .npy file: shape (1073741824, 4096) needs 17592186044416 bytes of data, found 16`);
  });

  it('should reject a .npy or IDX file with more data than its shape needs', async () => {
    const p = file('extra.npy', npy('<f4', [2, 2], new Uint8Array(32)));
    expect(await rejection(readDataFile(p), 'INVALID_DATA')).toBe(`${p}: .npy file has 32 bytes of data, but shape (2, 2) needs 16: a wrong shape in the header?`);
    const q = file('extra.idx', Buffer.from([0, 0, 8, 1, 0, 0, 0, 2, 1, 2, 3]));
    expect(await rejection(readLabelsFile(q), 'INVALID_DATA')).toMatch(/IDX file has 3 bytes of data, but shape 2 needs 2/);
  });

  it('should refuse an oversized .npy header length', async () => {
    const head = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0, 0, 0, 0, 0x7f]);
    expect(await rejection(readDataFile(file('h.npy', head)), 'INVALID_DATA')).toMatch(/malformed \.npy header: 2130706432 bytes long/);
  });
});

describe('writeFileAtomic: hostile targets', () => {
  it('should refuse a FIFO target without opening it', async (ctx) => {
    const p = path.join(dir, 'out.csv');
    try {
      execFileSync('mkfifo', [p]);
    } catch {
      ctx.skip();
    }
    expect(await rejection(writeLabels(p, new Int32Array([1])), 'IO_ERROR')).toBe(`cannot write '${p}': it exists and is a FIFO, not a regular file`);
    expect(fs.statSync(p).isFIFO()).toBe(true);
    expect(fs.readdirSync(dir)).toEqual(['out.csv']);
  });

  it('should refuse a device target before its extension is checked', async (ctx) => {
    // Only stat'ed: the check comes before anything is opened.
    if (!fs.existsSync('/dev/null') || !fs.statSync('/dev/null').isCharacterDevice()) ctx.skip();
    const what = "cannot write '/dev/null': it exists and is a device, not a regular file";
    expect(await rejection(writeLabels('/dev/null', new Int32Array([1])), 'IO_ERROR')).toBe(what);
    expect(await rejection(writeMatrix('/dev/null', { data: new Float32Array([1]), rows: 1, cols: 1 }), 'IO_ERROR')).toBe(what);
    expect(await rejection(ChunkWriter.open('/dev/null', 'labels'), 'IO_ERROR')).toBe(what);
  });

  it('should refuse a target that leads to a device', async (ctx) => {
    // Through a link in the temporary folder: were the check missing, the rename would replace the
    // link, never the device itself.
    const p = path.join(dir, 'out.csv');
    try {
      fs.symlinkSync('/dev/null', p);
      if (!fs.statSync(p).isCharacterDevice()) ctx.skip();
    } catch {
      ctx.skip();
    }
    expect(await rejection(writeFileAtomic(p, 'x'), 'IO_ERROR')).toBe(`cannot write '${p}': it exists and is a device, not a regular file`);
    expect(fs.lstatSync(p).isSymbolicLink()).toBe(true);
  });

  it('should not follow (or remove) a symlink planted at the temporary name', async () => {
    const victim = file('victim.txt', 'keep\n');
    const p = file('out.csv', 'old\n');
    const random = Buffer.from('a1a2a3a4a5a6', 'hex');
    const planted = `${p}.tmp-${process.pid}-${random.toString('hex')}`;
    fs.symlinkSync(victim, planted);
    vi.mocked(crypto.randomBytes).mockReturnValueOnce(random as never);
    expect(await rejection(writeLabels(p, new Int32Array([1, 2])), 'IO_ERROR')).toMatch(/file exists \(EEXIST\)/);
    expect(fs.readFileSync(victim, 'utf8')).toBe('keep\n');
    expect(fs.lstatSync(planted).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(p, 'utf8')).toBe('old\n');
    // The next write draws another name and goes through.
    await writeLabels(p, new Int32Array([1, 2]));
    expect(fs.readFileSync(p, 'utf8')).toBe('1\n2\n');
    expect(fs.readFileSync(victim, 'utf8')).toBe('keep\n');
  });

  it('should run concurrent writes to one path one at a time, the last one winning whole', async () => {
    const p = path.join(dir, 'out.bin');
    const payloads = Array.from({ length: 20 }, (_, i) => Buffer.alloc(40_000 + 1000 * i, 65 + i));
    const writes = payloads.map((data, i) =>
      // Written in slices with awaits between, so that unserialised writes would overlap.
      writeFileAtomic(path.join(dir, '.', 'out.bin'), async (h) => {
        for (let at = 0; at < data.length; at += 8192) {
          await h.write(data.subarray(at, at + 8192));
          await new Promise((resolve) => setImmediate(resolve));
          if (i === 10) throw new Error('disk on fire');
        }
      }),
    );
    const settled = await Promise.allSettled(writes);
    expect(settled.map((s) => s.status)).toEqual(payloads.map((_, i) => (i === 10 ? 'rejected' : 'fulfilled')));
    expect(fs.readFileSync(p).equals(payloads[19])).toBe(true);
    expect(fs.readdirSync(dir)).toEqual(['out.bin']);
  });
});
