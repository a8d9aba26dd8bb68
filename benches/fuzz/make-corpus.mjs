// `node benches/fuzz/make-corpus.mjs`: writes the fuzz seed corpus, benches/fuzz/corpus/<target>/,
// a few small valid files per target (a few KB in all; committed). The model and graph seeds come
// from the fuzz binary (`fuzz --target T --write-seeds DIR`, built with cargo, which honours
// CARGO_TARGET_DIR); the others are written here.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const out = path.join(root, 'benches', 'fuzz', 'corpus');

function write(target, name, bytes) {
  const dir = path.join(out, target);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, name), bytes);
}

/** A version-1 .npy file: 'descr', C order, `shape`, little-endian `values` of that dtype. */
function npy(descr, shape, values) {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // numpy pads the header with spaces and a newline so the data starts at a multiple of 64.
  header = header.padEnd(Math.ceil((10 + header.length + 1) / 64) * 64 - 10 - 1) + '\n';
  const head = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(head);
  head.writeUInt16LE(header.length, 8);
  const data = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), data]);
}

/** An IDX file: type byte, dimensions (big-endian u32), then big-endian data. */
function idx(type, dims, bytes) {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = type;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, bytes]);
}

// CSV: a header and a string label column; no header and integer labels in the last column;
// semicolons, a header and a comment; one label per line.
const csv = {
  'header-labels.csv': 'a,b,c,species\n5.1,3.5,1.4,setosa\n4.9,3.0,1.4,setosa\n6.3,3.3,6.0,virginica\n5.8,2.7,5.1,virginica\n',
  'no-header.csv': '0,0.5,1,0\n1,1.5,-2,1\n2e-3,2.5,3,2\n3,3.5,4E2,1\n',
  'semicolon.csv': '# measured\nx;y\n1.5;2\n-0.25;7\n3;4\n',
  'labels.csv': 'label\n3\n1\n4\n1\n5\n',
};
for (const [name, text] of Object.entries(csv)) {
  write('csv', name, text);
  write('csv.gz', `${name}.gz`, zlib.gzipSync(text, { level: 9 }));
}

const npys = {
  'f4-4x3.npy': npy('<f4', [4, 3], Float32Array.from({ length: 12 }, (_, i) => i / 4 - 1)),
  'f8-3x2.npy': npy('<f8', [3, 2], Float64Array.from([0.5, -1, 2, 1e-3, 4, 5])),
  'u1-labels.npy': npy('|u1', [6], Uint8Array.from([0, 1, 2, 1, 0, 2])),
  'i8-2x2x2.npy': npy('<i8', [2, 2, 2], BigInt64Array.from([1n, -2n, 3n, 4n, 5n, 6n, 7n, -8n])),
};
for (const [name, bytes] of Object.entries(npys)) {
  write('npy', name, bytes);
  write('npy.gz', `${name}.gz`, zlib.gzipSync(bytes, { level: 9 }));
}

const be = (n, put) => {
  const b = Buffer.alloc(n);
  put(b);
  return b;
};
write('idx', 'images-u1-3x2x2.idx', idx(0x08, [3, 2, 2], Buffer.from([0, 255, 128, 7, 1, 2, 3, 4, 200, 100, 50, 25])));
write('idx', 'labels-u1-5.idx', idx(0x08, [5], Buffer.from([3, 1, 4, 1, 5])));
write('idx', 'f4-2x3.idx', idx(0x0d, [2, 3], be(24, (b) => [0.5, -1, 2, 3.25, 0, 1e3].forEach((v, i) => b.writeFloatBE(v, 4 * i)))));
write('idx', 'i2-4.idx', idx(0x0b, [4], be(8, (b) => [1, -2, 300, 4].forEach((v, i) => b.writeInt16BE(v, 2 * i)))));

write('json', 'rows.json', JSON.stringify([[1, 2, 3], [4.5, -5, 6], [0, 0.25, 1e3]]));
write('json', 'data-shape.json', JSON.stringify({ data: [1, 2, 3, 4, 5, 6], shape: [3, 2] }));
write('json', 'flat.json', JSON.stringify([0.5, 1.5, 2.5, 3.5]));
write('json', 'labels.json', JSON.stringify(['a', 'b', 'a', 'c']));

for (const target of ['model', 'graph']) {
  const dir = path.join(out, target);
  fs.rmSync(dir, { recursive: true, force: true });
  execFileSync('cargo', ['run', '--release', '-q', '-p', 'dgg-benches', '--bin', 'fuzz', '--', '--target', target, '--write-seeds', dir], { cwd: root, stdio: 'inherit' });
}
console.error(`seed corpus written to ${path.relative(root, out)}`);
