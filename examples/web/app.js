// The demo page: loads an exported bert-lab classifier with transformers.js (ONNX Runtime Web on
// WebAssembly, served from this folder: no CDN, no network beyond this host) and classifies the
// text typed in, showing every label's probability and the tokens the model saw.
//
// Layout of the folder (what `npm run demo` serves and `npm run demo -- --out DIR` writes):
//   index.html, app.js, style.css
//   lib/clean.js                     the lab's text cleaning (compiled from src/text/clean.ts)
//   vendor/transformers/transformers.js
//   vendor/ort/ort-wasm-simd-threaded.asyncify.{mjs,wasm}
//   models/classifier/               the folder `bert-lab export` wrote
import { env, pipeline } from './vendor/transformers/transformers.js';
import { cleanText } from './lib/clean.js';

const params = new URLSearchParams(location.search);
const MODEL = params.get('model') ?? 'classifier';

env.allowRemoteModels = false; // offline: only this host's models/ folder
env.allowLocalModels = true;
env.localModelPath = 'models/';
env.useBrowserCache = false; // a re-exported model shows up on reload
const here = (file) => new URL(file, location.href).href;
env.backends.onnx.wasm.wasmPaths = {
  mjs: here('vendor/ort/ort-wasm-simd-threaded.asyncify.mjs'),
  wasm: here('vendor/ort/ort-wasm-simd-threaded.asyncify.wasm'),
};
// Worker threads need a cross-origin-isolated page, which a plain static host does not give.
env.backends.onnx.wasm.numThreads = 1;

const $ = (id) => document.getElementById(id);
const status = (text, error = false) => {
  $('status').textContent = text;
  $('status').classList.toggle('error', error);
};

const classifiers = new Map();
function classifier(dtype) {
  if (!classifiers.has(dtype))
    classifiers.set(dtype, pipeline('text-classification', MODEL, { dtype, device: 'wasm' }));
  return classifiers.get(dtype);
}

/** Classifies `text` after cleaning it as the lab did in training; returns what the page shows. */
async function classify(text, mode, dtype) {
  const clf = await classifier(dtype);
  const cleaned = cleanText(text, mode);
  const scores = await clf(cleaned, { top_k: null }); // every label, best first
  const ids = clf.tokenizer.encode(cleaned);
  const tokens = clf.tokenizer.tokenize(cleaned, { add_special_tokens: true });
  return { text, cleaned, label: scores[0].label, score: scores[0].score, scores, ids, tokens, dtype };
}

function show(r) {
  $('label').textContent = r.label;
  $('score').textContent = `p = ${r.score.toFixed(4)}`;
  $('cleaned').textContent = r.cleaned || '(empty after cleaning)';
  $('bars').replaceChildren(
    ...r.scores.map((s) => {
      const row = document.createElement('div');
      row.className = 'bar';
      row.innerHTML =
        '<span class="name"></span><span class="track"><span class="fill"></span></span><span class="value"></span>';
      row.querySelector('.name').textContent = s.label;
      row.querySelector('.fill').style.width = `${(100 * s.score).toFixed(1)}%`;
      row.querySelector('.value').textContent = s.score.toFixed(4);
      return row;
    }),
  );
  $('tokens').replaceChildren(
    ...r.tokens.map((t) => {
      const span = document.createElement('span');
      span.className = `token${/^\[(CLS|SEP|PAD|MASK)\]$/.test(t) ? ' special' : t === '[UNK]' ? ' unk' : ''}`;
      span.textContent = t;
      return span;
    }),
  );
  const result = $('result');
  result.hidden = false;
  // For scripts driving the page (the browser test): the full result as JSON.
  result.dataset.result = JSON.stringify(r);
}

async function run() {
  const text = $('text').value.trim() || $('text').placeholder;
  $('classify').disabled = true;
  status('Classifying…');
  try {
    const t0 = performance.now();
    const r = await classify(text, $('clean').value, $('quantized').checked ? 'q8' : 'fp32');
    show(r);
    status(`${r.dtype === 'q8' ? 'int8' : 'float32'} model, ${(performance.now() - t0).toFixed(0)} ms`);
  } catch (e) {
    status(`Could not classify: ${e.message}`, true);
  } finally {
    $('classify').disabled = false;
  }
}

$('classify').addEventListener('click', run);
$('text').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) run();
});
try {
  const clf = await classifier('fp32');
  const labels = Object.values(clf.model.config.id2label ?? {});
  status(`Model "${MODEL}" loaded (labels: ${labels.join(', ')}). Type a tweet and press Classify.`);
  $('classify').disabled = false;
  document.body.dataset.ready = 'true';
} catch (e) {
  status(
    `Could not load models/${MODEL}/: ${e.message}. Export one with: bert-lab export --model runs/lab/best --out DIR, then npm run demo -- --model DIR`,
    true,
  );
  document.body.dataset.ready = 'error';
}
