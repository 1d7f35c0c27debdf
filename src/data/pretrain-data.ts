// BERT pre-training examples: sentence splitting, next-sentence-prediction pairs as Google's
// create_pretraining_data.py builds them, and masked-language-model masking with the semantics of
// Hugging Face's DataCollatorForLanguageModeling. All randomness comes from a caller-supplied
// `rand: () => number` in [0, 1) (e.g. `rng(seed)` from ./random.js) so runs are reproducible.

import type { Document } from './corpus.js';

export interface PretrainExample {
  inputIds: number[];
  tokenTypeIds: number[];
  attentionMask: number[];
  /** Original token id at predicted positions, -100 elsewhere (ignored by the loss). */
  mlmLabels: number[];
  /** 0 = B is the actual next segment (IsNext), 1 = B is a random segment (HF convention). */
  nspLabel: number;
}

export interface SpecialIds {
  pad: number;
  cls: number;
  sep: number;
  mask: number;
  vocabSize: number;
}

export interface NspPair {
  a: number[];
  b: number[];
  isRandomNext: boolean;
}

export const IGNORE_INDEX = -100;

// ---------------------------------------------------------------------------------------------
// Sentence splitting

// Words that end with a period but do not end a sentence: titles before names and a few
// Latin abbreviations. Case-sensitive. (Sentence-final "etc." or "Inc." are more common than
// mid-sentence ones, so those are not listed.)
const ABBREVIATIONS = new Set([
  'Mr', 'Mrs', 'Ms', 'Messrs', 'Mme', 'Mlle', 'Dr', 'Prof', 'Sr', 'Jr', 'St', 'Mt', 'Ft',
  'Gen', 'Col', 'Maj', 'Capt', 'Cpt', 'Lt', 'Sgt', 'Cmdr', 'Adm', 'Rev', 'Gov', 'Sen', 'Rep',
  'Hon', 'Pres', 'Supt', 'Insp', 'vs', 'cf', 'al', 'viz', 'approx',
]);

const SENTENCE_END = /[.!?]+["'”’)\]]*(?=\s+["'“‘(\[]*\p{Lu})/gu;

/**
 * Rule-based sentence splitter. Blank lines always end a sentence (paragraph breaks); inside a
 * paragraph, line breaks are spaces and a sentence ends at `.`, `!` or `?` (plus closing quotes or
 * brackets) followed by whitespace and a capital letter, possibly after an opening quote. A period
 * does not end a sentence after a listed abbreviation (Mr., Dr., vs., ...) or after single-letter
 * initials (J. Smith, U.S., e.g.).
 */
export function splitSentences(text: string): string[] {
  const out: string[] = [];
  for (const para of text.replace(/\r\n?/g, '\n').split(/\n[ \t]*\n/)) {
    const p = para.replace(/\s+/g, ' ').trim();
    if (p.length === 0) continue;
    let start = 0;
    for (const m of p.matchAll(SENTENCE_END)) {
      const at = m.index ?? 0;
      const end = at + m[0].length;
      if (m[0][0] === '.' && m[0].replace(/["'”’)\]]+$/, '') === '.') {
        const before = p.slice(start, at);
        const word = /([\p{L}.]+)$/u.exec(before)?.[1] ?? '';
        // Initials and dotted abbreviations: "J", "U.S", "e.g" (letters separated by periods).
        if (/^(?:\p{L}\.)*\p{L}$/u.test(word) || ABBREVIATIONS.has(word)) continue;
      }
      const s = p.slice(start, end).trim();
      if (s.length > 0) out.push(s);
      start = end;
    }
    const rest = p.slice(start).trim();
    if (rest.length > 0) out.push(rest);
  }
  return out;
}

/**
 * Documents -> sentences -> token ids, dropping sentences that encode to nothing and documents
 * without sentences. `encode` must not add [CLS]/[SEP] (e.g. `(t) => tok.convertTokensToIds(tok.tokenize(t))`).
 */
export function tokenizeDocuments(docs: readonly Document[], encode: (text: string) => number[]): number[][][] {
  const out: number[][][] = [];
  for (const d of docs) {
    const sentences = splitSentences(d.text)
      .map(encode)
      .filter((ids) => ids.length > 0);
    if (sentences.length > 0) out.push(sentences);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Next-sentence-prediction pairs

/** Python's random.randint(lo, hi): integer in [lo, hi], both inclusive. */
function randint(rand: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rand() * (hi - lo + 1));
}

/**
 * Pairs for NSP, following create_instances_from_document() of Google's create_pretraining_data.py:
 * for each document, sentences are accumulated into a chunk until it reaches the target length
 * (maxLen - 3, or with probability `shortSeqProb` (default 0.1) a random length in [2, maxLen - 3]);
 * A is the first 1..k-1 sentences of the chunk; with probability 0.5 B is a random span from a
 * different document (and the chunk's unused sentences are put back), otherwise B is the rest of
 * the chunk. The pair is then truncated to maxLen - 3 tokens by removing one token at a time from
 * the longer side, from its front or back at random (as the original).
 *
 * Differences from the original:
 * - the random document is drawn uniformly from the OTHER documents (the original retries 10 times
 *   and may still pick the same one);
 * - a chunk of ONE sentence is always random-next in the original, which leaves 52-57% random pairs
 *   on real text. Here it is actual-next with probability 0.5 too: B is the document's following
 *   sentences (up to the target length, and they are consumed), or, for the document's last
 *   sentence, the sentence is cut at a random token into A and B. `singleSentenceRandom: true`
 *   restores the original rule;
 * - pairs come out in document order (shuffle them before training).
 */
export function makeNspPairs(
  docs: number[][][],
  maxLen: number,
  rand: () => number,
  opts: { shortSeqProb?: number; singleSentenceRandom?: boolean } = {},
): NspPair[] {
  const maxTokens = maxLen - 3;
  if (!Number.isInteger(maxLen) || maxTokens < 2) throw new Error(`makeNspPairs: maxLen must be an integer >= 5, got ${maxLen}`);
  const shortSeqProb = opts.shortSeqProb ?? 0.1;
  const documents = docs.map((d) => d.filter((s) => s.length > 0)).filter((d) => d.length > 0);
  if (documents.length < 2) {
    throw new Error(`makeNspPairs: need at least 2 non-empty documents for random next segments, got ${documents.length}`);
  }
  const pairs: NspPair[] = [];
  for (let di = 0; di < documents.length; di++) {
    const doc = documents[di];
    const target = rand() < shortSeqProb ? randint(rand, 2, maxTokens) : maxTokens;
    let chunk: number[][] = [];
    let chunkLen = 0;
    for (let i = 0; i < doc.length; i++) {
      chunk.push(doc[i]);
      chunkLen += doc[i].length;
      if (i === doc.length - 1 || chunkLen >= target) {
        const aEnd = chunk.length >= 2 ? randint(rand, 1, chunk.length - 1) : 1;
        const a = chunk.slice(0, aEnd).flat();
        let b: number[] = [];
        let isRandomNext = chunk.length === 1 && opts.singleSentenceRandom === true ? true : rand() < 0.5;
        if (!isRandomNext && chunk.length === 1) {
          if (i + 1 < doc.length) {
            // The following sentences of this document are B, and are used up by it.
            const targetB = target - a.length;
            let j = i + 1;
            for (; j < doc.length; j++) {
              b.push(...doc[j]);
              if (b.length >= targetB) break;
            }
            i = Math.min(j, doc.length - 1);
          } else if (a.length >= 2) {
            b = a.splice(randint(rand, 1, a.length - 1)); // last sentence: its own continuation
          } else {
            isRandomNext = true;
          }
        } else if (!isRandomNext) {
          b = chunk.slice(aEnd).flat();
        }
        if (isRandomNext) {
          const targetB = target - a.length;
          let ri = Math.floor(rand() * (documents.length - 1));
          if (ri >= di) ri++; // any document but this one
          const other = documents[ri];
          const from = Math.floor(rand() * other.length);
          for (let j = from; j < other.length; j++) {
            b.push(...other[j]);
            if (b.length >= targetB) break;
          }
          // The sentences not used for A are not wasted: the next chunk starts with them.
          i -= chunk.length - aEnd;
        }
        truncatePair(a, b, maxTokens, rand);
        pairs.push({ a, b, isRandomNext });
        chunk = [];
        chunkLen = 0;
      }
    }
  }
  return pairs;
}

/** truncate_seq_pair(): trims the longer side one token at a time, front or back at random. */
function truncatePair(a: number[], b: number[], maxTokens: number, rand: () => number): void {
  // Work on index windows and slice once: shift() in a loop would be quadratic.
  let a0 = 0, a1 = a.length, b0 = 0, b1 = b.length;
  while (a1 - a0 + (b1 - b0) > maxTokens) {
    const trimA = a1 - a0 > b1 - b0;
    const front = rand() < 0.5;
    if (trimA) {
      if (front) a0++;
      else a1--;
    } else if (front) b0++;
    else b1--;
  }
  const ta = a.slice(a0, a1);
  const tb = b.slice(b0, b1);
  a.length = 0;
  a.push(...ta);
  b.length = 0;
  b.push(...tb);
}

// ---------------------------------------------------------------------------------------------
// Masked language model

/** Masking options: the share of positions predicted and whole-word masking. */
export interface MaskOptions {
  /** Share of (non-special) positions predicted, 0.15 as in BERT. */
  mlmProbability?: number;
  /**
   * Whole-word masking (as DataCollatorForWholeWordMask): when given, `isContinuation(id)` says
   * whether a token continues the previous word (a `##` piece); a word's pieces are chosen together.
   */
  isContinuation?: (id: number) => boolean;
}

/**
 * Masks like DataCollatorForLanguageModeling: every position that is not [CLS], [SEP], [PAD] or
 * already [MASK] is chosen independently with probability `mlmProbability` (default 0.15); a chosen
 * token becomes [MASK] with probability 0.8, a token drawn uniformly from the whole vocabulary
 * (special tokens included, as HF does) with probability 0.1, and stays unchanged otherwise.
 * With `isContinuation`, the unit chosen is a whole word (its first piece and the `##` pieces
 * after it), and each of its pieces then gets its own 80/10/10 outcome.
 * labels = the original id at chosen positions, -100 elsewhere.
 */
export function maskTokens(
  ids: number[],
  special: SpecialIds,
  rand: () => number,
  opts: MaskOptions = {},
): { inputIds: number[]; labels: number[] } {
  const p = opts.mlmProbability ?? 0.15;
  if (!(p >= 0 && p <= 1)) throw new Error(`maskTokens: mlmProbability must be in [0, 1], got ${p}`);
  if (!Number.isInteger(special.vocabSize) || special.vocabSize < 1) {
    throw new Error(`maskTokens: special.vocabSize must be a positive integer, got ${special.vocabSize}`);
  }
  const inputIds = ids.slice();
  const labels = new Array<number>(ids.length).fill(IGNORE_INDEX);
  const isSpecial = (id: number) => id === special.cls || id === special.sep || id === special.pad || id === special.mask;
  const cont = opts.isContinuation;
  for (let i = 0; i < ids.length; i++) {
    if (isSpecial(ids[i])) continue;
    // The word starting at i runs over the `##` pieces that follow it.
    let end = i + 1;
    if (cont) while (end < ids.length && !isSpecial(ids[end]) && cont(ids[end])) end++;
    const chosen = rand() < p;
    for (let j = i; j < end && chosen; j++) {
      labels[j] = ids[j]!;
      if (rand() < 0.8) inputIds[j] = special.mask;
      else if (rand() < 0.5) inputIds[j] = Math.floor(rand() * special.vocabSize);
    }
    i = end - 1;
  }
  return { inputIds, labels };
}

/**
 * [CLS] A [SEP] B [SEP] with token types 0 for [CLS] A [SEP] and 1 for B [SEP], padded with [PAD]
 * (type 0, attention 0) to maxLen, then masked. Pairs must fit: make them with the same maxLen.
 */
export function buildExamples(
  pairs: readonly NspPair[],
  special: SpecialIds,
  maxLen: number,
  rand: () => number,
  opts: MaskOptions = {},
): PretrainExample[] {
  return pairs.map((pair, k) => {
    const n = pair.a.length + pair.b.length + 3;
    if (n > maxLen) {
      throw new Error(`buildExamples: pair ${k} needs ${n} tokens with [CLS]/[SEP] but maxLen is ${maxLen}`);
    }
    if (pair.a.length === 0 || pair.b.length === 0) throw new Error(`buildExamples: pair ${k} has an empty segment`);
    const ids = [special.cls, ...pair.a, special.sep, ...pair.b, special.sep];
    const tokenTypeIds = ids.map((_, i) => (i < pair.a.length + 2 ? 0 : 1));
    const attentionMask = ids.map(() => 1);
    while (ids.length < maxLen) {
      ids.push(special.pad);
      tokenTypeIds.push(0);
      attentionMask.push(0);
    }
    const { inputIds, labels } = maskTokens(ids, special, rand, opts);
    return { inputIds, tokenTypeIds, attentionMask, mlmLabels: labels, nspLabel: pair.isRandomNext ? 1 : 0 };
  });
}

/** SpecialIds looked up by name in a vocabulary list, with an error naming any missing token. */
export function specialIdsFor(vocab: readonly string[]): SpecialIds {
  const find = (t: string): number => {
    const i = vocab.indexOf(t);
    if (i < 0) throw new Error(`specialIdsFor: the vocabulary has no ${t} token`);
    return i;
  };
  return { pad: find('[PAD]'), cls: find('[CLS]'), sep: find('[SEP]'), mask: find('[MASK]'), vocabSize: vocab.length };
}

/**
 * Examples for MLM alone (RoBERTa's DOC-SENTENCES): each document's tokens in order, cut into
 * pieces of at most maxLen - 2, each as `[CLS] piece [SEP]` (token type 0), padded and masked.
 * No segment is split in two or paired with another document, as there is no NSP to learn.
 */
export function buildSingleSegmentExamples(
  docs: number[][][],
  special: SpecialIds,
  maxLen: number,
  rand: () => number,
  opts: MaskOptions = {},
): PretrainExample[] {
  const room = maxLen - 2;
  if (!Number.isInteger(maxLen) || room < 1) throw new Error(`buildSingleSegmentExamples: maxLen must be an integer >= 3, got ${maxLen}`);
  const out: PretrainExample[] = [];
  for (const doc of docs) {
    const tokens = doc.flat();
    for (let i = 0; i < tokens.length; i += room) {
      const ids = [special.cls, ...tokens.slice(i, i + room), special.sep];
      const attentionMask = ids.map(() => 1);
      while (ids.length < maxLen) { ids.push(special.pad); attentionMask.push(0); }
      const { inputIds, labels } = maskTokens(ids, special, rand, opts);
      out.push({ inputIds, tokenTypeIds: ids.map(() => 0), attentionMask, mlmLabels: labels, nspLabel: 0 });
    }
  }
  return out;
}
