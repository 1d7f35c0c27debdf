// Where the project's messages go. Two kinds: diagnostics (what was loaded, chosen, downloaded,
// skipped; warnings) go to stderr through `log`, filtered by level; results and a run's own report
// (the lab's epoch lines, tables, JSON) go to stdout through `report`, so `bert-lab ... > out.txt`
// keeps only results. Every function that prints takes a `log` option defaulting to one of these.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
/** One line of output. */
export type LogFn = (line: string) => void;

export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  /** The lowest level written; lower ones are dropped. */
  level: LogLevel;
}

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, silent: 4 };

/** A level named by a string (BERT_LAB_LOG), with what the valid names are when it is none. */
export function parseLogLevel(name: string, source = 'BERT_LAB_LOG'): LogLevel {
  const v = name.trim().toLowerCase();
  if (v in RANK) return v as LogLevel;
  throw new Error(`${source}: log level "${name}" is not one of ${Object.keys(RANK).join(', ')}`);
}

/**
 * A logger writing lines at `level` and above to `write` (default: stderr).
 *
 * Example: `const quiet = createLogger('warn'); quiet.info('dropped'); quiet.warn('written')`
 */
export function createLogger(level: LogLevel = 'info', write: LogFn = (s) => process.stderr.write(s + '\n')): Logger {
  const logger: Logger = {
    level,
    debug: (s) => {
      if (RANK[logger.level] <= RANK.debug) write(s);
    },
    info: (s) => {
      if (RANK[logger.level] <= RANK.info) write(s);
    },
    warn: (s) => {
      if (RANK[logger.level] <= RANK.warn) write(s);
    },
    error: (s) => {
      if (RANK[logger.level] <= RANK.error) write(s);
    },
  };
  return logger;
}

/**
 * The level BERT_LAB_LOG names, or 'info' when it is unset or empty. A value that names no level is
 * said once on stderr (the variable, its value, the allowed names) and 'info' is used: this module is
 * imported by every command and by the library in a notebook, so a throw here would be a crash at
 * import with a stack trace, and a log level only filters diagnostics, never changes a result.
 */
function levelFromEnv(
  value: string | undefined = process.env.BERT_LAB_LOG,
  warn: LogFn = (s) => process.stderr.write(s + '\n'),
): LogLevel {
  if (value === undefined || value.trim() === '') return 'info';
  try {
    return parseLogLevel(value);
  } catch (e) {
    warn(`[bert-lab] warning: ${(e as Error).message}; using info (set BERT_LAB_LOG to one of them, or unset it)`);
    return 'info';
  }
}

/** The process's diagnostics: stderr, level from BERT_LAB_LOG (default info). */
export const log: Logger = createLogger(levelFromEnv());

/** Results and a run's report, on stdout. */
export const report: LogFn = (s) => {
  process.stdout.write(s + '\n');
};
