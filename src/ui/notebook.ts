// What a notebook needs beside the library's steps, kept out of the cells: training that the
// kernel's interrupt (the ■ button) stops cleanly at a step boundary, and the notebook's settings
// read from its `parameters` cell, so a cell run after a setting changed refuses instead of mixing
// old and new settings.
//
// In a tslab kernel every top-level variable of every cell lives in one scope object
// (`globalThis.__tslab__.exports`); `kernelValue` reads a variable's current value from there.

/** Set when the kernel's interrupt arrives; a job checks it once per optimizer step. */
export interface StopFlag {
  readonly requested: boolean;
  /** Throws `Interrupted` (with `where`) when a stop was requested; call it between steps. */
  check(where: string): void;
}

/**
 * A job stopped by the kernel's interrupt. Its printed form is one line, the message (no stack:
 * the interrupt is the user's request, not a bug), and the cell fails so Jupyter stops "Run All".
 */
export class Interrupted extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Interrupted';
    this.stack = `Interrupted: ${message}`;
  }
}

/**
 * Runs a long job so that the kernel's interrupt asks it to stop instead of abandoning it. tslab
 * answers SIGINT by failing the cell at once while its promise keeps running (a training loop went
 * on in the background, printing into later cells); while `job` runs, SIGINT only sets
 * `stop.requested`, the job ends at its next step boundary, and this throws `Interrupted` saying
 * where it stopped and what was kept. A second interrupt falls back to tslab's own.
 *
 * Args:
 *   kept: what stays after a stop (e.g. "the best epoch so far stays in runs/x/best").
 *   job: the loop; it calls `stop.check(where)` after every step (and yields to the event loop
 *     there, e.g. `await new Promise((r) => setImmediate(r))`, so that the signal can arrive).
 *
 * Example: `await interruptible('nothing is saved', async (stop) => { for (...) { step(); stop.check(`step ${i}`); } });`
 */
export async function interruptible<T>(kept: string, job: (stop: StopFlag) => Promise<T>): Promise<T> {
  // A cell's first synchronous part runs under vm's breakOnSigint, which takes SIGINT away from the
  // listeners and gives it back when that part ends; a listener added meanwhile is left without the
  // signal (the next interrupt then kills the kernel). So the swap waits for that part to end.
  await new Promise((r) => setImmediate(r));
  const theirs = process.listeners('SIGINT');
  let requested = false;
  const flag: StopFlag = {
    get requested() {
      return requested;
    },
    check(where: string) {
      if (requested) throw new Interrupted(`stopped at ${where}; ${kept}`);
    },
  };
  const onSignal = () => {
    if (!requested) {
      requested = true;
      return;
    }
    for (const l of theirs) (l as () => void)();
  };
  process.removeAllListeners('SIGINT');
  process.on('SIGINT', onSignal);
  try {
    const result = await job(flag);
    if (requested) throw new Interrupted(`stopped at the end; ${kept}`);
    return result;
  } catch (e) {
    // A library loop stopped through its shouldStop hook (TrainingStopped and the like).
    if (requested && !(e instanceof Interrupted)) throw new Interrupted(`${(e as Error).message}; ${kept}`);
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    for (const l of theirs) process.on('SIGINT', l as () => void);
  }
}

/** The tslab kernel's scope of top-level variables, or undefined outside a tslab kernel. */
function kernelScope(): Record<string, unknown> | undefined {
  const t = (globalThis as { __tslab__?: { exports?: Record<string, unknown> } }).__tslab__;
  return t?.exports;
}

/** True inside a tslab kernel. */
function inKernel(): boolean {
  return kernelScope() !== undefined;
}

/** The current value of the notebook's top-level variable `name` (undefined outside a kernel or when undeclared). */
function kernelValue(name: string): unknown {
  return kernelScope()?.[name];
}

/** Whether the notebook declared a top-level variable `name`. */
function kernelHas(name: string): boolean {
  const s = kernelScope();
  return s !== undefined && Object.prototype.hasOwnProperty.call(s, name);
}

/**
 * A setting changed after the cell that read it ran: later cells would mix the old and the new.
 * One line when printed, naming the setting and the cell to re-run from.
 */
export class StaleSettings extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StaleSettings';
    this.stack = `StaleSettings: ${message}`;
  }
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b) && typeof a === typeof b;

/**
 * The values of `names` read from the notebook's scope (its parameters cell, and any cell that
 * reassigned them since), checked again on every read: once one differs from when they were
 * taken, every read throws `StaleSettings` naming it and `cell`, the cell to re-run from.
 *
 * Example: `const p = takeSettings(['epochs', 'lr'], 'The settings of this run', { epochs: 4 }); p.get('epochs')`
 */
export function takeSettings<T extends Record<string, unknown>>(
  names: readonly (keyof T & string)[],
  cell: string,
  given: Partial<T> = {},
): { get<K extends keyof T & string>(name: K): T[K]; check(): void; values: T } {
  const values = Object.fromEntries(names.map((n) => [n, n in given ? given[n] : kernelValue(n)])) as T;
  const check = () => {
    if (!inKernel()) return;
    for (const n of names) {
      if (n in given || !kernelHas(n)) continue;
      const now = kernelValue(n);
      if (!same(now, values[n]))
        throw new StaleSettings(
          `the setting ${n} changed (${JSON.stringify(values[n]) ?? 'undefined'} when the cell "${cell}" ran, ` +
            `${JSON.stringify(now) ?? 'undefined'} now): re-run from the cell "${cell}" ` +
            '(select it, then Run > Run Selected Cell and All Below)',
        );
    }
  };
  return {
    values,
    check,
    get(name) {
      check();
      return values[name];
    },
  };
}
