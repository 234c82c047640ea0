/**
 * Model bytes: fetched once with progress, kept in the Cache API under a versioned key, verified
 * against the manifest's SHA-256. Works without the Cache API (or when it throws).
 */
import { BagnetError } from '../core/errors.js';
import type { ModelFile } from '../core/manifest.js';

export interface ModelBytes {
  readonly bytes: Uint8Array;
  readonly source: 'network' | 'cache';
}

export interface FetchModelOptions {
  readonly cacheName: string | null;
  readonly onProgress?: (phase: 'download' | 'cache', loaded: number, total: number) => void;
  /** Resolve before the bytes are written to the Cache API. */
  readonly storeInBackground?: boolean;
}

/** The cache key: the file URL plus its content version, so a new model never hits an old entry. */
export function cacheKey(file: ModelFile): string | null {
  const version = file.sha256 ?? (file.bytes === undefined ? null : `bytes-${file.bytes}`);
  if (version === null) return null; // nothing to tell versions apart: do not cache
  const url = new URL(file.url);
  url.searchParams.set('bagnet-cache', version);
  return url.href;
}

async function openCache(name: string | null): Promise<Cache | null> {
  if (name === null || typeof caches === 'undefined') return null;
  try {
    return await caches.open(name);
  } catch {
    return null; // opaque origins, disabled storage, private modes...
  }
}

async function sha256Hex(bytes: Uint8Array): Promise<string | null> {
  if (typeof crypto === 'undefined' || !crypto.subtle) return null; // insecure context: cannot verify
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

async function download(file: ModelFile, httpCache: RequestCache,
                        onProgress?: (loaded: number, total: number) => void): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(file.url, { credentials: 'same-origin', cache: httpCache });
  } catch (cause) {
    throw new BagnetError('model-load', `Could not fetch the model ${file.url} (network error or blocked by CORS)`, { cause });
  }
  if (!response.ok) {
    throw new BagnetError('model-load', `Could not fetch the model ${file.url}: the server answered ${response.status}`);
  }
  const header = Number(response.headers.get('content-length'));
  const total = file.bytes ?? (Number.isFinite(header) && header > 0 ? header : 0);
  if (!response.body) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    onProgress?.(bytes.byteLength, total || bytes.byteLength);
    return bytes;
  }
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.byteLength;
    onProgress?.(loaded, Math.max(total, loaded));
  }
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

async function verify(file: ModelFile, bytes: Uint8Array): Promise<void> {
  if (file.bytes !== undefined && bytes.byteLength !== file.bytes) {
    throw new BagnetError('model-invalid',
      `The model file ${file.url} has ${bytes.byteLength} bytes, but its manifest says ${file.bytes} (truncated or replaced?)`);
  }
  if (file.sha256 !== undefined) {
    const actual = await sha256Hex(bytes);
    if (actual !== null && actual !== file.sha256) {
      throw new BagnetError('model-invalid', `The model file ${file.url} does not match the SHA-256 in its manifest`);
    }
  }
}

export async function fetchModelBytes(file: ModelFile, options: FetchModelOptions): Promise<ModelBytes> {
  const key = cacheKey(file);
  const cache = key === null ? null : await openCache(options.cacheName);
  if (cache && key) {
    try {
      const hit = await cache.match(key);
      if (hit) {
        const bytes = new Uint8Array(await hit.arrayBuffer());
        options.onProgress?.('cache', bytes.byteLength, bytes.byteLength);
        try {
          await verify(file, bytes);
          return { bytes, source: 'cache' };
        } catch {
          await cache.delete(key).catch(() => false); // a damaged entry: drop it and download again
        }
      }
    } catch {
      // A throwing cache is no cache.
    }
  }
  // Kept in the Cache API: skip the HTTP cache, or big models would be stored twice.
  const httpCache: RequestCache = cache && key ? 'no-store' : 'default';
  const bytes = await download(file, httpCache, (loaded, total) => options.onProgress?.('download', loaded, total));
  await verify(file, bytes);
  if (cache && key) {
    // Quota exceeded or storage disabled: the model still loads, it just is not cached.
    const stored = cache.put(key, new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-type': 'application/octet-stream' } })).catch(() => undefined);
    if (!options.storeInBackground) await stored;
  }
  return { bytes, source: 'network' };
}
