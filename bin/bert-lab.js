#!/usr/bin/env node
// The `bert-lab` command. In the installed package it runs the compiled CLI (dist/esm/app/cli.js,
// built by `npm run build` / `npm pack`), so no TypeScript tooling is needed at run time. In a
// checkout (src/ present) it runs the TypeScript sources through tsx, a dev dependency, so that an
// edit takes effect without a build and a stale dist/ is never what runs.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const source = fileURLToPath(new URL('../src/app/cli.ts', import.meta.url));
const compiled = new URL('../dist/esm/app/cli.js', import.meta.url);

async function tsx() {
  try {
    return await import('tsx/esm/api');
  } catch {
    return undefined;
  }
}

const api = existsSync(source) ? await tsx() : undefined;
if (api) {
  api.register();
  await import(source);
} else if (existsSync(fileURLToPath(compiled))) {
  await import(compiled.href);
} else {
  console.error(
    `bert-lab: ${fileURLToPath(compiled)} is missing: run npm run build${existsSync(source) ? ' (or npm install, for tsx)' : ''}`,
  );
  process.exitCode = 1;
}
