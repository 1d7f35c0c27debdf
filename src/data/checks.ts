// Checks on training data after its cleaning, before anything is tokenized or trained: data that
// cleaning has emptied trains a model on [CLS] [SEP] rows, which learns only the label counts and
// finishes as if nothing were wrong.
import { CLEAN_MODES, cleanText, type CleanMode } from '../text/clean.js';

/** Above this share of texts empty after cleaning, the data is refused (a few empty rows are only noted). */
const MAX_EMPTY_SHARE = 0.5;

/**
 * Refuses training data whose texts cleaning has mostly emptied: all of them, or more than
 * MAX_EMPTY_SHARE (e.g. texts that are only numbers, which the lab's cleaning removes). Returns the
 * indices of the empty texts, for a note when they are few.
 *
 * Args:
 *   cleaned: the texts after cleaning, in row order.
 *   file: the data file, named in the message.
 *   mode: the cleaning that was applied (--clean), named with the ones to try instead.
 *   original: the texts before cleaning, to quote the first emptied one (optional).
 *
 * Example: `const empty = checkCleaned(cleanAll(texts, 'lab').cleaned, 'data/train.csv', 'lab', texts)`
 */
export function checkCleaned(
  cleaned: readonly string[],
  file: string,
  mode: CleanMode,
  original?: readonly string[],
): number[] {
  const empty = cleaned.flatMap((t, i) => (t.trim() === '' ? [i] : []));
  const n = cleaned.length;
  if (n === 0 || empty.length <= MAX_EMPTY_SHARE * n) return empty;
  const first = empty[0];
  const quote = original?.[first] !== undefined ? ` (the first, data row ${first + 1}, was ${JSON.stringify(clip(original[first]))})` : '';
  const share = empty.length === n ? 'all' : `${empty.length.toLocaleString('en-US')} of ${n.toLocaleString('en-US')}`;
  // The other cleanings that keep most of these texts, tried on them; without them, no cleaning at all.
  const keeps = (m: CleanMode) =>
    original
      ? empty.filter((i) => cleanText(original[i] ?? '', m).trim() !== '').length > empty.length / 2
      : m === 'none';
  const others = CLEAN_MODES.filter((m) => m !== mode && keeps(m)).map((m) => `--clean ${m}`);
  const fix = others.length
    ? `pass ${others.join(' or ')} (${others.length > 1 ? 'they keep' : 'it keeps'} them), or check --text-col`
    : 'the texts themselves are empty: check --text-col and the file';
  throw new Error(
    `${file}: ${share} texts (${((100 * empty.length) / n).toFixed(0)}%) are empty after cleaning with --clean ${mode}${quote}: ` +
      `a model trained on them would learn nothing from the texts; ${fix}`,
  );
}

/** A text cut to a length a message can show. */
function clip(s: string, max = 60): string {
  return s.length > max ? s.slice(0, max) + '...' : s;
}
