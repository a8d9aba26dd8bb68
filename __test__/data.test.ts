import { describe, expect, it } from 'vitest';
import { type DataInput, toLabels, toMatrix } from '../ts/data';
import { DggError, type DggErrorCode } from '../ts/errors';

function dataError(fn: () => unknown, code: DggErrorCode = 'INVALID_DATA'): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DggError);
    expect((e as DggError).code).toBe(code);
    return (e as DggError).message;
  }
  throw new Error('expected an error');
}

describe('toMatrix', () => {
  it('should convert rows to a row-major Float32Array', () => {
    const m = toMatrix([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(m.rows).toBe(2);
    expect(m.cols).toBe(3);
    expect(m.data).toBeInstanceOf(Float32Array);
    expect(Array.from(m.data)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('should not copy a Float32Array matrix', () => {
    const data = new Float32Array([1, 2, 3, 4]);
    expect(toMatrix({ data, rows: 2, cols: 2 }).data).toBe(data);
    expect(toMatrix({ data, shape: [2, 2] }).data).toBe(data);
    expect(toMatrix(data, [1, 4]).data).toBe(data);
  });

  it('should convert Float64Array and number[] with a shape', () => {
    const a = toMatrix({ data: new Float64Array([1.5, 2, 3, 4, 5, 6]), shape: [3, 2] });
    expect(a).toMatchObject({ rows: 3, cols: 2 });
    expect(Array.from(a.data)).toEqual([1.5, 2, 3, 4, 5, 6]);
    const b = toMatrix({ data: [1, 2, 3, 4], shape: [2, 2] });
    expect(b.data).toBeInstanceOf(Float32Array);
  });

  it.each<[string, DataInput]>([
    ['no rows', []],
    ['no columns', [[]]],
    ['a 0 x 3 shape', { data: new Float32Array(0), shape: [0, 3] }],
    ['a 0-row Matrix', { data: new Float32Array(0), rows: 0, cols: 4 }],
  ])('should reject empty data (%s)', (_, input) => {
    expect(dataError(() => toMatrix(input))).toBe('data is empty');
  });

  it('should refuse a shape without data with a typed error (found by npm run fuzz)', () => {
    for (const input of [{ shape: [3, 2] }, { data: null, shape: [3, 2] }, { rows: 1, cols: 1 }, { data: 7, rows: 1, cols: 1 }]) {
      expect(dataError(() => toMatrix(input as unknown as DataInput))).toMatch(/data must be a Float32Array/);
    }
  });

  it('should name the ragged row and its length', () => {
    const rows = [
      [1, 2, 3, 4],
      [1, 2, 3, 4],
      [1, 2, 3, 4],
      [1, 2, 3, 4, 5],
    ];
    expect(dataError(() => toMatrix(rows))).toBe('row 3 has 5 values, expected 4');
  });

  it('should name the row and column of a NaN', () => {
    const rows = Array.from({ length: 13 }, () => new Array<number>(8).fill(0));
    rows[12][7] = Number.NaN;
    expect(dataError(() => toMatrix(rows))).toBe('non-finite value at row 12, column 7');
  });

  it('should find an Infinity in a Float32Array without copying it', () => {
    const data = new Float32Array(6);
    data[4] = Number.POSITIVE_INFINITY;
    expect(dataError(() => toMatrix({ data, rows: 2, cols: 3 }))).toBe('non-finite value at row 1, column 1');
  });

  it('should reject values that overflow float32', () => {
    expect(dataError(() => toMatrix([[1e39]]))).toMatch(/outside the float32 range/);
  });

  it('should reject entries that are not numbers', () => {
    const rows = [[1, '2']] as unknown as number[][];
    expect(dataError(() => toMatrix(rows))).toBe('value at row 0, column 1 is not a number (got string)');
    expect(dataError(() => toMatrix([[1], null] as unknown as number[][]))).toMatch(/row 1 is not an array/);
  });

  it('should reject a length that is not rows x cols', () => {
    expect(dataError(() => toMatrix({ data: [1, 2, 3], shape: [2, 2] }))).toBe('data has 3 values, but shape [2, 2] needs 4');
    expect(dataError(() => toMatrix({ data: new Float32Array(5), rows: 2, cols: 3 }))).toMatch(/has 5 values/);
  });

  it('should require a shape for a flat Float32Array', () => {
    expect(dataError(() => toMatrix(new Float32Array(4)))).toMatch(/needs a shape/);
  });

  it('should reject a bad shape and a shape that disagrees with the data', () => {
    expect(dataError(() => toMatrix({ data: [1, 2], shape: [2, -1] as [number, number] }))).toMatch(/^shape must be/);
    expect(dataError(() => toMatrix([[1, 2]], [2, 1]))).toMatch(/does not match/);
  });

  it('should reject things that are not data', () => {
    expect(dataError(() => toMatrix('abc' as unknown as DataInput))).toMatch(/^data must be/);
  });
});

describe('toLabels', () => {
  it('should convert integers to an Int32Array', () => {
    const l = toLabels([0, 2, 1]);
    expect(l).toBeInstanceOf(Int32Array);
    expect(Array.from(l)).toEqual([0, 2, 1]);
  });

  it('should return a valid Int32Array as it is', () => {
    const l = new Int32Array([1, 0]);
    expect(toLabels(l, 2)).toBe(l);
  });

  it('should reject non-integer and negative labels with their index', () => {
    expect(dataError(() => toLabels([0, 1.5]))).toBe('label at index 1 must be an integer >= 0, got 1.5');
    expect(dataError(() => toLabels([0, 1, -1]))).toMatch(/index 2/);
    expect(dataError(() => toLabels([0, Number.NaN]))).toMatch(/index 1/);
  });

  it('should reject a length that differs from the number of rows', () => {
    expect(dataError(() => toLabels([0, 1, 2], 4), 'DIMENSION_MISMATCH')).toBe('labels have 3 values, expected 4 (one per row)');
  });

  it('should reject empty labels', () => {
    expect(dataError(() => toLabels([]))).toBe('labels are empty');
  });
});
