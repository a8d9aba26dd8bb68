import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { rejection } from './helpers';
import {
  bundledDigitsPath,
  readDataFile,
  readLabelsFile,
  writeFileAtomic,
  writeLabels,
  writeMatrix,
} from '../ts/io';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgg-io-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function file(name: string, content?: string | Uint8Array): string {
  const p = path.join(dir, name);
  if (content !== undefined) fs.writeFileSync(p, content);
  return p;
}

/** A .npy file as numpy writes it (format 1.0, header padded to 64 bytes). */
function npy(descr: string, shape: number[], body: Uint8Array, fortran = false): Buffer {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': ${shapeText}, }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const head = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(head);
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), body]);
}

/** An IDX file: 0, 0, type, ndim, big-endian u32 dims, then the big-endian data. */
function idx(type: number, dims: number[], body: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = type;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, body]);
}

const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

const VALUES = [0, 0.1, -3.25, 1e-7, 123456.79, 16, -0.5, 2.5e10, 3.1415927];
const MATRIX = { data: new Float32Array(VALUES), rows: 3, cols: 3 };

function noTempFiles(): void {
  expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
}

describe('matrix round trips', () => {
  it.each(['m.csv', 'm.tsv', 'm.txt', 'm.json', 'm.npy'])('should read back exactly what writeMatrix wrote (%s)', async (name) => {
    const p = file(name);
    await writeMatrix(p, MATRIX);
    const { matrix, labels } = await readDataFile(p);
    expect(matrix.rows).toBe(3);
    expect(matrix.cols).toBe(3);
    expect(Array.from(matrix.data)).toEqual(Array.from(MATRIX.data));
    expect(labels).toBeUndefined();
    noTempFiles();
  });

  it('should write .npy with a 64-byte aligned header that numpy reads', async () => {
    const p = file('m.npy');
    await writeMatrix(p, MATRIX);
    const buf = fs.readFileSync(p);
    const headerLen = buf.readUInt16LE(8);
    expect((10 + headerLen) % 64).toBe(0);
    expect(buf.toString('latin1', 10, 10 + headerLen)).toMatch(/^\{'descr': '<f4', 'fortran_order': False, 'shape': \(3, 3\), \} *\n$/);
    expect(buf.length).toBe(10 + headerLen + 36);
  });
});

describe('label round trips', () => {
  it.each(['l.csv', 'l.txt', 'l.json', 'l.npy'])('should read back what writeLabels wrote (%s)', async (name) => {
    const p = file(name);
    const labels = new Int32Array([3, 0, 1, 1, 2, 0]);
    await writeLabels(p, labels);
    expect(Array.from(await readLabelsFile(p))).toEqual(Array.from(labels));
    noTempFiles();
  });

  it('should write .npy labels as 1-D int32', async () => {
    const p = file('l.npy');
    await writeLabels(p, new Int32Array([1, 2]));
    expect(fs.readFileSync(p).toString('latin1')).toMatch(/'descr': '<i4'.*'shape': \(2,\)/);
  });
});

describe('readDataFile: CSV', () => {
  it('should detect a header and return the column names', async () => {
    const r = await readDataFile(file('h.csv', 'a,b,c\n1,2,3\n4,5,6\n'));
    expect(r.columns).toEqual(['a', 'b', 'c']);
    expect(r.matrix.rows).toBe(2);
    expect(Array.from(r.matrix.data)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('should read a file without a header', async () => {
    const r = await readDataFile(file('n.csv', '1,2\n3,4\n'));
    expect(r.columns).toBeUndefined();
    expect(r.matrix.rows).toBe(2);
  });

  it('should not take a text label column in the first row for a header', async () => {
    const r = await readDataFile(file('s.csv', '1,2,cat\n3,4,dog\n5,6,cat\n'), { labelColumn: 'last' });
    expect(r.matrix.rows).toBe(3);
    expect(Array.from(r.labels!)).toEqual([0, 1, 0]);
    expect(r.labelNames).toEqual(['cat', 'dog']);
  });

  it('should honour header: false and header: true', async () => {
    const p = file('x.csv', 'a,b\n1,2\n');
    expect(await rejection(readDataFile(p, { header: false }), 'INVALID_DATA')).toMatch(/non-numeric value 'a' at line 1, column 1/);
    const q = file('y.csv', '7,8\n1,2\n');
    const r = await readDataFile(q, { header: true });
    expect(r.columns).toEqual(['7', '8']);
    expect(r.matrix.rows).toBe(1);
  });

  it.each([
    ['tab', 'a\tb\n1\t2\n3\t4\n'],
    ['semicolon', 'a;b\n1;2\n3;4\n'],
    ['whitespace', '1 2\n3   4\n'],
    ['CRLF and blank lines', 'a,b\r\n1,2\r\n\r\n3,4\r\n'],
    ['comments and quotes', '# written by a tool\n"a","b"\n"1",2\n3,"4"\n'],
  ])('should detect the delimiter (%s)', async (_, text) => {
    const r = await readDataFile(file('d.txt', text));
    expect(r.matrix).toMatchObject({ rows: 2, cols: 2 });
    expect(Array.from(r.matrix.data)).toEqual([1, 2, 3, 4]);
  });

  it('should read a gzipped CSV', async () => {
    const r = await readDataFile(file('z.csv.gz', zlib.gzipSync('1,2\n3,4\n')));
    expect(Array.from(r.matrix.data)).toEqual([1, 2, 3, 4]);
  });

  describe('label column', () => {
    const text = 'x,species,y\n1,setosa,2\n3,virginica,4\n5,setosa,6\n7,versicolor,8\n';

    it('should take the label column by name and remove it from the features', async () => {
      const r = await readDataFile(file('iris.csv', text), { labelColumn: 'species' });
      expect(r.columns).toEqual(['x', 'y']);
      expect(Array.from(r.matrix.data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      expect(Array.from(r.labels!)).toEqual([0, 1, 0, 2]);
      expect(r.labelNames).toEqual(['setosa', 'virginica', 'versicolor']);
    });

    it('should take the label column by 0-based index', async () => {
      const r = await readDataFile(file('iris.csv', text), { labelColumn: 1 });
      expect(Array.from(r.labels!)).toEqual([0, 1, 0, 2]);
    });

    it("should take the last column with 'last' or -1, keeping integer labels as they are", async () => {
      const p = file('n.csv', '1,2,5\n3,4,0\n5,6,5\n');
      for (const labelColumn of ['last', -1] as const) {
        const r = await readDataFile(p, { labelColumn });
        expect(r.matrix.cols).toBe(2);
        expect(Array.from(r.labels!)).toEqual([5, 0, 5]);
        expect(r.labelNames).toBeUndefined();
      }
    });

    it('should report a label column that does not exist', async () => {
      expect(await rejection(readDataFile(file('iris.csv', text), { labelColumn: 'kind' }), 'INVALID_DATA')).toMatch(/no column named 'kind'/);
      expect(await rejection(readDataFile(file('iris.csv', text), { labelColumn: 3 }), 'INVALID_DATA')).toMatch(/out of range/);
      expect(await rejection(readDataFile(file('n.csv', '1,2\n'), { labelColumn: 'y' }), 'INVALID_DATA')).toMatch(/needs a header/);
    });
  });

  it('should report a non-numeric cell with the path, 1-based line and column', async () => {
    const p = file('bad.csv', 'a,b,c\n1,2,3\n4,x,6\n');
    const msg = await rejection(readDataFile(p), 'INVALID_DATA');
    expect(msg).toBe(`${p}: non-numeric value 'x' at line 3, column 2`);
  });

  it('should report empty and non-finite cells and ragged lines', async () => {
    expect(await rejection(readDataFile(file('e.csv', '1,2\n3,\n')), 'INVALID_DATA')).toMatch(/empty value at line 2, column 2/);
    expect(await rejection(readDataFile(file('f.csv', '1,2\nNaN,4\n')), 'INVALID_DATA')).toMatch(/non-finite value 'NaN' at line 2, column 1/);
    expect(await rejection(readDataFile(file('r.csv', '1,2,3\n4,5,6\n7,8\n')), 'INVALID_DATA')).toMatch(/line 3 has 2 values, expected 3/);
  });

  it('should parse numbers exactly as Number() does, spaces and signs included', async () => {
    const cells = ['-0.5', '+2', '.25', '1.', '1e-3', '-2.5E+4', '123456789012345678', ' 7 ', '0.000001', '3.4028234e38'];
    const r = await readDataFile(file('n.csv', `${cells.join(',')}\n${cells.join(',')}\n`));
    expect(Array.from(r.matrix.data.subarray(0, cells.length))).toEqual(cells.map((c) => Math.fround(Number(c))));
  });

  it('should reject hexadecimal, infinite and float32-overflowing cells', async () => {
    expect(await rejection(readDataFile(file('h.csv', '1,2\n1,0x10\n')), 'INVALID_DATA')).toMatch(/non-numeric value '0x10' at line 2, column 2/);
    expect(await rejection(readDataFile(file('i.csv', '1,2\n3,-Infinity\n')), 'INVALID_DATA')).toMatch(/non-finite value '-Infinity' at line 2/);
    expect(await rejection(readDataFile(file('o.csv', '1,1e39\n')), 'INVALID_DATA')).toMatch(/'1e39' at line 1, column 2 is outside the float32 range/);
  });

  it('should reject an empty file', async () => {
    expect(await rejection(readDataFile(file('empty.csv', '\n\n')), 'INVALID_DATA')).toMatch(/data is empty/);
  });

  it('should read a first row holding NaN, NA or an empty cell as data, not as a header', async () => {
    expect(await rejection(readDataFile(file('a.csv', '1,NaN\n3,4\n')), 'INVALID_DATA')).toMatch(/non-finite value 'NaN' at line 1, column 2/);
    expect(await rejection(readDataFile(file('b.csv', '1,NA\n3,4\n')), 'INVALID_DATA')).toMatch(/missing value 'NA' at line 1, column 2/);
    expect(await rejection(readDataFile(file('c.csv', 'null,2\n3,4\n')), 'INVALID_DATA')).toMatch(/missing value 'null' at line 1, column 1/);
    expect(await rejection(readDataFile(file('d.csv', ',2\n3,4\n')), 'INVALID_DATA')).toMatch(/empty value at line 1, column 1/);
    expect(await rejection(readDataFile(file('e.csv', '1,2,\n3,4,0\n'), { labelColumn: 'last' }), 'INVALID_DATA')).toMatch(/empty label at line 1, column 3/);
    const r = await readDataFile(file('l.csv', '1,2,NA\n3,4,0\n5,6,1\n'), { labelColumn: 'last' });
    expect(r.columns).toBeUndefined();
    expect(r.matrix.rows).toBe(3);
    expect(r.labelNames).toEqual(['NA', '0', '1']);
    // A real header next to a missing value is still a header.
    expect((await readDataFile(file('h.csv', 'x,NA\n1,2\n'))).columns).toEqual(['x', 'NA']);
    expect(Array.from(await readLabelsFile(file('l.txt', 'NA\n1\n2\n')))).toEqual([0, 1, 2]);
  });

  it('should skip a byte order mark, comments and a last line without a newline', async () => {
    const r = await readDataFile(file('bom.csv', '\ufeffa,b\n# note\n1,2\n  # indented note\n3,4'));
    expect(r.columns).toEqual(['a', 'b']);
    expect(Array.from(r.matrix.data)).toEqual([1, 2, 3, 4]);
  });
});

describe('readDataFile: .npy', () => {
  it('should read float64 and uint8 arrays', async () => {
    const f64 = file('a.npy', npy('<f8', [2, 2], bytes(new Float64Array([0.5, 1, 2, 4]))));
    expect(Array.from((await readDataFile(f64)).matrix.data)).toEqual([0.5, 1, 2, 4]);
    const u8 = file('b.npy', npy('|u1', [2, 3], new Uint8Array([0, 1, 2, 253, 254, 255])));
    const r = await readDataFile(u8);
    expect(r.matrix).toMatchObject({ rows: 2, cols: 3 });
    expect(Array.from(r.matrix.data)).toEqual([0, 1, 2, 253, 254, 255]);
  });

  it('should read int32 and int64 arrays', async () => {
    const i4 = file('i4.npy', npy('<i4', [1, 3], bytes(new Int32Array([-1, 0, 7]))));
    expect(Array.from((await readDataFile(i4)).matrix.data)).toEqual([-1, 0, 7]);
    const i8 = file('i8.npy', npy('<i8', [3, 1], bytes(new BigInt64Array([5n, -2n, 9n]))));
    expect(Array.from((await readDataFile(i8)).matrix.data)).toEqual([5, -2, 9]);
  });

  it('should flatten images to rows x pixels', async () => {
    const p = file('img.npy', npy('|u1', [2, 2, 3], new Uint8Array(12).map((_, i) => i)));
    expect((await readDataFile(p)).matrix).toMatchObject({ rows: 2, cols: 6 });
  });

  it('should take a label column from a numeric array', async () => {
    const p = file('l.npy', npy('<f4', [2, 3], bytes(new Float32Array([1, 2, 1, 3, 4, 0]))));
    const r = await readDataFile(p, { labelColumn: 'last' });
    expect(Array.from(r.matrix.data)).toEqual([1, 2, 3, 4]);
    expect(Array.from(r.labels!)).toEqual([1, 0]);
  });

  it('should reject Fortran order', async () => {
    const p = file('f.npy', npy('<f4', [2, 2], bytes(new Float32Array(4)), true));
    expect(await rejection(readDataFile(p), 'INVALID_DATA')).toMatch(/Fortran order/);
  });

  it('should reject a truncated file with the sizes', async () => {
    const full = npy('<f4', [4, 4], bytes(new Float32Array(16)));
    const p = file('t.npy', full.subarray(0, full.length - 8));
    const msg = await rejection(readDataFile(p), 'INVALID_DATA');
    expect(msg).toMatch(new RegExp(`^${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: truncated \\.npy file`));
    expect(msg).toMatch(/needs 64 bytes of data, found 56/);
    expect(await rejection(readDataFile(file('h.npy', full.subarray(0, 8))), 'INVALID_DATA')).toMatch(/truncated/);
  });

  it('should reject big-endian and unsupported dtypes', async () => {
    expect(await rejection(readDataFile(file('be.npy', npy('>f4', [1, 1], new Uint8Array(4)))), 'INVALID_DATA')).toMatch(/big-endian/);
    expect(await rejection(readDataFile(file('c.npy', npy('<c8', [1, 1], new Uint8Array(8)))), 'INVALID_DATA')).toMatch(/unsupported \.npy dtype/);
  });

  it('should report non-finite values with row and column', async () => {
    const p = file('nan.npy', npy('<f4', [2, 2], bytes(new Float32Array([0, 0, 0, Number.NaN]))));
    expect(await rejection(readDataFile(p), 'INVALID_DATA')).toMatch(/non-finite value at row 1, column 1/);
  });

  it('should read .npy with positioned reads (no readFile), bit for bit as writeMatrix wrote it', async () => {
    const rows = 1000;
    const cols = 257;
    const bits = new Uint32Array(rows * cols);
    let x = 12345;
    for (let i = 0; i < bits.length; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      // Random sign and mantissa, exponents from subnormal to large; never NaN or infinity.
      bits[i] = (x & 0x807fffff) | ((((x >>> 23) % 0xfe) & 0xff) << 23);
    }
    bits[0] = 0x80000000; // -0
    const p = file('big.npy');
    await writeMatrix(p, { data: new Float32Array(bits.buffer), rows, cols });
    const readFile = vi.spyOn(fs.promises, 'readFile');
    const r = await readDataFile(p);
    expect(readFile).not.toHaveBeenCalled();
    readFile.mockRestore();
    expect(r.matrix).toMatchObject({ rows, cols });
    const back = new Uint32Array(r.matrix.data.buffer, r.matrix.data.byteOffset, r.matrix.data.length);
    let mismatches = 0;
    for (let i = 0; i < bits.length; i++) if (back[i] !== bits[i]) mismatches++;
    expect(mismatches).toBe(0);
  });
});

describe('readDataFile: IDX', () => {
  const images = new Uint8Array(3 * 2 * 2).map((_, i) => i * 10);

  it('should read uint8 images flattened to rows x (h*w), plain and gzipped', async () => {
    const body = idx(0x08, [3, 2, 2], images);
    for (const name of ['train-images-idx3-ubyte', 'train-images-idx3-ubyte.gz']) {
      const p = file(name, name.endsWith('.gz') ? zlib.gzipSync(body) : body);
      const r = await readDataFile(p);
      expect(r.matrix).toMatchObject({ rows: 3, cols: 4 });
      expect(Array.from(r.matrix.data)).toEqual(Array.from(images));
    }
  });

  it('should read big-endian float32 and int16', async () => {
    const be = Buffer.alloc(8);
    be.writeFloatBE(1.5, 0);
    be.writeFloatBE(-2, 4);
    expect(Array.from((await readDataFile(file('f.idx', idx(0x0d, [1, 2], be)))).matrix.data)).toEqual([1.5, -2]);
    const s = Buffer.alloc(4);
    s.writeInt16BE(-300, 0);
    s.writeInt16BE(300, 2);
    expect(Array.from((await readDataFile(file('s.idx', idx(0x0b, [2, 1], s)))).matrix.data)).toEqual([-300, 300]);
  });

  it('should read big-endian float64, plain and gzipped', async () => {
    const be = Buffer.alloc(24);
    const values = [0.1, -2.5e30, 7];
    values.forEach((v, i) => be.writeDoubleBE(v, 8 * i));
    for (const name of ['d.idx', 'd.idx.gz']) {
      const body = idx(0x0e, [3, 1], be);
      const r = await readDataFile(file(name, name.endsWith('.gz') ? zlib.gzipSync(body) : body));
      expect(Array.from(r.matrix.data)).toEqual(values.map(Math.fround));
    }
  });

  it('should read IDX labels with readLabelsFile', async () => {
    const p = file('train-labels-idx1-ubyte.gz', zlib.gzipSync(idx(0x08, [4], new Uint8Array([5, 0, 4, 1]))));
    expect(Array.from(await readLabelsFile(p))).toEqual([5, 0, 4, 1]);
  });

  it('should reject a truncated file and a bad type byte', async () => {
    const p = file('t-idx3-ubyte', idx(0x08, [3, 2, 2], images).subarray(0, 20));
    expect(await rejection(readDataFile(p), 'INVALID_DATA')).toMatch(/truncated IDX file: shape 3 x 2 x 2 needs 12 bytes of data, found 4/);
    expect(await rejection(readDataFile(file('h.idx', Buffer.from([0, 0, 8, 2, 0, 0]))), 'INVALID_DATA')).toMatch(/truncated IDX/);
    expect(await rejection(readDataFile(file('b.idx', idx(0x07, [1], new Uint8Array(1)))), 'INVALID_DATA')).toMatch(/unsupported IDX type/);
  });
});

describe('readDataFile: JSON and errors', () => {
  it('should read number[][] and { data, shape }', async () => {
    expect((await readDataFile(file('a.json', '[[1,2],[3,4],[5,6]]'))).matrix).toMatchObject({ rows: 3, cols: 2 });
    const r = await readDataFile(file('b.json', '{"data":[1,2,3,4,5,6],"shape":[2,3]}'));
    expect(r.matrix).toMatchObject({ rows: 2, cols: 3 });
  });

  it('should report invalid JSON and ragged rows with the path', async () => {
    const p = file('bad.json', '[[1,2],[3]]');
    expect(await rejection(readDataFile(p), 'INVALID_DATA')).toBe(`${p}: row 1 has 1 values, expected 2`);
    expect(await rejection(readDataFile(file('x.json', '[[1,')), 'INVALID_DATA')).toMatch(/invalid JSON/);
  });

  it('should report a missing file as IO_ERROR with the path', async () => {
    const p = path.join(dir, 'nope.csv');
    const msg = await rejection(readDataFile(p), 'IO_ERROR');
    expect(msg).toContain(p);
    expect(msg).toMatch(/no such file/);
    expect(await rejection(readLabelsFile(p), 'IO_ERROR')).toContain(p);
  });

  it('should reject an unknown file type', async () => {
    expect(await rejection(readDataFile(file('a.xyz', 'hello')), 'INVALID_DATA')).toMatch(/unsupported file type '\.xyz'/);
  });

  it('should reject a .gz file that is not gzip', async () => {
    expect(await rejection(readDataFile(file('a.csv.gz', '1,2\n')), 'INVALID_DATA')).toMatch(/not a gzip file/);
  });
});

describe('readLabelsFile', () => {
  it('should skip a header line and read one label per line', async () => {
    expect(Array.from(await readLabelsFile(file('l.csv', 'label\n2\n0\n2\n')))).toEqual([2, 0, 2]);
  });

  it('should number string labels in order of first appearance', async () => {
    expect(Array.from(await readLabelsFile(file('l.txt', 'b\na\nb\nc\n')))).toEqual([0, 1, 0, 2]);
    expect(Array.from(await readLabelsFile(file('l.json', '["x","y","x"]')))).toEqual([0, 1, 0]);
  });

  it('should reject several values on a line', async () => {
    expect(await rejection(readLabelsFile(file('l.csv', '1\n2,3\n')), 'INVALID_DATA')).toMatch(/line 2 has 2 values, expected one label per line/);
  });

  it('should read a 1-D int64 .npy', async () => {
    const p = file('l.npy', npy('<i8', [3], bytes(new BigInt64Array([2n, 1n, 0n]))));
    expect(Array.from(await readLabelsFile(p))).toEqual([2, 1, 0]);
  });
});

describe('atomic writes', () => {
  it('should replace an existing file and leave no temporary file', async () => {
    const p = file('out.csv', 'old\n');
    await writeLabels(p, new Int32Array([1, 2]));
    expect(fs.readFileSync(p, 'utf8')).toBe('1\n2\n');
    expect(fs.readdirSync(dir)).toEqual(['out.csv']);
  });

  it('should keep the old content and remove the temporary file when writing fails', async () => {
    const p = file('out.csv', 'old\n');
    const failing = writeFileAtomic(p, async (h) => {
      await h.write('partial');
      throw new Error('disk on fire');
    });
    const msg = await rejection(failing, 'IO_ERROR');
    expect(msg).toContain(p);
    expect(fs.readFileSync(p, 'utf8')).toBe('old\n');
    expect(fs.readdirSync(dir)).toEqual(['out.csv']);
  });

  it('should fail with IO_ERROR when the target cannot be replaced', async () => {
    const p = path.join(dir, 'taken.csv');
    fs.mkdirSync(p);
    fs.writeFileSync(path.join(p, 'keep'), 'x');
    expect(await rejection(writeMatrix(p, MATRIX), 'IO_ERROR')).toContain(p);
    expect(fs.readFileSync(path.join(p, 'keep'), 'utf8')).toBe('x');
    noTempFiles();
  });

  it('should fail with IO_ERROR when the directory does not exist', async () => {
    const p = path.join(dir, 'missing', 'out.npy');
    expect(await rejection(writeLabels(p, new Int32Array([1])), 'IO_ERROR')).toContain(p);
  });

  it('should reject an unsupported extension and invalid content before writing', async () => {
    expect(await rejection(writeMatrix(file('m.xlsx'), MATRIX), 'INVALID_OPTION')).toMatch(/unsupported extension '\.xlsx'/);
    expect(await rejection(writeLabels(file('l.csv'), [0.5]), 'INVALID_DATA')).toMatch(/label at index 0/);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

describe('bundled digits', () => {
  it('should parse to 1797 x 64 with 10 labels', async () => {
    // The package ships data/digits.csv.gz; fall back to the shared copy while it is not there.
    const shared = path.resolve(__dirname, '..', '..', 'shared', 'data', 'digits', 'digits.csv.gz');
    const p = fs.existsSync(bundledDigitsPath()) ? bundledDigitsPath() : shared;
    const { matrix, labels, columns } = await readDataFile(p, { labelColumn: 'last', header: false });
    expect(matrix).toMatchObject({ rows: 1797, cols: 64 });
    expect(columns).toBeUndefined();
    expect(new Set(labels)).toEqual(new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    expect(Math.max(...matrix.data)).toBe(16);
    expect(Math.min(...matrix.data)).toBe(0);
  });

  it('should point at data/digits.csv.gz in the package root', () => {
    expect(bundledDigitsPath()).toBe(path.resolve(__dirname, '..', 'data', 'digits.csv.gz'));
  });
});
