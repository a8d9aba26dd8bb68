// The service example (examples/service/server.mjs) on an ephemeral port, in a child process:
// health, JSON and binary predictions equal to the SDK's, 400s with the error code, batching of
// concurrent requests, and reloads that swap the model only once the new one has loaded.
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DGG } from '../ts/index';
import { blobs, SMALL } from './helpers';

const root = path.resolve(__dirname, '..');
const server = path.join(root, 'examples', 'service', 'server.mjs');

describe('the service example', () => {
  let dir: string;
  let modelPath: string;
  let child: ChildProcess;
  let base: string;
  let model: DGG;
  const data = blobs(30, 9);

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgg-service-'));
    modelPath = path.join(dir, 'm.dgg');
    model = new DGG(SMALL);
    await model.fit(data.rows);
    await model.save(modelPath);
    child = spawn(process.execPath, [server, '--model', modelPath, '--port', '0'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    base = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (b) => {
        out += b;
        const line = out.split('\n').find((l) => l.includes('listening'));
        if (line) resolve(JSON.parse(line).listening);
      });
      child.on('exit', (code) => reject(new Error(`the service exited with ${code}`)));
    });
  });
  afterAll(() => {
    child?.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const post = (body: string | Buffer, type: string, query = '') =>
    fetch(`${base}/predict${query}`, { method: 'POST', headers: { 'content-type': type }, body: typeof body === 'string' ? body : new Uint8Array(body) });

  it('should answer /healthz with the model it serves', async () => {
    const r = await fetch(`${base}/healthz`);
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ status: 'ok', model: { inputDim: 9, nClusters: 3, file: modelPath } });
  });

  it('should predict JSON rows and a binary float32 body as the SDK does', async () => {
    const want = Array.from(await model.predict(data.rows));
    const r = await post(JSON.stringify(data.rows), 'application/json');
    expect(r.status).toBe(200);
    expect((await r.json()).labels).toEqual(want);
    const wrapped = await (await post(JSON.stringify({ rows: data.rows.slice(0, 2) }), 'application/json', '?proba=1')).json();
    expect(wrapped.labels).toEqual(want.slice(0, 2));
    expect(wrapped.proba).toHaveLength(2);
    expect(wrapped.proba[0].reduce((a: number, b: number) => a + b, 0)).toBeCloseTo(1, 5);
    const bin = Buffer.from(Float32Array.from(data.rows.flat()).buffer);
    const b = await post(bin, 'application/octet-stream');
    expect(b.status).toBe(200);
    expect((await b.json()).labels).toEqual(want);
  });

  it('should answer a bad body with 400 and the error code', async () => {
    const cases: [string | Buffer, string, string][] = [
      ['{"rows": [[1, 2', 'application/json', 'INVALID_DATA'],
      ['', 'application/json', 'INVALID_DATA'],
      ['[]', 'application/json', 'INVALID_DATA'],
      [JSON.stringify([[1, 2, 3]]), 'application/json', 'DIMENSION_MISMATCH'],
      [JSON.stringify([data.rows[0], data.rows[1].slice(1)]), 'application/json', 'INVALID_DATA'],
      [JSON.stringify([[...data.rows[0].slice(1), 'x']]), 'application/json', 'INVALID_DATA'],
      [JSON.stringify({ nope: 1 }), 'application/json', 'INVALID_DATA'],
      [Buffer.alloc(4 * 9 + 4), 'application/octet-stream', 'DIMENSION_MISMATCH'],
      [Buffer.from(Float32Array.from({ length: 9 }, (_, i) => (i === 4 ? NaN : 0.5)).buffer), 'application/octet-stream', 'INVALID_DATA'],
    ];
    for (const [body, type, code] of cases) {
      const r = await post(body, type);
      const j = await r.json();
      expect([r.status, j.error?.code], `${type} ${String(body).slice(0, 40)}: ${JSON.stringify(j)}`).toEqual([400, code]);
      expect(j.error.message.length).toBeGreaterThan(0);
    }
    const xml = await post('<rows/>', 'application/xml');
    expect([xml.status, (await xml.json()).error.code]).toEqual([415, 'INVALID_DATA']);
  });

  it('should batch concurrent requests into fewer native calls', async () => {
    const before = (await (await fetch(`${base}/healthz`)).json()).batches;
    const want = Array.from(await model.predict(data.rows));
    const answers = await Promise.all(data.rows.map((row) => post(JSON.stringify([row]), 'application/json').then((r) => r.json())));
    expect(answers.map((a) => a.labels[0])).toEqual(want);
    const after = (await (await fetch(`${base}/healthz`)).json()).batches;
    expect(after.requests - before.requests).toBe(90);
    expect(after.batches - before.batches).toBeLessThan(90);
  });

  it('should reload on POST /reload and SIGHUP, and keep serving the old model when the new one fails', async () => {
    // A model with another K, written over the served file (atomically, by save).
    const four = new DGG({ ...SMALL, nClusters: 4 });
    await four.fit(data.rows);
    await four.save(modelPath);
    child.kill('SIGHUP');
    let k = 3;
    for (let i = 0; i < 100 && k !== 4; i++) {
      await new Promise((r) => setTimeout(r, 50));
      k = (await (await fetch(`${base}/healthz`)).json()).model.nClusters;
    }
    expect(k).toBe(4);

    fs.writeFileSync(modelPath, 'not a model');
    const bad = await fetch(`${base}/reload`, { method: 'POST' });
    expect(bad.status).toBe(500);
    expect((await bad.json()).error.code).toBe('MODEL_FORMAT');
    const still = await post(JSON.stringify(data.rows.slice(0, 3)), 'application/json', '?proba=1');
    expect(still.status).toBe(200);
    expect((await still.json()).proba[0]).toHaveLength(4);

    await model.save(modelPath);
    const ok = await fetch(`${base}/reload`, { method: 'POST' });
    expect(await ok.json()).toMatchObject({ status: 'reloaded', model: { nClusters: 3 } });
  });
});
