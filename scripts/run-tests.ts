// The test tiers. `npm test`: every test/*.test.ts but the slow ones, minutes on a 2-core machine
// (units, parity with PyTorch, short end-to-end runs). `npm run test:all`: those and the slow tier,
// test/*.slow.test.ts (fault injection with kill -9, the package installed from its tarball,
// notebooks in a live kernel). Files run one at a time: tests time training and share the cores.
//
//   node --import tsx scripts/run-tests.ts [--all | --slow] [test/x.test.ts ...]
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const named = args.filter((a) => !a.startsWith('--'));
const slow = (f: string) => f.endsWith('.slow.test.ts');
const all = readdirSync(path.join(root, 'test'))
  .filter((f) => f.endsWith('.test.ts'))
  .sort()
  .map((f) => path.join('test', f));
const files = named.length
  ? named
  : all.filter((f) => (args.includes('--all') ? true : args.includes('--slow') ? slow(f) : !slow(f)));
console.log(
  `[tests] ${files.length} files${named.length ? '' : args.includes('--all') ? ' (all tiers)' : args.includes('--slow') ? ' (slow tier)' : ' (fast tier; npm run test:all adds the slow one)'}`,
);
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
