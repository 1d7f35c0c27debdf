// `npm install` / `npm ci` hook of a checkout (package.json's "dependencies" script, which npm runs
// for the project itself after node_modules changes, never for a package installed as a dependency,
// and not on `npm pack`): builds the optional native kernels (scripts/build-native.sh) where bash, a
// C++ compiler and OpenBLAS exist. Never fails the install: without them bert-lab runs on plain
// wasm (BERT_LAB_NATIVE_REQUIRE=1 makes a missing build an error, as CI wants).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { buildGradients } from './build-gradients.mjs';

// tfjs-core's gradients, bundled for Node (see scripts/build-gradients.mjs): needed, so a failure fails.
await buildGradients();

const script = fileURLToPath(new URL('./build-native.sh', import.meta.url));
const r = spawnSync('bash', [script], { stdio: 'inherit' });
if (r.error)
  console.error(
    `[build-native] skipped: bash not found (${r.error.message}); the wasm backend runs without the native kernels`,
  );
process.exit(process.env.BERT_LAB_NATIVE_REQUIRE === '1' ? (r.status ?? 1) : 0);
