// What masking did to pre-training examples, read back from the examples themselves: per position
// (chosen for MLM? replaced by [MASK], a random token, or left unchanged?) and as rates over many
// examples, so the 15 % / 80-10-10 rule and the NSP balance can be checked on real data.
import { IGNORE_INDEX, type PretrainExample, type SpecialIds } from './pretrain-data.js';

/** What happened at one position: not a candidate (special or padding), not chosen, or chosen and how. */
export type MaskOutcome = 'special' | 'kept' | '[MASK]' | 'random' | 'unchanged';

/**
 * The outcome at each position of one example.
 *
 * A chosen position (label not -100) shows [MASK], another token (random), or its own token
 * (unchanged). A random draw that hits the original token looks unchanged, as it does to the model.
 *
 * Args:
 *   ex: an example from buildExamples / buildSingleSegmentExamples.
 *   special: the ids of [PAD], [CLS], [SEP] and [MASK].
 *
 * Example: `maskOutcomes(examples[0], specialIdsFor(tok.vocab))` -> ['special', 'kept', '[MASK]', ...]
 */
export function maskOutcomes(ex: PretrainExample, special: SpecialIds): MaskOutcome[] {
  if (ex.mlmLabels.length !== ex.inputIds.length) {
    throw new Error(`maskOutcomes: mlmLabels has ${ex.mlmLabels.length} positions but inputIds has ${ex.inputIds.length}`);
  }
  return ex.inputIds.map((id, i) => {
    const label = ex.mlmLabels[i];
    if (label === IGNORE_INDEX) {
      const isSpecial = ex.attentionMask[i] === 0 || id === special.cls || id === special.sep || id === special.pad;
      return isSpecial ? 'special' : 'kept';
    }
    if (id === special.mask && label !== special.mask) return '[MASK]';
    return id === label ? 'unchanged' : 'random';
  });
}

/** Rates measured over a set of examples. */
export interface MaskingStats {
  examples: number;
  /** Positions that could be chosen (not [CLS], [SEP] or padding). */
  candidates: number;
  chosen: number;
  /** chosen / candidates: 0.15 in BERT. */
  chosenRate: number;
  /** Shares of the chosen positions: 0.8, 0.1, 0.1 in BERT. */
  maskRate: number;
  randomRate: number;
  unchangedRate: number;
  /** Share of examples whose segment B is a random one (NSP label 1): 0.5 in BERT. */
  randomNextRate: number;
}

/**
 * Measures masking and NSP rates over examples.
 *
 * Example: `maskingStats(buildExamples(pairs, special, 128, rng(0)), special).chosenRate` ≈ 0.15
 */
export function maskingStats(examples: readonly PretrainExample[], special: SpecialIds): MaskingStats {
  const n = { special: 0, kept: 0, '[MASK]': 0, random: 0, unchanged: 0 };
  let randomNext = 0;
  for (const ex of examples) {
    for (const o of maskOutcomes(ex, special)) n[o]++;
    randomNext += ex.nspLabel;
  }
  const chosen = n['[MASK]'] + n.random + n.unchanged;
  const candidates = chosen + n.kept;
  const share = (k: number, of: number) => (of > 0 ? k / of : NaN);
  return {
    examples: examples.length,
    candidates,
    chosen,
    chosenRate: share(chosen, candidates),
    maskRate: share(n['[MASK]'], chosen),
    randomRate: share(n.random, chosen),
    unchangedRate: share(n.unchanged, chosen),
    randomNextRate: share(randomNext, examples.length),
  };
}
