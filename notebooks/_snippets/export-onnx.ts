// Cells for the end of notebooks/01-fine-tune-bert.ipynb, in jupytext's percent format: a markdown
// cell and two code cells. They use the notebook's `lab`, `config`, `prep`, `tokenizer`,
// `showTable` and `path`, and the library bundle's `exportOnnx` (src/app/export-onnx.ts).

// %% [markdown]
// ## From the notebook to a web page: export to ONNX
//
// JavaScript inference libraries (transformers.js, ONNX Runtime) load ONNX models, not safetensors.
// `exportOnnx` writes the best model as `onnx/model.onnx` (and `onnx/model_quantized.onnx`, int8
// weights, about a quarter of the size) with `config.json` and the tokenizer files, the folder
// layout transformers.js loads. The command line does the same:
// `npx bert-lab export --model runs/lab/best --out runs/lab/onnx --quantize`.

// %%
const onnxDir = path.join(config.out, 'onnx');
const exported = await lab.exportOnnx(path.join(config.out, 'best'), onnxDir, { quantize: true });
showTable(
  exported.files.map((f) => ({ file: f.file, MiB: +(f.bytes / 2 ** 20).toFixed(2) })),
  { index: false, caption: `Exported to ${exported.dir}` },
);

// %% [markdown]
// ONNX Runtime on the exported model gives the logits bert-lab computes (to about 1e-5), and the
// int8 model nearly always the same labels. Then `npm run demo` serves a page that classifies a
// tweet you type, in the browser, offline: open the address it prints.

// %%
const ort = await import('onnxruntime-node');
const n = Math.min(64, prep.val.inputIds.length);
const rows = {
  inputIds: prep.val.inputIds.slice(0, n),
  attentionMask: prep.val.attentionMask.slice(0, n),
  tokenTypeIds: prep.val.tokenTypeIds.slice(0, n),
};
const int64 = (m: number[][]) =>
  new ort.Tensor('int64', BigInt64Array.from(m.flat().map(BigInt)), [m.length, m[0].length]);
const feeds = {
  input_ids: int64(rows.inputIds),
  attention_mask: int64(rows.attentionMask),
  token_type_ids: int64(rows.tokenTypeIds),
};
const logitsOf = async (file: string) =>
  (await (await ort.InferenceSession.create(path.join(onnxDir, 'onnx', file))).run(feeds)).logits.data as Float32Array;
const best = await lab.BertForSequenceClassification.fromPretrained(path.join(config.out, 'best'), { log: () => {} });
const ref = tf.tidy(() => best.forward(lab.toInputs(rows, best.config)).logits.dataSync());
const [fp32, int8] = [await logitsOf('model.onnx'), await logitsOf('model_quantized.onnx')];
const k = best.numLabels;
const argmax = (x: ArrayLike<number>, i: number) => {
  let b = 0;
  for (let j = 1; j < k; j++) if (x[i * k + j] > x[i * k + b]) b = j;
  return b;
};
const same = Array.from({ length: n }, (_, i) => argmax(int8, i) === argmax(ref, i)).filter(Boolean).length;
console.log(
  `float32 ONNX vs bert-lab: largest logit difference ${Math.max(...Array.from(fp32, (v, i) => Math.abs(v - ref[i]))).toExponential(1)}`,
);
console.log(`int8 ONNX: same label as bert-lab on ${same} of ${n} validation tweets`);
best.dispose();
console.log(`Browser demo: npm run demo -- --model ${onnxDir}   (then open http://127.0.0.1:8080/)`);
