/**
 * The model cache: old versions are deleted once a new one is stored, files without SHA-256 are
 * revalidated with the server, and the page can ask about or clear it (isModelCached, clearModelCache).
 * `/__versioned/*` is a model that changes on the server (scripts/server-options.mjs).
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
const image = noiseImage(16, 16, 11);

interface ServerState { requests: { ifNoneMatch?: string; ifModifiedSince?: string; status: number | 'dropped' }[] }

/** Switch the model on the server (see versionedModel in scripts/server-options.mjs); clears its log. */
async function serve(version: 'a' | 'b', options: { validators?: 'both' | 'etag' | 'last-modified' | 'none'; offline?: boolean } = {}): Promise<void> {
  const query = new URLSearchParams({ set: version, validators: options.validators ?? 'both', ...(options.offline ? { offline: '1' } : {}) });
  await fetch(`/__versioned?${query}`);
}

async function modelRequests(): Promise<ServerState['requests']> {
  return ((await (await fetch('/__versioned')).json()) as ServerState).requests;
}

async function cachedUrls(): Promise<string[]> {
  return (await (await caches.open(CACHE)).keys()).map((request) => request.url);
}

/** The cached entries of the versioned model file. */
async function versionedEntries(): Promise<string[]> {
  return (await cachedUrls()).filter((url) => url.startsWith(`${MODEL_FILE}?`));
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

  it('a file without SHA-256 that did not change: one conditional request (If-None-Match), answered 304', async () => {
    const first = await load(SIZED);
    await serve('a');
    const again = await load(SIZED);
    expect(again.phases).to.include('cache').and.not.include('download');
    const requests = await modelRequests();
    expect(requests).to.have.length(1);
    expect(requests[0]).to.include({ status: 304 });
    expect(requests[0]!.ifNoneMatch).to.be.a('string').and.match(/^"[0-9a-f]{16}"$/);
    expect(again.logits).to.deep.equal(first.logits);
  });

  it('revalidates with If-Modified-Since when the server sends only Last-Modified', async () => {
    await serve('a', { validators: 'last-modified' });
    const first = await load(SIZED);
    await serve('a', { validators: 'last-modified' });
    const again = await load(SIZED);
    expect(again.phases).to.include('cache').and.not.include('download');
    expect((await modelRequests())[0]).to.include({ ifModifiedSince: 'Mon, 01 Jan 2024 00:00:00 GMT', status: 304 });

    await serve('b', { validators: 'last-modified' });
    const updated = await load(SIZED);
    expect((await modelRequests())[0]).to.include({ status: 200 });
    expect(relativeError(updated.logits, first.logits.map((x) => 2 * x))).to.be.below(1e-6);
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
