#!/usr/bin/env node
// Runs the TypeScript CLI through tsx so `npx bert-lab` works from a checkout without a build step.
import { register } from 'tsx/esm/api';
import { fileURLToPath } from 'node:url';
register();
await import(fileURLToPath(new URL('../src/app/cli.ts', import.meta.url)));
