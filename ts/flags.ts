/**
 * The command-line flags of `dgg-native`, one row each. From {@link FLAGS} come the parser's
 * configuration ({@link parseArgsOptions}), the options part of each help text
 * ({@link flagHelp}) and the options a command line sets ({@link optionsFromFlags}), so a new
 * option gets a flag by adding one row.
 *
 * Option rows take their allowed values and the default shown in the help from the schema and
 * {@link DEFAULTS} in `options.ts`, and their checks (and error messages) from {@link checkOption}.
 *
 * @packageDocumentation
 */
import { z } from 'zod';
import type { Subcommand } from './cli';
import { DggError } from './errors';
import { checkOption, DEFAULTS, type FitOptions, fitOptionsSchema } from './options';

/**
 * How a flag's value is read:
 * - `switch`: takes no value (`--json`);
 * - `path`: a file or folder;
 * - `string`: other text, kept as given;
 * - `int`: an integer option;
 * - `enum`: one of the option's values in the schema (`--device cpu`);
 * - `boolean`: a true/false option, written `true` or `false`.
 */
export type FlagKind = 'switch' | 'path' | 'string' | 'int' | 'enum' | 'boolean';

type OptionKey = keyof typeof fitOptionsSchema.shape;
type Nested<K extends 'epochs' | 'learningRates'> = `${K}.${keyof NonNullable<FitOptions[K]> & string}`;

/** An option a flag sets: a {@link FitOptions} key, or `epochs.dgg`-style for a nested one. */
export type OptionPath = OptionKey | Nested<'epochs'> | Nested<'learningRates'>;

/** One command-line flag. */
export interface Flag {
  /** The long name, without the dashes. */
  name: string;
  /** A one-letter alias. */
  short?: string;
  /** How the value is read. */
  kind: FlagKind;
  /** The value's name in the help; by default `N` for `int`, `FILE` for `path`, the values for `enum`/`boolean`. */
  value?: string;
  /** What the flag does; an option's default is appended as `(default …)`. */
  help: string;
  /** Said after the default in the help: `(default auto: NOTE)`. */
  defaultNote?: string;
  /** The option the flag sets. */
  option?: OptionPath;
}

// Rows that several subcommands share.
const INPUT_FLAGS: Flag[] = [
  { name: 'labels', kind: 'path', help: 'true labels, one per line (for ACC/NMI/ARI)' },
  { name: 'label-column', kind: 'string', value: 'COL', help: "label column in INPUT: 0-based index, name, or 'last'" },
  { name: 'no-header', kind: 'switch', help: 'INPUT has no header row (default: detected)' },
];
const FORMAT_FLAG: Flag = {
  name: 'format',
  kind: 'string',
  value: 'csv|npy|idx|json',
  help: "INPUT's format, when its name does not say it ('-' reads stdin, as CSV unless it starts with .npy or IDX magic)",
};
const JSON_FLAG: Flag = { name: 'json', kind: 'switch', help: 'print one JSON object on stdout' };
const HELP_FLAG: Flag = { name: 'help', short: 'h', kind: 'switch', help: 'show this help' };

/** The flags of each subcommand, in the order of its help. */
export const FLAGS: Record<Subcommand, readonly Flag[]> = {
  fit: [
    { name: 'k', short: 'k', kind: 'int', option: 'nClusters', help: 'number of clusters (required with INPUT unless --config sets it)' },
    ...INPUT_FLAGS,
    FORMAT_FLAG,
    { name: 'out', short: 'o', kind: 'path', help: "write cluster labels (.csv, .txt, .json, .npy; '-': stdout, one per line)" },
    { name: 'embedding', kind: 'path', help: 'write the latent embedding (.csv, .tsv, .json, .npy)' },
    { name: 'proba', kind: 'path', help: 'write cluster probabilities' },
    { name: 'model', kind: 'path', help: 'save the fitted model' },
    { name: 'report', kind: 'path', help: 'write an HTML report: latent map, clusters, training curves, timings; with labels the confusion matrix and scores' },
    { name: 'image-shape', kind: 'string', value: 'HxW', help: "the report shows rows as HxW images ('none': no images; default: square when the feature count is a square)" },
    { name: 'device', kind: 'enum', option: 'device', help: 'compute device' },
    { name: 'graph', kind: 'enum', option: 'graph', help: 'neighbour graph', defaultNote: 'latent from 20,000 rows, euclidean below' },
    { name: 'epochs', kind: 'int', option: 'epochs.dgg', help: 'epochs of the main DGG phase' },
    { name: 'keep-best', kind: 'boolean', option: 'keepBest', help: 'end the DGG phase at its best epoch by graph modularity, not its last' },
    { name: 'seed', kind: 'int', option: 'seed', help: 'random seed' },
    { name: 'threads', kind: 'int', option: 'threads', help: 'CPU threads that train (default: every core available)' },
    { name: 'config', kind: 'path', help: 'JSON file of options (flags override it)' },
    { name: 'checkpoint', kind: 'path', value: 'DIR', help: 'save each training stage in DIR; rerunning the same command resumes after the last saved stage' },
    JSON_FLAG,
    { name: 'quiet', short: 'q', kind: 'switch', help: 'no progress output' },
    HELP_FLAG,
  ],
  predict: [
    { name: 'model', kind: 'path', help: 'the saved model (required)' },
    { name: 'out', short: 'o', kind: 'path', help: "write labels (.csv, .txt, .json, .npy; '-' or none: stdout, one per line)" },
    { name: 'proba', kind: 'path', help: 'write cluster probabilities' },
    ...INPUT_FLAGS,
    FORMAT_FLAG,
    { name: 'chunk-rows', kind: 'int', help: 'rows read and predicted at a time; memory holds about one chunk (default 65536)' },
    JSON_FLAG,
    HELP_FLAG,
  ],
  inspect: [
    { name: 'model', kind: 'path', help: 'the saved model (required)' },
    { name: 'json', kind: 'switch', help: 'print what the model holds as JSON' },
    HELP_FLAG,
  ],
  evaluate: [
    { name: 'pred', kind: 'path', help: 'predicted labels (required)' },
    { name: 'truth', kind: 'path', help: 'true labels (required)' },
    JSON_FLAG,
    HELP_FLAG,
  ],
  info: [{ name: 'json', kind: 'switch', help: 'print the information as JSON' }, HELP_FLAG],
};

// ---------------------------------------------------------------------------------------------
// What the rows say about their options

/** The value at `path` in {@link DEFAULTS}; `undefined` for an option without a default (`nClusters`). */
export function optionDefault(path: string): unknown {
  let cur: unknown = DEFAULTS;
  for (const p of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, p)) return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

/** The values the schema allows for an enum option. */
function enumValues(path: OptionPath): readonly string[] {
  let s: unknown = fitOptionsSchema.shape[path as OptionKey];
  if (s instanceof z.ZodDefault) s = s.unwrap();
  if (!(s instanceof z.ZodEnum)) throw new Error(`flag table: option '${path}' is not an enum`);
  return s.options as string[];
}

/** The value's name in the help (`N`, `FILE`, `auto|cpu|cuda`); empty for a switch. */
export function placeholder(f: Flag): string {
  if (f.value !== undefined) return f.value;
  switch (f.kind) {
    case 'switch':
      return '';
    case 'int':
      return 'N';
    case 'path':
      return 'FILE';
    case 'string':
      return 'VALUE';
    case 'boolean':
      return 'true|false';
    case 'enum':
      return enumValues(f.option!).join('|');
  }
}

// ---------------------------------------------------------------------------------------------
// Parser configuration and help

/** A node:util parseArgs option. */
export type OptionSpec = { type: 'string' | 'boolean'; short?: string };

/** The node:util parseArgs options of a subcommand. */
export function parseArgsOptions(cmd: Subcommand): Record<string, OptionSpec> {
  return Object.fromEntries(
    FLAGS[cmd].map((f): [string, OptionSpec] => [f.name, { type: f.kind === 'switch' ? 'boolean' : 'string', ...(f.short ? { short: f.short } : {}) }]),
  );
}

// The help's columns: flags from column 2 (a short alias first), the text from column 29, in
// lines of at most 93 characters; a flag too long for its column puts the text on the next line.
const TEXT_COLUMN = 29;
const HELP_WIDTH = 93;

/** A flag's help lines, with a newline after each. */
function helpLines(f: Flag): string {
  const value = placeholder(f);
  const left = `  ${f.short ? `-${f.short}, ` : '    '}--${f.name}${value ? ` ${value}` : ''}`;
  const def = f.option ? optionDefault(f.option) : undefined;
  const text = def === undefined ? f.help : `${f.help} (default ${String(def)}${f.defaultNote ? `: ${f.defaultNote}` : ''})`;
  const lines: string[] = [];
  let line = left.padEnd(TEXT_COLUMN);
  if (left.length >= TEXT_COLUMN) {
    lines.push(left);
    line = ' '.repeat(TEXT_COLUMN);
  }
  for (const word of text.split(' ')) {
    if (line.length > TEXT_COLUMN && line.length + 1 + word.length > HELP_WIDTH) {
      lines.push(line);
      line = ' '.repeat(TEXT_COLUMN);
    }
    line += line.length > TEXT_COLUMN ? ` ${word}` : word;
  }
  lines.push(line);
  return lines.map((l) => `${l}\n`).join('');
}

/** The `Options:` lines of a subcommand's help. */
export function flagHelp(cmd: Subcommand): string {
  return FLAGS[cmd].map(helpLines).join('');
}

// ---------------------------------------------------------------------------------------------
// Parsed values to options

function invalid(flag: string, problem: string): DggError {
  return new DggError('INVALID_OPTION', `--${flag}: ${problem}`);
}

/** The value of an option flag, before the schema checks it. */
function flagValue(f: Flag, text: string): unknown {
  switch (f.kind) {
    case 'int':
      if (!/^[+-]?\d+$/.test(text.trim())) throw invalid(f.name, `must be an integer, got '${text}'`);
      return Number(text);
    case 'boolean':
      // Anything else goes on as text, for the schema to reject ("must be true or false").
      return text === 'true' ? true : text === 'false' ? false : text;
    default:
      return text;
  }
}

/**
 * The options that the option flags among parseArgs `values` set, each checked by the schema.
 *
 * @throws DggError `INVALID_OPTION` naming the flag, e.g. `--k: must be an integer >= 2, got 1`.
 */
export function optionsFromFlags(cmd: Subcommand, values: Record<string, string | boolean | undefined>): Partial<FitOptions> {
  const options: Record<string, unknown> = {};
  for (const f of FLAGS[cmd]) {
    const text = values[f.name];
    if (f.option === undefined || typeof text !== 'string') continue;
    const value = flagValue(f, text);
    const [key, sub] = f.option.split('.') as [OptionKey, string | undefined];
    // A nested option (`epochs.dgg`) is checked alone and merged with the others of its object.
    const problem = checkOption(key, sub === undefined ? value : { [sub]: value });
    if (problem) throw invalid(f.name, problem);
    options[key] = sub === undefined ? value : { ...(options[key] as object | undefined), [sub]: value };
  }
  return options as Partial<FitOptions>;
}
