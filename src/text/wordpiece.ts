// WordPiece vocabulary training, as Hugging Face `tokenizers` trains one. The vocabulary becomes a
// tokenizer, and its files, through BertTokenizer.fromVocab(vocab).save(dir) (tokenizer.ts).
//
// Training follows `tokenizers`' BertWordPieceTokenizer.train(): BertNormalizer (clean text, spaces
// around CJK ideographs, strip accents, lowercase) -> BertPreTokenizer (split on whitespace, every
// punctuation character its own word) -> WordPieceTrainer, which is the BPE trainer with the `##`
// continuing-subword prefix: start from the characters (initial characters bare, later ones as `##c`),
// repeatedly merge the most frequent adjacent pair (ties: the pair of lower ids) until the vocabulary
// has `vocabSize` entries or the best pair occurs fewer than `minFrequency` times.
//
// Vocabulary order for a fresh model: [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4, then the alphabet
// (by code point), then its `##` forms (by code point), then merges in the order they were made.

export const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;
const CONTINUING_PREFIX = '##';

// ---------------------------------------------------------------------------------------------
// Normalization and pre-tokenization, as the Rust `tokenizers` BertNormalizer / BertPreTokenizer.

export interface NormalizeOptions {
  lowercase?: boolean; // default true
  /** Default: follows `lowercase` (HF's strip_accents: null). */
  stripAccents?: boolean;
  cleanText?: boolean; // default true
  handleChineseChars?: boolean; // default true
}

// Rust's `is_other`: control, format, surrogate, private use, unassigned.
const CONTROL_RE = /^[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}]$/u;
const WHITESPACE_RE = /^\p{White_Space}$/u;
const MN_RE = /\p{Mn}/gu;
// ASCII punctuation (which includes symbols such as $ + < = > ^ ` | ~) or any Unicode P* category.
const PUNCT_RE = /^[!-/:-@[-`{-~\p{P}]$/u;

function isChineseChar(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b920 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

function isWhitespace(c: string): boolean {
  return c === '\t' || c === '\n' || c === '\r' || WHITESPACE_RE.test(c);
}

/** BertNormalizer. */
export function normalizeBert(text: string, opts: NormalizeOptions = {}): string {
  const lowercase = opts.lowercase ?? true;
  const stripAccents = opts.stripAccents ?? lowercase;
  const cleanText = opts.cleanText ?? true;
  const chinese = opts.handleChineseChars ?? true;
  let out = '';
  for (const c of text) {
    const cp = c.codePointAt(0)!;
    if (cleanText) {
      if (cp === 0 || cp === 0xfffd) continue;
      if (c !== '\t' && c !== '\n' && c !== '\r' && CONTROL_RE.test(c)) continue;
      if (isWhitespace(c)) {
        out += ' ';
        continue;
      }
    }
    out += chinese && isChineseChar(cp) ? ` ${c} ` : c;
  }
  if (stripAccents) out = out.normalize('NFD').replace(MN_RE, '');
  if (lowercase) {
    // Per character, as Rust's NormalizedString::lowercase (no context-dependent final sigma).
    let low = '';
    for (const c of out) low += c.toLowerCase();
    out = low;
  }
  return out;
}

/** BertPreTokenizer: whitespace removed, each punctuation character its own word. */
export function preTokenizeBert(text: string): string[] {
  const words: string[] = [];
  let cur = '';
  for (const c of text) {
    if (isWhitespace(c)) {
      if (cur) words.push(cur);
      cur = '';
    } else if (PUNCT_RE.test(c)) {
      if (cur) words.push(cur);
      words.push(c);
      cur = '';
    } else {
      cur += c;
    }
  }
  if (cur) words.push(cur);
  return words;
}

// ---------------------------------------------------------------------------------------------
// Training

export interface WordPieceTrainOptions {
  vocabSize: number;
  /** A pair is merged only if it occurs at least this often (HF BertWordPieceTokenizer default 2). */
  minFrequency?: number;
  /** Keep at most this many distinct characters, the most frequent (HF default 1000). */
  limitAlphabet?: number;
  /** Default true (an uncased vocabulary). */
  lowercase?: boolean;
  /** Default [PAD] [UNK] [CLS] [SEP] [MASK]. */
  specialTokens?: readonly string[];
}

/** Max-heap of candidate merges ordered by count, then by lower (a, b) ids as HF breaks ties. */
class MergeQueue {
  private readonly items: { count: number; a: number; b: number }[] = [];
  private static before(
    x: { count: number; a: number; b: number },
    y: { count: number; a: number; b: number },
  ): boolean {
    if (x.count !== y.count) return x.count > y.count;
    if (x.a !== y.a) return x.a < y.a;
    return x.b < y.b;
  }
  get size(): number {
    return this.items.length;
  }
  push(item: { count: number; a: number; b: number }): void {
    const h = this.items;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!MergeQueue.before(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }
  pop(): { count: number; a: number; b: number } | undefined {
    const h = this.items;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && MergeQueue.before(h[l], h[m])) m = l;
        if (r < h.length && MergeQueue.before(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}

const PAIR_BASE = 2 ** 21; // pair key = a * PAIR_BASE + b; ids stay far below 2^21

/**
 * Trains an (uncased by default) WordPiece vocabulary on `texts` and returns it as a list (index = id).
 * As in HF, the specials and the whole kept alphabet (with `##` forms) are always included, so a
 * `vocabSize` smaller than that yields a larger vocabulary rather than dropping characters.
 */
export function trainWordPiece(texts: Iterable<string>, opts: WordPieceTrainOptions): string[] {
  const { vocabSize } = opts;
  const minFrequency = opts.minFrequency ?? 2;
  const limitAlphabet = opts.limitAlphabet ?? 1000;
  const specials = opts.specialTokens ?? SPECIAL_TOKENS;
  if (!Number.isInteger(vocabSize) || vocabSize < 1 || vocabSize >= PAIR_BASE) {
    throw new Error(`trainWordPiece: vocabSize must be an integer in [1, ${PAIR_BASE}), got ${vocabSize}`);
  }
  if (!Number.isInteger(limitAlphabet) || limitAlphabet < 0) {
    throw new Error(`trainWordPiece: limitAlphabet must be a non-negative integer, got ${limitAlphabet}`);
  }
  const normOpts: NormalizeOptions = { lowercase: opts.lowercase ?? true };

  // 1. Word counts.
  const wordCounts = new Map<string, number>();
  for (const t of texts) {
    for (const w of preTokenizeBert(normalizeBert(t, normOpts))) wordCounts.set(w, (wordCounts.get(w) ?? 0) + 1);
  }

  // 2. Vocabulary: specials, then the alphabet.
  const vocab: string[] = [];
  const ids = new Map<string, number>();
  const add = (tok: string): number => {
    let id = ids.get(tok);
    if (id === undefined) {
      id = vocab.length;
      vocab.push(tok);
      ids.set(tok, id);
    }
    return id;
  };
  for (const s of specials) {
    if (ids.has(s)) throw new Error(`trainWordPiece: special token ${s} is listed twice`);
    add(s);
  }
  const charCounts = new Map<string, number>();
  for (const [w, n] of wordCounts) for (const c of w) charCounts.set(c, (charCounts.get(c) ?? 0) + n);
  const byCp = (x: string, y: string): number => x.codePointAt(0)! - y.codePointAt(0)!;
  let alphabet = [...charCounts.keys()];
  if (alphabet.length > limitAlphabet) {
    // Drop the rarest characters (ties: drop higher code points first, for determinism).
    alphabet.sort((x, y) => charCounts.get(y)! - charCounts.get(x)! || byCp(x, y));
    alphabet = alphabet.slice(0, limitAlphabet);
  }
  alphabet.sort(byCp);
  const inAlphabet = new Set(alphabet);
  for (const c of alphabet) add(c);
  // `##` forms of the characters that occur inside words (HF adds them while splitting words).
  const continuing = new Set<string>();
  for (const w of wordCounts.keys()) {
    let first = true;
    for (const c of w) {
      if (!first && inAlphabet.has(c)) continuing.add(c);
      first = false;
    }
  }
  for (const c of [...continuing].sort(byCp)) add(CONTINUING_PREFIX + c);

  // 3. Words as symbol-id sequences (characters outside the alphabet are dropped, as HF does).
  // Sorted so that the result does not depend on input order beyond the counts.
  const entries = [...wordCounts.entries()].sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  const words: number[][] = [];
  const counts: number[] = [];
  for (const [w, n] of entries) {
    const syms: number[] = [];
    let first = true;
    for (const c of w) {
      if (inAlphabet.has(c)) syms.push(ids.get(first ? c : CONTINUING_PREFIX + c)!);
      first = false;
    }
    if (syms.length > 1) {
      words.push(syms);
      counts.push(n);
    }
  }

  // 4. Pair statistics.
  const pairCounts = new Map<number, number>();
  const where = new Map<number, Set<number>>();
  const bump = (key: number, delta: number, wi: number): void => {
    pairCounts.set(key, (pairCounts.get(key) ?? 0) + delta);
    if (delta > 0) {
      let s = where.get(key);
      if (!s) where.set(key, (s = new Set()));
      s.add(wi);
    }
  };
  for (let wi = 0; wi < words.length; wi++) {
    const syms = words[wi];
    for (let i = 0; i + 1 < syms.length; i++) bump(syms[i] * PAIR_BASE + syms[i + 1], counts[wi], wi);
  }
  const queue = new MergeQueue();
  for (const [key, count] of pairCounts) {
    if (count > 0) queue.push({ count, a: Math.floor(key / PAIR_BASE), b: key % PAIR_BASE });
  }

  // 5. Merges.
  while (vocab.length < vocabSize && queue.size > 0) {
    const top = queue.pop()!;
    const key = top.a * PAIR_BASE + top.b;
    const current = pairCounts.get(key) ?? 0;
    if (current !== top.count) {
      // Stale entry: counts of existing pairs only fall, so re-queue with the true count.
      if (current > 0) queue.push({ count: current, a: top.a, b: top.b });
      continue;
    }
    if (current < Math.max(1, minFrequency)) break;
    const partA = vocab[top.a];
    const partB = vocab[top.b];
    const merged = partA + (partB.startsWith(CONTINUING_PREFIX) ? partB.slice(CONTINUING_PREFIX.length) : partB);
    const newId = add(merged);
    const touched = new Set<number>();
    const positions = where.get(key);
    where.delete(key);
    pairCounts.delete(key);
    for (const wi of positions ?? []) {
      const syms = words[wi];
      const n = counts[wi];
      let i = 0;
      while (i + 1 < syms.length) {
        if (syms[i] === top.a && syms[i + 1] === top.b) {
          if (i > 0) {
            const prev = syms[i - 1];
            if (prev * PAIR_BASE + top.a !== key) bump(prev * PAIR_BASE + top.a, -n, wi);
            bump(prev * PAIR_BASE + newId, n, wi);
            touched.add(prev * PAIR_BASE + newId);
          }
          if (i + 2 < syms.length) {
            const next = syms[i + 2];
            if (top.b * PAIR_BASE + next !== key) bump(top.b * PAIR_BASE + next, -n, wi);
            bump(newId * PAIR_BASE + next, n, wi);
            touched.add(newId * PAIR_BASE + next);
          }
          syms.splice(i, 2, newId);
        }
        i++;
      }
    }
    for (const k of touched) {
      const c = pairCounts.get(k) ?? 0;
      if (c > 0) queue.push({ count: c, a: Math.floor(k / PAIR_BASE), b: k % PAIR_BASE });
    }
  }
  return vocab;
}
