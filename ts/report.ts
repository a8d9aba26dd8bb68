/**
 * The HTML report of a fit: one self-contained page (no network) with a 2-D map of the latent
 * space, cluster sizes and mixture weights, training curves, phase timings and, with true labels,
 * the confusion matrix in the Hungarian order with ACC, NMI, ARI and the graph's purity; for image
 * data, example images per cluster.
 *
 * The page inlines Apache ECharts (Apache-2.0) from `dist/vendor/`, where `npm run build:ts` copies
 * it from the echarts devDependency (`scripts/vendor-echarts.mjs`); it is not a runtime dependency.
 * The page's text is escaped here; its charts are drawn by the script in `report-page.ts`.
 *
 * @packageDocumentation
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { deflateSync } from 'node:zlib';
import { toLabels, toMatrix, type DataInput, type Matrix } from './data';
import { evaluate, type FitResult } from './dgg';
import { DggError } from './errors';
import { graphPurity } from './graph';
import { writeFileAtomic } from './io';
import { PAGE_CSS, PAGE_SCRIPT } from './report-page';

/** What {@link report} accepts besides the result. */
export interface ReportOptions {
  /** True class of each row: adds the class map, the confusion matrix, ACC, NMI, ARI and the graph's purity. */
  truth?: ArrayLike<number>;
  /** The rows that were clustered (N x D): needed for the example images. */
  data?: DataInput;
  /**
   * How to show a row as an image: `[height, width]` with height x width = D; `'auto'` (the
   * default) shows square images when D is a perfect square; `'none'` shows no images.
   */
  imageShape?: [number, number] | 'auto' | 'none';
  /** The page's title (default `dgg-native report`). */
  title?: string;
  /** Where the data came from (a file name), shown under the title. */
  source?: string;
  /** The fit's options, shown in the page. */
  fitOptions?: object;
  /** How the map is computed: `'umap'` (umap-js, the default) or `'pca'`. */
  map?: 'umap' | 'pca';
  /** At most this many rows in the map, sampled per cluster in proportion to its size (default 2000). */
  mapPoints?: number;
  /** Seed of the map's sample and of UMAP (default 42). */
  seed?: number;
  /** Most confident example images per cluster (default 12); the 6 least confident follow them. */
  examples?: number;
}

/** Builds the report page of `result` as one HTML string (see the module comment). */
export async function report(result: FitResult, options: ReportOptions = {}): Promise<string> {
  const started = performance.now();
  const n = result.labels.length;
  const k = result.probabilities.cols;
  const truth = options.truth === undefined ? undefined : toLabels(options.truth, n);
  const data = options.data === undefined ? undefined : toMatrix(options.data);
  if (data && data.rows !== n) throw new DggError('DIMENSION_MISMATCH', `report: data has ${data.rows} rows but the result has ${n}`);
  const shape = imageShape(options.imageShape ?? 'auto', data?.cols);
  const echarts = echartsSource();

  const counts = new Array<number>(k).fill(0);
  for (const l of result.labels) counts[l]++;
  const map = await latentMap(result, options);
  const scores = truth ? scoring(result, truth) : undefined;

  const view = {
    k,
    map: {
      x: map.x,
      y: map.y,
      row: map.rows,
      cluster: map.rows.map((i) => result.labels[i]),
      cls: truth ? map.rows.map((i) => truth[i]) : null,
      classes: scores?.classes ?? null,
      clusterColour: clusterColours(k, scores),
    },
    sizes: { share: counts.map((c) => round(c / n, 4)), weights: Array.from(result.gmm.weights, (w) => round(w, 4)) },
    curves: curves(result.history),
    timings: Object.entries(result.timings).map(([p, s]) => [p, round(s, 3)]),
  };
  const title = options.title ?? 'dgg-native report';
  const facts = [
    options.source === undefined ? undefined : `data: ${options.source}`,
    `${n.toLocaleString('en')} rows${data ? ` x ${data.cols} features` : ''}`,
    `K = ${k}`,
    `latent dimension ${result.embedding.cols}`,
    `device ${result.device}`,
    `generated ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} by dgg-native ${packageVersion()}`,
  ].filter((s) => s !== undefined);

  const sections = [
    scores ? metricsSection(scores) : '',
    section('map', 'Latent space', `<p class="note">${esc(map.method)}.</p>
<div class="row"><figure><figcaption>coloured by cluster</figcaption><div class="chart" id="chart-map-cluster"></div></figure>${truth ? '<figure><figcaption>coloured by true class</figcaption><div class="chart" id="chart-map-class"></div></figure>' : ''}</div>`),
    section('clusters', 'Clusters', `<p class="note">Share of rows in each cluster (argmax of q(c | x)) and the mixture weights (the mean of q(c | x)).</p>
<div class="chart wide" id="chart-sizes"></div>${sizesTable(counts, result, scores)}`),
    scores ? confusionSection(scores, k) : '',
    section('training', 'Training', `<p class="note">The mean of each loss term per epoch, per phase (result.history); modularity and agreement on the right axis.</p>
<div class="grid">${view.curves.map((c, i) => `<figure><figcaption>${esc(c.name)}</figcaption><div class="chart small" id="chart-train-${i}"></div></figure>`).join('')}</div>`),
    section('timings', 'Timings', `<p class="note">Seconds per phase on ${esc(result.device)}; ${fmt(sum(Object.values(result.timings)), 1)} s in all.</p>
<div class="chart wide short" id="chart-timings"></div>`),
    shape && data ? examplesSection(result, data, shape, truth, scores, options.examples ?? 12) : '',
    result.warnings.length ? section('warnings', 'Notes from the fit', `<ul>${result.warnings.map((w) => `<li>${esc(w)}</li>`).join('')}</ul>`) : '',
    options.fitOptions ? section('options', 'Options', `<details><summary>the fit's options, every default filled in</summary><pre>${esc(JSON.stringify(options.fitOptions, null, 2))}</pre></details>`) : '',
  ];
  const seconds = (performance.now() - started) / 1000;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${PAGE_CSS}</style>
</head>
<body>
<header><h1>${esc(title)}</h1><p class="facts">${facts.map(esc).join(' · ')}</p></header>
<main>
${sections.filter(Boolean).join('\n')}
</main>
<footer>Built in ${fmt(seconds, 1)} s. Self-contained: the page loads nothing from the network. Charts by Apache ECharts (Apache License 2.0; this product includes software developed at The Apache Software Foundation), inlined below.</footer>
<script type="application/json" id="dgg-data">${scriptJson(view)}</script>
<script>
${inlineScript(echarts)}
</script>
<script>
${PAGE_SCRIPT}
</script>
</body>
</html>
`;
}

/** Writes {@link report}'s page to `file`, atomically. */
export async function writeReport(file: string, result: FitResult, options: ReportOptions = {}): Promise<void> {
  await writeFileAtomic(file, await report(result, options));
}

// ---------------------------------------------------------------------------------------------
// The inlined chart library

let echartsCache: string | undefined;

/** dist/vendor/echarts.min.js, from dist/report.js or from ts/report.ts (tests). */
function echartsSource(): string {
  if (echartsCache !== undefined) return echartsCache;
  const candidates = [path.join(__dirname, 'vendor', 'echarts.min.js'), path.join(__dirname, '..', 'dist', 'vendor', 'echarts.min.js')];
  const found = candidates.find((f) => existsSync(f));
  if (!found) {
    throw new DggError('IO_ERROR', `the report needs the chart library at ${candidates[0]}, which is missing: 'npm run build:ts' copies it there from the echarts devDependency`);
  }
  echartsCache = readFileSync(found, 'utf8');
  return echartsCache;
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

// ---------------------------------------------------------------------------------------------
// Escaping

/** Text for HTML content or a quoted attribute. */
export function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON that cannot end its `<script>` element (nor open a comment) early. */
function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** A script's source, made safe to inline (no `</script`, no `<!--`). */
function inlineScript(src: string): string {
  return src.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

function fmt(v: number, digits: number): string {
  return Number.isFinite(v) ? v.toFixed(digits) : '-';
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

function section(id: string, title: string, body: string): string {
  return `<section id="${id}"><h2>${esc(title)}</h2>\n${body}\n</section>`;
}

/** mulberry32: a small seeded generator for the sample and for umap-js. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------------------------
// The map

interface LatentMap {
  /** Which rows are drawn. */
  rows: number[];
  x: number[];
  y: number[];
  /** How the map was computed, as a sentence. */
  method: string;
}

/** Up to `target` rows, each cluster sampled in proportion to its size (at least one row each). */
function stratifiedSample(labels: Int32Array, k: number, target: number, rand: () => number): number[] {
  const n = labels.length;
  if (n <= target) return Array.from({ length: n }, (_, i) => i);
  const members: number[][] = Array.from({ length: k }, () => []);
  for (let i = 0; i < n; i++) members[labels[i]].push(i);
  const out: number[] = [];
  for (const m of members) {
    const take = Math.min(m.length, Math.max(1, Math.round((target * m.length) / n)));
    for (let j = 0; j < take; j++) {
      const r = j + Math.floor(rand() * (m.length - j));
      [m[j], m[r]] = [m[r], m[j]];
      out.push(m[j]);
    }
  }
  return out.sort((a, b) => a - b);
}

/** Exact k nearest neighbours (each row's first is itself), as umap-js's precomputed kNN. */
function exactKnn(x: Float64Array, n: number, d: number, k: number): { indices: number[][]; distances: number[][] } {
  const indices: number[][] = [];
  const distances: number[][] = [];
  const bestD = new Float64Array(k);
  const bestI = new Int32Array(k);
  for (let i = 0; i < n; i++) {
    bestD.fill(Infinity);
    bestI.fill(-1);
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let c = 0; c < d; c++) {
        const t = x[i * d + c] - x[j * d + c];
        s += t * t;
      }
      if (j === i) s = -1; // the row itself comes first, even among duplicates
      if (s >= bestD[k - 1]) continue;
      let p = k - 1;
      while (p > 0 && bestD[p - 1] > s) {
        bestD[p] = bestD[p - 1];
        bestI[p] = bestI[p - 1];
        p--;
      }
      bestD[p] = s;
      bestI[p] = j;
    }
    indices.push(Array.from(bestI));
    distances.push(Array.from(bestD, (s) => Math.sqrt(Math.max(0, s))));
  }
  return { indices, distances };
}

/** The first two principal components of the rows of `x` (n x d), by power iteration. */
function pca2(x: Float64Array, n: number, d: number): [Float64Array, Float64Array] {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let c = 0; c < d; c++) mean[c] += x[i * d + c] / n;
  const cov = new Float64Array(d * d);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < d; a++) {
      const va = x[i * d + a] - mean[a];
      for (let b = 0; b < d; b++) cov[a * d + b] += (va * (x[i * d + b] - mean[b])) / n;
    }
  }
  const comps: Float64Array[] = [];
  for (let p = 0; p < 2; p++) {
    let v: Float64Array = new Float64Array(d).map((_, c) => 1 + c / d);
    for (let it = 0; it < 200; it++) {
      const w = new Float64Array(d);
      for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) w[a] += cov[a * d + b] * v[b];
      for (const u of comps) {
        const dot = w.reduce((s, wa, a) => s + wa * u[a], 0);
        for (let a = 0; a < d; a++) w[a] -= dot * u[a];
      }
      const norm = Math.hypot(...w) || 1;
      v = w.map((wa) => wa / norm);
    }
    comps.push(v);
  }
  const proj = comps.map((u) => {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) for (let c = 0; c < d; c++) out[i] += (x[i * d + c] - mean[c]) * u[c];
    return out;
  }) as [Float64Array, Float64Array];
  return proj;
}

const UMAP_NEIGHBOURS = 15;
const UMAP_EPOCHS = 200;

async function latentMap(result: FitResult, options: ReportOptions): Promise<LatentMap> {
  const seed = options.seed ?? 42;
  const target = options.mapPoints ?? 2000;
  if (!Number.isInteger(target) || target < 2) throw new DggError('INVALID_OPTION', `report: mapPoints must be an integer >= 2, got ${target}`);
  const emb = result.embedding;
  const rows = stratifiedSample(result.labels, result.probabilities.cols, target, seeded(seed));
  const n = rows.length;
  const d = emb.cols;
  const x = new Float64Array(n * d);
  rows.forEach((r, i) => {
    for (let c = 0; c < d; c++) x[i * d + c] = emb.data[r * d + c];
  });
  const what = `of the latent means (M = ${d}) of ${n === emb.rows ? `all ${n.toLocaleString('en')} rows` : `${n.toLocaleString('en')} of the ${emb.rows.toLocaleString('en')} rows, sampled per cluster in proportion to its size (seed ${seed})`}`;
  const t0 = performance.now();
  const took = () => `, in ${fmt((performance.now() - t0) / 1000, 1)} s`;
  let a: ArrayLike<number>;
  let b: ArrayLike<number>;
  let method: string;
  if (d <= 2) {
    a = rows.map((_, i) => x[i * d]);
    b = rows.map((_, i) => (d === 2 ? x[i * d + 1] : 0));
    method = `The latent space is ${d}-D: the latent means ${what}, as they are`;
  } else if ((options.map ?? 'umap') === 'umap' && n > UMAP_NEIGHBOURS + 1) {
    const { UMAP } = await import('umap-js');
    const random = seeded(seed);
    const umap = new UMAP({ nComponents: 2, nNeighbors: UMAP_NEIGHBOURS, minDist: 0.1, nEpochs: UMAP_EPOCHS, random });
    const knn = exactKnn(x, n, d, UMAP_NEIGHBOURS);
    umap.setPrecomputedKNN(knn.indices, knn.distances);
    const vectors = Array.from({ length: n }, (_, i) => Array.from(x.subarray(i * d, (i + 1) * d)));
    const epochs = umap.initializeFit(vectors);
    for (let e = 0; e < epochs; e++) {
      umap.step();
      // Let the event loop run between epochs: a report must not stall a service.
      if (e % 20 === 19) await new Promise((resolve) => setImmediate(resolve));
    }
    const y = umap.getEmbedding();
    a = y.map((p) => p[0]);
    b = y.map((p) => p[1]);
    method = `UMAP (umap-js: ${UMAP_NEIGHBOURS} neighbours by exact search, min_dist 0.1, ${UMAP_EPOCHS} epochs, seed ${seed}) ${what}${took()}`;
  } else {
    [a, b] = pca2(x, n, d);
    method = `The first two principal components ${what}${took()}`;
  }
  return { rows, x: Array.from(a, (v) => round(v, 3)), y: Array.from(b, (v) => round(v, 3)), method };
}

// ---------------------------------------------------------------------------------------------
// Scores against the true classes

interface Scores {
  /** The class values, ascending. */
  classes: number[];
  /** counts[cluster][class index]. */
  confusion: number[][];
  /** The class index each cluster is matched to (-1: none, when K exceeds the classes). */
  matched: number[];
  acc: number;
  nmi: number;
  ari: number;
  /** Rows on the matching's diagonal. */
  hits: number;
  n: number;
  purity?: number;
}

/**
 * The assignment of rows to columns of a square cost matrix with the least total cost
 * (Hungarian algorithm with potentials, O(n^3)).
 */
export function hungarian(cost: number[][]): number[] {
  const n = cost.length;
  const u = new Float64Array(n + 1);
  const v = new Float64Array(n + 1);
  const p = new Int32Array(n + 1); // p[j]: the row (1-based) assigned to column j
  const way = new Int32Array(n + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    const minv = new Float64Array(n + 1).fill(Infinity);
    const used = new Uint8Array(n + 1);
    do {
      used[j0] = 1;
      const i0 = p[j0];
      let delta = Infinity;
      let j1 = 0;
      for (let j = 1; j <= n; j++) {
        if (used[j]) continue;
        const cur = cost[i0 - 1][j - 1] - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (let j = 0; j <= n; j++) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0);
  }
  const rowToCol = new Array<number>(n).fill(-1);
  for (let j = 1; j <= n; j++) if (p[j] > 0) rowToCol[p[j] - 1] = j - 1;
  return rowToCol;
}

function scoring(result: FitResult, truth: Int32Array): Scores {
  const k = result.probabilities.cols;
  const classes = Array.from(new Set(truth)).sort((a, b) => a - b);
  const index = new Map(classes.map((c, i) => [c, i]));
  const confusion = Array.from({ length: k }, () => new Array<number>(classes.length).fill(0));
  for (let i = 0; i < truth.length; i++) confusion[result.labels[i]][index.get(truth[i])!]++;
  const size = Math.max(k, classes.length);
  const most = Math.max(...confusion.flat());
  const cost = Array.from({ length: size }, (_, r) => Array.from({ length: size }, (_, c) => (r < k && c < classes.length ? most - confusion[r][c] : most)));
  const assignment = hungarian(cost);
  const matched = Array.from({ length: k }, (_, r) => (assignment[r] < classes.length ? assignment[r] : -1));
  const hits = sum(matched.map((c, r) => (c >= 0 ? confusion[r][c] : 0)));
  const m = evaluate(result.labels, truth);
  let purity: number | undefined;
  if (result.graph && result.graph.n === truth.length) purity = graphPurity(result.graph, truth);
  return { classes, confusion, matched, ...m, hits, n: truth.length, purity };
}

function metricsSection(s: Scores): string {
  const card = (name: string, v: number | undefined, note: string) =>
    v === undefined ? '' : `<div class="card"><div class="value">${fmt(v, 4)}</div><div class="name">${esc(name)}</div><div class="hint">${esc(note)}</div></div>`;
  return section('metrics', 'Against the true classes', `<div class="cards">
${card('ACC', s.acc, `${s.hits} of ${s.n} rows on the matched diagonal`)}${card('NMI', s.nmi, 'normalised mutual information')}${card('ARI', s.ari, 'adjusted Rand index')}${card('graph purity', s.purity, "share of the graph's neighbour slots within a class")}
</div>`);
}

/** Each cluster's colour index: its matched class's (the class map uses the class index), else its own. */
function clusterColours(k: number, s: Scores | undefined): number[] {
  if (!s) return Array.from({ length: k }, (_, c) => c);
  let spare = s.classes.length;
  return s.matched.map((j) => (j >= 0 ? j : spare++));
}

/** Clusters in the matching's order: by their matched class, unmatched ones last. */
function matchedOrder(s: Scores, k: number): number[] {
  const key = (c: number) => (s.matched[c] < 0 ? Infinity : s.matched[c]);
  return Array.from({ length: k }, (_, c) => c).sort((a, b) => key(a) - key(b) || a - b);
}

function confusionSection(s: Scores, k: number): string {
  const order = matchedOrder(s, k);
  const most = Math.max(1, ...s.confusion.flat());
  const head = `<tr><th>cluster \\ class</th>${s.classes.map((c) => `<th>${esc(c)}</th>`).join('')}<th>rows</th></tr>`;
  const body = order.map((c) => {
    const cells = s.classes.map((_, j) => {
      const v = s.confusion[c][j];
      const alpha = round(0.85 * Math.sqrt(v / most), 3);
      const diag = s.matched[c] === j ? ' class="match"' : '';
      return `<td${diag} style="background: rgba(84, 112, 198, ${alpha})${alpha > 0.5 ? '; color: #fff' : ''}">${v}</td>`;
    });
    return `<tr><th>${c}</th>${cells.join('')}<td class="total">${sum(s.confusion[c])}</td></tr>`;
  });
  const mapping = order.map((c) => `${c} → ${s.matched[c] < 0 ? 'none' : esc(s.classes[s.matched[c]])}`).join(', ');
  return section('confusion', 'Confusion matrix', `<p class="note">Rows are clusters, in the order of the Hungarian matching (the one-to-one cluster-to-class matching with the most rows, the one ACC counts); the matched cell is outlined.</p>
<p class="mapping">cluster → class: ${mapping}</p>
<div class="scroll"><table class="confusion" id="confusion-matrix"><thead>${head}</thead><tbody>${body.join('\n')}</tbody></table></div>`);
}

function sizesTable(counts: number[], result: FitResult, s: Scores | undefined): string {
  const k = counts.length;
  const n = result.labels.length;
  const conf = new Array<number>(k).fill(0);
  for (let i = 0; i < n; i++) conf[result.labels[i]] += result.probabilities.data[i * k + result.labels[i]];
  const order = s ? matchedOrder(s, k) : Array.from({ length: k }, (_, c) => c);
  const rows = order.map((c) => {
    const cls = s ? `<td>${s.matched[c] < 0 ? 'none' : esc(s.classes[s.matched[c]])}</td>` : '';
    return `<tr><th>${c}</th><td>${counts[c]}</td><td>${fmt(counts[c] / n, 4)}</td><td>${fmt(result.gmm.weights[c], 4)}</td><td>${counts[c] ? fmt(conf[c] / counts[c], 3) : '-'}</td>${cls}</tr>`;
  });
  return `<div class="scroll"><table class="sizes" id="cluster-sizes"><thead><tr><th>cluster</th><th>rows</th><th>share</th><th>mixture weight</th><th>mean q(c | x) of its rows</th>${s ? '<th>matched class</th>' : ''}</tr></thead><tbody>${rows.join('\n')}</tbody></table></div>`;
}

// ---------------------------------------------------------------------------------------------
// Training curves

/** Axis 1 (right, 0 to 1) holds these scores; the loss terms go on axis 0. */
const SCORE_KEYS = new Set(['modularity', 'agreement']);

interface Curve {
  name: string;
  series: Array<{ name: string; axis: 0 | 1; points: Array<[number, number]> }>;
}

/**
 * One chart per run of a phase (the layer-wise phases share one; a phase that runs twice, like the
 * classifier before and after the align phase, gets a chart per run), one series per loss term.
 */
function curves(history: FitResult['history']): Curve[] {
  const out: Curve[] = [];
  let current: Curve | undefined;
  let group = '';
  for (const h of history) {
    const m = /^(.*)-(\d+)$/.exec(h.phase);
    const g = m ? m[1] : h.phase;
    if (!current || g !== group) {
      const runs = out.filter((c) => c.name === g || c.name.startsWith(`${g}, run `)).length;
      current = { name: runs ? `${g}, run ${runs + 1}` : g, series: [] };
      group = g;
      out.push(current);
    }
    for (const [key, v] of Object.entries(h.losses)) {
      if (!Number.isFinite(v)) continue;
      const name = m ? `layer ${m[2]}: ${key}` : key;
      let s = current.series.find((t) => t.name === name);
      if (!s) current.series.push((s = { name, axis: SCORE_KEYS.has(key) ? 1 : 0, points: [] }));
      s.points.push([h.epoch, round(v, 5)]);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Example images

function imageShape(opt: ReportOptions['imageShape'], d: number | undefined): [number, number] | undefined {
  if (opt === 'none' || d === undefined) return undefined;
  if (opt === 'auto') {
    const s = Math.round(Math.sqrt(d));
    return s * s === d && s > 1 ? [s, s] : undefined;
  }
  if (!Array.isArray(opt) || opt.length !== 2 || !opt.every((v) => Number.isInteger(v) && v > 0)) {
    throw new DggError('INVALID_OPTION', `report: imageShape must be [height, width], 'auto' or 'none', got ${JSON.stringify(opt)}`);
  }
  if (opt[0] * opt[1] !== d) throw new DggError('INVALID_OPTION', `report: imageShape ${opt[0]}x${opt[1]} has ${opt[0] * opt[1]} pixels but the data has ${d} features`);
  return opt;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let j = 0; j < 8; j++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, body: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.write(type, 4, 'latin1');
  out.set(body, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + body.length)), 8 + body.length);
  return out;
}

/** An 8-bit greyscale PNG of `pixels` (h rows of w bytes). */
export function grayPng(pixels: Uint8Array, w: number, h: number): Buffer {
  const raw = Buffer.alloc((w + 1) * h);
  for (let r = 0; r < h; r++) raw.set(pixels.subarray(r * w, (r + 1) * w), r * (w + 1) + 1);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 0, 0, 0, 0], 8); // bit depth 8, greyscale, deflate, no filter, no interlace
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(raw)), pngChunk('IEND', new Uint8Array(0))]);
}

/** Row `r` as a PNG data URI, its values stretched to 0-255 (the row's own minimum and maximum). */
function rowImage(data: Matrix, r: number, [h, w]: [number, number]): string {
  const row = data.data.subarray(r * data.cols, (r + 1) * data.cols);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of row) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const span = hi > lo ? hi - lo : 1;
  const px = new Uint8Array(h * w);
  for (let i = 0; i < px.length; i++) px[i] = Math.round((255 * (row[i] - lo)) / span);
  return `data:image/png;base64,${grayPng(px, w, h).toString('base64')}`;
}

const LEAST_EXAMPLES = 6;

function examplesSection(result: FitResult, data: Matrix, shape: [number, number], truth: Int32Array | undefined, s: Scores | undefined, most: number): string {
  const k = result.probabilities.cols;
  const members: number[][] = Array.from({ length: k }, () => []);
  const conf = (i: number) => result.probabilities.data[i * k + result.labels[i]];
  for (let i = 0; i < result.labels.length; i++) members[result.labels[i]].push(i);
  const [h, w] = shape;
  const size = Math.max(24, Math.min(64, Math.max(h, w) * 4));
  const tile = (c: number, i: number) => {
    const cls = truth ? `, class ${truth[i]}` : '';
    const miss = s && truth && s.matched[c] >= 0 && s.classes[s.matched[c]] !== truth[i] ? ' miss' : '';
    const label = `row ${i}: q = ${fmt(conf(i), 3)}${cls}`;
    return `<img class="tile${miss}" src="${rowImage(data, i, shape)}" width="${Math.round((size * w) / Math.max(h, w))}" height="${Math.round((size * h) / Math.max(h, w))}" alt="${esc(label)}" title="${esc(label)}">`;
  };
  const order = s ? matchedOrder(s, k) : Array.from({ length: k }, (_, c) => c);
  const rows = order.map((c) => {
    const sorted = members[c].slice().sort((a, b) => conf(b) - conf(a) || a - b);
    const top = sorted.slice(0, most);
    const least = sorted.slice(Math.max(top.length, sorted.length - LEAST_EXAMPLES)).reverse();
    const label = s && s.matched[c] >= 0 ? ` (class ${esc(s.classes[s.matched[c]])})` : '';
    return `<div class="examples-row" data-cluster="${c}"><div class="examples-name">cluster ${c}${label}<br><span class="hint">${members[c].length} rows</span></div>
<div class="tiles">${top.map((i) => tile(c, i)).join('')}</div><div class="tiles least">${least.map((i) => tile(c, i)).join('')}</div></div>`;
  });
  return section('examples', 'Examples', `<p class="note">Rows shown as ${h}x${w} images: per cluster the ${most} most confident (highest q(c | x)) first, then, after the gap, the ${LEAST_EXAMPLES} least confident, least first.${s ? ' Outlined in red: a row whose class is not the one matched to its cluster.' : ''}</p>
<div class="examples">${rows.join('\n')}</div>`);
}
