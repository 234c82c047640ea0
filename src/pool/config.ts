/**
 * `configure()`: where the worker and the ORT assets live, and how the pool behaves. Call it before
 * the first model loads; nothing is ever fetched from a CDN.
 */
import { DEFAULT_POOL_SETTINGS, DEFAULT_WORKER_SETTINGS, type WorkerSettings } from '../core/settings.js';

export interface PoolOptions {
  /** URL of the inference worker module (default: `../worker/inference-worker.js` beside this package). */
  workerUrl?: string | URL;
  /** Folder URL that serves onnxruntime-web's `.wasm` files (default: beside the ORT module). */
  wasmPaths?: string;
  /** WASM threads (default: all cores when the page is cross-origin isolated, else 1). */
  numThreads?: number;
  /** Share one worker (and its models) across same-origin tabs and iframes; falls back to a dedicated worker. */
  sharedWorker?: boolean;
  /** Milliseconds a model stays loaded after its last user lets go (so moving an element reloads nothing). */
  idleReleaseMs?: number;
  /** Largest batch for one session run. */
  maxBatch?: number;
  /**
   * How long (ms) a ready request may wait for images of the same model that are still being
   * decoded, so they run as one batch. A lone request never waits.
   */
  batchWindowMs?: number;
  /**
   * How long (ms) the worker may leave the pool's ping unanswered, while requests wait on it, before
   * it counts as crashed (default 30 s): its requests reject with `inference` and the next request
   * starts a new worker. Browsers report a crashed shared worker (out of memory, killed) to nobody;
   * a dedicated worker only for some causes. Runs and session creations, which block the worker, are
   * announced by it with how long they may take, and do not count.
   */
  workerTimeoutMs?: number;
  /** Cache API bucket for model bytes, or `false` to disable caching. */
  cache?: string | false;
  /** Largest image decoded at full size, in pixels; larger ones are scaled down (aspect kept). */
  maxImagePixels?: number;
  /**
   * Images larger than this (read from the file's header, before decoding) are refused with an
   * `image-invalid` error instead of exhausting memory (default 8192×8192).
   */
  maxDecodePixels?: number;
  /**
   * Largest model input, in pixels, for one session run (default 512×512). A larger input (a model
   * without resizing, a big scan) runs in tiles on the stride grid: the same cells, in bounded memory.
   */
  maxRunPixels?: number;
}

/** Every option with its value or default; the worker's part is what the pool sends it. */
export interface ResolvedPoolOptions extends WorkerSettings {
  readonly workerUrl: string;
  readonly sharedWorker: boolean;
  readonly idleReleaseMs: number;
  readonly maxBatch: number;
  readonly batchWindowMs: number;
  readonly workerTimeoutMs: number;
}

let current: PoolOptions = {};

/** Set pool options (merged with earlier calls). Takes effect for the next pool: see `disposePool()`. */
export function configure(options: PoolOptions): void {
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (key === 'numThreads' || key === 'idleReleaseMs' || key === 'maxBatch' || key === 'maxImagePixels' || key === 'maxDecodePixels' || key === 'maxRunPixels' || key === 'batchWindowMs' || key === 'workerTimeoutMs') {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
        throw new TypeError(`configure(): ${key} must be a non-negative number, got ${String(value)}`);
      }
    }
  }
  current = { ...current, ...options };
}

export function resolvePoolOptions(): ResolvedPoolOptions {
  const workerUrl = current.workerUrl ?? new URL('../worker/inference-worker.js', import.meta.url);
  return {
    workerUrl: new URL(String(workerUrl), globalThis.location?.href).href,
    ...(current.wasmPaths === undefined ? {} : { wasmPaths: current.wasmPaths }),
    ...(current.numThreads === undefined ? {} : { numThreads: current.numThreads }),
    sharedWorker: current.sharedWorker ?? DEFAULT_POOL_SETTINGS.sharedWorker,
    idleReleaseMs: current.idleReleaseMs ?? DEFAULT_POOL_SETTINGS.idleReleaseMs,
    maxBatch: Math.max(1, Math.floor(current.maxBatch ?? DEFAULT_POOL_SETTINGS.maxBatch)),
    batchWindowMs: current.batchWindowMs ?? DEFAULT_POOL_SETTINGS.batchWindowMs,
    workerTimeoutMs: current.workerTimeoutMs ?? DEFAULT_POOL_SETTINGS.workerTimeoutMs,
    cacheName: current.cache === false ? null : (current.cache ?? DEFAULT_WORKER_SETTINGS.cacheName),
    maxImagePixels: current.maxImagePixels ?? DEFAULT_WORKER_SETTINGS.maxImagePixels,
    maxDecodePixels: current.maxDecodePixels ?? DEFAULT_WORKER_SETTINGS.maxDecodePixels,
    maxRunPixels: current.maxRunPixels ?? DEFAULT_WORKER_SETTINGS.maxRunPixels,
  };
}
