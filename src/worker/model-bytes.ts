/**
 * Model bytes: fetched once with progress, kept in the Cache API under a versioned key (one entry per
 * file: a new version, once stored, deletes the older ones), verified against the manifest's SHA-256;
 * files without one are revalidated with the server by a HEAD request. Works without the Cache API (or
 * when it throws).
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

const VERSION_PARAM = 'bagnet-cache';

/**
 * The cache key: the file URL plus its content version, so a new model never hits an old entry. A
 * file without a SHA-256 has no version in its manifest: its one entry carries the response's
 * validators (ETag, Last-Modified, Content-Length) and is revalidated with the server on every load.
 */
export function cacheKey(file: ModelFile): string {
  const url = new URL(file.url);
  url.searchParams.set(VERSION_PARAM, file.sha256 ?? 'revalidate');
  return url.href;
}

/** The file URL a cache key stands for: entries with the same one are versions of the same file. */
function fileUrlOf(key: string): string {
  const url = new URL(key);
  url.searchParams.delete(VERSION_PARAM);
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

/** Delete every cached version of the files that `keys` stand for, except the entry `keep`. */
export async function deleteVersions(cache: Cache, keys: readonly string[], keep?: string): Promise<void> {
  const files = new Set(keys.map(fileUrlOf));
  for (const request of await cache.keys()) {
    if (request.url !== keep && files.has(fileUrlOf(request.url))) await cache.delete(request);
  }
}

async function sha256Hex(bytes: Uint8Array): Promise<string | null> {
  if (typeof crypto === 'undefined' || !crypto.subtle) return null; // insecure context: cannot verify
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

async function request(url: string, init: RequestInit): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, { credentials: 'same-origin', ...init });
  } catch (cause) {
    throw new BagnetError('model-load', `Could not fetch the model ${url} (network error or blocked by CORS)`, { cause });
  }
  if (!response.ok) {
    throw new BagnetError('model-load', `Could not fetch the model ${url}: the server answered ${response.status}`);
  }
  return response;
}

/** Where an entry keeps the server's Content-Length (of the bytes as sent, maybe compressed). */
const STORED_LENGTH = 'x-bagnet-content-length';

/**
 * What tells this response's bytes from the next ones (the ETag when it is readable: same-origin, or
 * exposed by Access-Control-Expose-Headers; the Last-Modified, always readable; the Content-Length),
 * or null when it has neither an ETag nor a Last-Modified (such a response is not cached).
 */
function validatorsOf(response: Response): Record<string, string> | null {
  const etag = response.headers.get('etag');
  const modified = response.headers.get('last-modified');
  if (!etag && !modified) return null;
  const length = response.headers.get('content-length');
  return { ...(etag ? { etag } : {}), ...(modified ? { 'last-modified': modified } : {}), ...(length ? { [STORED_LENGTH]: length } : {}) };
}

/** Weak comparison (RFC 9110 8.8.3.2): a compressing server or CDN may make a strong ETag weak. */
const opaqueTag = (etag: string) => etag.trim().replace(/^W\//, '');

/**
 * Whether a HEAD response names the version an entry holds: the ETags when both have one, else the
 * Last-Modified dates, and the Content-Lengths when both have one. Nothing to compare: a new version.
 */
function sameVersion(stored: Headers, current: Headers): boolean {
  const [storedTag, currentTag] = [stored.get('etag'), current.get('etag')];
  const [storedDate, currentDate] = [stored.get('last-modified'), current.get('last-modified')];
  const [storedLength, currentLength] = [stored.get(STORED_LENGTH), current.get('content-length')];
  // A HEAD answered with Content-Length: 0 by a careless server says nothing about the file.
  if (Number(storedLength) > 0 && Number(currentLength) > 0 && Number(storedLength) !== Number(currentLength)) return false;
  if (storedTag && currentTag) return opaqueTag(storedTag) === opaqueTag(currentTag);
  if (storedDate && currentDate) return storedDate === currentDate || Date.parse(storedDate) === Date.parse(currentDate);
  return false;
}

const sameOrigin = (url: string) => typeof location !== 'undefined' && new URL(url).origin === location.origin;

/** A GET past the HTTP cache: its response when it is 200, else null (offline, any error). */
async function getIfOk(url: string, headers?: Headers): Promise<Response | null> {
  try {
    const response = await fetch(url, { credentials: 'same-origin', cache: 'no-store', ...(headers ? { headers } : {}) });
    return response.status === 200 ? response : null;
  } catch {
    return null;
  }
}

/**
 * Ask the server whether a cached file without SHA-256 changed: the new version's response (a GET,
 * 200), or null to use the cached bytes (unchanged, offline, or any error: the entry is still the
 * best there is). A HEAD request without headers of its own, so a host on another origin needs no
 * CORS preflight (If-None-Match would need one, which hosts that only allow the origin refuse); its
 * validators are compared with the stored ones. A host that refuses HEAD (405, 501) gets a
 * conditional GET instead, for a same-origin file only (on another origin it could need a preflight).
 * no-store: every answer must come from the server, not from the HTTP cache.
 */
async function revalidate(url: string, cached: Headers): Promise<Response | null> {
  let head: Response;
  try {
    head = await fetch(url, { method: 'HEAD', credentials: 'same-origin', cache: 'no-store' });
  } catch {
    return null;
  }
  if (head.ok) return sameVersion(cached, head.headers) ? null : getIfOk(url);
  if ((head.status === 405 || head.status === 501) && sameOrigin(url)) {
    const headers = new Headers();
    const etag = cached.get('etag');
    const modified = cached.get('last-modified');
    if (etag) headers.set('if-none-match', etag);
    if (modified) headers.set('if-modified-since', modified);
    return getIfOk(url, headers);
  }
  return null;
}

async function readBody(response: Response, file: ModelFile,
                        onProgress?: (loaded: number, total: number) => void): Promise<Uint8Array> {
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

/**
 * The file's bytes. With a SHA-256 a cached entry is used without asking the server (the manifest
 * names the version); without one, the entry is revalidated with the server (see `revalidate`). A new
 * version, once downloaded, verified and stored, replaces the entries of the older ones; a cache hit
 * deletes nothing (during a rollout, a page with the old manifest must not delete the new version).
 */
export async function fetchModelBytes(file: ModelFile, options: FetchModelOptions): Promise<ModelBytes> {
  const key = cacheKey(file);
  const cache = await openCache(options.cacheName);
  let fresh: Response | null = null; // the new version, when revalidation found one
  if (cache) {
    // A throwing cache is no cache.
    const hit = await cache.match(key).catch(() => undefined);
    if (hit && file.sha256 === undefined) fresh = await revalidate(file.url, hit.headers);
    if (hit && !fresh) {
      try {
        const bytes = new Uint8Array(await hit.arrayBuffer());
        options.onProgress?.('cache', bytes.byteLength, bytes.byteLength);
        await verify(file, bytes);
        return { bytes, source: 'cache' };
      } catch {
        await cache.delete(key).catch(() => false); // a damaged entry: drop it and download again
      }
    }
  }
  // Kept in the Cache API: skip the HTTP cache, or big models would be stored twice.
  const response = fresh ?? await request(file.url, { cache: cache ? 'no-store' : 'default' });
  const bytes = await readBody(response, file, (loaded, total) => options.onProgress?.('download', loaded, total));
  await verify(file, bytes);
  if (cache) {
    const validators = validatorsOf(response);
    // Without a SHA-256 or validators an entry could never be told from a newer file: keep none.
    const cacheable = file.sha256 !== undefined || validators !== null;
    // Quota exceeded or storage disabled: the model still loads, it just is not cached.
    const stored = cacheable
      ? cache.put(key, new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-type': 'application/octet-stream', ...validators } })).catch(() => undefined)
      : Promise.resolve();
    // The older versions are dead weight now that these bytes are verified.
    const settled = stored.then(() => deleteVersions(cache, [key], cacheable ? key : undefined)).catch(() => undefined);
    if (!options.storeInBackground) await settled;
  }
  return { bytes, source: 'network' };
}
