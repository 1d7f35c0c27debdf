// Command-line parsing for `bert-lab`: each command declares its options once (type, default,
// help, Hugging Face alias), and from that one table come the parser, the per-command --help and
// the checks of every value, with errors that name the option and the fix.
import { parseArgs } from 'node:util';
import { CLEAN_MODES, type CleanMode } from '../text/clean.js';
import { PADDINGS, type Padding } from '../data/data.js';
import { TRAINING_SETTINGS, type TrainingInput } from '../training/settings.js';
import { METRICS, type Metric } from '../training/train.js';

/** A mistake in the command line: exit code 2, and the message names the option. */
export class UsageError extends Error {}

export interface OptionSpec {
  type: 'string' | 'boolean';
  /** Shown in --help as `--name VALUE`; absent: the option has no default (optional or required). */
  default?: string;
  /** One line of help. */
  help: string;
  /** Another name for the option (Hugging Face Trainer's), accepted as well. */
  alias?: string;
  short?: string;
}
export type Options = Record<string, OptionSpec>;

export interface Command {
  summary: string;
  /** Positional arguments, for the usage line (e.g. "ID"). */
  positionals?: string;
  options: Options;
  run: (v: Values, positionals: string[]) => Promise<void>;
}

/** Parsed values: strings and booleans by option name (aliases folded into their option). */
export type Values = Record<string, string | boolean | undefined>;

// Decimal only: Number() would also take '0x10', '0b1', '' and ' ', which are typos here, not numbers.
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** `--name` as a number in range, or a UsageError that names it. */
export function num(
  v: string | boolean | undefined,
  name: string,
  { int = false, min = -Infinity, below = Infinity } = {},
): number {
  const s = typeof v === 'string' ? v : undefined;
  const x = Number(s);
  if (
    s === undefined ||
    !DECIMAL.test(s.trim()) ||
    !Number.isFinite(x) ||
    (int && !Number.isInteger(x)) ||
    x < min ||
    x >= below
  ) {
    const range = [min > -Infinity ? `>= ${min}` : '', below < Infinity ? `< ${below}` : '']
      .filter(Boolean)
      .join(' and ');
    throw new UsageError(
      `--${name} must be ${int ? 'an integer' : 'a decimal number'}${range ? ` ${range}` : ''}, got "${v ?? ''}"`,
    );
  }
  return x;
}

/** An optional number: undefined when the option was not given. */
export function optNum(v: string | boolean | undefined, name: string, range: Parameters<typeof num>[2] = {}) {
  return v === undefined ? undefined : num(v, name, range);
}

/** A required string option. */
export function need(v: string | boolean | undefined, name: string): string {
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} is required`);
  return v;
}

/** An optional string option (a boolean never reaches a string option; undefined when absent). */
export function str(v: string | boolean | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function cleanMode(v: string | boolean | undefined): CleanMode | undefined {
  if (v === undefined) return undefined;
  if (!(CLEAN_MODES as readonly unknown[]).includes(v))
    throw new UsageError(`--clean must be one of ${CLEAN_MODES.join(', ')}, got "${v}"`);
  return v as CleanMode;
}

export function padding(v: string | boolean | undefined): Padding | undefined {
  if (v === undefined) return undefined;
  if (!(PADDINGS as readonly unknown[]).includes(v))
    throw new UsageError(`--padding must be one of ${PADDINGS.join(', ')}, got "${v}"`);
  return v as Padding;
}

/** The share of rows kept for validation: both sides of the split need rows. */
export function valSplit(v: string | boolean | undefined): number | undefined {
  if (v === undefined) return undefined;
  const x = num(v, 'val-split');
  if (!(x > 0 && x < 1))
    throw new UsageError(
      `--val-split is the share of rows kept for validation, between 0 and 1 (e.g. 0.2), got "${v}": at ${x} ` +
        `${x <= 0 ? 'no row is left to validate on' : 'no row is left to train on'}`,
    );
  return x;
}

/** The options of the fine-tuning settings, from the one list (TRAINING_SETTINGS); no defaults here: unset ones go to the recipe. */
export function trainingOptions(): Options {
  const out: Options = {};
  for (const [, s] of Object.entries(TRAINING_SETTINGS)) {
    const choices = 'choices' in s ? ` (${s.choices.join('|')})` : '';
    out[s.option] = {
      type: s.kind === 'flag' ? 'boolean' : 'string',
      help: `${s.help}${choices}`,
      ...('hf' in s ? { alias: s.hf } : {}),
    };
  }
  return out;
}

/** The fine-tuning settings given on the command line (the others are left to the recipe or the manual). */
export function trainingInput(v: Values): TrainingInput {
  const S = TRAINING_SETTINGS;
  const metric = (name: 'monitor' | 'metricForBestModel'): Metric | undefined => {
    const m = v[S[name].option];
    if (m !== undefined && !(METRICS as readonly unknown[]).includes(m))
      throw new UsageError(`--${S[name].option} must be one of ${METRICS.join(', ')}, got ${String(m)}`);
    return m as Metric | undefined;
  };
  const ratio = optNum(v[S.warmupRatio.option], S.warmupRatio.option, { min: 0 });
  if (ratio !== undefined && ratio > 1) throw new UsageError(`--warmup-ratio must be in [0, 1], got ${ratio}`);
  const input: TrainingInput = {
    epochs: optNum(v[S.epochs.option], S.epochs.option, { int: true, min: 1 }),
    lr: optNum(v[S.lr.option], S.lr.option, { min: 0 }),
    batchSize: optNum(v[S.batchSize.option], S.batchSize.option, { int: true, min: 1 }),
    accumulate: optNum(v[S.accumulate.option], S.accumulate.option, { int: true, min: 1 }),
    warmupSteps: optNum(v[S.warmupSteps.option], S.warmupSteps.option, { int: true, min: 0 }),
    warmupRatio: ratio,
    weightDecay: optNum(v[S.weightDecay.option], S.weightDecay.option, { min: 0 }),
    eps: optNum(v[S.eps.option], S.eps.option, { min: 0 }),
    clip: optNum(v[S.clip.option], S.clip.option, { min: 0 }),
    seed: optNum(v[S.seed.option], S.seed.option, { int: true }),
    padding: padding(v[S.padding.option]),
    groupByLength: v[S.groupByLength.option] === true ? true : undefined,
    patience: optNum(v[S.patience.option], S.patience.option, { int: true, min: 0 }),
    metricForBestModel: metric('metricForBestModel'),
    monitor: metric('monitor'),
  };
  if (input.warmupSteps !== undefined && input.warmupRatio !== undefined)
    throw new UsageError('give the warm-up as --warmup steps or as --warmup-ratio, not both');
  return input;
}

/**
 * `--lr -1` as `--lr=-1`: node's parser takes a value starting with '-' for an option and calls it
 * ambiguous; a negative number after a string option is that option's value (then range-checked).
 */
function joinNegativeValues(args: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const m = /^--([a-z-]+)$/.exec(args[i]);
    if (m && options[m[1]]?.type === 'string' && /^-\.?\d/.test(args[i + 1] ?? '')) {
      out.push(`${args[i]}=${args[i + 1]}`);
      i++;
    } else out.push(args[i]);
  }
  return out;
}

/**
 * Parses `args` against a command's options: unknown options, stray words, an empty `--x=` and an
 * option given under both its names are errors; defaults filled; aliases folded into their option.
 */
export function parse(args: string[], options: Options, positionals = 0): { values: Values; positionals: string[] } {
  const all: Options = { ...options };
  for (const o of Object.values(options)) if (o.alias) all[o.alias] = { ...o, alias: undefined, default: undefined };
  // Defaults are filled below, after aliases are folded: node's parser would fill both names.
  const config = Object.fromEntries(
    Object.entries(all).map(([name, o]) => [name, { type: o.type, ...(o.short ? { short: o.short } : {}) }]),
  );
  const r = parseArgs({ args: joinNegativeValues(args, all), options: config, allowPositionals: true, strict: true });
  if (r.positionals.length > positionals)
    throw new UsageError(
      `unexpected argument "${r.positionals[positionals]}"${positionals === 0 ? ' (this command takes options only; a value needs its --option)' : ''}`,
    );
  const values: Values = {};
  for (const [name, o] of Object.entries(options)) {
    const own = r.values[name];
    const other = o.alias ? r.values[o.alias] : undefined;
    if (own !== undefined && other !== undefined)
      throw new UsageError(`--${name} and --${o.alias} are the same option: give one`);
    const v = own ?? other;
    if (v === '') throw new UsageError(`--${name} needs a value (got an empty one)`);
    values[name] = v ?? (o.type === 'boolean' ? (o.default === 'true' ? true : false) : o.default);
  }
  return { values, positionals: r.positionals };
}

/** A command's --help: its usage line and every option with its default and help. */
export function commandHelp(name: string, c: Command): string {
  const rows = Object.entries(c.options).map(([opt, o]) => {
    const flag = `--${opt}${o.type === 'string' ? (o.default !== undefined ? ` ${o.default}` : ' VALUE') : ''}`;
    return `  ${flag.padEnd(34)} ${o.help}${o.alias ? ` (also --${o.alias})` : ''}`;
  });
  return [
    `bert-lab ${name}${c.positionals ? ` ${c.positionals}` : ''} [options]: ${c.summary}`,
    '',
    'Options:',
    ...rows,
  ].join('\n');
}
