// BERT WordPiece tokenizer on @huggingface/tokenizers (the pure-JS engine of transformers.js).
// Loads a model directory the way transformers does (tokenizer.json, or vocab.txt alone) and adds
// the batch API of HF's tokenizer __call__: padding, truncation, attention masks, token type ids.
import { Tokenizer } from '@huggingface/tokenizers';
import { existsSync, statSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../io/atomic.js';
import { isRecord } from '../io/validate.js';
import path from 'node:path';

export interface Encoded {
  inputIds: number[][];
  attentionMask: number[][];
  tokenTypeIds: number[][];
}

export type Truncation = boolean | 'longest_first' | 'only_first' | 'only_second';

export interface EncodeOptions {
  /** Second sequences, one per text ([CLS] A [SEP] B [SEP]). */
  pairs?: string[];
  /** Cap for truncation and the width for padding 'max_length'. */
  maxLength?: number;
  /** 'longest' (default): pad to the batch's longest; 'max_length': to maxLength; 'none': ragged. */
  padding?: 'longest' | 'max_length' | 'none';
  /** Off by default, as in HF; true = 'longest_first'. Without it, an over-long row is an error. */
  truncation?: Truncation;
  /** The model's position limit (config max_position_embeddings); defaults to modelMaxLength. */
  maxPositions?: number;
}

/** tokenizer_config.json as far as it matters here; other keys are kept and written back. */
export interface TokenizerConfig {
  do_lower_case?: boolean;
  strip_accents?: boolean | null;
  tokenize_chinese_chars?: boolean;
  model_max_length?: number;
  unk_token?: string | { content: string };
  sep_token?: string | { content: string };
  pad_token?: string | { content: string };
  cls_token?: string | { content: string };
  mask_token?: string | { content: string };
  [key: string]: unknown;
}

export type JsonObject = Record<string, unknown>;

const SPECIAL_KEYS = ['pad_token', 'unk_token', 'cls_token', 'sep_token', 'mask_token'] as const;
type SpecialKey = (typeof SPECIAL_KEYS)[number];
const SPECIAL_DEFAULTS: Record<SpecialKey, string> = {
  pad_token: '[PAD]',
  unk_token: '[UNK]',
  cls_token: '[CLS]',
  sep_token: '[SEP]',
  mask_token: '[MASK]',
};
// transformers writes this sentinel (int(1e30)) when a checkpoint declares no limit.
const NO_LIMIT_THRESHOLD = 1e9;

function tokenName(cfg: TokenizerConfig, key: SpecialKey): string {
  const v = cfg[key];
  if (typeof v === 'string') return v;
  if (isRecord(v) && typeof v.content === 'string') return v.content;
  return SPECIAL_DEFAULTS[key];
}

async function readJson(file: string): Promise<JsonObject> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (!isRecord(parsed)) throw new Error(`${file} must contain a JSON object`);
  return parsed;
}

/** Parses vocab.txt like transformers' load_vocab: one token per line, id = line number. */
export function parseVocab(text: string, file = 'vocab.txt'): string[] {
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  // A trailing \r (file edited on Windows) would otherwise become part of every token.
  const tokens = lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (tokens.length === 0) throw new Error(`${file} is empty`);
  return tokens;
}

/**
 * The tokenizer.json that transformers' BertTokenizerFast would produce from vocab.txt and
 * tokenizer_config.json (BertNormalizer, BertPreTokenizer, WordPiece, [CLS]/[SEP] template).
 */
export function bertTokenizerJson(vocab: readonly string[], cfg: TokenizerConfig = {}): JsonObject {
  const vocabMap: Record<string, number> = {};
  vocab.forEach((t, i) => {
    if (Object.prototype.hasOwnProperty.call(vocabMap, t))
      throw new Error(`vocabulary: token "${t}" appears twice (ids ${vocabMap[t]} and ${i})`);
    vocabMap[t] = i;
  });
  const names = Object.fromEntries(SPECIAL_KEYS.map((k) => [k, tokenName(cfg, k)])) as Record<SpecialKey, string>;
  const addedTokens: JsonObject[] = [];
  for (const k of SPECIAL_KEYS) {
    const id = vocabMap[names[k]];
    if (id === undefined) throw new Error(`vocabulary has no ${k} "${names[k]}"`);
    addedTokens.push({
      id,
      content: names[k],
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    });
  }
  addedTokens.sort((a, b) => (a.id as number) - (b.id as number));
  const cls = names.cls_token;
  const sep = names.sep_token;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: cfg.tokenize_chinese_chars ?? true,
      strip_accents: cfg.strip_accents ?? null,
      lowercase: cfg.do_lower_case ?? true,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: cls, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: sep, type_id: 0 } },
      ],
      pair: [
        { SpecialToken: { id: cls, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: sep, type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: sep, type_id: 1 } },
      ],
      special_tokens: {
        [cls]: { id: cls, ids: [vocabMap[cls]], tokens: [cls] },
        [sep]: { id: sep, ids: [vocabMap[sep]], tokens: [sep] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: names.unk_token,
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: vocabMap,
    },
  };
}

function checkLength(name: string, v: number | undefined): void {
  if (v !== undefined && (!Number.isInteger(v) || v < 1))
    throw new Error(`${name} must be a positive integer, got ${v}`);
}

export class BertTokenizer {
  readonly vocabSize: number;
  readonly padId: number;
  readonly clsId: number;
  readonly sepId: number;
  readonly maskId: number;
  readonly unkId: number;
  /** tokenizer_config model_max_length, else config.json max_position_embeddings, else 512. */
  readonly modelMaxLength: number;
  private readonly tok: Tokenizer;
  private readonly json: JsonObject;
  private readonly config: TokenizerConfig;
  private readonly idToToken: string[];
  private readonly specialIds: ReadonlySet<number>;

  /**
   * From parsed tokenizer.json and tokenizer_config.json objects. `maxPositions` (the model's
   * max_position_embeddings) is the fallback limit when the config gives none.
   */
  constructor(
    tokenizerJson: JsonObject,
    tokenizerConfig: TokenizerConfig = {},
    maxPositions?: number,
    source = 'tokenizer.json',
  ) {
    const model = tokenizerJson.model;
    if (!isRecord(model) || !isRecord(model.vocab)) throw new Error(`${source}: no model.vocab object`);
    const type =
      model.type ??
      (typeof model.continuing_subword_prefix === 'string' && !('merges' in model) ? 'WordPiece' : undefined);
    if (type !== 'WordPiece')
      throw new Error(`${source}: model type is ${String(model.type ?? 'unknown')}, a BERT tokenizer needs WordPiece`);
    // Shallow copies: only the normalizer and the added-token list may be changed here, and the
    // 30k-entry vocabulary is not worth cloning.
    const json: JsonObject = { ...tokenizerJson };
    json.added_tokens = Array.isArray(json.added_tokens) ? [...(json.added_tokens as unknown[])] : [];
    const cfg: TokenizerConfig = { ...tokenizerConfig };
    // As BertTokenizerFast does: tokenizer_config's casing options override the saved normalizer.
    const norm = isRecord(json.normalizer) ? { ...json.normalizer } : json.normalizer;
    json.normalizer = norm;
    if (isRecord(norm) && norm.type === 'BertNormalizer') {
      if (typeof cfg.do_lower_case === 'boolean') norm.lowercase = cfg.do_lower_case;
      if (cfg.strip_accents !== undefined) norm.strip_accents = cfg.strip_accents;
      if (typeof cfg.tokenize_chinese_chars === 'boolean') norm.handle_chinese_chars = cfg.tokenize_chinese_chars;
    }
    this.json = json;
    this.config = cfg;
    try {
      this.tok = new Tokenizer(json, cfg);
    } catch (e) {
      throw new Error(`${source}: cannot build the tokenizer: ${(e as Error).message}`);
    }

    const vocab = model.vocab;
    const idToToken: string[] = [];
    for (const [t, id] of Object.entries(vocab)) {
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0)
        throw new Error(`${source}: token "${t}" has invalid id ${String(id)}`);
      idToToken[id] = t;
    }
    for (const a of json.added_tokens as unknown[]) {
      if (isRecord(a) && typeof a.id === 'number' && typeof a.content === 'string') idToToken[a.id] = a.content;
    }
    for (let i = 0; i < idToToken.length; i++) {
      if (idToToken[i] === undefined)
        throw new Error(`${source}: vocabulary ids are not contiguous, id ${i} is missing`);
    }
    this.idToToken = idToToken;
    this.vocabSize = idToToken.length;

    const idOf = (key: SpecialKey): number => {
      const name = tokenName(cfg, key);
      const id = this.tok.token_to_id(name);
      if (id === undefined) throw new Error(`${source}: vocabulary has no ${key} "${name}"`);
      return id;
    };
    this.padId = idOf('pad_token');
    this.clsId = idOf('cls_token');
    this.sepId = idOf('sep_token');
    this.maskId = idOf('mask_token');
    this.unkId = idOf('unk_token');
    const special = new Set([this.padId, this.clsId, this.sepId, this.maskId, this.unkId]);
    for (const a of json.added_tokens as unknown[]) {
      if (isRecord(a) && a.special === true && typeof a.id === 'number') special.add(a.id);
    }
    this.specialIds = special;

    const fromCfg = cfg.model_max_length;
    checkLength('maxPositions', maxPositions);
    this.modelMaxLength =
      typeof fromCfg === 'number' && Number.isInteger(fromCfg) && fromCfg > 0 && fromCfg < NO_LIMIT_THRESHOLD
        ? fromCfg
        : (maxPositions ?? 512);
  }

  /**
   * Loads `tokenizer.json` (+ optional `tokenizer_config.json`) from a model directory, or builds
   * the same tokenizer from `vocab.txt` when there is no tokenizer.json. config.json's
   * max_position_embeddings is used as the length limit when tokenizer_config has none.
   *
   * Args:
   *   dir: a model directory (resolve a Hub id first with `resolveModel`).
   *
   * Example: `const tok = await BertTokenizer.fromDir(await resolveModel('bert-base-uncased'));`
   */
  static async fromDir(dir: string): Promise<BertTokenizer> {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`tokenizer directory ${dir} does not exist`);
    const cfgFile = path.join(dir, 'tokenizer_config.json');
    const cfg: TokenizerConfig = existsSync(cfgFile) ? await readJson(cfgFile) : {};
    const modelCfgFile = path.join(dir, 'config.json');
    let maxPositions: number | undefined;
    if (existsSync(modelCfgFile)) {
      const mp = (await readJson(modelCfgFile)).max_position_embeddings;
      if (typeof mp === 'number' && Number.isInteger(mp) && mp > 0) maxPositions = mp;
    }
    const tjFile = path.join(dir, 'tokenizer.json');
    if (existsSync(tjFile)) return new BertTokenizer(await readJson(tjFile), cfg, maxPositions, tjFile);
    const vocabFile = path.join(dir, 'vocab.txt');
    if (existsSync(vocabFile)) {
      const vocab = parseVocab(await readFile(vocabFile, 'utf8'), vocabFile);
      return new BertTokenizer(bertTokenizerJson(vocab, cfg), cfg, maxPositions, vocabFile);
    }
    throw new Error(`${dir} has neither tokenizer.json nor vocab.txt`);
  }

  /** From a vocabulary list (id = position), e.g. for small test models. */
  static fromVocab(vocab: readonly string[], config: TokenizerConfig = {}, maxPositions?: number): BertTokenizer {
    return new BertTokenizer(bertTokenizerJson(vocab, config), config, maxPositions, 'vocabulary');
  }

  /** WordPieces of one text, without [CLS]/[SEP]. */
  tokenize(text: string): string[] {
    if (typeof text !== 'string') throw new Error(`tokenize: expected a string, got ${typeof text}`);
    return this.tok.tokenize(text);
  }

  /** Unknown tokens map to [UNK], as in transformers. */
  convertTokensToIds(tokens: string[]): number[] {
    return tokens.map((t) => this.tok.token_to_id(t) ?? this.unkId);
  }

  convertIdsToTokens(ids: number[]): string[] {
    return ids.map((id, i) => {
      const t = Number.isInteger(id) ? this.idToToken[id] : undefined;
      if (t === undefined)
        throw new Error(`id ${id} at position ${i} is outside the vocabulary (0..${this.vocabSize - 1})`);
      return t;
    });
  }

  private pieceIds(text: string, what: string): number[] {
    if (typeof text !== 'string')
      throw new Error(`${what} is not a string (got ${text === null ? 'null' : typeof text})`);
    return this.convertTokensToIds(this.tok.tokenize(text));
  }

  private assemble(a: number[], b: number[] | undefined): { ids: number[]; typeIds: number[] } {
    const ids = [this.clsId, ...a, this.sepId];
    const typeIds = new Array<number>(ids.length).fill(0);
    if (b) {
      ids.push(...b, this.sepId);
      for (let i = 0; i <= b.length; i++) typeIds.push(1);
    }
    return { ids, typeIds };
  }

  /** One text (and optional pair) with [CLS]/[SEP], no padding or truncation. */
  encode(text: string, pair?: string): { ids: number[]; tokens: string[]; typeIds: number[] } {
    const a = this.pieceIds(text, 'text');
    const b = pair === undefined ? undefined : this.pieceIds(pair, 'pair');
    const { ids, typeIds } = this.assemble(a, b);
    return { ids, tokens: this.convertIdsToTokens(ids), typeIds };
  }

  /**
   * Batch encoding like HF's tokenizer(texts, pairs, padding=..., truncation=..., max_length=...).
   * Differences: padding defaults to 'longest' (tensors need a rectangle); a row longer than the
   * limit without truncation is an error instead of a warning; maxLength above maxPositions is an
   * error. 'longest_first' follows the Rust tokenizers: on a tie the second sequence keeps the
   * extra token.
   *
   * Args:
   *   texts: the first sequences.
   *   opts: `pairs` (second sequences), `maxLength`, `padding`, `truncation`, `maxPositions`.
   *
   * Example: `const enc = tok.encodeBatch(['a fire', 'no fire'], { maxLength: 64, padding: 'max_length', truncation: true });`
   */
  encodeBatch(texts: string[], opts: EncodeOptions = {}): Encoded {
    if (!Array.isArray(texts)) throw new Error('encodeBatch: texts must be an array of strings');
    const { pairs, maxLength } = opts;
    const padding = opts.padding ?? 'longest';
    if (!['longest', 'max_length', 'none'].includes(padding))
      throw new Error(`encodeBatch: unknown padding "${String(padding)}"`);
    const truncation = opts.truncation === true ? 'longest_first' : (opts.truncation ?? false);
    if (truncation !== false && !['longest_first', 'only_first', 'only_second'].includes(truncation)) {
      throw new Error(`encodeBatch: unknown truncation "${String(truncation)}"`);
    }
    if (pairs !== undefined && (!Array.isArray(pairs) || pairs.length !== texts.length)) {
      throw new Error(
        `encodeBatch: ${texts.length} texts but ${Array.isArray(pairs) ? pairs.length : 'no array of'} pairs`,
      );
    }
    checkLength('maxLength', maxLength);
    checkLength('maxPositions', opts.maxPositions);
    const maxPositions = opts.maxPositions ?? this.modelMaxLength;
    if (maxLength !== undefined && maxLength > maxPositions) {
      throw new Error(`maxLength ${maxLength} is longer than the model's maximum of ${maxPositions} positions`);
    }
    const limit = maxLength ?? maxPositions;
    const limitName = maxLength !== undefined ? `maxLength ${limit}` : `maximum ${limit}`;

    const rows: { ids: number[]; typeIds: number[] }[] = [];
    texts.forEach((text, i) => {
      let a = this.pieceIds(text, `text ${i}`);
      let b = pairs ? this.pieceIds(pairs[i], `pair ${i}`) : undefined;
      const specials = b ? 3 : 2;
      const total = a.length + (b?.length ?? 0) + specials;
      if (total > limit) {
        if (truncation === false) {
          throw new Error(`text ${i} (0-based) is ${total} tokens, longer than the ${limitName}; pass truncation`);
        }
        const room = limit - specials;
        if (room < 0) throw new Error(`maxLength ${limit} leaves no room for the ${specials} special tokens`);
        [a, b] = truncatePair(a, b, room, truncation, i);
      }
      rows.push(this.assemble(a, b));
    });

    if (padding === 'none') {
      return {
        inputIds: rows.map((r) => r.ids),
        attentionMask: rows.map((r) => r.ids.map(() => 1)),
        tokenTypeIds: rows.map((r) => r.typeIds),
      };
    }
    const width = padding === 'max_length' ? limit : rows.reduce((m, r) => Math.max(m, r.ids.length), 0);
    const inputIds: number[][] = [];
    const attentionMask: number[][] = [];
    const tokenTypeIds: number[][] = [];
    for (const r of rows) {
      const pad = width - r.ids.length;
      inputIds.push(pad > 0 ? r.ids.concat(new Array<number>(pad).fill(this.padId)) : r.ids);
      attentionMask.push(new Array<number>(r.ids.length).fill(1).concat(new Array<number>(Math.max(pad, 0)).fill(0)));
      tokenTypeIds.push(pad > 0 ? r.typeIds.concat(new Array<number>(pad).fill(0)) : r.typeIds);
    }
    return { inputIds, attentionMask, tokenTypeIds };
  }

  /** Text from ids; skipSpecial drops [CLS], [SEP], [PAD], [MASK] and [UNK] as transformers does. */
  decode(ids: number[], skipSpecial = false): string {
    const kept = skipSpecial ? ids.filter((id) => !this.specialIds.has(id)) : ids;
    this.convertIdsToTokens(kept); // range check with a clear message
    if (kept.length === 0) return '';
    return this.tok.decode(kept, { skip_special_tokens: false });
  }

  /**
   * Writes tokenizer.json, tokenizer_config.json, special_tokens_map.json and vocab.txt (each
   * atomically) so that transformers' AutoTokenizer.from_pretrained(dir) loads the same tokenizer.
   * The one writer of tokenizer files: a trained vocabulary is saved as `fromVocab(vocab).save(dir)`.
   *
   * Example: `await BertTokenizer.fromVocab(trainWordPiece(texts, { vocabSize: 8192 })).save('runs/pt/vocab')`
   */
  async save(dir: string): Promise<void> {
    this.idToToken.forEach((t, i) => {
      if (t.length === 0 || /[\r\n]/.test(t))
        throw new Error(
          `${path.join(dir, 'vocab.txt')}: token ${i} (${JSON.stringify(t)}) cannot be written as a line of vocab.txt`,
        );
    });
    await mkdir(dir, { recursive: true });
    const names = Object.fromEntries(SPECIAL_KEYS.map((k) => [k, tokenName(this.config, k)])) as Record<
      SpecialKey,
      string
    >;
    const norm = isRecord(this.json.normalizer) ? this.json.normalizer : {};
    const cfg: TokenizerConfig = {
      ...this.config,
      tokenizer_class: 'BertTokenizer',
      do_lower_case: typeof norm.lowercase === 'boolean' ? norm.lowercase : (this.config.do_lower_case ?? true),
      model_max_length: this.modelMaxLength,
      clean_up_tokenization_spaces: this.config.clean_up_tokenization_spaces ?? true,
      ...names,
    };
    await writeFileAtomic(path.join(dir, 'tokenizer.json'), JSON.stringify(this.json, null, 2) + '\n');
    await writeFileAtomic(path.join(dir, 'tokenizer_config.json'), JSON.stringify(cfg, null, 2) + '\n');
    await writeFileAtomic(path.join(dir, 'special_tokens_map.json'), JSON.stringify(names, null, 2) + '\n');
    await writeFileAtomic(path.join(dir, 'vocab.txt'), this.idToToken.join('\n') + '\n');
  }
}

/** Cuts token lists to `room` tokens in total (special tokens already subtracted). */
function truncatePair(
  a: number[],
  b: number[] | undefined,
  room: number,
  strategy: 'longest_first' | 'only_first' | 'only_second',
  row: number,
): [number[], number[] | undefined] {
  if (!b) {
    if (strategy === 'only_second') throw new Error(`text ${row} is too long and truncation 'only_second' needs pairs`);
    return [a.slice(0, room), undefined];
  }
  if (strategy === 'only_first') {
    if (b.length > room)
      throw new Error(
        `pair ${row}: the second sequence alone (${b.length} tokens) exceeds the room of ${room}; 'only_first' cannot truncate it`,
      );
    return [a.slice(0, room - b.length), b];
  }
  if (strategy === 'only_second') {
    if (a.length > room)
      throw new Error(
        `pair ${row}: the first sequence alone (${a.length} tokens) exceeds the room of ${room}; 'only_second' cannot truncate it`,
      );
    return [a, b.slice(0, room - a.length)];
  }
  // longest_first, as tokenizers' Rust implementation computes it.
  let n1 = a.length;
  let n2 = b.length;
  const swap = n1 > n2;
  if (swap) [n1, n2] = [n2, n1];
  n2 = n1 > room ? n1 : Math.max(n1, room - n1);
  if (n1 + n2 > room) {
    n1 = Math.floor(room / 2);
    n2 = n1 + (room % 2);
  }
  if (swap) [n1, n2] = [n2, n1];
  return [a.slice(0, n1), b.slice(0, n2)];
}
