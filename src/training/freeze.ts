// Freezing parameters, as PyTorch's `param.requires_grad = False`: a frozen parameter gets no
// gradient (the backward pass does not even reach the layers below the last trainable one), so the
// optimizer leaves it as it is. The usual use: freeze BERT's encoder and train only the classifier
// head on top of the [CLS] vector, to see how much fine-tuning the encoder itself adds.
import type { PreTrainedModel } from '../model/pretrained.js';

/**
 * Freezes the parameters whose names `which` accepts (tfjs's `Variable.trainable = false`), and makes
 * the model's `trainableVariables()` (what `backward`, `trainStep` and `fineTune` differentiate)
 * leave them out. Returns the names frozen. Weights loaded into the model afterwards come unfrozen.
 *
 * Example: `freeze(model, (name) => name.startsWith('bert.encoder.layer.0.'))`
 */
export function freeze(model: PreTrainedModel, which: (name: string) => boolean): string[] {
  const frozen: string[] = [];
  for (const [name, v] of model.p.vars)
    if (which(name)) {
      v.trainable = false;
      frozen.push(name);
    }
  if (frozen.length === 0) throw new Error('freeze: no parameter name matched; nothing was frozen');
  // The model's own method lists every variable; this instance lists the trainable ones only.
  model.trainableVariables = () => [...model.p.vars.values()].filter((v) => v.trainable);
  return frozen;
}

/**
 * Freezes the whole pre-trained BERT (embeddings, encoder layers, pooler: every `bert.*` parameter),
 * so only the task head learns. Returns how many weights are frozen and how many still train.
 *
 * Example: `const { trainable } = freezeEncoder(model); // 514 weights of the classifier head`
 */
export function freezeEncoder(model: PreTrainedModel): { frozen: number; trainable: number } {
  const names = new Set(freeze(model, (name) => name.startsWith('bert.')));
  let frozen = 0,
    trainable = 0;
  for (const [name, v] of model.p.vars) {
    if (names.has(name)) frozen += v.size;
    else trainable += v.size;
  }
  if (trainable === 0) throw new Error('freezeEncoder: the model has no head outside bert.*; nothing would train');
  return { frozen, trainable };
}

/** Makes every parameter trainable again. */
export function unfreeze(model: PreTrainedModel): void {
  for (const v of model.p.vars.values()) v.trainable = true;
}
