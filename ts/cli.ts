#!/usr/bin/env node
/**
 * The `dgg-native` command: `fit`, `predict`, `evaluate` and `info`.
 *
 * {@link parseCli} turns arguments into a {@link Command} without side effects (for tests);
 * {@link main} runs one and returns the exit code. The library (and so the native addon) is
 * loaded only when a command needs it, so `--help` works even where the addon cannot load.
 *
 * @packageDocumentation
 */
import { promises as fsp, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { DggError, fromNative } from './errors';
import {
  bundledDigitsPath,
  checkWriteTarget,
  ChunkWriter,
  DATA_FORMATS,
  type DataFormat,
  type DataSource,
  readDataFile,
  readLabelsFile,
  writeLabels,
  writeMatrix,
} from './io';
import { FLAGS, flagHelp, optionsFromFlags, parseArgsOptions } from './flags';
import { type FitOptions, parseOptions, suggest } from './options';
import { formatProgress, ProgressBar, type ProgressEvent } from './progress';
import type { DGG as DGGClass, evaluate as evaluateFn, info as infoFn } from './index';

// ---------------------------------------------------------------------------------------------
// Commands

/** The subcommands. */
export type Subcommand = 'fit' | 'predict' | 'evaluate' | 'info' | 'inspect';

const SUBCOMMANDS: readonly Subcommand[] = ['fit', 'predict', 'evaluate', 'info', 'inspect'];

/** `--label-column` / `--no-header`: how to read an input file. */
export interface InputFlags {
  /** Label column: 0-based index (negative from the end), header name, or `'last'`. */
  labelColumn?: number | string;
  /** `false` with `--no-header`; otherwise detected. */
  header: boolean | 'auto';
}

/** `dgg-native fit [INPUT]`. */
export interface FitCommand extends InputFlags {
  kind: 'fit';
  /** The data file (`-`: stdin); `undefined` means the bundled digits (with their labels, k = 10). */
  input?: string;
  /** `--format`: the input's format, when its name does not say it. */
  format?: DataFormat;
  /** Options set by the option flags (`--k`, `--graph`, …: the rows of {@link FLAGS} with an option); they override `--config`. */
  options: Partial<FitOptions>;
  /** `--labels`: a file of true labels, for ACC/NMI/ARI. */
  labels?: string;
  /** `--out`: where to write the cluster labels. */
  out?: string;
  /** `--embedding`: where to write the latent means. */
  embedding?: string;
  /** `--proba`: where to write the cluster probabilities. */
  proba?: string;
  /** `--model`: where to save the fitted model. */
  model?: string;
  /** `--config`: a JSON file of {@link FitOptions}. */
  config?: string;
  /** `--checkpoint`: a folder for resumable training (see {@link FitCallOptions.checkpointDir}). */
  checkpoint?: string;
  /** `--report`: where to write the HTML report. */
  report?: string;
  /** `--image-shape HxW|none`: how the report shows rows as images. */
  imageShape?: [number, number] | 'none';
  /** `--json`: one JSON object on stdout. */
  json: boolean;
  /** `--quiet`: no progress output. */
  quiet: boolean;
}

/** `dgg-native predict --model FILE INPUT`. */
export interface PredictCommand extends InputFlags {
  kind: 'predict';
  /** The saved model. */
  model: string;
  /** The data file (`-`: stdin). */
  input: string;
  /** `--format`: the input's format, when its name does not say it. */
  format?: DataFormat;
  /** `--chunk-rows`: rows read and predicted at a time. */
  chunkRows?: number;
  /** `--labels`: a file of true labels, for ACC/NMI/ARI. */
  labels?: string;
  /** `--out`: where to write labels; without it they go to stdout, one per line. */
  out?: string;
  /** `--proba`: where to write the cluster probabilities. */
  proba?: string;
  /** `--json`: one JSON object on stdout. */
  json: boolean;
}

/** `dgg-native evaluate --pred FILE --truth FILE`. */
export interface EvaluateCommand {
  kind: 'evaluate';
  /** Predicted labels file. */
  pred: string;
  /** True labels file. */
  truth: string;
  /** `--json`: one JSON object on stdout. */
  json: boolean;
}

/** `dgg-native info`. */
export interface InfoCommand {
  kind: 'info';
  /** `--json`: the library's `info()` as JSON. */
  json: boolean;
}

/** `dgg-native inspect --model FILE`. */
export interface InspectCommand {
  kind: 'inspect';
  /** The saved model. */
  model: string;
  /** `--json`: one JSON object on stdout. */
  json: boolean;
}

/** `--help` (top level when `topic` is absent) or `--version`. */
export type MetaCommand = { kind: 'help'; topic?: Subcommand } | { kind: 'version' };

/** A parsed command line. */
export type Command = FitCommand | PredictCommand | EvaluateCommand | InfoCommand | InspectCommand | MetaCommand;

// ---------------------------------------------------------------------------------------------
// Help

// The top-level help, and the text above each subcommand's options (which come from FLAGS).
const HELP: Record<Subcommand | 'top', string> = {
  top: `dgg-native: deep clustering with DGG (Gaussian-mixture VAE with graph embedding)

Usage: dgg-native <command> [options]

Commands:
  fit [INPUT]            cluster a data file (default: the bundled 8x8 digits)
  predict --model FILE INPUT
                         assign clusters with a saved model
  evaluate --pred FILE --truth FILE
                         ACC, NMI and ARI of predicted labels
  info                   version, build features and devices
  inspect --model FILE   what a saved model holds: input dimension, K, options

Options:
  -h, --help             show help (also: dgg-native <command> --help)
  -v, --version          show the version

Data files: .csv/.tsv/.txt, .npy, .json, IDX (MNIST), each optionally .gz; '-' reads stdin.
Set DGG_DEBUG=1 to see stack traces.
`,
  fit: `Usage: dgg-native fit [INPUT] [options]

Clusters INPUT (default: the bundled digits, 1797 x 64, with labels, k = 10).
`,
  predict: `Usage: dgg-native predict --model FILE INPUT [options]

Assigns each row of INPUT to a cluster with a saved model. Without --out (or with --out -),
labels are printed one per line on stdout. INPUT is read and predicted in chunks (--chunk-rows), so
memory stays bounded whatever its size; '-' reads stdin.
`,
  evaluate: `Usage: dgg-native evaluate --pred FILE --truth FILE [--json]

Prints clustering accuracy (ACC, best one-to-one matching), normalised mutual information (NMI)
and adjusted Rand index (ARI) of predicted labels against true labels.
`,
  info: `Usage: dgg-native info [--json]

Prints the version, the build features and the compute devices found.
`,
  inspect: `Usage: dgg-native inspect --model FILE [--json]

Prints what a saved model holds: its input dimension, K, network shape, resolved likelihood and
scaling, parameter count, and the options it was trained with.
`,
};

/** The help text of a subcommand, or the top-level help. */
export function helpText(topic?: Subcommand): string {
  return topic ? `${HELP[topic]}\nOptions:\n${flagHelp(topic)}` : HELP.top;
}

// ---------------------------------------------------------------------------------------------
// Parsing

function usage(message: string): DggError {
  return new DggError('INVALID_OPTION', message);
}

/** Rewrites node:util parseArgs errors as one short line naming the flag. */
function argsError(e: unknown, cmd: Subcommand): DggError {
  const err = e as { code?: string; message?: string };
  const msg = err.message ?? String(e);
  const flag = /'(-[^' ,]+)(?:, (--[^' ]+))?[^']*'/.exec(msg);
  const name = flag ? (flag[2] ?? flag[1]) : undefined;
  const see = `see 'dgg-native ${cmd} --help'`;
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const hint = name ? suggest(name.replace(/^-+/, ''), FLAGS[cmd].map((f) => f.name)) : undefined;
      return usage(`${cmd}: unknown option '${name ?? msg}'${hint ? ` (did you mean '--${hint}'?)` : ''}; ${see}`);
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/argument missing/.test(msg)) return usage(`${cmd}: option '${name}' needs a value`);
      if (/does not take an argument/.test(msg)) return usage(`${cmd}: option '${name}' does not take a value`);
      if (/ambiguous/.test(msg)) return usage(`${cmd}: option '${name}' needs a value; for one starting with '-', write ${name}=VALUE`);
      return usage(`${cmd}: ${msg.split('. ')[0]}`);
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': {
      const arg = /'([^']*)'/.exec(msg)?.[1];
      return usage(`${cmd}: unexpected argument '${arg}'; ${see}`);
    }
    default:
      return usage(`${cmd}: ${msg}`);
  }
}

function labelColumnFlag(value: string | undefined): number | string | undefined {
  if (value === undefined) return undefined;
  if (/^-?\d+$/.test(value.trim())) return Number(value);
  if (value.trim() === '') throw usage(`--label-column: must be an index, a column name or 'last', got ''`);
  return value;
}

function inputFlags(v: Record<string, string | boolean | undefined>): InputFlags {
  return { labelColumn: labelColumnFlag(v['label-column'] as string | undefined), header: v['no-header'] ? false : 'auto' };
}

function str(v: string | boolean | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/**
 * Parses a command line (without the `node` and script arguments). Pure: reads no files.
 *
 * @throws DggError `INVALID_OPTION` with one line naming the bad flag or argument.
 *
 * @example
 * ```ts
 * parseCli(['fit', 'data.csv', '--k', '5']); // { kind: 'fit', input: 'data.csv', options: { nClusters: 5 }, … }
 * ```
 */
export function parseCli(argv: string[]): Command {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h') return { kind: 'help' };
  if (first === '--version' || first === '-v' || first === '-V') return { kind: 'version' };
  if (first === 'help') {
    const topic = rest[0];
    if (topic === undefined) return { kind: 'help' };
    if (!(SUBCOMMANDS as readonly string[]).includes(topic)) throw unknownCommand(topic);
    return { kind: 'help', topic: topic as Subcommand };
  }
  if (first.startsWith('-')) throw usage(`unknown option '${first}'; see 'dgg-native --help'`);
  if (!(SUBCOMMANDS as readonly string[]).includes(first)) throw unknownCommand(first);
  const cmd = first as Subcommand;
  // --help wins over everything else on the line (before a '--' separator).
  const end = rest.indexOf('--');
  if ((end < 0 ? rest : rest.slice(0, end)).some((a) => a === '--help' || a === '-h')) return { kind: 'help', topic: cmd };

  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: rest, options: parseArgsOptions(cmd), allowPositionals: true, strict: true });
  } catch (e) {
    throw argsError(e, cmd);
  }
  const { values: v, positionals } = parsed;
  if (v.help) return { kind: 'help', topic: cmd }; // in a group of short flags (`-qh`)
  const maxPositionals = cmd === 'fit' || cmd === 'predict' ? 1 : 0;
  if (positionals.length > maxPositionals) {
    throw usage(`${cmd}: unexpected argument '${positionals[maxPositionals]}'; see 'dgg-native ${cmd} --help'`);
  }

  switch (cmd) {
    case 'fit':
      return parseFit(v, positionals[0]);
    case 'predict': {
      const model = str(v.model);
      if (!model) throw usage(`predict: --model FILE is required`);
      const input = positionals[0];
      if (!input) throw usage(`predict: the INPUT data file is required`);
      if (v.labels !== undefined && v['label-column'] !== undefined) {
        throw usage(`predict: use either --labels or --label-column, not both`);
      }
      return omitUndefined({
        kind: 'predict' as const,
        model,
        input,
        ...inputFlags(v),
        labels: str(v.labels),
        out: str(v.out),
        proba: str(v.proba),
        format: formatFlag(cmd, v),
        chunkRows: chunkRowsFlag(v),
        json: v.json === true,
      });
    }
    case 'evaluate': {
      const pred = str(v.pred);
      const truth = str(v.truth);
      if (!pred) throw usage(`evaluate: --pred FILE is required`);
      if (!truth) throw usage(`evaluate: --truth FILE is required`);
      return { kind: 'evaluate', pred, truth, json: v.json === true };
    }
    case 'info':
      return { kind: 'info', json: v.json === true };
    case 'inspect': {
      const model = str(v.model);
      if (!model) throw usage(`inspect: --model FILE is required`);
      return { kind: 'inspect', model, json: v.json === true };
    }
  }
}

/** `--format`: one of the readers' formats; `--out -` and `--json` would both write stdout. */
function formatFlag(cmd: Subcommand, v: Record<string, string | boolean | undefined>): DataFormat | undefined {
  if (v.out === '-' && v.json === true) throw usage(`${cmd}: --out - and --json both write to stdout; choose one`);
  const f = str(v.format);
  if (f === undefined) return undefined;
  if (!(DATA_FORMATS as readonly string[]).includes(f)) throw usage(`--format: must be one of ${DATA_FORMATS.join(', ')}, got '${f}'`);
  return f as DataFormat;
}

function chunkRowsFlag(v: Record<string, string | boolean | undefined>): number | undefined {
  const t = str(v['chunk-rows']);
  if (t === undefined) return undefined;
  if (!/^\+?\d+$/.test(t.trim()) || Number(t) < 1) throw usage(`--chunk-rows: must be an integer >= 1, got '${t}'`);
  return Number(t);
}

function unknownCommand(name: string): DggError {
  const hint = suggest(name, SUBCOMMANDS);
  return usage(`unknown command '${name}'${hint ? ` (did you mean '${hint}'?)` : ''}; expected ${SUBCOMMANDS.join(', ')} (see 'dgg-native --help')`);
}

function parseFit(v: Record<string, string | boolean | undefined>, input: string | undefined): FitCommand {
  const options = optionsFromFlags('fit', v);
  const flags = inputFlags(v);
  if (input === undefined && (flags.labelColumn !== undefined || flags.header === false)) {
    throw usage(`fit: --label-column and --no-header need an INPUT file (the bundled digits need neither)`);
  }
  if (flags.labelColumn !== undefined && v.labels !== undefined) {
    throw usage(`fit: use either --labels or --label-column, not both`);
  }
  return omitUndefined({
    kind: 'fit' as const,
    input,
    options,
    ...flags,
    labels: str(v.labels),
    out: str(v.out),
    embedding: str(v.embedding),
    proba: str(v.proba),
    model: str(v.model),
    config: str(v.config),
    checkpoint: str(v.checkpoint),
    format: formatFlag('fit', v),
    report: str(v.report),
    imageShape: imageShapeFlag(v),
    json: v.json === true,
    quiet: v.quiet === true,
  });
}

/** `--image-shape HxW` (or `none`), which only `--report` reads. */
function imageShapeFlag(v: Record<string, string | boolean | undefined>): [number, number] | 'none' | undefined {
  const text = str(v['image-shape']);
  if (text === undefined) return undefined;
  if (v.report === undefined) throw usage(`fit: --image-shape is for the report: add --report FILE`);
  if (text === 'none') return 'none';
  const m = /^(\d+)x(\d+)$/i.exec(text.trim());
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) throw usage(`fit: --image-shape must be HxW (like 28x28) or 'none', got '${text}'`);
  return [Number(m[1]), Number(m[2])];
}

// Keeps parsed commands free of `key: undefined`, so tests can compare them with toEqual.
function omitUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

// ---------------------------------------------------------------------------------------------
// Running

/** Where {@link main} writes; defaults to the process streams. */
export interface CliIO {
  /** Results: summaries, JSON, labels. */
  stdout: { write(s: string): unknown; isTTY?: boolean; columns?: number };
  /** Progress and errors; a progress bar is drawn only when `isTTY`. */
  stderr: { write(s: string): unknown; isTTY?: boolean; columns?: number };
  /** Environment (`DGG_DEBUG=1` prints stack traces). */
  env: Record<string, string | undefined>;
  /** What INPUT `-` reads; default `process.stdin`. */
  stdin?: AsyncIterable<Uint8Array>;
}

interface Lib {
  DGG: typeof DGGClass;
  evaluate: typeof evaluateFn;
  info: typeof infoFn;
}

async function loadLib(): Promise<Lib> {
  // Loaded on demand: it pulls in the native addon, which --help and usage errors never need.
  const { DGG, evaluate, info } = await import('./index');
  return { DGG, evaluate, info };
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Exit status for an error: 2 for usage and invalid input, 130 for a cancelled run, else 1. */
export function exitCodeFor(e: DggError): number {
  if (e.code === 'INVALID_OPTION' || e.code === 'INVALID_DATA') return 2;
  if (e.code === 'CANCELLED') return 130;
  return 1;
}

/**
 * Runs a command line and returns the exit code (0 on success). Errors are printed as one line,
 * `dgg-native: error [CODE]: message`, with the stack only when `DGG_DEBUG=1`.
 */
export async function main(argv: string[], io: CliIO = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  try {
    const cmd = parseCli(argv);
    switch (cmd.kind) {
      case 'help':
        io.stdout.write(helpText(cmd.topic));
        return 0;
      case 'version':
        io.stdout.write(`dgg-native ${packageVersion()}\n`);
        return 0;
      case 'fit':
        return await runFit(cmd, io);
      case 'predict':
        return await runPredict(cmd, io);
      case 'evaluate':
        return await runEvaluate(cmd, io);
      case 'info':
        return await runInfo(cmd, io);
      case 'inspect':
        return await runInspect(cmd, io);
    }
  } catch (e) {
    const err = fromNative(e);
    io.stderr.write(`dgg-native: error [${err.code}]: ${err.message.replace(/\s*\n\s*/g, ' ')}\n`);
    if (io.env.DGG_DEBUG === '1') {
      for (let c: unknown = err; c instanceof Error; c = c.cause) io.stderr.write(`${c.stack ?? c.message}\n`);
    }
    return exitCodeFor(err);
  }
}

async function readConfig(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DggError('IO_ERROR', `cannot read config '${file}': ${code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`, { cause: e });
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw usage(`config '${file}': invalid JSON: ${(e as Error).message}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw usage(`config '${file}': must be a JSON object of options`);
  return v as Record<string, unknown>;
}

/** Flags over config; `epochs` objects are merged key by key so `--epochs` keeps the config's others. */
function mergeOptions(config: Record<string, unknown>, flags: Partial<FitOptions>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config, ...flags };
  const ce = config.epochs;
  if (flags.epochs && ce && typeof ce === 'object' && !Array.isArray(ce)) out.epochs = { ...ce, ...flags.epochs };
  return out;
}

/** Progress output: a bar on a TTY, else one line per finished epoch; nothing when `show` is false. */
function progressReporter(stream: CliIO['stderr'], mode: 'bar' | 'lines' | 'none') {
  if (mode === 'none') return { onProgress: undefined, finish: () => undefined };
  if (mode === 'bar') {
    const bar = new ProgressBar(stream);
    return { onProgress: (e: ProgressEvent) => bar.update(e), finish: () => bar.finish() };
  }
  return {
    onProgress: (e: ProgressEvent) => {
      if (e.batches === 0 || e.batch >= e.batches) stream.write(`${formatProgress(e)}\n`);
    },
    finish: () => undefined,
  };
}

/** Aborts `controller` on the first Ctrl-C; a second one exits at once. Returns the remover. */
function onInterrupt(controller: AbortController, stderr: CliIO['stderr']): () => void {
  const handler = () => {
    if (controller.signal.aborted) process.exit(130);
    stderr.write('\ndgg-native: interrupted, stopping (Ctrl-C again to quit at once)\n');
    controller.abort();
  };
  process.on('SIGINT', handler);
  return () => process.off('SIGINT', handler);
}

function fmtMetric(v: number): string {
  return v.toFixed(4);
}

function metricsLine(m: { acc: number; nmi: number; ari: number }): string {
  return `ACC ${fmtMetric(m.acc)}  NMI ${fmtMetric(m.nmi)}  ARI ${fmtMetric(m.ari)}`;
}

function checkTruth(truth: Int32Array | undefined, rows: number, what: string): void {
  if (truth && truth.length !== rows) {
    throw new DggError('DIMENSION_MISMATCH', `${what} has ${truth.length} labels but the data has ${rows} rows`);
  }
}

/**
 * Refuses, before any data is read or any model trained, an output flag whose target exists and is
 * not a regular file (`--out /dev/null`, a FIFO): the writers put a new file in place by rename, so
 * nothing would ever reach the device or the FIFO's reader. Checked before the extension, so the
 * message says what is wrong with the target rather than with its name. `stdout` flags take `-`.
 */
async function checkOutputs(targets: [flag: string, file: string | undefined, what: string | undefined][]): Promise<void> {
  for (const [flag, file, what] of targets) {
    if (file === undefined || (file === '-' && what !== undefined)) continue;
    const hint = what === undefined ? `; give ${flag} a file path` : `; use '${flag} -' to write ${what} to stdout`;
    try {
      await checkWriteTarget(file, hint);
    } catch (e) {
      throw e instanceof DggError ? e.withPrefix(`${flag}: `) : e;
    }
  }
}

async function runFit(cmd: FitCommand, io: CliIO): Promise<number> {
  const config = cmd.config ? await readConfig(cmd.config) : {};
  const digits = cmd.input === undefined;
  const input = cmd.input ?? bundledDigitsPath();
  const merged = mergeOptions(config, cmd.options);
  if (merged.nClusters === undefined) {
    if (!digits) throw usage(`fit: --k N (the number of clusters) is required with an INPUT file, unless --config sets nClusters`);
    merged.nClusters = 10;
  }
  try {
    parseOptions(merged); // fail on a bad config before reading any data
  } catch (e) {
    throw cmd.config && e instanceof DggError ? e.withPrefix(`config '${cmd.config}': `) : e;
  }
  await checkOutputs([
    ['--out', cmd.out, 'the labels'],
    ['--embedding', cmd.embedding, undefined],
    ['--proba', cmd.proba, undefined],
    ['--model', cmd.model, undefined],
    ['--report', cmd.report, undefined],
  ]);

  const file = await readDataFile(
    inputSource(input, io),
    digits ? { labelColumn: 'last', header: false } : { labelColumn: cmd.labelColumn, header: cmd.header, format: cmd.format },
  );
  const truth = cmd.labels ? await readLabelsFile(cmd.labels) : file.labels;
  checkTruth(truth, file.matrix.rows, cmd.labels ? `--labels '${cmd.labels}'` : 'the label column');

  const lib = await loadLib();
  const model = new lib.DGG(merged as FitOptions);
  const tty = io.stderr.isTTY === true;
  const mode = cmd.json ? (tty && !cmd.quiet ? 'bar' : 'none') : cmd.quiet ? 'none' : tty ? 'bar' : 'lines';
  const progress = progressReporter(io.stderr, mode);
  const controller = new AbortController();
  const removeInterrupt = onInterrupt(controller, io.stderr);
  const t0 = performance.now();
  let result: Awaited<ReturnType<DGGClass['fit']>>;
  try {
    result = await model.fit(file.matrix, { onProgress: progress.onProgress, signal: controller.signal, checkpointDir: cmd.checkpoint });
  } catch (e) {
    if (controller.signal.aborted) throw new DggError('CANCELLED', 'fit interrupted', { cause: e });
    throw e;
  } finally {
    progress.finish();
    removeInterrupt();
  }
  const seconds = (performance.now() - t0) / 1000;
  const metrics = truth ? lib.evaluate(result.labels, truth) : null;

  const written: Record<string, string> = {};
  if (cmd.out === '-') await writeText(io.stdout, labelLines(result.labels));
  else if (cmd.out) await writeLabels((written.out = cmd.out), result.labels);
  if (cmd.embedding) await writeMatrix((written.embedding = cmd.embedding), result.embedding);
  if (cmd.proba) await writeMatrix((written.proba = cmd.proba), result.probabilities);
  if (cmd.model) await model.save((written.model = cmd.model));
  if (cmd.report) {
    const { writeReport } = await import('./report');
    await writeReport((written.report = cmd.report), result, {
      truth,
      data: file.matrix,
      imageShape: cmd.imageShape ?? 'auto',
      title: `dgg-native fit ${digits ? 'digits' : path.basename(input)}`,
      source: digits ? 'the bundled 8x8 digits (UCI optdigits)' : input,
      fitOptions: model.options,
    });
  }

  const { rows: n, cols: d } = file.matrix;
  const k = model.options.nClusters;
  if (cmd.json) {
    const out = {
      input: digits ? 'digits' : input,
      n, d, k,
      acc: metrics?.acc ?? null,
      nmi: metrics?.nmi ?? null,
      ari: metrics?.ari ?? null,
      seconds: round(seconds, 3),
      device: result.device,
      phases: Object.fromEntries(Object.entries(result.timings).map(([p, s]) => [p, round(s, 3)])),
      warnings: result.warnings,
      ...written,
    };
    io.stdout.write(`${JSON.stringify(out)}\n`);
    return 0;
  }
  const lines = [
    `fit ${digits ? 'digits' : input}: ${n} x ${d}, k = ${k}, device ${result.device}, ${seconds.toFixed(1)} s`,
  ];
  const phases = Object.entries(result.timings);
  if (phases.length > 0) lines.push(`  phases: ${phases.map(([p, s]) => `${p} ${s.toFixed(1)} s`).join(', ')}`);
  if (metrics) lines.push(metricsLine(metrics));
  for (const w of result.warnings) lines.push(`  note: ${w}`);
  for (const [what, p] of Object.entries(written)) lines.push(`wrote ${what === 'out' ? 'labels' : what}: ${p}`);
  // With --out -, stdout holds the labels alone.
  (cmd.out === '-' ? io.stderr : io.stdout).write(`${lines.join('\n')}\n`);
  return 0;
}

/** INPUT as the readers take it: `-` is stdin. */
function inputSource(input: string, io: CliIO): DataSource {
  return input === '-' ? (io.stdin ?? process.stdin) : input;
}

/** Labels as text, one per line. */
function labelLines(labels: Int32Array): string {
  let text = '';
  for (const l of labels) text += `${l}\n`;
  return text;
}

/** Writes `text` in pieces of 64 KiB, waiting for the stream to drain when it asks to. */
async function writeText(stream: CliIO['stdout'], text: string): Promise<void> {
  const s = stream as CliIO['stdout'] & { once?: (event: 'drain', f: () => void) => unknown; writableNeedDrain?: boolean };
  for (let i = 0; i < text.length; i += 1 << 16) {
    const ok = s.write(text.slice(i, i + (1 << 16)));
    if (ok === false && typeof s.once === 'function') await new Promise<void>((resolve) => s.once!('drain', resolve));
  }
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

async function runPredict(cmd: PredictCommand, io: CliIO): Promise<number> {
  await checkOutputs([
    ['--out', cmd.out, 'the labels'],
    ['--proba', cmd.proba, undefined],
  ]);
  const truthFile = cmd.labels ? await readLabelsFile(cmd.labels) : undefined;
  const lib = await loadLib();
  const t0 = performance.now();
  const model = await lib.DGG.load(cmd.model);
  // Outputs are written as the chunks come: memory holds one chunk, whatever the input's size.
  const toStdout = cmd.out === undefined || cmd.out === '-';
  const writers: ChunkWriter[] = [];
  const open = async (file: string, kind: 'labels' | 'matrix') => {
    const w = await ChunkWriter.open(file, kind);
    writers.push(w);
    return w;
  };
  // Every label is kept (4 bytes a row) only when the scores or the JSON need them all.
  const scored = truthFile !== undefined || cmd.labelColumn !== undefined;
  const kept: Int32Array[] = [];
  const truthIds = new Map<string, number>();
  const truthKept: Int32Array[] = [];
  const counts: number[] = [];
  let n = 0;
  try {
    const out = toStdout ? undefined : await open(cmd.out!, 'labels');
    const proba = cmd.proba ? await open(cmd.proba, 'matrix') : undefined;
    const chunks = model.predictStream(inputSource(cmd.input, io), {
      labelColumn: cmd.labelColumn,
      header: cmd.header,
      format: cmd.format,
      chunkRows: cmd.chunkRows,
      proba: proba !== undefined,
    });
    for await (const c of chunks) {
      n += c.labels.length;
      for (const l of c.labels) counts[l] = (counts[l] ?? 0) + 1;
      if (scored || (cmd.json && toStdout)) kept.push(c.labels);
      // Label cells are numbered by first appearance: the scores do not depend on the names.
      if (c.truth) {
        truthKept.push(Int32Array.from(c.truth, (t) => truthIds.get(t) ?? (truthIds.set(t, truthIds.size), truthIds.size - 1)));
      }
      if (out) await out.write(c.labels);
      else if (!cmd.json) await writeText(io.stdout, labelLines(c.labels));
      if (proba && c.proba) await proba.write(c.proba);
    }
    for (const w of writers) await w.close();
  } catch (e) {
    for (const w of writers) await w.abort();
    throw e;
  }
  const seconds = (performance.now() - t0) / 1000;
  const labels = concat(kept);
  const truth = truthFile ?? (cmd.labelColumn !== undefined ? concat(truthKept) : undefined);
  checkTruth(truth, n, cmd.labels ? `--labels '${cmd.labels}'` : 'the label column');
  const metrics = truth ? lib.evaluate(labels, truth) : null;
  const written: Record<string, string> = {};
  if (!toStdout) written.out = cmd.out!;
  if (cmd.proba) written.proba = cmd.proba;
  const d = model.inputDim;
  const k = model.nClusters;
  if (cmd.json) {
    const out = {
      n, d, k,
      acc: metrics?.acc ?? null,
      nmi: metrics?.nmi ?? null,
      ari: metrics?.ari ?? null,
      seconds: round(seconds, 3),
      counts: Array.from({ length: k }, (_, c) => counts[c] ?? 0),
      ...written,
      ...(toStdout ? { labels: Array.from(labels) } : {}),
    };
    io.stdout.write(`${JSON.stringify(out)}\n`);
    return 0;
  }
  if (toStdout) {
    // The labels went to stdout, so that `predict … > labels.txt` works; anything else goes to stderr.
    if (metrics) io.stderr.write(`${metricsLine(metrics)}\n`);
    return 0;
  }
  const lines = [`predict ${cmd.input === '-' ? 'stdin' : cmd.input}: ${n} x ${d}, k = ${k}, ${seconds.toFixed(2)} s`];
  if (metrics) lines.push(metricsLine(metrics));
  for (const [what, p] of Object.entries(written)) lines.push(`wrote ${what === 'out' ? 'labels' : what}: ${p}`);
  io.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

function concat(parts: Int32Array[]): Int32Array {
  const out = new Int32Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function runInspect(cmd: InspectCommand, io: CliIO): Promise<number> {
  const lib = await loadLib();
  const model = await lib.DGG.load(cmd.model);
  const info = model.info;
  const { threads: _threads, ...options } = model.options;
  if (cmd.json) {
    io.stdout.write(`${JSON.stringify({ model: cmd.model, ...info, options })}\n`);
    return 0;
  }
  const net = [info.inputDim, ...info.hidden, info.latentDim].join('-');
  io.stdout.write(
    [
      `model ${cmd.model}: ${info.format} version ${info.formatVersion}`,
      `input dim: ${info.inputDim}`,
      `clusters (K): ${info.nClusters}`,
      `latent dim: ${info.latentDim}`,
      `encoder: ${net}; classifier: ${info.classifierHidden.length ? [info.latentDim, ...info.classifierHidden, info.nClusters].join('-') : `linear ${info.latentDim}-${info.nClusters}`}`,
      `likelihood: ${info.likelihood}; scaling: ${info.scale}`,
      `parameters: ${info.parameters.toLocaleString('en-US')}`,
      `options: ${JSON.stringify(options)}`,
    ].join('\n') + '\n',
  );
  return 0;
}

async function runEvaluate(cmd: EvaluateCommand, io: CliIO): Promise<number> {
  const [pred, truth] = await Promise.all([readLabelsFile(cmd.pred), readLabelsFile(cmd.truth)]);
  if (pred.length !== truth.length) {
    throw new DggError('DIMENSION_MISMATCH', `--pred '${cmd.pred}' has ${pred.length} labels but --truth '${cmd.truth}' has ${truth.length}`);
  }
  const lib = await loadLib();
  const m = lib.evaluate(pred, truth);
  if (cmd.json) io.stdout.write(`${JSON.stringify({ n: pred.length, acc: m.acc, nmi: m.nmi, ari: m.ari })}\n`);
  else io.stdout.write(`ACC ${fmtMetric(m.acc)}\nNMI ${fmtMetric(m.nmi)}\nARI ${fmtMetric(m.ari)}\n`);
  return 0;
}

async function runInfo(cmd: InfoCommand, io: CliIO): Promise<number> {
  const lib = await loadLib();
  const i = lib.info();
  if (cmd.json) {
    io.stdout.write(`${JSON.stringify(i)}\n`);
    return 0;
  }
  io.stdout.write(
    [
      `dgg-native ${i.version}`,
      `features: ${i.features.length ? i.features.join(', ') : '(none)'}`,
      `devices: ${i.devices.length ? i.devices.join(', ') : '(none)'}`,
      // The reason names the device first ("cpu (requested)", "cuda:0 (CUDA build, GPU found)").
      `default device: ${i.reason || i.device}`,
      `addon: ${i.addon}, from ${i.addonSource} (${i.addonPath}), platform ${i.platform}`,
    ].join('\n') + '\n',
  );
  return 0;
}

// Run when executed as the bin, not when imported (tests import parseCli and main).
if (typeof require !== 'undefined' && typeof module !== 'undefined' && require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    // Exit once stdout has drained: a pending native thread must not keep the process alive.
    process.stdout.write('', () => process.exit(code));
  });
}
