// Which native addon the SDK loads (ts/native.ts): a candidate that cannot load is skipped, the CPU
// addon remains, and `info` and the `device: 'cuda'` error say why. Each case runs the CLI in its
// own process, because the addon is chosen once, when the module loads.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');
const cliPath = path.join(root, 'dist', 'cli.js');

function cli(args: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, [cliPath, ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the native addon choice', () => {
  let dir: string;
  let missing: string;
  let csv: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgg-addon-'));
    missing = path.join(dir, 'no-such-addon.node');
    csv = path.join(dir, 'tiny.csv');
    fs.writeFileSync(csv, Array.from({ length: 30 }, (_, i) => `${i % 3},${(i * 7) % 5},${i % 2}`).join('\n') + '\n');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('should fall back to the CPU addon and say why the custom one did not load', () => {
    const r = cli(['info', '--json'], { DGG_NATIVE_ADDON: missing });
    expect(r.status).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.addon).toBe('cpu');
    // In a checkout the local build comes first (ts/native.ts).
    expect(info.addonSource).toBe('local');
    expect(path.dirname(info.addonPath)).toBe(path.join(root, 'native'));
    expect(path.basename(info.addonPath)).toMatch(/^dgg-native\..+\.node$/);
    expect(info.device).toBe('cpu');
    expect(info.reason).toContain(`the DGG_NATIVE_ADDON addon (${missing}) did not load`);
  });

  it('should load the addon DGG_NATIVE_ADDON names', () => {
    const node = fs.readdirSync(path.join(root, 'native')).find((f) => f.endsWith('.node'));
    expect(node).toBeDefined();
    const file = path.join(root, 'native', node as string);
    const info = JSON.parse(cli(['info', '--json'], { DGG_NATIVE_ADDON: file }).stdout);
    expect(info.addon).toBe('custom');
    expect(info.addonSource).toBe('env');
    expect(info.addonPath).toBe(file);
    expect(info.reason).not.toContain('did not load');
  });

  it("should fail device 'cuda' with DEVICE_UNAVAILABLE naming the addon that did not load", () => {
    const r = cli(['fit', csv, '--k', '2', '--device', 'cuda'], { DGG_NATIVE_ADDON: missing });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('DEVICE_UNAVAILABLE');
    expect(r.stderr).toContain(`(${missing}) did not load`);
  });
});
