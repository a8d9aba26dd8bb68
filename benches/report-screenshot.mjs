// `npm run bench:report-screenshot` (after `npm run build:ts`): runs `dgg-native fit --report` on the
// bundled digits and saves a full-page screenshot of the report to benches/results/report-digits.png,
// taken in headless Chromium (CHROMIUM_PATH, default /usr/bin/chromium) with the network blocked.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'benches', 'results', 'report-digits.png');
const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgg-report-shot-'));
try {
  const html = path.join(dir, 'report.html');
  const fit = spawnSync(process.execPath, [path.join(root, 'dist', 'cli.js'), 'fit', '--report', html, '--quiet'], { encoding: 'utf8', stdio: ['ignore', 'inherit', 'inherit'] });
  if (fit.status !== 0) throw new Error(`dgg-native fit --report failed with status ${fit.status}`);
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('pageerror', (e) => problems.push(e.message));
    await page.route('**/*', (r) => (/^(file|data):/.test(r.request().url()) ? r.continue() : (problems.push(`request ${r.request().url()}`), r.abort())));
    await page.goto(pathToFileURL(html).href);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 60_000 });
    if (problems.length) throw new Error(`the report page had problems:\n${problems.join('\n')}`);
    await page.screenshot({ path: out, fullPage: true });
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify({ bench: 'report-screenshot', file: path.relative(root, out), bytes: fs.statSync(out).size, html_bytes: fs.statSync(html).size }));
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
