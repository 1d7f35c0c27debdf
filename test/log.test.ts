// Messages (src/io/log.ts): diagnostics filtered by level to one stream, results to stdout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createLogger, parseLogLevel } from '../src/io/log.js';
import { repoRoot } from './shared.js';

test('a logger writes its level and above, and its level can change', () => {
  const lines: string[] = [];
  const l = createLogger('warn', (s) => lines.push(s));
  l.debug('d');
  l.info('i');
  l.warn('w');
  l.error('e');
  assert.deepEqual(lines, ['w', 'e']);
  l.level = 'debug';
  l.debug('d2');
  l.level = 'silent';
  l.error('e2');
  assert.deepEqual(lines, ['w', 'e', 'd2']);
  assert.equal(parseLogLevel(' INFO '), 'info');
  assert.throws(
    () => parseLogLevel('loud'),
    /BERT_LAB_LOG: log level "loud" is not one of debug, info, warn, error, silent/,
  );
});

test('diagnostics go to stderr and results to stdout; BERT_LAB_LOG=warn silences the diagnostics', () => {
  const code = "const { log, report } = await import('./src/io/log.ts'); log.info('diag'); report('result');";
  const run = (env: NodeJS.ProcessEnv) =>
    spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      cwd: repoRoot,
      encoding: 'utf8',
      env: { ...process.env, ...env },
    });
  const r = run({ BERT_LAB_LOG: 'info' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'result\n');
  assert.match(r.stderr, /^diag$/m);
  const q = run({ BERT_LAB_LOG: 'warn' });
  assert.equal(q.stdout, 'result\n');
  assert.doesNotMatch(q.stderr, /diag/);
});
