// Part of `npm run build:ts`: copies Apache ECharts (a devDependency, Apache-2.0) with its LICENSE
// and NOTICE into dist/vendor/, from where ts/report.ts inlines it into the HTML report.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const from = path.join(root, 'node_modules', 'echarts');
const to = path.join(root, 'dist', 'vendor');
const files = [
  ['dist/echarts.min.js', 'echarts.min.js'],
  ['LICENSE', 'echarts.LICENSE'],
  ['NOTICE', 'echarts.NOTICE'],
];
const missing = files.map(([f]) => path.join(from, f)).filter((f) => !fs.existsSync(f));
if (missing.length) {
  console.error(`vendor-echarts: missing ${missing.join(', ')}: install the devDependencies (npm ci) so that the HTML report can inline echarts`);
  process.exit(1);
}
fs.mkdirSync(to, { recursive: true });
for (const [src, dst] of files) fs.copyFileSync(path.join(from, src), path.join(to, dst));
