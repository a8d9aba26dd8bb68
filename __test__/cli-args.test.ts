import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type CliIO, exitCodeFor, helpText, main, parseCli } from '../ts/cli';
import { DggError, fromNative, rethrowNative } from '../ts/errors';
import { FLAGS, optionDefault, parseArgsOptions, placeholder } from '../ts/flags';
import { fitOptionsSchema } from '../ts/options';
import { formatProgress, ProgressBar, type ProgressEvent } from '../ts/progress';

function usageError(argv: string[]): string {
  try {
    parseCli(argv);
  } catch (e) {
    expect(e).toBeInstanceOf(DggError);
    expect((e as DggError).code).toBe('INVALID_OPTION');
    const msg = (e as DggError).message;
    expect(msg).not.toContain('\n');
    return msg;
  }
  throw new Error(`parseCli accepted ${argv.join(' ')}`);
}

describe('parseCli: help and version', () => {
  it.each([[[]], [['--help']], [['-h']], [['help']]])('should ask for the top-level help for %j', (argv) => {
    expect(parseCli(argv)).toEqual({ kind: 'help' });
  });

  it('should ask for a subcommand help, even next to other flags', () => {
    expect(parseCli(['fit', '--help'])).toEqual({ kind: 'help', topic: 'fit' });
    expect(parseCli(['predict', '--bogus', '-h'])).toEqual({ kind: 'help', topic: 'predict' });
    expect(parseCli(['help', 'evaluate'])).toEqual({ kind: 'help', topic: 'evaluate' });
    expect(parseCli(['info', '--help'])).toEqual({ kind: 'help', topic: 'info' });
  });

  it('should parse --version', () => {
    expect(parseCli(['--version'])).toEqual({ kind: 'version' });
    expect(parseCli(['-v'])).toEqual({ kind: 'version' });
  });

  it('should have help text for every subcommand', () => {
    for (const topic of ['fit', 'predict', 'evaluate', 'info', 'inspect'] as const) expect(helpText(topic)).toMatch(/^Usage: dgg-native /);
  });
});

describe('parseCli: fit', () => {
  it('should default to the bundled digits', () => {
    expect(parseCli(['fit'])).toEqual({ kind: 'fit', options: {}, header: 'auto', json: false, quiet: false });
  });

  it('should parse every flag', () => {
    const cmd = parseCli([
      'fit', 'data.csv', '--k', '5', '--labels', 'y.txt', '--no-header', '--out', 'out.csv', '--embedding', 'z.npy',
      '--proba', 'p.csv', '--model', 'm.dgg', '--device', 'cpu', '--graph', 'euclidean', '--epochs', '30', '--seed', '7',
      '--config', 'c.json', '--checkpoint', 'ck', '--json', '--quiet',
    ]);
    expect(cmd).toEqual({
      kind: 'fit',
      input: 'data.csv',
      options: { nClusters: 5, device: 'cpu', graph: 'euclidean', epochs: { dgg: 30 }, seed: 7 },
      labels: 'y.txt',
      header: false,
      out: 'out.csv',
      embedding: 'z.npy',
      proba: 'p.csv',
      model: 'm.dgg',
      config: 'c.json',
      checkpoint: 'ck',
      json: true,
      quiet: true,
    });
  });

  it('should parse --keep-best true|false', () => {
    expect(parseCli(['fit', '--keep-best', 'false'])).toEqual({ kind: 'fit', options: { keepBest: false }, header: 'auto', json: false, quiet: false });
    expect(parseCli(['fit', '--keep-best=true'])).toMatchObject({ options: { keepBest: true } });
  });

  it('should accept short and = forms', () => {
    expect(parseCli(['fit', 'd.csv', '-k', '3', '-o', 'o.csv', '-q', '--seed=0'])).toMatchObject({
      options: { nClusters: 3, seed: 0 },
      out: 'o.csv',
      quiet: true,
    });
  });

  it.each([
    ['3', 3],
    ['--label-column=-1', -1],
    ['last', 'last'],
    ['species', 'species'],
  ] as const)('should parse --label-column %s', (value, expected) => {
    const argv = value.startsWith('--') ? ['fit', 'd.csv', value] : ['fit', 'd.csv', '--label-column', value];
    expect(parseCli(argv)).toMatchObject({ labelColumn: expected });
  });

  it.each([
    [['--k', '1'], "--k: must be an integer in 2..100000, got 1"],
    [['--k', 'ten'], "--k: must be an integer, got 'ten'"],
    [['--k', '2.5'], "--k: must be an integer, got '2.5'"],
    [['--device', 'gpu'], "--device: must be one of 'auto', 'cpu', 'cuda', got 'gpu'"],
    [['--graph', 'knn'], "--graph: must be one of 'siamese', 'euclidean', 'latent', 'auto', 'none', got 'knn'"],
    [['--epochs=-1'], '--epochs: must be an integer in 0..100000, got -1'],
    [['--seed', '4294967296'], '--seed: must be an integer in 0..4294967295, got 4294967296'],
    [['--keep-best', 'yes'], "--keep-best: must be true or false, got 'yes'"],
  ])('should reject bad values %j', (flags, message) => {
    expect(usageError(['fit', 'd.csv', ...flags])).toBe(message);
  });

  it('should reject an unknown flag in one line, with a suggestion', () => {
    expect(usageError(['fit', '--kk', '3'])).toBe("fit: unknown option '--kk' (did you mean '--k'?); see 'dgg-native fit --help'");
    expect(usageError(['fit', '-x'])).toMatch(/^fit: unknown option '-x'/);
  });

  it('should reject a flag without its value, or a value on a switch', () => {
    expect(usageError(['fit', 'd.csv', '--k'])).toBe("fit: option '--k' needs a value");
    expect(usageError(['fit', '--json=yes'])).toBe("fit: option '--json' does not take a value");
  });

  it('should reject a second input and flags that need an input', () => {
    expect(usageError(['fit', 'a.csv', 'b.csv'])).toMatch(/unexpected argument 'b\.csv'/);
    expect(usageError(['fit', '--label-column', 'last'])).toMatch(/need an INPUT file/);
    expect(usageError(['fit', 'a.csv', '--labels', 'y.txt', '--label-column', '0'])).toMatch(/either --labels or --label-column/);
  });
});

describe('flag table', () => {
  const subcommands = ['fit', 'predict', 'evaluate', 'info', 'inspect'] as const;
  const oneLine = (s: string) => s.replace(/\s+/g, ' ');

  it.each(subcommands)('should give every %s flag a parser option and a help line, and no others', (cmd) => {
    const options = parseArgsOptions(cmd);
    const help = helpText(cmd);
    for (const f of FLAGS[cmd]) {
      expect(options[f.name], f.name).toEqual({ type: f.kind === 'switch' ? 'boolean' : 'string', ...(f.short ? { short: f.short } : {}) });
      const value = placeholder(f);
      expect(help).toContain(`\n  ${f.short ? `-${f.short}, ` : '    '}--${f.name}${value ? ` ${value}` : ''}`);
      expect(oneLine(help)).toContain(f.help);
    }
    expect(Object.keys(options)).toHaveLength(FLAGS[cmd].length);
    const helpFlags = [...help.matchAll(/^ {2}(?:-\w, | {4})--([\w-]+)/gm)].map((m) => m[1]);
    expect(helpFlags).toEqual(FLAGS[cmd].map((f) => f.name));
  });

  it('should set only options that exist, and show their defaults', () => {
    for (const cmd of subcommands) {
      for (const f of FLAGS[cmd]) {
        if (f.option === undefined) continue;
        const def = optionDefault(f.option);
        if (f.option === 'nClusters') {
          expect(def).toBeUndefined(); // the one required option
        } else if (f.option === 'threads') {
          expect(def).toBeUndefined(); // the machine's cores: no constant default
          expect(oneLine(helpText(cmd))).toContain('(default: every core available)');
        } else {
          expect(def, `${f.name}: option '${f.option}' is not in DEFAULTS`).toBeDefined();
          expect(oneLine(helpText(cmd))).toContain(`(default ${String(def)}`);
        }
        expect(Object.keys(fitOptionsSchema.shape)).toContain(f.option.split('.')[0]);
      }
    }
    expect(optionDefault('epochs.nope')).toBeUndefined();
    expect(optionDefault('nope')).toBeUndefined();
    expect(optionDefault('toString')).toBeUndefined();
  });

  it('should accept every value that the help shows for an enum or boolean flag', () => {
    for (const f of FLAGS.fit.filter((r) => r.kind === 'enum' || r.kind === 'boolean')) {
      for (const value of placeholder(f).split('|')) {
        expect(parseCli(['fit', `--${f.name}`, value])).toMatchObject({ options: { [f.option!]: f.kind === 'boolean' ? value === 'true' : value } });
      }
    }
  });

  it('should keep the help in aligned columns', () => {
    const help = helpText('fit');
    expect(help).toContain('\nOptions:\n  -k, --k N                  number of clusters');
    expect(help).toContain('\n      --device auto|cpu|cuda compute device (default auto)\n');
    expect(help).toContain(
      '\n      --graph siamese|euclidean|latent|auto|none\n' +
        '                             neighbour graph (default auto: latent from 20,000 rows,\n' +
        '                             euclidean below)\n',
    );
    expect(help.endsWith('  -h, --help                 show this help\n')).toBe(true);
  });
});

describe('parseCli: predict, evaluate, info', () => {
  it('should parse predict', () => {
    expect(parseCli(['predict', '--model', 'm.dgg', 'x.npy', '--out', 'y.csv', '--proba', 'p.npy', '--json'])).toEqual({
      kind: 'predict',
      model: 'm.dgg',
      input: 'x.npy',
      header: 'auto',
      out: 'y.csv',
      proba: 'p.npy',
      json: true,
    });
    expect(parseCli(['predict', 'x.csv', '--model', 'm', '--label-column', 'last', '--no-header'])).toMatchObject({
      labelColumn: 'last',
      header: false,
    });
  });

  it('should require the model and the input of predict', () => {
    expect(usageError(['predict', 'x.csv'])).toMatch(/--model FILE is required/);
    expect(usageError(['predict', '--model', 'm'])).toMatch(/INPUT data file is required/);
  });

  it('should parse evaluate and require both files', () => {
    expect(parseCli(['evaluate', '--pred', 'p.csv', '--truth', 't.csv'])).toEqual({ kind: 'evaluate', pred: 'p.csv', truth: 't.csv', json: false });
    expect(usageError(['evaluate', '--pred', 'p.csv'])).toMatch(/--truth FILE is required/);
    expect(usageError(['evaluate', '--truth', 't.csv'])).toMatch(/--pred FILE is required/);
    expect(usageError(['evaluate', '--pred', 'p', '--truth', 't', 'extra'])).toMatch(/unexpected argument 'extra'/);
  });

  it('should parse info', () => {
    expect(parseCli(['info'])).toEqual({ kind: 'info', json: false });
    expect(parseCli(['info', '--json'])).toEqual({ kind: 'info', json: true });
    expect(usageError(['info', '--verbose'])).toMatch(/^info: unknown option '--verbose'/);
  });

  it("should parse '-' for stdin and stdout, --format, --chunk-rows and inspect", () => {
    expect(parseCli(['fit', '-', '--k', '3', '--out', '-', '--format', 'csv'])).toMatchObject({ kind: 'fit', input: '-', out: '-', format: 'csv' });
    expect(parseCli(['predict', '--model', 'm.dgg', '-', '--format', 'npy', '--chunk-rows', '1000'])).toMatchObject({
      kind: 'predict',
      input: '-',
      format: 'npy',
      chunkRows: 1000,
    });
    expect(usageError(['predict', '--model', 'm', 'x', '--format', 'xml'])).toMatch(/--format: must be one of csv, npy, idx, json, got 'xml'/);
    expect(usageError(['predict', '--model', 'm', 'x', '--chunk-rows', '0'])).toMatch(/--chunk-rows: must be an integer >= 1/);
    expect(usageError(['fit', '-', '--k', '3', '--out', '-', '--json'])).toMatch(/--out - and --json both write to stdout/);
    expect(parseCli(['inspect', '--model', 'm.dgg'])).toEqual({ kind: 'inspect', model: 'm.dgg', json: false });
    expect(parseCli(['inspect', '--model', 'm.dgg', '--json'])).toEqual({ kind: 'inspect', model: 'm.dgg', json: true });
    expect(usageError(['inspect'])).toMatch(/--model FILE is required/);
    expect(parseCli(['fit', 'x.csv', '--k', '3', '--threads', '2']).kind === 'fit' && parseCli(['fit', 'x.csv', '--k', '3', '--threads', '2'])).toMatchObject({
      options: { nClusters: 3, threads: 2 },
    });
  });

  it('should reject an unknown command or top-level flag', () => {
    expect(usageError(['fitt'])).toMatch(/^unknown command 'fitt' \(did you mean 'fit'\?\)/);
    expect(usageError(['--bogus'])).toMatch(/^unknown option '--bogus'/);
  });
});

describe('main', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgg-cli-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function fakeIO(env: Record<string, string> = {}) {
    const out = { stdout: '', stderr: '' };
    const io: CliIO = {
      stdout: { write: (s: string) => (out.stdout += s) },
      stderr: { write: (s: string) => (out.stderr += s) },
      env,
    };
    return { io, out };
  }

  it('should print help and the version with exit code 0', async () => {
    const a = fakeIO();
    expect(await main(['--help'], a.io)).toBe(0);
    expect(a.out.stdout).toMatch(/^dgg-native: deep clustering/);
    const b = fakeIO();
    expect(await main(['--version'], b.io)).toBe(0);
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8'));
    expect(b.out.stdout).toBe(`dgg-native ${pkg.version}\n`);
  });

  it('should print a usage error as one line and exit with 2', async () => {
    const { io, out } = fakeIO();
    expect(await main(['fit', '--bogus'], io)).toBe(2);
    expect(out.stderr).toBe("dgg-native: error [INVALID_OPTION]: fit: unknown option '--bogus'; see 'dgg-native fit --help'\n");
    expect(out.stdout).toBe('');
  });

  it('should show the stack only with DGG_DEBUG=1', async () => {
    const { io, out } = fakeIO({ DGG_DEBUG: '1' });
    expect(await main(['fit', '--k', 'x'], io)).toBe(2);
    expect(out.stderr.split('\n').length).toBeGreaterThan(3);
    expect(out.stderr).toMatch(/at /);
  });

  it('should require --k with an input file', async () => {
    const { io, out } = fakeIO();
    expect(await main(['fit', path.join(dir, 'x.csv')], io)).toBe(2);
    expect(out.stderr).toMatch(/--k N \(the number of clusters\) is required/);
  });

  it('should name the config file when it holds a bad option', async () => {
    const config = path.join(dir, 'c.json');
    fs.writeFileSync(config, JSON.stringify({ nClusters: 3, latentDims: 5 }));
    const { io, out } = fakeIO();
    expect(await main(['fit', 'x.csv', '--config', config], io)).toBe(2);
    expect(out.stderr).toContain(`config '${config}': unknown option 'latentDims' (did you mean 'latentDim'?)`);
  });

  it('should report a missing file as IO_ERROR with exit code 1', async () => {
    const { io, out } = fakeIO();
    const missing = path.join(dir, 'pred.csv');
    expect(await main(['evaluate', '--pred', missing, '--truth', missing], io)).toBe(1);
    expect(out.stderr).toMatch(/^dgg-native: error \[IO_ERROR\]: cannot read '.*pred\.csv'/);
  });

  it.skipIf(process.platform === 'win32')('should refuse a device or FIFO output target before reading data, suggesting - for stdout', async () => {
    // /dev/null is only stat'ed: the check comes before the extension check and before any write.
    const fifo = path.join(dir, 'pipe.csv');
    execFileSync('mkfifo', [fifo]);
    const cases: [string[], string, string][] = [
      [['fit', '--out', '/dev/null'], '--out', "a device, not a regular file; use '--out -' to write the labels to stdout"],
      [['fit', '--out', fifo], '--out', "a FIFO, not a regular file; use '--out -' to write the labels to stdout"],
      [['fit', '--model', '/dev/null'], '--model', 'a device, not a regular file; give --model a file path'],
      [['fit', '--model', fifo], '--model', 'a FIFO, not a regular file; give --model a file path'],
      [['fit', '--proba', fifo], '--proba', 'a FIFO'],
      [['fit', '--embedding', '/dev/null'], '--embedding', 'a device'],
      [['fit', '--report', fifo], '--report', 'a FIFO'],
      [['predict', '--model', path.join(dir, 'absent.dgg'), 'x.csv', '--out', '/dev/null'], '--out', "a device, not a regular file; use '--out -'"],
      [['predict', '--model', path.join(dir, 'absent.dgg'), 'x.csv', '--proba', fifo], '--proba', 'a FIFO'],
    ];
    for (const [argv, flag, what] of cases) {
      const { io, out } = fakeIO();
      expect(await main(argv, io), argv.join(' ')).toBe(1);
      const target = argv[argv.indexOf(flag) + 1];
      expect(out.stderr).toMatch(/^dgg-native: error \[IO_ERROR\]: /);
      expect(out.stderr).toContain(`${flag}: cannot write '${target}': it exists and is ${what}`);
      expect(out.stderr).not.toMatch(/extension/);
      expect(out.stdout).toBe('');
    }
    expect(fs.statSync(fifo).isFIFO()).toBe(true);
    expect(fs.readdirSync(dir)).toEqual(['pipe.csv']);
  });

  it('should report labels of different lengths before loading the library', async () => {
    const p = path.join(dir, 'p.csv');
    const t = path.join(dir, 't.csv');
    fs.writeFileSync(p, '0\n1\n');
    fs.writeFileSync(t, '0\n1\n1\n');
    const { io, out } = fakeIO();
    expect(await main(['evaluate', '--pred', p, '--truth', t], io)).toBe(1);
    expect(out.stderr).toMatch(/\[DIMENSION_MISMATCH\]: --pred '.*' has 2 labels but --truth '.*' has 3/);
  });
});

describe('error mapping', () => {
  it('should turn a native "CODE: message" error into a DggError', () => {
    const e = fromNative(new Error('DIMENSION_MISMATCH: data has 63 columns, the model expects 64'));
    expect(e).toBeInstanceOf(DggError);
    expect(e.code).toBe('DIMENSION_MISMATCH');
    expect(e.message).toBe('data has 63 columns, the model expects 64');
  });

  it('should map unknown codes, plain errors and non-Error values to INTERNAL', () => {
    expect(fromNative(new Error('WEIRD: x'))).toMatchObject({ code: 'INTERNAL', message: 'WEIRD: x' });
    expect(fromNative(new Error('boom'))).toMatchObject({ code: 'INTERNAL', message: 'boom' });
    expect(fromNative('NON_FINITE: loss is NaN')).toMatchObject({ code: 'NON_FINITE', message: 'loss is NaN' });
    expect(fromNative(42).code).toBe('INTERNAL');
  });

  it('should rethrow rejections as DggError', async () => {
    await expect(rethrowNative(Promise.reject(new Error('CANCELLED: stopped')))).rejects.toMatchObject({ code: 'CANCELLED' });
    await expect(rethrowNative(Promise.resolve(3))).resolves.toBe(3);
  });

  it('should give exit code 2 for invalid input, 130 for cancel and 1 otherwise', () => {
    expect(exitCodeFor(new DggError('INVALID_DATA', ''))).toBe(2);
    expect(exitCodeFor(new DggError('INVALID_OPTION', ''))).toBe(2);
    expect(exitCodeFor(new DggError('CANCELLED', ''))).toBe(130);
    expect(exitCodeFor(new DggError('IO_ERROR', ''))).toBe(1);
  });
});

describe('progress output', () => {
  const event: ProgressEvent = {
    phase: 'dgg',
    epoch: 3,
    epochs: 100,
    batch: 7,
    batches: 8,
    losses: { loss: 123.456789, kl: 0.000123456 },
    elapsedSeconds: 12,
    etaSeconds: 95.4,
  };

  it('should format one line with 4 significant digits and the ETA', () => {
    expect(formatProgress(event)).toBe('dgg epoch 3/100 batch 7/8 loss=123.5 kl=0.0001235 eta 1m35s');
    expect(formatProgress({ ...event, batches: 0, etaSeconds: null, losses: {} })).toBe('dgg epoch 3/100');
  });

  it('should redraw one line in place and end it with a newline', () => {
    let text = '';
    const bar = new ProgressBar({ write: (s: string) => (text += s), columns: 200 }, { minIntervalMs: 0 });
    bar.update(event);
    bar.update({ ...event, batch: 8 });
    bar.update({ ...event, phase: 'next', epoch: 1 });
    bar.finish();
    expect(text.startsWith('\r[')).toBe(true);
    expect(text.split('\n')).toHaveLength(3); // one line per phase, then the final newline
    expect(text.endsWith('\n')).toBe(true);
  });
});
