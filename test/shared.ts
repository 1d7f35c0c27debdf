// Locates ../shared (read-only fixtures beside the checkout). Under CI its absence is a failure,
// elsewhere the tests that need it are skipped with a reason.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const sharedDir = process.env.BERT_LAB_SHARED ?? path.resolve(repoRoot, '../shared');
export const haveShared = existsSync(path.join(sharedDir, 'README.md'));

if (!haveShared && process.env.CI) {
  throw new Error(`../shared not found at ${sharedDir}: the parity fixtures and lab data are required under CI`);
}

/** Options for node:test that skip a test when ../shared is absent outside CI. */
export const needsShared = haveShared ? {} : { skip: `../shared not found at ${sharedDir}` };
export const shared = (...p: string[]): string => path.join(sharedDir, ...p);
