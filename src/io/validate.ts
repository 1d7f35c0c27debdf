// The helpers every reader of a user's file uses to say what is wrong: where (the file, by name and
// path), what was found (a value shown as JSON), and a throw of the reader's own error class.

/** `name (path)`: the file named the way every error message of the project names it. */
export function where(file: string): string {
  const base = file.split(/[\\/]/).pop() || file;
  return `${base} (${file})`;
}

/** A plain JSON object (not null, not an array). */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A value as it appears in JSON, for messages; `undefined` spelled out. */
export function show(v: unknown): string {
  return v === undefined ? 'undefined' : JSON.stringify(v);
}

/**
 * A function that throws `new ErrorClass("<where(file)>: <what>")`, so each reader keeps its own
 * error class and every message starts with the file.
 *
 * Example: `const fail = failWith(WeightsError); fail(file, 'truncated header')`
 */
export function failWith(ErrorClass: new (message: string) => Error): (file: string, what: string) => never {
  return (file, what) => {
    throw new ErrorClass(`${where(file)}: ${what}`);
  };
}
