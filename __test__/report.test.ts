// The HTML report (ts/report.ts): written from the SDK and by `fit --report`, then opened in headless
// Chromium with every request outside file: and data: blocked. The page must draw every figure,
// log no error, request nothing, and show hostile text as text.
//
// Chromium: /usr/bin/chromium, or CHROMIUM_PATH. Without one the browser tests fail, unless
// DGG_SKIP_BROWSER=1, which keeps only the checks of the HTML text.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DGG, DggError, evaluate, report, writeReport, type FitResult } from '../ts/index';
import { bundledDigitsPath, readDataFile } from '../ts/io';
import { grayPng, hungarian } from '../ts/report';
import { blobs, SMALL } from './helpers';

const root = path.resolve(__dirname, '..');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SKIP_BROWSER = process.env.DGG_SKIP_BROWSER === '1';
const HOSTILE = `</script><script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'"&`;

/** What the page showed, as seen from inside the browser. */
interface PageCheck {
  errors: string[];
  blocked: string[];
  pwned: unknown;
  title: string;
  facts: string;
  charts: Array<{ id: string; rendered: boolean; width: number; height: number; inked: number }>;
  confusionRows: number;
  images: number;
  brokenImages: number;
  sections: string[];
  acc: string | null;
}

let browser: Browser | undefined;
let dir: string;

/** Opens `file` with every request outside file: and data: blocked and counted. */
async function openReport(file: string): Promise<PageCheck> {
  if (!browser) throw new Error('no browser');
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  try {
    const page = await context.newPage();
    const errors: string[] = [];
    const blocked: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`page: ${e.message}`));
    page.on('dialog', (d) => {
      errors.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith('file:') || url.startsWith('data:')) return route.continue();
      blocked.push(url);
      return route.abort();
    });
    await page.goto(pathToFileURL(file).href);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 30_000 });
    const seen = await page.evaluate(() => {
      const charts = Array.from(document.querySelectorAll<HTMLElement>('.chart')).map((el) => {
        const canvas = el.querySelector('canvas');
        let inked = 0;
        if (canvas && canvas.width > 0 && canvas.height > 0) {
          const px = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
          for (let i = 3; i < px.length; i += 4) if (px[i] > 0) inked++;
        }
        return { id: el.id, rendered: el.dataset.rendered === '1', width: canvas?.width ?? 0, height: canvas?.height ?? 0, inked };
      });
      const images = Array.from(document.querySelectorAll<HTMLImageElement>('#examples img'));
      return {
        pwned: (window as unknown as { __pwned?: unknown }).__pwned,
        title: document.querySelector('h1')?.textContent ?? '',
        facts: document.querySelector('.facts')?.textContent ?? '',
        charts,
        confusionRows: document.querySelectorAll('#confusion-matrix tbody tr').length,
        images: images.length,
        brokenImages: images.filter((i) => !i.complete || i.naturalWidth === 0).length,
        sections: Array.from(document.querySelectorAll('section')).map((s) => s.id),
        acc: document.querySelector('#metrics .card .value')?.textContent ?? null,
      };
    });
    return { errors, blocked, ...seen };
  } finally {
    await context.close();
  }
}

/** The checks every report must pass in the browser. */
function expectClean(page: PageCheck): void {
  expect(page.errors).toEqual([]);
  expect(page.blocked).toEqual([]);
  expect(page.pwned).toBeUndefined();
  expect(page.charts.length).toBeGreaterThan(0);
  for (const c of page.charts) {
    expect(c.rendered, c.id).toBe(true);
    expect(c.width, c.id).toBeGreaterThan(0);
    expect(c.height, c.id).toBeGreaterThan(0);
    expect(c.inked, c.id).toBeGreaterThan(100);
  }
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgg-report-'));
  if (SKIP_BROWSER) return;
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: install it (apt-get install chromium), point CHROMIUM_PATH at one, or set DGG_SKIP_BROWSER=1 to skip the browser checks`);
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('report helpers', () => {
  it('should find the assignment with the least cost', () => {
    expect(hungarian([[4, 1, 3], [2, 0, 5], [3, 2, 2]])).toEqual([1, 0, 2]);
    expect(hungarian([[0, 9], [9, 0]])).toEqual([0, 1]);
  });

  it('should encode a greyscale PNG with a valid signature and chunk layout', () => {
    const png = grayPng(Uint8Array.from([0, 255, 128, 64]), 2, 2);
    expect(Array.from(png.subarray(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(png.subarray(12, 16).toString('latin1')).toBe('IHDR');
    expect(png.readUInt32BE(16)).toBe(2);
    expect(png.subarray(png.length - 8, png.length - 4).toString('latin1')).toBe('IEND');
  });
});

describe('report() on the bundled digits', () => {
  let result: FitResult;
  let truth: Int32Array;
  let rows: Awaited<ReturnType<typeof readDataFile>>['matrix'];
  beforeAll(async () => {
    const file = await readDataFile(bundledDigitsPath(), { labelColumn: 'last', header: false });
    rows = file.matrix;
    truth = file.labels!;
    // A small network and few epochs: the report, not the clustering, is under test.
    result = await new DGG({
      ...SMALL,
      nClusters: 10,
      hidden: [64, 64],
      latentDim: 8,
      neighbours: 10,
      batchSize: 128,
      epochs: { layerwise: 1, pretrain: 5, vae: 0, siamese: 0, classifier: 5, dgg: 3 },
    }).fit(rows);
  }, 120_000);

  it('should escape the title and source, and refuse bad image shapes', async () => {
    const html = await report(result, { truth, data: rows, title: HOSTILE, source: HOSTILE, mapPoints: 300 });
    expect(html).not.toContain('<script>window.__pwned');
    expect(html).not.toContain('<img src=x');
    expect(html).toContain('&#60;/script&#62;&#60;script&#62;window.__pwned = 1');
    // The data block cannot end its script element early.
    const json = /<script type="application\/json" id="dgg-data">([^]*?)<\/script>/.exec(html)![1];
    expect(json).not.toContain('<');
    await expect(report(result, { data: rows, imageShape: [7, 7] })).rejects.toThrow(DggError);
    await expect(report(result, { data: rows, imageShape: [7, 7] })).rejects.toThrow('imageShape 7x7 has 49 pixels but the data has 64 features');
    await expect(report(result, { truth: truth.subarray(1) })).rejects.toThrow(/labels have 1796 values, expected 1797/);
    expect(await report(result, { data: rows, imageShape: 'none' })).not.toContain('id="examples"');
  }, 60_000);

  it('should draw every figure offline, with the scores and confusion matrix of the matching', async () => {
    const file = path.join(dir, 'sdk.html');
    await writeReport(file, result, { truth, data: rows, title: HOSTILE, source: HOSTILE });
    const html = fs.readFileSync(file, 'utf8');
    const acc = evaluate(result.labels, truth).acc;
    // The diagonal of the matching holds ACC's rows.
    const hits = Number(/(\d+) of 1797 rows on the matched diagonal/.exec(html)![1]);
    expect(hits / 1797).toBeCloseTo(acc, 12);
    expect(html).toContain('of all 1,797 rows');
    if (SKIP_BROWSER) return;
    const page = await openReport(file);
    expectClean(page);
    expect(page.title).toBe(HOSTILE);
    expect(page.facts).toContain(`data: ${HOSTILE}`);
    expect(page.acc).toBe(acc.toFixed(4));
    expect(page.sections).toEqual(['metrics', 'map', 'clusters', 'confusion', 'training', 'timings', 'examples', ...(result.warnings.length ? ['warnings'] : [])]);
    const ids = page.charts.map((c) => c.id);
    expect(ids).toEqual(expect.arrayContaining(['chart-map-cluster', 'chart-map-class', 'chart-sizes', 'chart-timings', 'chart-train-0']));
    expect(page.confusionRows).toBe(10);
    // 12 most and 6 least confident per cluster, fewer only for a cluster that small.
    expect(page.images).toBeGreaterThan(10 * 6);
    expect(page.brokenImages).toBe(0);
  }, 120_000);
});

describe('report() without labels or images', () => {
  it('should leave out the class map, the scores and the examples, and still draw', async () => {
    const { rows } = blobs(30, 12);
    const result = await new DGG(SMALL).fit(rows);
    const file = path.join(dir, 'blobs.html');
    await writeReport(file, result, { data: rows, map: 'pca' });
    const html = fs.readFileSync(file, 'utf8');
    expect(html).toContain('The first two principal components of the latent means (M = 4) of all 90 rows');
    if (SKIP_BROWSER) return;
    const page = await openReport(file);
    expectClean(page);
    expect(page.sections).not.toContain('confusion');
    expect(page.sections).not.toContain('examples');
    expect(page.charts.map((c) => c.id)).not.toContain('chart-map-class');
  }, 60_000);
});

describe('fit --report', () => {
  it('should write the report of the default digits fit from the real CLI', () => {
    const cli = path.join(root, 'dist', 'cli.js');
    const vendored = path.join(root, 'dist', 'vendor', 'echarts.min.js');
    for (const f of [cli, vendored]) if (!fs.existsSync(f)) throw new Error(`${f} is missing: run 'npm run build:ts' first`);
    const file = path.join(dir, 'cli.html');
    const r = spawnSync(process.execPath, [cli, 'fit', '--report', file, '--quiet'], { cwd: dir, encoding: 'utf8', timeout: 240_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`wrote report: ${file}`);
    return (async () => {
      const html = fs.readFileSync(file, 'utf8');
      expect(html).toContain('<title>dgg-native fit digits</title>');
      expect(html).toContain('Rows shown as 8x8 images');
      if (SKIP_BROWSER) return;
      const page = await openReport(file);
      expectClean(page);
      // The default fit has a graph: its purity is shown with ACC, NMI and ARI.
      expect(page.sections.slice(0, 7)).toEqual(['metrics', 'map', 'clusters', 'confusion', 'training', 'timings', 'examples']);
      expect(html).toContain('graph purity');
      expect(page.confusionRows).toBe(10);
      expect(page.images).toBeGreaterThan(10 * 12);
      expect(page.brokenImages).toBe(0);
    })();
  }, 300_000);

  it('should refuse --image-shape without --report, and a malformed one', () => {
    const cli = path.join(root, 'dist', 'cli.js');
    const run = (args: string[]) => spawnSync(process.execPath, [cli, 'fit', ...args], { cwd: dir, encoding: 'utf8' });
    const a = run(['--image-shape', '8x8']);
    expect(a.status).toBe(2);
    expect(a.stderr).toContain('--image-shape is for the report: add --report FILE');
    const b = run(['--report', path.join(dir, 'x.html'), '--image-shape', '8by8']);
    expect(b.status).toBe(2);
    expect(b.stderr).toContain("--image-shape must be HxW (like 28x28) or 'none', got '8by8'");
  });
});
