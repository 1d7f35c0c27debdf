// The browser demo (examples/web/, served by scripts/demo.ts) in headless Chromium: it loads an
// exported fine-tuned model offline, classifies tweets typed into the page with the labels and
// probabilities bert-lab computes in Node, and shows the tokens bert-lab's tokenizer makes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { chromium, type Browser } from 'playwright-core';
import { initBackend } from '../src/backend/init.js';
import { toInputs } from '../src/model/inputs.js';
import { cleanText } from '../src/text/clean.js';
import { demoSite, serveDemo } from '../scripts/demo.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH as chromiumPath } from '../scripts/chromium.js';
import { haveShared, repoRoot } from './shared.js';
import { tweetsModel, type TweetsModel } from './tweets-model.js';

const skip = !haveShared
  ? '../shared not found'
  : !existsSync(chromiumPath) && !process.env.CI
    ? `${chromiumPath} not found (apt-get install chromium)`
    : undefined;

let work: string;
let browser: Browser | undefined;
before(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'bert-lab-demo-'));
});
after(async () => {
  await browser?.close();
  await rm(work, { recursive: true, force: true });
});

interface PageResult {
  text: string;
  cleaned: string;
  label: string;
  score: number;
  scores: { label: string; score: number }[];
  ids: number[];
  tokens: string[];
  dtype: string;
}

/** bert-lab's probabilities for a raw tweet, cleaned as the lab cleans. */
function nodeProbs(t: TweetsModel, raw: string): number[] {
  const enc = t.tok.encodeBatch([cleanText(raw, 'lab')], { truncation: true, maxLength: 512 });
  return tf.tidy(() => tf.softmax(t.model.forward(toInputs(enc, t.model.config)).logits).arraySync() as number[][])[0];
}

test(
  'demo page classifies typed tweets in Chromium as bert-lab does in Node',
  { skip, timeout: 300_000 },
  async (ctx) => {
    await initBackend(undefined, () => {});
    const t = await tweetsModel(work);
    // One disaster tweet and one harmless one from the validation split that the model labels
    // confidently and correctly, typed as they appear in the CSV (the page cleans them).
    const pick = (label: number) => {
      const i = t.raw.findIndex((raw, k) => t.labels[k] === label && nodeProbs(t, raw)[label] > 0.75);
      assert.ok(i >= 0, `no validation tweet of label ${label} that the model gets right with p > 0.75`);
      return t.raw[i];
    };
    const tweets = [pick(1), pick(0)];

    const { url, server } = await serveDemo(demoSite(t.dir), 0);
    try {
      browser = await chromium.launch({
        executablePath: chromiumPath,
        args: CHROMIUM_ARGS,
      });
      const page = await browser.newPage({ viewport: { width: 1000, height: 760 } });
      const outside: string[] = [];
      page.on('request', (r) => {
        if (!r.url().startsWith(url) && !/^(blob|data):/.test(r.url())) outside.push(r.url());
      });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(url);
      await page.waitForFunction(() => document.body.dataset.ready, null, { timeout: 120_000 });
      assert.equal(
        await page.evaluate(() => document.body.dataset.ready),
        'true',
        `page did not load the model: ${await page.textContent('#status')}`,
      );

      const classify = async (text: string, int8: boolean): Promise<PageResult> => {
        await page.fill('#text', text);
        await page.setChecked('#quantized', int8);
        await page.click('#classify');
        const handle = await page.waitForFunction(
          (want) => {
            const r = document.getElementById('result')?.dataset.result;
            const parsed = r ? (JSON.parse(r) as { text: string; dtype: string }) : undefined;
            return parsed && parsed.text === want.text && parsed.dtype === want.dtype ? r : undefined;
          },
          { text: text.trim(), dtype: int8 ? 'q8' : 'fp32' },
          { timeout: 120_000 },
        );
        return JSON.parse((await handle.jsonValue()) as string) as PageResult;
      };

      for (const [k, raw] of tweets.entries()) {
        const want = nodeProbs(t, raw);
        const best = want[0] >= want[1] ? 0 : 1;
        const r = await classify(raw, false);
        assert.equal(r.cleaned, cleanText(raw.trim(), 'lab'), 'the page cleans as the lab does');
        assert.deepEqual(r.ids, t.tok.encode(r.cleaned).ids, 'the page tokenizes as bert-lab does');
        assert.deepEqual(r.tokens, t.tok.convertIdsToTokens(r.ids), 'tokens shown');
        assert.equal(r.label, t.model.labels[best], `label of "${raw}"`);
        // Labels are the model's names of the classes (the lab's: "not a disaster", "disaster").
        const expected = t.model.labels[k === 0 ? 1 : 0];
        assert.equal(r.label, expected, `"${raw}" is labelled ${expected}`);
        for (const s of r.scores) {
          const p = want[t.model.labels.indexOf(s.label)];
          assert.ok(Math.abs(s.score - p) < 1e-4, `page p(${s.label}) = ${s.score}, bert-lab ${p}`);
        }
        const q = await classify(raw, true);
        assert.equal(q.label, r.label, 'the int8 model gives the same label');
        ctx.diagnostic(
          `"${raw}": label ${r.label}, page p ${r.score.toFixed(6)}, node p ${want[best].toFixed(6)}, int8 p ${q.score.toFixed(6)}`,
        );
      }
      await classify(tweets[0], false);
      const shots = path.join(repoRoot, 'artifacts/screenshots');
      mkdirSync(shots, { recursive: true });
      await page.screenshot({ path: path.join(shots, 'web-demo.png'), fullPage: true });
      assert.deepEqual(outside, [], 'the page requests nothing outside its host');
      assert.deepEqual(errors, [], 'no page errors');
    } finally {
      server.close();
    }
  },
);
