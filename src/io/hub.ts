// Resolves a model name the way transformers' `from_pretrained` does: a local directory as is,
// otherwise a Hugging Face Hub repo id, downloaded into (or found in) the standard Hugging Face cache
// (`models--org--name/{blobs,snapshots/<commit>,refs/<revision>}`), which Python's huggingface_hub
// shares: a model downloaded by either is found by the other.
import { downloadFileToCacheDir, getHFHubCachePath, HubApiError, modelInfo, pathsInfo } from '@huggingface/hub';
import { readdir, readFile, realpath, stat, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from './atomic.js';
import { readShardIndex, WEIGHT_FILES } from './weights.js';
import { log as diagnostics } from './log.js';

export interface ResolveOptions {
  /** Branch, tag or commit hash (default "main"). */
  revision?: string;
  /** Hub cache directory (default: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub). */
  cacheDir?: string;
  /** Never touch the network (default: $HF_HUB_OFFLINE). */
  offline?: boolean;
  /** Access token for private or gated repos (default: $HF_TOKEN, else the token `huggingface-cli login` saved). */
  token?: string;
  /** Hub endpoint (default: $HF_ENDPOINT, else https://huggingface.co). */
  hubUrl?: string;
  /** Progress and status lines (default: stderr). */
  log?: (s: string) => void;
  /**
   * Files to fetch instead of the default set (config.json and the tokenizer files that exist, plus
   * the weights). config.json is always fetched; listed files the repo lacks are skipped.
   */
  files?: string[];
  /** fetch used for every request (tests, proxies). */
  fetch?: typeof fetch;
}

/** Non-weight files fetched by default, when the repo has them. */
const DEFAULT_FILES: readonly string[] = [
  'config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'vocab.txt',
  'special_tokens_map.json',
];

const DEFAULT_HUB_URL = 'https://huggingface.co';

export class HubError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HubError';
  }
}

const TRUE_VALUES = new Set(['1', 'on', 'yes', 'true']);
const COMMIT_HASH = /^[0-9a-f]{40}$/;
// huggingface_hub's rule: [\w.-], optionally "namespace/", no "--" or "..", at most 96 characters.
const REPO_ID = /^(?:[\w][\w.-]*\/)?[\w][\w.-]*$/;

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(homedir(), p.slice(1)) : p;
}

/** The Hugging Face hub cache directory, resolved from the environment as huggingface_hub does. */
export function hubCacheDir(): string {
  return path.resolve(expandHome(getHFHubCachePath()));
}

function isOfflineFromEnv(): boolean {
  return TRUE_VALUES.has((process.env.HF_HUB_OFFLINE ?? '').trim().toLowerCase());
}

/** `models--org--name` folder of a repo inside the cache. */
export function repoCacheFolder(repoId: string, cacheDir: string = hubCacheDir()): string {
  return path.join(cacheDir, ['models', ...repoId.split('/')].join('--'));
}

function isRepoId(s: string): boolean {
  return REPO_ID.test(s) && s.length <= 96 && !s.includes('--') && !s.includes('..') && !/[.-]$/.test(s);
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

async function readToken(opts: ResolveOptions): Promise<string | undefined> {
  const direct = opts.token ?? process.env.HF_TOKEN ?? process.env.HUGGING_FACE_HUB_TOKEN;
  if (direct !== undefined && direct.trim() !== '') return direct.trim();
  // Where `huggingface-cli login` stores it.
  const hfHome =
    process.env.HF_HOME ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), '.cache'), 'huggingface');
  const file = process.env.HF_TOKEN_PATH ?? path.join(expandHome(hfHome), 'token');
  try {
    const t = (await readFile(expandHome(file), 'utf8')).trim();
    return t === '' ? undefined : t;
  } catch {
    return undefined;
  }
}

/** Revisions become paths under refs/, so they must stay inside it. */
function checkRevision(revision: string): void {
  const parts = revision.split('/');
  if (
    revision === '' ||
    path.isAbsolute(revision) ||
    revision.includes('\\') ||
    parts.some((p) => p === '' || p === '.' || p === '..')
  ) {
    throw new HubError(`revision ${JSON.stringify(revision)} is not a valid branch, tag or commit`);
  }
}

/**
 * The snapshot directory of a cached repo at `revision`, or undefined when the revision has not
 * been downloaded. Needs no network.
 */
export async function findCachedSnapshot(
  repoId: string,
  revision = 'main',
  cacheDir: string = hubCacheDir(),
): Promise<string | undefined> {
  const folder = repoCacheFolder(repoId, cacheDir);
  let commit = revision;
  if (!COMMIT_HASH.test(revision)) {
    checkRevision(revision);
    try {
      commit = (await readFile(path.join(folder, 'refs', revision), 'utf8')).trim();
    } catch {
      return undefined;
    }
    if (!COMMIT_HASH.test(commit)) return undefined;
  }
  const snapshot = path.join(folder, 'snapshots', commit);
  return (await isDir(snapshot)) ? snapshot : undefined;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} kB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

function describe(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = (e as { cause?: unknown }).cause;
  const causeMsg = cause instanceof Error && cause.message ? `: ${cause.message}` : '';
  const code = cause && typeof cause === 'object' && 'code' in cause ? String(cause.code) : '';
  return `${e.message}${causeMsg}${code && !causeMsg.includes(code) ? ` (${code})` : ''}`;
}

function offlineHelp(repoId: string, cacheDir: string, why: string): HubError {
  return new HubError(
    `${repoId} is not in the Hugging Face cache at ${cacheDir} and the Hub cannot be reached (${why}). ` +
      `Download it once on a connected machine with \`npx bert-lab download ${repoId}\` or ` +
      `\`huggingface-cli download ${repoId}\` (then copy the cache, or set HF_HOME/HF_HUB_CACHE to it), ` +
      `or copy the model's folder and pass --model DIR`,
  );
}

/**
 * Wraps fetch so that metadata requests time out (a dead network fails in seconds, not minutes),
 * while the long body downloads do not.
 */
function withTimeout(base: typeof fetch, ms: number): typeof fetch {
  const wrapped = (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]): Promise<Response> => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const headers = new Headers(init?.headers);
    const isBody = url.includes('/resolve/') && !headers.has('range') && (init?.method ?? 'GET') === 'GET';
    if (isBody || init?.signal) return base(input, init);
    return base(input, { ...init, signal: AbortSignal.timeout(ms) });
  };
  return wrapped;
}

/** Reports the growth of `blobs/*.incomplete` while a file downloads, whatever transport the library uses. */
function watchProgress(blobsDir: string, name: string, total: number, log: (s: string) => void): () => void {
  const started = Date.now();
  let lastLogged = started;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void (async () => {
      try {
        let size = 0;
        for (const f of await readdir(blobsDir)) {
          if (f.endsWith('.incomplete')) size = Math.max(size, (await stat(path.join(blobsDir, f))).size);
        }
        if (size > 0 && Date.now() - lastLogged >= 2000) {
          lastLogged = Date.now();
          const pct = total > 0 ? ` (${Math.floor((100 * size) / total)}%)` : '';
          log(`  ${name}: ${formatBytes(size)} / ${formatBytes(total)}${pct}`);
        }
      } catch {
        // The blobs folder may not exist yet; the next tick retries.
      } finally {
        busy = false;
      }
    })();
  }, 500);
  timer.unref();
  return () => clearInterval(timer);
}

let quietDepth = 0;
let originalDebug: typeof console.debug = console.debug;

/** Runs `fn` with the library's per-file `console.debug("Downloading …")` line muted: we print our own progress. */
async function quietLibrary<T>(fn: () => Promise<T>): Promise<T> {
  // Counted, so overlapping downloads restore the real console.debug only when the last one ends.
  if (quietDepth++ === 0) {
    originalDebug = console.debug;
    const real = originalDebug;
    console.debug = (...args: unknown[]): void => {
      if (typeof args[0] === 'string' && args[0].startsWith('Downloading ')) return;
      real(...args);
    };
  }
  try {
    return await fn();
  } finally {
    if (--quietDepth === 0) console.debug = originalDebug;
  }
}

interface HubContext {
  repoId: string;
  revision: string;
  commit: string;
  hubUrl: string;
  cacheDir: string;
  accessToken?: string;
  fetch: typeof fetch;
  log: (s: string) => void;
}

function hubParams(ctx: HubContext): { hubUrl: string; fetch: typeof fetch; accessToken?: string } {
  return { hubUrl: ctx.hubUrl, fetch: ctx.fetch, ...(ctx.accessToken ? { accessToken: ctx.accessToken } : {}) };
}

async function downloadFiles(ctx: HubContext, wanted: string[]): Promise<void> {
  const snapshot = path.join(repoCacheFolder(ctx.repoId, ctx.cacheDir), 'snapshots', ctx.commit);
  let infos: { path: string; type: string; size: number; lfs?: { size: number } }[];
  try {
    infos = await pathsInfo({
      repo: { type: 'model', name: ctx.repoId },
      paths: wanted,
      revision: ctx.commit,
      ...hubParams(ctx),
    });
  } catch (e) {
    throw new HubError(`listing files of ${ctx.repoId}@${ctx.commit} on ${ctx.hubUrl} failed: ${describe(e)}`, {
      cause: e,
    });
  }
  const sizes = new Map(infos.filter((i) => i.type === 'file').map((i) => [i.path, i.lfs?.size ?? i.size]));
  for (const file of wanted) {
    const size = sizes.get(file);
    if (size === undefined) continue;
    if (await exists(path.join(snapshot, file))) continue;
    ctx.log(`downloading ${ctx.repoId}/${file} (${formatBytes(size)})`);
    const started = Date.now();
    const stop = watchProgress(path.join(repoCacheFolder(ctx.repoId, ctx.cacheDir), 'blobs'), file, size, ctx.log);
    try {
      await quietLibrary(() =>
        downloadFileToCacheDir({
          repo: { type: 'model', name: ctx.repoId },
          path: file,
          revision: ctx.commit,
          cacheDir: ctx.cacheDir,
          ...hubParams(ctx),
        }),
      );
    } catch (e) {
      throw new HubError(`downloading ${file} of ${ctx.repoId} from ${ctx.hubUrl} failed: ${describe(e)}`, {
        cause: e,
      });
    } finally {
      stop();
    }
    const got = (await stat(path.join(snapshot, file))).size;
    if (got !== size) {
      // Drop the bad copy, or the next run would take it for a finished download.
      const pointer = path.join(snapshot, file);
      await unlink(await realpath(pointer)).catch(() => undefined);
      await unlink(pointer).catch(() => undefined);
      throw new HubError(
        `downloading ${file} of ${ctx.repoId}: got ${got} bytes, the Hub lists ${size}; run again to retry`,
      );
    }
    ctx.log(`  ${file}: ${formatBytes(got)} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}

/** Shard file names listed by a `*.index.json` weight map. */
async function shardsOf(indexFile: string): Promise<string[]> {
  try {
    return [...new Set((await readShardIndex(indexFile)).values())];
  } catch (e) {
    throw new HubError((e as Error).message, { cause: e });
  }
}

async function useCache(
  repoId: string,
  revision: string,
  cacheDir: string,
  why: string,
  log: (s: string) => void,
): Promise<string> {
  const cached = await findCachedSnapshot(repoId, revision, cacheDir);
  if (!cached) throw offlineHelp(repoId, cacheDir, why);
  if (!(await exists(path.join(cached, 'config.json')))) {
    throw new HubError(
      `${repoId} is in the Hugging Face cache at ${cached} but without config.json, and the Hub cannot be reached (${why})`,
    );
  }
  log(`using cached ${repoId} (${revision}) from ${cached}`);
  return cached;
}

/**
 * Returns a local directory holding the model's files: `nameOrPath` itself when it is a directory
 * (it must contain config.json), else the cache snapshot of the Hub repo `nameOrPath`, downloading
 * what is missing. Offline, or when the Hub cannot be reached, a cached snapshot is used.
 *
 * Args:
 *   nameOrPath: a local directory or a Hub id such as "bert-base-uncased".
 *   opts: revision, cacheDir, offline, token, hubUrl, log, files, fetch.
 *
 * Example: `const dir = await resolveModel('google/bert_uncased_L-4_H-256_A-4');`
 */
export async function resolveModel(nameOrPath: string, opts: ResolveOptions = {}): Promise<string> {
  const log = opts.log ?? diagnostics.info;
  const local = path.resolve(expandHome(nameOrPath));
  if (await isDir(local)) {
    if (!(await exists(path.join(local, 'config.json')))) {
      throw new HubError(
        `model directory ${local} has no config.json: pass the folder that holds the model's config.json and weights`,
      );
    }
    return local;
  }
  if (await exists(local))
    throw new HubError(`${local} is a file: pass the directory that holds config.json and the weights`);
  const looksLikePath =
    nameOrPath.startsWith('.') || nameOrPath.startsWith('/') || nameOrPath.startsWith('~') || nameOrPath.includes('\\');
  if (looksLikePath || !isRepoId(nameOrPath)) {
    throw new HubError(
      `model directory ${local} does not exist, and "${nameOrPath}" is not a Hugging Face Hub id (like "bert-base-uncased" or "google/bert_uncased_L-4_H-256_A-4")`,
    );
  }

  const repoId = nameOrPath;
  const revision = opts.revision ?? 'main';
  checkRevision(revision);
  const cacheDir = path.resolve(expandHome(opts.cacheDir ?? hubCacheDir()));
  const offline = opts.offline ?? isOfflineFromEnv();
  if (offline) {
    const why = opts.offline === undefined ? 'HF_HUB_OFFLINE is set' : 'offline mode';
    return useCache(repoId, revision, cacheDir, why, log);
  }

  const hubUrl = (opts.hubUrl ?? process.env.HF_ENDPOINT ?? DEFAULT_HUB_URL).replace(/\/+$/, '');
  const accessToken = await readToken(opts);
  if (accessToken !== undefined && !accessToken.startsWith('hf_')) {
    throw new HubError(
      'the Hugging Face access token (from the token option, HF_TOKEN or the saved login) must start with "hf_"',
    );
  }
  const timeoutS = Number(process.env.HF_HUB_ETAG_TIMEOUT ?? 10);
  const ctxFetch = withTimeout(opts.fetch ?? fetch, (Number.isFinite(timeoutS) && timeoutS > 0 ? timeoutS : 10) * 1000);
  const base = {
    repoId,
    revision,
    commit: revision,
    hubUrl,
    cacheDir,
    fetch: ctxFetch,
    log,
    ...(accessToken ? { accessToken } : {}),
  };

  let commit: string;
  try {
    const info = await modelInfo({ name: repoId, revision, additionalFields: ['sha'], ...hubParams(base) });
    if (typeof info.sha !== 'string' || !COMMIT_HASH.test(info.sha))
      throw new HubError(`the Hub at ${hubUrl} answered without a commit hash for ${repoId}@${revision}`);
    commit = info.sha;
  } catch (e) {
    if (e instanceof HubError) throw e;
    if (e instanceof HubApiError && e.statusCode < 500) {
      if (e.statusCode === 401 || e.statusCode === 403) {
        throw new HubError(
          `${repoId} on ${hubUrl} needs access: it is private or gated. Accept its terms on the Hub and set HF_TOKEN (${e.message})`,
          { cause: e },
        );
      }
      if (e.statusCode === 404) {
        throw new HubError(
          `${repoId} (revision "${revision}") was not found on ${hubUrl}: check the name and revision; private repos need HF_TOKEN (${e.message})`,
          { cause: e },
        );
      }
      throw new HubError(`the Hub at ${hubUrl} refused ${repoId}: ${e.message}`, { cause: e });
    }
    // Network failure or a server error: fall back to the cache, as huggingface_hub does.
    return useCache(repoId, revision, cacheDir, `network error reaching ${hubUrl}: ${describe(e)}`, log);
  }

  const ctx: HubContext = { ...base, commit };
  if (revision !== commit)
    await writeFileAtomic(path.join(repoCacheFolder(repoId, cacheDir), 'refs', revision), commit);
  const snapshot = path.join(repoCacheFolder(repoId, cacheDir), 'snapshots', commit);

  if (opts.files) {
    await downloadFiles(ctx, [...new Set(['config.json', ...opts.files])]);
  } else {
    const candidates = [...DEFAULT_FILES, ...WEIGHT_FILES];
    let present: Set<string>;
    try {
      present = new Set(
        (
          await pathsInfo({
            repo: { type: 'model', name: repoId },
            paths: candidates,
            revision: commit,
            ...hubParams(ctx),
          })
        )
          .filter((i) => i.type === 'file')
          .map((i) => i.path),
      );
    } catch (e) {
      throw new HubError(`listing files of ${repoId}@${commit} on ${hubUrl} failed: ${describe(e)}`, { cause: e });
    }
    const weights = WEIGHT_FILES.find((w) => present.has(w));
    if (!weights) {
      throw new HubError(
        `${repoId}@${revision} on ${hubUrl} has none of ${WEIGHT_FILES.join(', ')}: bert-lab cannot load its weights`,
      );
    }
    await downloadFiles(ctx, [...DEFAULT_FILES.filter((f) => present.has(f)), weights]);
    if (weights.endsWith('.index.json')) await downloadFiles(ctx, await shardsOf(path.join(snapshot, weights)));
  }
  if (!(await exists(path.join(snapshot, 'config.json')))) {
    throw new HubError(`${repoId}@${revision} on ${hubUrl} has no config.json: it is not a transformers model repo`);
  }
  return snapshot;
}
