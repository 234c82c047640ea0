/**
 * The model cache from the page: the worker keeps model bytes in a Cache API bucket that the page
 * shares (same origin), so asking about it or clearing it needs no worker and no model load.
 */
import { loadModelManifest } from '../core/manifest.js';
import { cacheKey, deleteVersions } from '../worker/model-bytes.js';
import { resolvePoolOptions } from './config.js';

/** The cache bucket's name, or null when caching is off or the Cache API is missing. */
function cacheName(): string | null {
  return typeof caches === 'undefined' ? null : resolvePoolOptions().cacheName;
}

/**
 * Whether the current version of a model's file (`precision`, default `fp32`) is in the cache, so
 * loading it downloads nothing. A file without a SHA-256 counts when it has an entry: the load
 * still asks the server whether it changed. False when caching is off or unavailable.
 */
export async function isModelCached(manifestUrl: string | URL, options: { precision?: string } = {}): Promise<boolean> {
  const name = cacheName();
  if (name === null) return false;
  const file = (await loadModelManifest(String(manifestUrl))).files[options.precision ?? 'fp32'];
  // caches.match, not caches.open: a question must not create the bucket.
  return file !== undefined && (await caches.match(cacheKey(file), { cacheName: name }).catch(() => undefined)) !== undefined;
}

/**
 * Delete cached model bytes: with a manifest URL, every version of that model's files (all
 * precisions and exact-map stages); without, the whole cache. Models already loaded stay loaded.
 */
export async function clearModelCache(manifestUrl?: string | URL): Promise<void> {
  const name = cacheName();
  if (name === null) return;
  if (manifestUrl === undefined) {
    await caches.delete(name).catch(() => false);
    return;
  }
  const manifest = await loadModelManifest(String(manifestUrl));
  const keys = [...Object.values(manifest.files), ...manifest.stages ?? []].map(cacheKey);
  // Not caches.open first: clearing must not create the bucket. Where the Cache API throws, nothing was stored.
  if (await caches.has(name).catch(() => false)) await deleteVersions(await caches.open(name), keys).catch(() => undefined);
}
