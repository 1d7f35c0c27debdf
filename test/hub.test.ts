import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import { copyFile, lstat, mkdir, mkdtemp, readFile, readlink, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { findCachedSnapshot, HubError, hubCacheDir, repoCacheFolder, resolveModel } from '../src/io/hub.js';
import { readConfig } from '../src/model/config.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { needsShared, shared } from './shared.js';

const ENV_KEYS = [
  'HF_HOME',
  'HF_HUB_CACHE',
  'HUGGINGFACE_HUB_CACHE',
  'HF_HUB_OFFLINE',
  'HF_TOKEN',
  'HUGGING_FACE_HUB_TOKEN',
  'HF_TOKEN_PATH',
  'HF_ENDPOINT',
  'XDG_CACHE_HOME',
];
const savedEnv = new Map(ENV_KEYS.map((k) => [k, process.env[k]]));
let root = '';

before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'bert-lab-hub-'));
  // Nothing from the caller's environment (a real cache, a token) may leak into these tests.
  for (const k of ENV_KEYS) delete process.env[k];
  process.env.HF_HOME = path.join(root, 'hf-home-default');
});

after(async () => {
  for (const [k, v] of savedEnv) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await rm(root, { recursive: true, force: true });
});

const COMMIT = 'c0ffee0123456789abcdef0123456789abcdef01';
const quiet = (): void => undefined;

async function tempDir(name: string): Promise<string> {
  const dir = path.join(root, name);
  await mkdir(dir, { recursive: true });
  return dir;
}

/** Builds a cache entry with huggingface_hub's layout: blobs by hash, snapshot symlinks, refs/main. */
async function fakeCache(cacheDir: string, repoId: string, files: Record<string, string>): Promise<string> {
  const folder = repoCacheFolder(repoId, cacheDir);
  const snapshot = path.join(folder, 'snapshots', COMMIT);
  await mkdir(path.join(folder, 'blobs'), { recursive: true });
  await mkdir(snapshot, { recursive: true });
  await mkdir(path.join(folder, 'refs'), { recursive: true });
  for (const [name, src] of Object.entries(files)) {
    const hash = createHash('sha256')
      .update(await readFile(src))
      .digest('hex');
    await copyFile(src, path.join(folder, 'blobs', hash));
    await symlink(path.join('..', '..', 'blobs', hash), path.join(snapshot, name));
  }
  await writeFile(path.join(folder, 'refs', 'main'), COMMIT);
  return snapshot;
}

test('a local directory is used as is, and bad paths give clear errors', needsShared, async () => {
  const dir = shared('fixtures/parity/tiny-bert-cls');
  assert.equal(await resolveModel(dir, { log: quiet }), dir);
  const empty = await tempDir('empty-model');
  await assert.rejects(
    resolveModel(empty, { log: quiet }),
    (e: unknown) => e instanceof HubError && /model directory .*empty-model has no config\.json/.test(e.message),
  );
  await assert.rejects(
    resolveModel(path.join(dir, 'config.json'), { log: quiet }),
    /config\.json is a file: pass the directory/,
  );
  await assert.rejects(
    resolveModel('./no/such/model', { log: quiet }),
    /model directory .*no\/such\/model does not exist, and "\.\/no\/such\/model" is not a Hugging Face Hub id/,
  );
  await assert.rejects(resolveModel('not a repo!', { log: quiet, offline: true }), /is not a Hugging Face Hub id/);
  await assert.rejects(
    resolveModel('bert-base-uncased', { log: quiet, offline: true, revision: '../../x' }),
    /revision "\.\.\/\.\.\/x" is not a valid branch, tag or commit/,
  );
});

test(
  'a cache laid out like huggingface_hub resolves offline, through options or environment',
  needsShared,
  async () => {
    const cacheDir = await tempDir('cache-b/hub');
    const snapshot = await fakeCache(cacheDir, 'bert-base-uncased', {
      'config.json': shared('models/bert-base-uncased/config.json'),
      'vocab.txt': shared('models/bert-base-uncased/vocab.txt'),
      'tokenizer.json': shared('models/bert-base-uncased/tokenizer.json'),
    });
    await fakeCache(cacheDir, 'test-org/tiny-bert', {
      'config.json': shared('fixtures/parity/tiny-bert-cls/config.json'),
      'model.safetensors': shared('fixtures/parity/tiny-bert-cls/model.safetensors'),
    });
    const logs: string[] = [];
    assert.equal(
      await resolveModel('bert-base-uncased', { cacheDir, offline: true, log: (s) => logs.push(s) }),
      snapshot,
    );
    assert.match(logs.join('\n'), /using cached bert-base-uncased \(main\)/);
    assert.equal((await readConfig(snapshot)).vocab_size, 30522);

    // HF_HUB_OFFLINE + HF_HUB_CACHE, then HF_HOME (whose hub/ is the cache).
    process.env.HF_HUB_OFFLINE = '1';
    process.env.HF_HUB_CACHE = cacheDir;
    try {
      assert.equal(hubCacheDir(), cacheDir);
      const tiny = await resolveModel('test-org/tiny-bert', { log: quiet });
      assert.equal(tiny, path.join(cacheDir, 'models--test-org--tiny-bert', 'snapshots', COMMIT));
      assert.equal((await readSafetensors(path.join(tiny, 'model.safetensors'))).size, 41);
      delete process.env.HF_HUB_CACHE;
      process.env.HF_HOME = path.dirname(cacheDir);
      assert.equal(hubCacheDir(), cacheDir);
      assert.equal(await resolveModel('test-org/tiny-bert', { log: quiet }), tiny);
      assert.equal(
        await resolveModel('test-org/tiny-bert', { log: quiet, revision: COMMIT }),
        tiny,
        'a commit hash needs no ref',
      );
      assert.equal(await findCachedSnapshot('test-org/tiny-bert', 'v2', cacheDir), undefined);
    } finally {
      delete process.env.HF_HUB_OFFLINE;
      process.env.HF_HOME = path.join(root, 'hf-home-default');
    }
  },
);

test('offline or unreachable and not cached: an error that says what to do', async () => {
  const cacheDir = await tempDir('cache-c');
  await assert.rejects(resolveModel('bert-base-uncased', { cacheDir, offline: true, log: quiet }), (e: unknown) => {
    assert.ok(e instanceof HubError);
    assert.match(
      e.message,
      /^bert-base-uncased is not in the Hugging Face cache at .*cache-c and the Hub cannot be reached \(offline mode\)/,
    );
    assert.match(e.message, /`npx bert-lab download bert-base-uncased`/);
    assert.match(e.message, /`huggingface-cli download bert-base-uncased`/);
    assert.match(e.message, /pass --model DIR/);
    return true;
  });
  process.env.HF_HUB_OFFLINE = 'true';
  try {
    await assert.rejects(
      resolveModel('google/bert_uncased_L-4_H-256_A-4', { cacheDir, log: quiet }),
      /not in the Hugging Face cache .*\(HF_HUB_OFFLINE is set\)/,
    );
  } finally {
    delete process.env.HF_HUB_OFFLINE;
  }
  // A port that was just freed: the connection is refused at once.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  await assert.rejects(
    resolveModel('bert-base-uncased', { cacheDir, hubUrl: `http://127.0.0.1:${port}`, log: quiet }),
    /not in the Hugging Face cache .* cannot be reached \(network error reaching http:\/\/127\.0\.0\.1:\d+: fetch failed.*ECONNREFUSED/,
  );
});

interface FakeFile {
  body: Buffer;
  lfs: boolean;
  listedSize?: number;
}

/** A stand-in for the Hub's endpoints that @huggingface/hub's download path uses. */
class FakeHub {
  server: Server;
  url = '';
  requests: { method: string; url: string; auth?: string }[] = [];
  repos = new Map<string, Map<string, FakeFile>>();

  constructor() {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((e: unknown) => {
        res.writeHead(500).end(String(e));
      });
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private oid(f: FakeFile): string {
    if (f.lfs) return createHash('sha256').update(f.body).digest('hex');
    return createHash('sha1').update(`blob ${f.body.length}\0`).update(f.body).digest('hex');
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', this.url);
    this.requests.push({
      method: req.method ?? '',
      url: url.pathname,
      ...(req.headers.authorization ? { auth: req.headers.authorization } : {}),
    });
    const json = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers }).end(JSON.stringify(body));
    };
    let m = /^\/api\/models\/(.+)\/revision\/([^/]+)$/.exec(url.pathname);
    if (m && req.method === 'GET') {
      const [, repo, rev] = m;
      if (!this.repos.has(repo) || !['main', COMMIT].includes(decodeURIComponent(rev)))
        return json(404, { error: 'Repository not found' }, { 'X-Error-Code': 'RepoNotFound' });
      return json(200, {
        _id: 'x',
        id: repo,
        sha: COMMIT,
        private: false,
        gated: false,
        downloads: 0,
        likes: 0,
        lastModified: '2024-01-01T00:00:00.000Z',
      });
    }
    m = /^\/api\/models\/(.+)\/paths-info\/([^/]+)$/.exec(url.pathname);
    if (m && req.method === 'POST') {
      const files = this.repos.get(m[1]);
      if (!files || decodeURIComponent(m[2]) !== COMMIT) return json(404, { error: 'not found' });
      const { paths } = JSON.parse(Buffer.concat(chunks).toString()) as { paths: string[] };
      return json(
        200,
        paths
          .filter((p) => files.has(p))
          .map((p) => {
            const f = files.get(p) as FakeFile;
            const oid = createHash('sha1').update(`blob ${f.body.length}\0`).update(f.body).digest('hex');
            return {
              type: 'file',
              path: p,
              oid,
              size: f.listedSize ?? f.body.length,
              ...(f.lfs ? { lfs: { oid: this.oid(f), size: f.body.length, pointerSize: 134 } } : {}),
              lastCommit: { id: COMMIT, title: 'init', date: '2024-01-01T00:00:00.000Z' },
            };
          }),
      );
    }
    m = /^\/(.+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (m && (req.method === 'GET' || req.method === 'HEAD')) {
      const f = this.repos.get(m[1])?.get(m[3]);
      if (!f || decodeURIComponent(m[2]) !== COMMIT)
        return json(404, { error: 'Entry not found' }, { 'X-Error-Code': 'EntryNotFound' });
      const headers = {
        'Content-Type': 'application/octet-stream',
        ETag: `"${this.oid(f)}"`,
        'X-Repo-Commit': COMMIT,
        'Accept-Ranges': 'bytes',
      };
      const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
      if (range) {
        const start = Number(range[1]);
        const end = Math.min(Number(range[2]), f.body.length - 1);
        res.writeHead(206, {
          ...headers,
          'Content-Range': `bytes ${start}-${end}/${f.body.length}`,
          'Content-Length': String(end - start + 1),
        });
        return void res.end(f.body.subarray(start, end + 1));
      }
      res.writeHead(200, { ...headers, 'Content-Length': String(f.body.length) });
      return void res.end(f.body);
    }
    json(404, { error: `no route ${req.method} ${url.pathname}` });
  }
}

test(
  'downloads through @huggingface/hub into the shared cache layout, then resolves offline',
  needsShared,
  async () => {
    const hub = new FakeHub();
    const load = async (p: string, lfs = false): Promise<FakeFile> => ({ body: await readFile(p), lfs });
    hub.repos.set(
      'test-org/tiny-bert',
      new Map([
        ['config.json', await load(shared('fixtures/parity/tiny-bert-cls/config.json'))],
        ['model.safetensors', await load(shared('fixtures/parity/tiny-bert-cls/model.safetensors'), true)],
        ['pytorch_model.bin', { body: Buffer.from('not wanted when safetensors exist'), lfs: true }],
        ['vocab.txt', await load(shared('models/bert-base-uncased/vocab.txt'))],
        ['tokenizer.json', await load(shared('models/bert-base-uncased/tokenizer.json'))],
        ['tokenizer_config.json', await load(shared('models/bert-base-uncased/tokenizer_config.json'))],
        ['README.md', { body: Buffer.from('# tiny'), lfs: false }],
      ]),
    );
    hub.repos.set(
      'old-bert',
      new Map([
        ['config.json', await load(shared('models/bert-base-uncased/config.json'))],
        ['pytorch_model.bin', { body: Buffer.from('PK fake torch zip'), lfs: true }],
      ]),
    );
    const shard = (n: number): FakeFile => ({ body: Buffer.from(`shard ${n}`), lfs: true });
    hub.repos.set(
      'org/sharded',
      new Map([
        ['config.json', await load(shared('models/bert-base-uncased/config.json'))],
        [
          'model.safetensors.index.json',
          {
            body: Buffer.from(
              JSON.stringify({
                metadata: {},
                weight_map: {
                  a: 'model-00001-of-00002.safetensors',
                  b: 'model-00002-of-00002.safetensors',
                  c: 'model-00001-of-00002.safetensors',
                },
              }),
            ),
            lfs: false,
          },
        ],
        ['model-00001-of-00002.safetensors', shard(1)],
        ['model-00002-of-00002.safetensors', shard(2)],
        ['vocab.txt', { body: Buffer.from('[PAD]\n'), lfs: false }],
      ]),
    );
    hub.repos.set(
      'org/broken',
      new Map([
        ['config.json', { body: Buffer.from('{"model_type":"bert"}'), lfs: false, listedSize: 30 }],
        ['model.safetensors', { body: Buffer.from('x'), lfs: true }],
      ]),
    );
    await hub.start();
    try {
      const cacheDir = await tempDir('cache-d');
      const logs: string[] = [];
      const dir = await resolveModel('test-org/tiny-bert', {
        cacheDir,
        hubUrl: hub.url,
        token: 'hf_testtoken',
        log: (s) => logs.push(s),
      });
      const folder = path.join(cacheDir, 'models--test-org--tiny-bert');
      assert.equal(dir, path.join(folder, 'snapshots', COMMIT));
      assert.equal((await readFile(path.join(folder, 'refs', 'main'), 'utf8')).trim(), COMMIT);
      assert.deepEqual((await readdir(dir)).sort(), [
        'config.json',
        'model.safetensors',
        'tokenizer.json',
        'tokenizer_config.json',
        'vocab.txt',
      ]);
      const files = hub.repos.get('test-org/tiny-bert') as Map<string, FakeFile>;
      for (const name of await readdir(dir)) {
        const link = path.join(dir, name);
        assert.ok((await lstat(link)).isSymbolicLink(), `${name} is a symlink into blobs/`);
        assert.match(await readlink(link), /^\.\.\/\.\.\/blobs\/[0-9a-f]{40,64}$/);
        assert.deepEqual(await readFile(link), (files.get(name) as FakeFile).body, `${name} content`);
      }
      const st = files.get('model.safetensors') as FakeFile;
      const sha256 = createHash('sha256').update(st.body).digest('hex');
      assert.equal(
        await readlink(path.join(dir, 'model.safetensors')),
        `../../blobs/${sha256}`,
        'LFS blobs are named by sha256, as huggingface_hub does',
      );
      assert.ok(!(await readdir(path.join(folder, 'blobs'))).some((f) => f.endsWith('.incomplete')));
      assert.ok(
        hub.requests.every((r) => r.auth === 'Bearer hf_testtoken'),
        'every request carries the token',
      );
      assert.ok(!hub.requests.some((r) => r.url.endsWith('pytorch_model.bin') && r.url.includes('/resolve/')));
      const text = logs.join('\n');
      assert.match(text, /downloading test-org\/tiny-bert\/model\.safetensors \(148\.0 kB\)/);
      assert.match(text, /model\.safetensors: 148\.0 kB in \d+\.\d s/);
      assert.match(text, /downloading test-org\/tiny-bert\/config\.json \(\d+ B\)/);

      // The result loads.
      assert.equal((await readConfig(dir)).hidden_size, 32);
      assert.equal((await readSafetensors(path.join(dir, 'model.safetensors'))).size, 41);

      // Offline now resolves from the cache; online again downloads nothing.
      assert.equal(await resolveModel('test-org/tiny-bert', { cacheDir, offline: true, log: quiet }), dir);
      const before = hub.requests.length;
      assert.equal(await resolveModel('test-org/tiny-bert', { cacheDir, hubUrl: hub.url, log: quiet }), dir);
      assert.ok(!hub.requests.slice(before).some((r) => r.url.includes('/resolve/')), 'nothing downloaded twice');
      // After the Hub goes away, the cache still serves.
      await hub.stop();
      const fallback: string[] = [];
      assert.equal(
        await resolveModel('test-org/tiny-bert', { cacheDir, hubUrl: hub.url, log: (s) => fallback.push(s) }),
        dir,
      );
      assert.match(fallback.join('\n'), /using cached test-org\/tiny-bert/);
      await hub.start();

      // Without model.safetensors the PyTorch weights are taken; HF_ENDPOINT picks the Hub.
      process.env.HF_ENDPOINT = hub.url;
      try {
        const old = await resolveModel('old-bert', { cacheDir, log: quiet });
        assert.deepEqual((await readdir(old)).sort(), ['config.json', 'pytorch_model.bin']);
        // Sharded safetensors are followed through their index.
        const sharded = await resolveModel('org/sharded', { cacheDir, log: quiet });
        assert.deepEqual((await readdir(sharded)).sort(), [
          'config.json',
          'model-00001-of-00002.safetensors',
          'model-00002-of-00002.safetensors',
          'model.safetensors.index.json',
          'vocab.txt',
        ]);
        // An explicit file list replaces the defaults (config.json always comes along).
        const cacheE = await tempDir('cache-e');
        const few = await resolveModel('test-org/tiny-bert', {
          cacheDir: cacheE,
          files: ['vocab.txt', 'no-such-file.txt'],
          log: quiet,
        });
        assert.deepEqual((await readdir(few)).sort(), ['config.json', 'vocab.txt']);
        await assert.rejects(resolveModel('nobody/missing', { cacheDir, log: quiet }), (e: unknown) => {
          assert.ok(e instanceof HubError);
          assert.match(
            e.message,
            /^nobody\/missing \(revision "main"\) was not found on http:\/\/127\.0\.0\.1:\d+: check the name/,
          );
          return true;
        });
      } finally {
        delete process.env.HF_ENDPOINT;
      }
      await assert.rejects(
        resolveModel('old-bert', { cacheDir, hubUrl: hub.url, token: 'abc', log: quiet }),
        /token .* must start with "hf_"/,
      );
      // A short download is reported and not left in the cache to be taken for a complete one.
      await assert.rejects(
        resolveModel('org/broken', { cacheDir, hubUrl: hub.url, log: quiet }),
        /downloading config\.json of org\/broken: got 21 bytes, the Hub lists 30; run again to retry/,
      );
      const brokenSnapshot = path.join(cacheDir, 'models--org--broken', 'snapshots', COMMIT);
      assert.deepEqual(await readdir(brokenSnapshot), []);
      assert.deepEqual(await readdir(path.join(cacheDir, 'models--org--broken', 'blobs')), []);
    } finally {
      await hub.stop().catch(() => undefined);
    }
  },
);
