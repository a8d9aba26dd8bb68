// A clustering service on fastify: the model is loaded once, reloaded without downtime (POST
// /reload or SIGHUP: the new model replaces the old only once it has loaded), and concurrent
// predictions are batched into one native call (see MicroBatcher).
//
//   node examples/service/server.mjs --model model.dgg [--port 3000] [--host 127.0.0.1]
//
// Routes: GET /healthz; POST /predict (JSON rows or a binary float32 body; ?proba=1 adds the
// probabilities); POST /reload. Errors answer { error: { code, message } }: 400 for a bad body,
// 500 when a reload fails (the old model keeps serving). README.md beside this file has examples.
import Fastify from 'fastify';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import dgg from 'dgg-native'; // this package (its "exports"); from another project: npm install dgg-native

const { DGG, DggError, toMatrix } = dgg;

/** The largest request body: 64 MiB (about 16 million float32 values). */
const BODY_LIMIT = 64 * 2 ** 20;

/**
 * Collects the rows of concurrent requests for up to `maxWaitMs` (or until `maxRows` rows wait),
 * predicts them in one call, and hands each request its own rows' results. One call for many
 * small requests costs one pass through the networks instead of one per request.
 */
export class MicroBatcher {
  /**
   * @param {() => InstanceType<typeof DGG>} model - the model to use at each flush (it may have been swapped by a reload)
   * @param {{ maxRows?: number, maxWaitMs?: number }} [opts]
   */
  constructor(model, { maxRows = 4096, maxWaitMs = 2 } = {}) {
    this.model = model;
    this.maxRows = maxRows;
    this.maxWaitMs = maxWaitMs;
    this.pending = [];
    this.rows = 0;
    this.timer = undefined;
    /** Native calls made and rows predicted, for /healthz. */
    this.stats = { batches: 0, requests: 0, rows: 0 };
  }

  /**
   * The probabilities (rows x K, flat) of `rows` rows of `cols` features.
   * @param {Float32Array} data
   * @returns {Promise<{ proba: Float32Array, k: number }>}
   */
  predict(data, rows, cols) {
    return new Promise((resolve, reject) => {
      this.pending.push({ data, rows, cols, resolve, reject });
      this.rows += rows;
      if (this.rows >= this.maxRows) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.maxWaitMs);
    });
  }

  flush() {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    this.pending = [];
    this.rows = 0;
    if (batch.length === 0) return;
    const model = this.model();
    const d = model.inputDim;
    // A request checked against a model that a reload has since replaced may not fit this one.
    const fits = [];
    for (const r of batch) {
      if (r.cols === d) fits.push(r);
      else r.reject(new DggError('DIMENSION_MISMATCH', `the model expects ${d} features, the request has ${r.cols}`));
    }
    if (fits.length === 0) return;
    const total = fits.reduce((s, r) => s + r.rows, 0);
    let data = fits[0].data;
    if (fits.length > 1) {
      data = new Float32Array(total * d);
      let at = 0;
      for (const r of fits) {
        data.set(r.data, at);
        at += r.data.length;
      }
    }
    this.stats.batches++;
    this.stats.requests += fits.length;
    this.stats.rows += total;
    model.predictProba(data, [total, d]).then(
      (p) => {
        const k = p.cols;
        let row = 0;
        for (const r of fits) {
          r.resolve({ proba: p.data.subarray(row * k, (row + r.rows) * k), k });
          row += r.rows;
        }
      },
      (e) => {
        for (const r of fits) r.reject(e);
      },
    );
  }
}

/** The rows of a request body: a JSON `number[][]` (or `{ rows }`), or float32 values, row after row. */
function parseRows(body, d) {
  if (Buffer.isBuffer(body)) {
    if (body.length === 0 || body.length % (4 * d) !== 0) {
      throw new DggError('DIMENSION_MISMATCH', `a binary body holds float32 rows of ${d} features (${4 * d} bytes each); got ${body.length} bytes`);
    }
    // Copied: the body's bytes need not be 4-byte aligned, and the values are checked.
    const data = new Float32Array(body.length / 4);
    for (let i = 0; i < data.length; i++) {
      data[i] = body.readFloatLE(i * 4);
      if (!Number.isFinite(data[i])) throw new DggError('INVALID_DATA', `row ${Math.floor(i / d)}, column ${i % d}: non-finite value ${data[i]}`);
    }
    return { data, rows: data.length / d, cols: d };
  }
  const rows = Array.isArray(body) ? body : body?.rows;
  if (!Array.isArray(rows) || rows.length === 0) throw new DggError('INVALID_DATA', 'expected a JSON array of rows (number[][]) or { "rows": number[][] }');
  const m = toMatrix(rows); // checks that rows are equally long, numeric and finite, naming the first bad one
  if (m.cols !== d) throw new DggError('DIMENSION_MISMATCH', `the model expects ${d} features, the rows have ${m.cols}`);
  return m;
}

/**
 * The service, not yet listening.
 * @param {{ modelPath: string, maxRows?: number, maxWaitMs?: number, logger?: boolean }} opts
 */
export async function createService({ modelPath, maxRows, maxWaitMs, logger = false }) {
  let model = await DGG.load(modelPath);
  let loadedAt = new Date();
  let reloading;
  const batcher = new MicroBatcher(() => model, { maxRows, maxWaitMs });

  /** Loads the model file again and swaps it in once loaded; concurrent calls share one load. */
  const reload = () =>
    (reloading ??= DGG.load(modelPath)
      .then((next) => {
        model = next;
        loadedAt = new Date();
        return next;
      })
      .finally(() => (reloading = undefined)));

  const app = Fastify({ logger, bodyLimit: BODY_LIMIT });
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: BODY_LIMIT }, (_req, body, done) => done(null, body));

  app.setErrorHandler((err, _req, reply) => {
    if (err instanceof DggError) {
      const status = ['INVALID_DATA', 'INVALID_OPTION', 'DIMENSION_MISMATCH'].includes(err.code) ? 400 : 500;
      return reply.code(status).send({ error: { code: err.code, message: err.message } });
    }
    // fastify's own: malformed JSON, a body too large, an unsupported content type.
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    return reply.code(status).send({ error: { code: status < 500 ? 'INVALID_DATA' : 'INTERNAL', message: err.message } });
  });

  app.get('/healthz', async () => ({
    status: 'ok',
    model: { file: modelPath, inputDim: model.inputDim, nClusters: model.nClusters, loadedAt: loadedAt.toISOString() },
    batches: batcher.stats,
  }));

  app.post('/predict', async (req) => {
    const m = parseRows(req.body, model.inputDim);
    const { proba, k } = await batcher.predict(m.data, m.rows, m.cols);
    const labels = new Array(m.rows);
    for (let i = 0; i < m.rows; i++) {
      let best = 0;
      for (let c = 1; c < k; c++) if (proba[i * k + c] > proba[i * k + best]) best = c;
      labels[i] = best;
    }
    if (req.query?.proba !== '1') return { labels };
    return { labels, proba: Array.from({ length: m.rows }, (_, i) => Array.from(proba.subarray(i * k, (i + 1) * k))) };
  });

  app.post('/reload', async () => {
    const next = await reload();
    return { status: 'reloaded', model: { inputDim: next.inputDim, nClusters: next.nClusters, loadedAt: loadedAt.toISOString() } };
  });

  return { app, reload, batcher };
}

async function main() {
  const { values } = parseArgs({ options: { model: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' } } });
  const modelPath = values.model ?? process.env.DGG_MODEL;
  if (!modelPath) {
    console.error('usage: node examples/service/server.mjs --model FILE [--port 3000] [--host 127.0.0.1]');
    process.exit(2);
  }
  const { app, reload } = await createService({ modelPath });
  const address = await app.listen({ port: Number(values.port ?? process.env.PORT ?? 3000), host: values.host ?? '127.0.0.1' });
  // One JSON line, for scripts (the test and the bench read the port from it).
  console.log(JSON.stringify({ listening: address, pid: process.pid }));
  process.on('SIGHUP', () => {
    reload().then(
      (m) => console.log(JSON.stringify({ reloaded: modelPath, nClusters: m.nClusters })),
      (e) => console.error(JSON.stringify({ reloadFailed: modelPath, code: e.code, message: e.message })),
    );
  });
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      app.close().then(() => process.exit(0));
    });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
