// Picks the fastest tfjs backend that actually loads here: tfjs-node-gpu (with a visible GPU) >
// tfjs-node > wasm > cpu. Native backends are optional dependencies, so each is probed at run time.
import * as tf from '@tensorflow/tfjs-core';
import './gradients.js'; // every op's gradient (tfjs-core registers none itself)
import { createRequire } from 'node:module';
import { enableNativeBlas, matmulPrecision, nativeThreadsProblem, parseBf16Env } from './accel.js';
import { installWasmKernels } from './wasm.js';
import { log as diagnostics, type LogFn } from '../io/log.js';

export interface BackendChoice {
  name: string;
  reason: string;
}

let chosen: BackendChoice | undefined;
let nativeNote: { enabled: boolean; reason: string } | undefined;

/** Imports an optional package; undefined when it loads, else the first line of why not. */
export async function tryImport(pkg: string): Promise<string | undefined> {
  try {
    await import(pkg);
    return undefined;
  } catch (e) {
    return (e as Error).message.split('\n')[0];
  }
}

async function useWasm(): Promise<string | undefined> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const require = createRequire(import.meta.url);
    const dir = require.resolve('@tensorflow/tfjs-backend-wasm/package.json').replace(/package\.json$/, 'dist/');
    wasm.setWasmPaths(dir);
    // The wasm module's glue adds process handlers that rethrow every uncaught exception and
    // unhandled rejection: in a notebook kernel, a hiccup of the kernel's own messaging then kills
    // the kernel. The handlers it adds are taken off again; errors of ours are thrown where they occur.
    const before = {
      uncaughtException: process.listeners('uncaughtException'),
      unhandledRejection: process.listeners('unhandledRejection'),
    };
    // Threads need SharedArrayBuffer workers, which tfjs cannot start in Node; SIMD is used when present.
    if (!(await tf.setBackend('wasm'))) return 'setBackend("wasm") returned false';
    await tf.ready();
    for (const l of process.listeners('uncaughtException'))
      if (!before.uncaughtException.includes(l)) process.off('uncaughtException', l);
    for (const l of process.listeners('unhandledRejection'))
      if (!before.unhandledRejection.includes(l)) process.off('unhandledRejection', l);
    installWasmKernels();
    // The optional OpenBLAS addon takes over the wasm matmul kernels where it is built.
    nativeNote = enableNativeBlas();
    return undefined;
  } catch (e) {
    return (e as Error).message.split('\n')[0];
  }
}

/**
 * Selects the backend once per process. Prints the choice and why, once.
 *
 * Args:
 *   preferred: gpu | node | wasm | cpu to force one (else env BERT_LAB_BACKEND, else the fastest that loads).
 *   log: where the choice is told (default: diagnostics on stderr).
 *
 * Example: `const { name, reason } = await initBackend();`
 */
export async function initBackend(preferred?: string, log: LogFn = diagnostics.info): Promise<BackendChoice> {
  if (chosen && !preferred) return chosen;
  // Validated like an option before any backend loads (issue 25, cases 11 and 19).
  const badThreads = nativeThreadsProblem();
  if (badThreads) throw new Error(badThreads);
  parseBf16Env();
  const want = (preferred ?? process.env.BERT_LAB_BACKEND ?? 'auto').toLowerCase();
  const notes: string[] = [];
  const attempt = async (name: string): Promise<boolean> => {
    if (name === 'gpu') {
      const err = await tryImport('@tensorflow/tfjs-node-gpu');
      if (err) {
        notes.push(`tfjs-node-gpu unavailable (${err})`);
        return false;
      }
      await tf.setBackend('tensorflow');
      await tf.ready();
      return true;
    }
    if (name === 'node') {
      const err = await tryImport('@tensorflow/tfjs-node');
      if (err) {
        notes.push(`tfjs-node unavailable (${err})`);
        return false;
      }
      await tf.setBackend('tensorflow');
      await tf.ready();
      return true;
    }
    if (name === 'wasm') {
      const err = await useWasm();
      if (err) {
        notes.push(`wasm unavailable (${err})`);
        return false;
      }
      return true;
    }
    if (name === 'cpu') {
      await tf.setBackend('cpu');
      await tf.ready();
      return true;
    }
    throw new Error(`Unknown backend "${name}": use gpu, node, wasm or cpu (flag --backend or env BERT_LAB_BACKEND)`);
  };
  const order = want === 'auto' ? ['gpu', 'node', 'wasm', 'cpu'] : [want];
  for (const name of order) {
    if (await attempt(name)) {
      const reason =
        want === 'auto'
          ? notes.length
            ? `fastest that loads; ${notes.join('; ')}`
            : 'fastest available'
          : `requested by ${preferred ? '--backend' : 'BERT_LAB_BACKEND'}`;
      chosen = { name: tf.getBackend(), reason };
      const matmul =
        chosen.name === 'wasm' && nativeNote
          ? `; matmul: ${nativeNote.enabled ? nativeNote.reason : `plain wasm (${nativeNote.reason})`}`
          : '';
      log(`[bert-lab] backend: ${chosen.name} (${reason})${matmul}`);
      // bf16 asked for (setMatmulPrecision or BERT_LAB_BF16) but not possible here: said once, as a warning.
      const precision = matmulPrecision();
      if (precision.requested !== precision.precision) diagnostics.warn(`[bert-lab] ${precision.reason}`);
      return chosen;
    }
  }
  throw new Error(`Backend "${want}" could not be loaded: ${notes.join('; ')}`);
}
