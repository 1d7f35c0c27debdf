// Tweet cleaning. 'lab' reproduces the original notebook's clean_text step for step, including its
// ordering quirks, so that the numbers the lab reports (token lengths, vocabulary) come out the same.
// 'improved' handles URLs, HTML and entities first and keeps negations, which NLTK's stop-word list
// drops ('not good' would read as 'good').

export type CleanMode = 'lab' | 'improved' | 'none';

export const CLEAN_MODES: readonly CleanMode[] = ['lab', 'improved', 'none'];

/** NLTK's English stop word list (nltk.corpus.stopwords.words('english'), the 179-word version). */
export const STOP_WORDS: ReadonlySet<string> = new Set([
  'i',
  'me',
  'my',
  'myself',
  'we',
  'our',
  'ours',
  'ourselves',
  'you',
  "you're",
  "you've",
  "you'll",
  "you'd",
  'your',
  'yours',
  'yourself',
  'yourselves',
  'he',
  'him',
  'his',
  'himself',
  'she',
  "she's",
  'her',
  'hers',
  'herself',
  'it',
  "it's",
  'its',
  'itself',
  'they',
  'them',
  'their',
  'theirs',
  'themselves',
  'what',
  'which',
  'who',
  'whom',
  'this',
  'that',
  "that'll",
  'these',
  'those',
  'am',
  'is',
  'are',
  'was',
  'were',
  'be',
  'been',
  'being',
  'have',
  'has',
  'had',
  'having',
  'do',
  'does',
  'did',
  'doing',
  'a',
  'an',
  'the',
  'and',
  'but',
  'if',
  'or',
  'because',
  'as',
  'until',
  'while',
  'of',
  'at',
  'by',
  'for',
  'with',
  'about',
  'against',
  'between',
  'into',
  'through',
  'during',
  'before',
  'after',
  'above',
  'below',
  'to',
  'from',
  'up',
  'down',
  'in',
  'out',
  'on',
  'off',
  'over',
  'under',
  'again',
  'further',
  'then',
  'once',
  'here',
  'there',
  'when',
  'where',
  'why',
  'how',
  'all',
  'any',
  'both',
  'each',
  'few',
  'more',
  'most',
  'other',
  'some',
  'such',
  'no',
  'nor',
  'not',
  'only',
  'own',
  'same',
  'so',
  'than',
  'too',
  'very',
  's',
  't',
  'can',
  'will',
  'just',
  'don',
  "don't",
  'should',
  "should've",
  'now',
  'd',
  'll',
  'm',
  'o',
  're',
  've',
  'y',
  'ain',
  'aren',
  "aren't",
  'couldn',
  "couldn't",
  'didn',
  "didn't",
  'doesn',
  "doesn't",
  'hadn',
  "hadn't",
  'hasn',
  "hasn't",
  'haven',
  "haven't",
  'isn',
  "isn't",
  'ma',
  'mightn',
  "mightn't",
  'mustn',
  "mustn't",
  'needn',
  "needn't",
  'shan',
  "shan't",
  'shouldn',
  "shouldn't",
  'wasn',
  "wasn't",
  'weren',
  "weren't",
  'won',
  "won't",
  'wouldn',
  "wouldn't",
]);

// The lab's characters to delete (not replace by a space): '@#!?+&*[]-%.:/();$=><|{}^' + "'`" + '_'
const LAB_PUNCTUATION = "@#!?+&*[]-%.:/();$=><|{}^'`_";
const LAB_PUNCT_RE = new RegExp(`[${LAB_PUNCTUATION.replace(/[\\\]\[^-]/g, '\\$&')}]`, 'g');

// The lab's emoji_pattern ranges, kept for fidelity; after its earlier steps only ASCII letters
// and ?.!,¿ survive, so in practice it never matches.
const EMOJI_RE =
  /[\u{1F600}-\u{1F64F}\u{1F300}-\u{1F5FF}\u{1F680}-\u{1F6FF}\u{1F1E0}-\u{1F1FF}\u{2702}-\u{27B0}\u{24C2}-\u{1F251}]+/gu;

/**
 * Negations 'improved' keeps although NLTK lists them as stop words: not, no, nor (never is not in
 * the list), and every n't form ("don't", "isn't", "can't", "won't", ...), kept as written.
 */
export const NEGATIONS: ReadonlySet<string> = new Set([
  'not',
  'no',
  'nor',
  'never',
  "can't",
  "ain't",
  ...[...STOP_WORDS].filter((w) => w.endsWith("n't")),
]);

const IMPROVED_STOP_WORDS: ReadonlySet<string> = new Set([...STOP_WORDS].filter((w) => !NEGATIONS.has(w)));

// A word ending in n't ("don't", "can't", "won't"), with a straight or typographic apostrophe.
const NT_WORD_RE = /(?<![\p{L}\p{N}'’])(\p{L}+n['’]t)(?![\p{L}\p{N}])/giu;

/** The lab's clean_text rules in the order 'lab' applies them, as a notebook lists them. */
export const LAB_CLEAN_RULES: readonly string[] = [
  'lower-case the text',
  'replace every run of characters other than a-z and ?.!,¿ by a space (digits, symbols, emoji go here)',
  "remove URLs: 'http' followed by non-spaces (after the step above only 'https...' still matches)",
  'remove HTML tags <...>',
  `delete the punctuation ${LAB_PUNCTUATION}`,
  `drop NLTK's ${STOP_WORDS.size} English stop words (words split on white space)`,
  "remove emoji (the lab's emoji_pattern; nothing is left for it after step 2)",
];

/** The notebook's clean_text, step by step in its own order ('improved' passes its own stop words). */
function labClean(text: string, stopWords: ReadonlySet<string> = STOP_WORDS): string {
  let t = text.toLowerCase();
  t = t.replace(/[^a-zA-Z?.!,¿]+/gu, ' ');
  // Runs after the line above turned ':' and '/' into spaces, so 'http://t.co/x' is now
  // 'http t.co x': 'http' followed by a space is not matched, 'https' is. Kept as the lab had it.
  t = t.replace(/http\S+/gu, '');
  t = t.replace(/<.*?>/g, '');
  t = t.replace(LAB_PUNCT_RE, '');
  t = t
    .split(/\s+/u)
    .filter((w) => w.length > 0 && !stopWords.has(w.toLowerCase()))
    .map((w) => w.toLowerCase())
    .join(' ');
  return t.replace(EMOJI_RE, '');
}

const NAMED_ENTITIES: Readonly<Record<string, string>> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: ' ',
  '#39': "'",
};

/** Decodes the HTML entities tweets carry (&amp; &lt; &gt; &quot; &apos; &nbsp; &#NN; &#xHH;). */
export function decodeHtmlEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole: string, body: string) => {
    const lower = body.toLowerCase();
    if (lower.startsWith('#x') || lower.startsWith('#')) {
      const cp = lower.startsWith('#x') ? parseInt(lower.slice(2), 16) : parseInt(lower.slice(1), 10);
      return Number.isFinite(cp) && cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : whole;
    }
    return NAMED_ENTITIES[lower] ?? whole;
  });
}

/**
 * 'improved': removes URLs and HTML tags while their punctuation is still intact and decodes
 * entities (so '&amp;' does not leave the word 'amp'), then applies the lab's rules, except that
 * negations stay: not, no, nor, never, and the n't words whole ("isn't", lower-cased, with a
 * straight apostrophe), which the lab's rules would cut into the stop words "isn" and "t".
 */
function improvedClean(text: string): string {
  let t = text.replace(/\b(?:https?:\/\/|www\.)\S*/giu, ' ');
  // Only real-looking tags: '<3' or 'a < b' are left alone.
  t = t.replace(/<\/?[a-z][^<>]*>/gi, ' ');
  t = decodeHtmlEntities(t);
  t = t.replace(/<\/?[a-z][^<>]*>/gi, ' ');
  // split with a capturing group: even parts are text, odd parts the n't words found between them.
  return t
    .split(NT_WORD_RE)
    .map((part, i) => (i % 2 === 1 ? part.toLowerCase().replace('’', "'") : labClean(part, IMPROVED_STOP_WORDS)))
    .filter((part) => part.length > 0)
    .join(' ');
}

/**
 * Cleans one tweet. 'lab' = the notebook's clean_text exactly; 'improved' = URLs, HTML and entities
 * handled first, then the same rules keeping negations (NEGATIONS); 'none' = the text unchanged.
 *
 * Example: cleanText('This movie is not good', 'lab') -> 'movie good'; with 'improved' -> 'movie not good'
 */
export function cleanText(text: string, mode: CleanMode = 'lab'): string {
  if (typeof text !== 'string') throw new Error(`cleanText: expected a string, got ${typeof text}`);
  switch (mode) {
    case 'lab':
      return labClean(text);
    case 'improved':
      return improvedClean(text);
    case 'none':
      return text;
    default:
      throw new Error(`cleanText: unknown mode "${String(mode)}"; use one of ${CLEAN_MODES.join(', ')}`);
  }
}
