/**
 * The native addon, loaded once. The candidates, in order:
 *
 * 1. `DGG_NATIVE_ADDON`, when set: the path of a `.node` file (a custom build);
 * 2. the CUDA addon (linux x64 with glibc only): the optional package `dgg-native-linux-x64-gnu-cuda`,
 *    or `native-cuda/*.node` in a checkout (built by `scripts/build-cuda.sh`);
 * 3. the CPU addon, from the first of:
 *    1. napi-rs's per-platform package, `dgg-native-<platform>` (an optional dependency, so a
 *       registry install downloads only its own platform's binary);
 *    2. `prebuilds/<platform>-<arch>/` in this package, prebuildify's layout, found by node-gyp-build
 *       (the tarball carries them, so it installs offline, from git, or with optional dependencies
 *       disabled);
 *    3. a local build, `native/dgg-native.<platform>.node` (`npm run build:native` in a checkout).
 *       In a source checkout it comes first, so that a stale prebuild never hides a fresh build.
 *
 * A candidate that fails to load (a CUDA addon on a machine without the CUDA 13 libraries, a binary
 * for another libc) is skipped and its reason kept: `info()` reports it, and so does the error of
 * `device: 'cuda'`. When no CPU candidate loads, the error names the platform, the supported list
 * and how to build from source.
 *
 * `DGG_NATIVE_PLATFORM` (`<os>-<arch>[-<libc>]`, e.g. `freebsd-x64`) overrides the detected platform:
 * it exists to test the message for an unsupported platform.
 *
 * @packageDocumentation
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as Native from '../native/index';
import { DggError, rethrowNative } from './errors';

/** The platforms with a published CPU binary (napi-rs's platform names). */
export const SUPPORTED_PLATFORMS = [
  'linux-x64-gnu',
  'linux-arm64-gnu',
  'linux-x64-musl',
  'linux-arm64-musl',
  'darwin-x64',
  'darwin-arm64',
  'win32-x64-msvc',
] as const;

/** The optional package of the CUDA build. */
export const CUDA_PACKAGE = 'dgg-native-linux-x64-gnu-cuda';

/** Where the loaded addon came from. */
export type AddonSource = 'env' | 'package' | 'prebuilds' | 'local';

/** Which addon was loaded and why the candidates before it were not. */
export interface AddonChoice {
  /** `custom` (DGG_NATIVE_ADDON), `cuda` or `cpu`. */
  addon: 'custom' | 'cuda' | 'cpu';
  /** Where it came from: the environment, a per-platform package, `prebuilds/` or a local build. */
  source: AddonSource;
  /** The file that was loaded. */
  path: string;
  /** This platform, as napi-rs names it (`linux-x64-gnu`, `darwin-arm64`, ...). */
  platform: string;
  /** Candidates that failed to load, with the first line of their error. */
  skipped: { addon: 'custom' | 'cuda' | 'cpu'; path: string; reason: string }[];
}

const root = path.join(__dirname, '..');

function firstLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split('\n')[0].trim();
}

/** This platform as napi-rs names it: `<os>-<arch>`, plus `-gnu`/`-musl` on Linux, `-msvc` on Windows. */
export function platformName(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DGG_NATIVE_PLATFORM) return env.DGG_NATIVE_PLATFORM;
  const base = `${process.platform}-${process.arch}`;
  if (process.platform === 'win32') return `${base}-msvc`;
  if (process.platform !== 'linux') return base;
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return `${base}-${header?.glibcVersionRuntime ? 'gnu' : 'musl'}`;
}

type Candidate = { addon: AddonChoice['addon']; source: AddonSource; path: string };

/** `require.resolve` that answers `undefined` for a package that is not installed. */
function resolvePackage(name: string): string | undefined {
  try {
    return require.resolve(name);
  } catch {
    return undefined;
  }
}

function cpuCandidates(platform: string, skipped: AddonChoice['skipped']): Candidate[] {
  const out: Candidate[] = [];
  const pkg = resolvePackage(`dgg-native-${platform}`);
  if (pkg) out.push({ addon: 'cpu', source: 'package', path: pkg });
  // node-gyp-build reads the platform, arch and libc itself; an overridden platform has no prebuild.
  if (!process.env.DGG_NATIVE_PLATFORM) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const gypBuild = require('node-gyp-build') as { resolve(dir: string): string };
      out.push({ addon: 'cpu', source: 'prebuilds', path: gypBuild.resolve(root) });
    } catch (e) {
      if (fs.existsSync(path.join(root, 'prebuilds'))) skipped.push({ addon: 'cpu', path: path.join(root, 'prebuilds'), reason: firstLine(e) });
    }
  }
  const local = path.join(root, 'native', `dgg-native.${platform}.node`);
  if (fs.existsSync(local)) {
    // In a source checkout (Cargo.toml beside package.json) the build just made comes first, so
    // that a stale prebuild never hides it; an installed package has no Cargo.toml.
    if (fs.existsSync(path.join(root, 'Cargo.toml'))) out.unshift({ addon: 'cpu', source: 'local', path: local });
    else out.push({ addon: 'cpu', source: 'local', path: local });
  }
  return out;
}

function unsupported(platform: string, skipped: AddonChoice['skipped']): DggError {
  const known = (SUPPORTED_PLATFORMS as readonly string[]).includes(platform);
  const tried = skipped.length ? ` Tried: ${skipped.map((s) => `${s.path} (${s.reason})`).join('; ')}.` : '';
  const why = known
    ? `no binary of dgg-native for ${platform} could be loaded: the optional package dgg-native-${platform} is not installed (were optional dependencies omitted?) and this package carries no prebuild for it.`
    : `dgg-native has no binary for ${platform}; supported platforms: ${SUPPORTED_PLATFORMS.join(', ')}.`;
  return new DggError(
    'UNSUPPORTED_PLATFORM',
    `${why}${tried} To build from source (Rust >= 1.88): git clone the repository, then \`npm ci && npm run build\`, and point DGG_NATIVE_ADDON at the native/*.node it builds.`,
  );
}

function load(env: NodeJS.ProcessEnv): { binding: typeof Native; choice: AddonChoice } {
  const platform = platformName(env);
  const skipped: AddonChoice['skipped'] = [];
  const candidates: Candidate[] = [];
  if (env.DGG_NATIVE_ADDON) candidates.push({ addon: 'custom', source: 'env', path: path.resolve(env.DGG_NATIVE_ADDON) });
  if (platform === 'linux-x64-gnu') {
    const pkg = resolvePackage(CUDA_PACKAGE);
    if (pkg) candidates.push({ addon: 'cuda', source: 'package', path: pkg });
    const cudaDir = path.join(root, 'native-cuda');
    if (fs.existsSync(cudaDir)) {
      const node = fs.readdirSync(cudaDir).find((f) => f.endsWith('.node'));
      if (node) candidates.push({ addon: 'cuda', source: 'local', path: path.join(cudaDir, node) });
      else skipped.push({ addon: 'cuda', path: cudaDir, reason: 'the folder holds no .node file' });
    }
  }
  candidates.push(...cpuCandidates(platform, skipped));
  for (const c of candidates) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return { binding: require(c.path) as typeof Native, choice: { ...c, platform, skipped } };
    } catch (e) {
      skipped.push({ addon: c.addon, path: c.path, reason: firstLine(e) });
    }
  }
  throw unsupported(platform, skipped);
}

const loaded = load(process.env);

export const native: typeof Native = loaded.binding;

/** How the addon was chosen (see the module's description). */
export const addonChoice: Readonly<AddonChoice> = Object.freeze(loaded.choice);

const ADDON_NAMES = { custom: 'DGG_NATIVE_ADDON', cuda: 'CUDA', cpu: 'CPU' } as const;

/** Why the candidates before the loaded addon failed, as one sentence; empty when none did. */
export function skippedAddons(): string {
  return addonChoice.skipped.map((s) => `the ${ADDON_NAMES[s.addon]} addon (${s.path}) did not load: ${s.reason}`).join('; ');
}

/**
 * {@link rethrowNative}, with the reason a skipped addon failed added to a `DEVICE_UNAVAILABLE`
 * error (asking for `device: 'cuda'` when the CUDA addon could not load).
 */
export async function rethrowDevice<T>(p: Promise<T>): Promise<T> {
  try {
    return await rethrowNative(p);
  } catch (e) {
    const hint = skippedAddons();
    if (e instanceof DggError && e.code === 'DEVICE_UNAVAILABLE' && hint) throw new DggError(e.code, `${e.message} (${hint})`, { cause: e });
    throw e;
  }
}

export type { NativeGraph, NativeModel, NativeFitResult, NativeProgress } from '../native/index';
