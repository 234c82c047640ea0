/**
 * The model cache: old versions are deleted once a new one is stored (never on a cache hit), files
 * without SHA-256 are revalidated with the server by a HEAD request (no CORS preflight, so model hosts
 * on another origin work too), and the page can ask about or clear it (isModelCached, clearModelCache).
 * `/__versioned/*` is a model that changes on the server (scripts/server-options.mjs); from the other
 * host name (localhost ↔ 127.0.0.1) it is a model host on another origin.
 */
import { expect } from '@esm-bundle/chai';
import { BagnetError } from '../src/core/errors.js';
import { configure, resolvePoolOptions } from '../src/pool/config.js';
import { clearModelCache, isModelCached } from '../src/pool/model-cache.js';
import { classify, disposePool, InferencePool, type ProgressInfo } from '../src/pool/pool.js';
import { NARROW_MODEL, noiseImage, relativeError, settle, SYNTHETIC_MODEL } from './helpers.js';

const CACHE = 'bagnet-model-cache-test';
const CHECKED = new URL('/__versioned/checked', location.href).href; // with the SHA-256
const SIZED = new URL('/__versioned/sized', location.href).href; // bytes only
const MODEL_FILE = new URL('/__versioned/model', location.href).href;
/** The same server under the other host name: another origin that allows any (Access-Control-Allow-Origin: *). */
const OTHER_ORIGIN = `${location.protocol}//${location.hostname === 'localhost' ? '127.0.0.1' : 'localhost'}:${location.port}`;
const CROSS_SIZED = `${OTHER_ORIGIN}/__versioned/sized`;
const CROSS_MODEL_FILE = `${OTHER_ORIGIN}/__versioned/model`;
const image = noiseImage(16, 16, 11);

interface ServerState {
  requests: { method: string; ifNoneMatch?: string; ifModifiedSince?: string; status: number | 'dropped' | 'refused' }[];
}

interface ServeOptions {
  validators?: 'both' | 'etag' | 'last-modified' | 'none';
  /** Model requests lose their connection. */
  offline?: boolean;
  /** Requests with If-None-Match / If-Modified-Since lose their connection, as when their CORS preflight fails. */
  rejectConditional?: boolean;
  /** The status HEAD gets (default 200). */
  head?: number;
  /** Access-Control-Expose-Headers: ETag. */
  exposeEtag?: boolean;
}

/** Switch the model on the server (see versionedModel in scripts/server-options.mjs); clears its log. */
async function serve(version: 'a' | 'b', options: ServeOptions = {}): Promise<void> {
  const query = new URLSearchParams({
    set: version, validators: options.validators ?? 'both',
    ...(options.offline ? { offline: '1' } : {}),
    ...(options.rejectConditional ? { conditional: 'reject' } : {}),
    ...(options.head ? { head: String(options.head) } : {}),
    ...(options.exposeEtag ? { expose: '1' } : {}),
  });
  await fetch(`/__versioned?${query}`);
}

async function modelRequests(): Promise<ServerState['requests']> {
  return ((await (await fetch('/__versioned')).json()) as ServerState).requests;
}

/** The model requests since the last `serve`, as `METHOD status`. */
async function requestLines(): Promise<string[]> {
  return (await modelRequests()).map((r) => `${r.method} ${r.status}`);
}

async function cachedUrls(): Promise<string[]> {
  return (await (await caches.open(CACHE)).keys()).map((request) => request.url);
}

/** The cached entries of the versioned model file (or of the same file from the other origin). */
async function versionedEntries(file = MODEL_FILE): Promise<string[]> {
  return (await cachedUrls()).filter((url) => url.startsWith(`${file}?`)).sort();
}

/** Classify in a fresh pool (a new worker: nothing in memory, like a new page); the logits and the load's phases. */
async function load(model: string): Promise<{ logits: number[]; phases: string[] }> {
  disposePool();
  configure({ idleReleaseMs: 10_000, sharedWorker: false, cache: CACHE });
  const phases: ProgressInfo['phase'][] = [];
  const result = await classify(image, { model, backend: 'wasm', onProgress: (p) => phases.push(p.phase) });
  return { logits: [...result.logits], phases };
}

/** The logits of the file the server has now, from a pool that never caches. */
async function uncachedLogits(model: string): Promise<number[]> {
  const pool = new InferencePool({ ...resolvePoolOptions(), cacheName: null });
  try {
    return [...(await pool.classify(image, { model, backend: 'wasm' })).logits];
  } finally {
    pool.dispose();
  }
}

describe('the model cache', () => {
  beforeEach(async () => {
    disposePool();
    configure({ cache: CACHE });
    await caches.delete(CACHE);
    await serve('a');
  });
  after(async () => {
    disposePool();
    await caches.delete(CACHE);
    await serve('a');
  });

  it('a model update deletes the cached entries of the old version once the new one is stored', async () => {
    const first = await load(CHECKED);
    const { sha256: shaA } = (await (await fetch(CHECKED)).json()).files.fp32;
    expect(await versionedEntries()).to.deep.equal([`${MODEL_FILE}?bagnet-cache=${shaA}`]);

    await serve('b');
    const second = await load(CHECKED);
    const { sha256: shaB } = (await (await fetch(CHECKED)).json()).files.fp32;
    expect(shaB).not.to.equal(shaA);
    expect(second.phases).to.include('download');
    // Version b doubles every weight: twice the logits.
    expect(relativeError(second.logits, first.logits.map((x) => 2 * x))).to.be.below(1e-6);
    expect(await versionedEntries(), 'only the new version is left').to.deep.equal([`${MODEL_FILE}?bagnet-cache=${shaB}`]);

    // With a SHA-256 the manifest names the version: the next load asks the server nothing.
    await serve('b');
    const third = await load(CHECKED);
    expect(third.phases).to.include('cache').and.not.include('download');
    expect(await modelRequests()).to.deep.equal([]);
    expect(third.logits).to.deep.equal(second.logits);
  });

  it('a same-size retrained model without SHA-256 is served new after the update', async () => {
    const first = await load(SIZED);
    expect(first.phases).to.include('download');
    expect(await versionedEntries()).to.have.length(1);

    // Retrained (same size, new weights): the new bytes replace the entry.
    await serve('b');
    const updated = await load(SIZED);
    expect(relativeError(updated.logits, await uncachedLogits(SIZED))).to.be.below(1e-6);
    expect(relativeError(updated.logits, first.logits.map((x) => 2 * x))).to.be.below(1e-6);
    expect(updated.phases).to.include('download');
    expect(await versionedEntries()).to.have.length(1);

    // And the new version is what the cache serves from now on.
    await serve('b');
    const cached = await load(SIZED);
    expect(cached.phases).to.include('cache').and.not.include('download');
    expect(cached.logits).to.deep.equal(updated.logits);
  });

  it('an entry that earlier releases keyed by size only is replaced at the next load', async () => {
    const bytes = await (await fetch(MODEL_FILE, { cache: 'no-store' })).arrayBuffer();
    await (await caches.open(CACHE)).put(`${MODEL_FILE}?bagnet-cache=bytes-${bytes.byteLength}`, new Response(bytes));
    await serve('a');
    const loaded = await load(SIZED);
    expect(loaded.phases).to.include('download');
    expect((await modelRequests()).map((r) => r.status)).to.deep.equal([200]);
    expect(await versionedEntries()).to.deep.equal([`${MODEL_FILE}?bagnet-cache=revalidate`]);
  });

  it('a file without SHA-256 that did not change: one HEAD request, without conditional headers', async () => {
    const first = await load(SIZED);
    await serve('a');
    const again = await load(SIZED);
    expect(again.phases).to.include('cache').and.not.include('download');
    expect(await modelRequests()).to.deep.equal([{ method: 'HEAD', status: 200 }]);
    expect(again.logits).to.deep.equal(first.logits);
  });

  it('compares Last-Modified when the server sends only that', async () => {
    await serve('a', { validators: 'last-modified' });
    const first = await load(SIZED);
    await serve('a', { validators: 'last-modified' });
    const again = await load(SIZED);
    expect(again.phases).to.include('cache').and.not.include('download');
    expect(await modelRequests()).to.deep.equal([{ method: 'HEAD', status: 200 }]);

    await serve('b', { validators: 'last-modified' });
    const updated = await load(SIZED);
    expect(await requestLines()).to.deep.equal(['HEAD 200', 'GET 200']);
    expect(updated.phases).to.include('download');
    expect(relativeError(updated.logits, first.logits.map((x) => 2 * x))).to.be.below(1e-6);
    expect(await versionedEntries()).to.have.length(1);
  });

  it('sees an update where conditional requests fail (as a cross-origin one does when its CORS preflight fails)', async () => {
    await serve('a', { rejectConditional: true });
    const first = await load(SIZED);
    await serve('b', { rejectConditional: true });
    const updated = await load(SIZED);
    expect((await modelRequests()).map((r) => r.status), 'no request carried If-None-Match / If-Modified-Since').not.to.include('refused');
    expect(updated.phases).to.include('download');
    expect(relativeError(updated.logits, first.logits.map((x) => 2 * x)), 'version b, not the cached a').to.be.below(1e-6);
    expect(await versionedEntries()).to.have.length(1);
  });

  it('a model host on another origin with only Access-Control-Allow-Origin: one HEAD per load, Last-Modified compared', async () => {
    const first = await load(CROSS_SIZED);
    expect(first.phases).to.include('download');
    const [entry] = await versionedEntries(CROSS_MODEL_FILE);
    const stored = (await (await caches.open(CACHE)).match(entry!))!.headers;
    // The validators HEAD answers are compared with (x-bagnet-content-length: the server's Content-Length).
    expect(stored.get('etag'), 'not exposed: not readable').to.equal(null);
    expect(stored.get('last-modified')).to.equal('Mon, 01 Jan 2024 00:00:00 GMT');
    expect(stored.get('x-bagnet-content-length')).to.equal(String((await fetch(CROSS_SIZED).then((r) => r.json())).files.fp32.bytes));

    await serve('a');
    const again = await load(CROSS_SIZED);
    expect(await requestLines(), 'no CORS preflight').to.deep.equal(['HEAD 200']);
    expect(again.phases).to.include('cache').and.not.include('download');
    expect(again.logits).to.deep.equal(first.logits);

    await serve('b');
    const updated = await load(CROSS_SIZED);
    expect(await requestLines()).to.deep.equal(['HEAD 200', 'GET 200']);
    expect(relativeError(updated.logits, first.logits.map((x) => 2 * x)), 'version b, not the cached a').to.be.below(1e-6);
    expect(await versionedEntries(CROSS_MODEL_FILE)).to.have.length(1);

    await serve('b');
    const cached = await load(CROSS_SIZED);
    expect(cached.phases).to.include('cache').and.not.include('download');
    expect(cached.logits).to.deep.equal(updated.logits);
  });

  it('a model host on another origin that sends only an ETag: cached when it exposes ETag, compared by it', async () => {
    await serve('a', { validators: 'etag' });
    await load(CROSS_SIZED);
    expect(await versionedEntries(CROSS_MODEL_FILE), 'nothing readable to compare: not cached').to.deep.equal([]);

    await serve('a', { validators: 'etag', exposeEtag: true });
    const first = await load(CROSS_SIZED);
    expect(await versionedEntries(CROSS_MODEL_FILE)).to.have.length(1);
    await serve('a', { validators: 'etag', exposeEtag: true });
    const again = await load(CROSS_SIZED);
    expect(await requestLines()).to.deep.equal(['HEAD 200']);
    expect(again.phases).to.include('cache').and.not.include('download');

    await serve('b', { validators: 'etag', exposeEtag: true });
    const updated = await load(CROSS_SIZED);
    expect(await requestLines()).to.deep.equal(['HEAD 200', 'GET 200']);
    expect(relativeError(updated.logits, first.logits.map((x) => 2 * x))).to.be.below(1e-6);
  });

  it('a host that refuses HEAD: a conditional GET for same-origin files; other failures keep the cached bytes', async () => {
    await serve('a', { head: 405 });
    const first = await load(SIZED);
    await serve('a', { head: 405 });
    const again = await load(SIZED);
    expect(await requestLines()).to.deep.equal(['HEAD 405', 'GET 304']);
    expect((await modelRequests())[1]!.ifNoneMatch).to.be.a('string').and.match(/^"[0-9a-f]{16}"$/);
    expect(again.phases).to.include('cache').and.not.include('download');

    await serve('b', { head: 501 });
    const updated = await load(SIZED);
    expect(await requestLines()).to.deep.equal(['HEAD 501', 'GET 200']);
    expect(relativeError(updated.logits, first.logits.map((x) => 2 * x))).to.be.below(1e-6);

    // Any other error: the cached bytes, as offline.
    await serve('a', { head: 503 });
    const failed = await load(SIZED);
    expect(await requestLines()).to.deep.equal(['HEAD 503']);
    expect(failed.logits).to.deep.equal(updated.logits);

    // Another origin: a conditional GET could need a preflight the host refuses; the cached bytes.
    await serve('a');
    await load(CROSS_SIZED);
    await serve('b', { head: 405 });
    const cross = await load(CROSS_SIZED);
    expect(await requestLines()).to.deep.equal(['HEAD 405']);
    expect(cross.logits).to.deep.equal(first.logits);
  });

  it('two manifest versions in use at once (a rollout): a cache hit deletes no other version', async () => {
    const first = await load(CHECKED);
    const { sha256: shaA } = (await (await fetch(CHECKED)).json()).files.fp32;
    // A tab with the new manifest stored version b beside it (and was closed before it deleted a).
    await serve('b');
    const { sha256: shaB } = (await (await fetch(CHECKED)).json()).files.fp32;
    const bytesB = await (await fetch(MODEL_FILE, { cache: 'no-store' })).arrayBuffer();
    await (await caches.open(CACHE)).put(`${MODEL_FILE}?bagnet-cache=${shaB}`, new Response(bytesB));
    const both = [`${MODEL_FILE}?bagnet-cache=${shaA}`, `${MODEL_FILE}?bagnet-cache=${shaB}`].sort();

    await serve('a');
    const a = await load(CHECKED);
    expect(a.phases).to.include('cache').and.not.include('download');
    expect(await versionedEntries(), "b's entry survives a's cache hit").to.deep.equal(both);

    await serve('b');
    const b = await load(CHECKED);
    expect(b.phases).to.include('cache').and.not.include('download');
    expect(await modelRequests()).to.deep.equal([]);
    expect(relativeError(b.logits, first.logits.map((x) => 2 * x))).to.be.below(1e-6);
    expect(await versionedEntries(), "a's entry survives b's cache hit").to.deep.equal(both);

    await serve('a');
    expect((await load(CHECKED)).logits).to.deep.equal(first.logits);
    expect(await versionedEntries()).to.deep.equal(both);
  });

  it('uses the cached bytes when the revalidation fails (offline)', async () => {
    const first = await load(SIZED);
    await serve('b', { offline: true });
    const offline = await load(SIZED);
    expect((await modelRequests()).map((r) => r.status)).to.include('dropped'); // it did ask
    expect(offline.phases).to.include('cache').and.not.include('download');
    expect(offline.logits).to.deep.equal(first.logits);
    expect(await versionedEntries()).to.have.length(1);
  });

  it('does not cache a file without SHA-256 whose response has no validators', async () => {
    await serve('a', { validators: 'none' });
    await load(SIZED);
    expect(await versionedEntries()).to.deep.equal([]);
    await serve('b', { validators: 'none' });
    const updated = await load(SIZED);
    expect(updated.phases).to.include('download');
    expect(relativeError(updated.logits, await uncachedLogits(SIZED))).to.be.below(1e-6);
    expect(await versionedEntries()).to.deep.equal([]);
  });

  it('isModelCached: false before the first load, true after; per precision; false with caching off', async () => {
    expect(await isModelCached(CHECKED)).to.equal(false);
    await load(CHECKED);
    expect(await isModelCached(CHECKED)).to.equal(true);
    expect(await isModelCached(CHECKED, { precision: 'fp16' }), 'the manifest has no fp16 file').to.equal(false);
    // A new version on the server is not cached yet, though the old one is.
    await serve('b');
    expect(await isModelCached(CHECKED)).to.equal(false);
    await serve('a');
    configure({ cache: false });
    expect(await isModelCached(CHECKED)).to.equal(false);
  });

  it('clearModelCache(url) deletes every version of that model\'s files and stages only; clearModelCache() all', async () => {
    await load(CHECKED);
    await load(SYNTHETIC_MODEL);
    // The narrow model's entries as a model update and an exact map leave them: its file, an older version, a stage.
    const narrow = (await (await fetch(NARROW_MODEL)).json()) as { files: { fp32: { sha256: string } }; stages: { url: string; sha256: string }[] };
    const narrowEntries = [
      `${new URL('model.onnx', NARROW_MODEL).href}?bagnet-cache=${narrow.files.fp32.sha256}`,
      `${new URL('model.onnx', NARROW_MODEL).href}?bagnet-cache=${'0'.repeat(64)}`,
      `${new URL(narrow.stages[2]!.url, NARROW_MODEL).href}?bagnet-cache=${narrow.stages[2]!.sha256}`,
    ];
    const cache = await caches.open(CACHE);
    for (const url of narrowEntries) await cache.put(url, new Response(new Uint8Array(4)));
    const others = await cachedUrls();
    expect(others).to.have.length(5);

    await clearModelCache(NARROW_MODEL);
    const left = await cachedUrls();
    expect(left).to.have.length(2);
    expect(left.some((url) => url.includes('/bagnet33-narrow/'))).to.equal(false);
    expect(await isModelCached(CHECKED)).to.equal(true);
    expect(await isModelCached(SYNTHETIC_MODEL)).to.equal(true);

    // Every version: the manifest now names version b, the cached entry is a's.
    await serve('b');
    await clearModelCache(CHECKED);
    expect(await versionedEntries()).to.deep.equal([]);
    expect(await isModelCached(SYNTHETIC_MODEL)).to.equal(true);

    await clearModelCache();
    expect(await isModelCached(SYNTHETIC_MODEL)).to.equal(false);
    expect((await caches.keys()).includes(CACHE)).to.equal(false);
  });

  it('clearModelCache does nothing with caching off; bad manifest URLs reject like the pool', async () => {
    await load(CHECKED);
    configure({ cache: false });
    await clearModelCache();
    await clearModelCache(CHECKED);
    configure({ cache: CACHE });
    expect(await isModelCached(CHECKED)).to.equal(true);

    const missing = await settle(isModelCached('/models/no-such-model/bagnet.json'));
    expect(missing.ok).to.equal(false);
    expect((missing as { error: unknown }).error).to.be.instanceOf(BagnetError).with.property('type', 'model-load');
    const notAManifest = await settle(clearModelCache('/models/default/samples.json'));
    expect(notAManifest.ok).to.equal(false);
    expect((notAManifest as { error: unknown }).error).to.be.instanceOf(BagnetError).with.property('type', 'model-invalid');
    expect(await isModelCached(CHECKED), 'a failed clear deletes nothing').to.equal(true);
  });
});
