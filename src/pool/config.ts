/**
 * `configure()`: where the worker and the ORT assets live, and how the pool behaves. Call it before
 * the first model loads; nothing is ever fetched from a CDN.
 */

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
  /** Enable fault-injection messages (the project's own tests only). */
  testHooks?: boolean;
}

export interface ResolvedPoolOptions {
  readonly workerUrl: string;
  readonly wasmPaths: string | undefined;
  readonly numThreads: number | undefined;
  readonly sharedWorker: boolean;
  readonly idleReleaseMs: number;
  readonly maxBatch: number;
  readonly batchWindowMs: number;
  readonly cacheName: string | null;
  readonly maxImagePixels: number;
  readonly maxDecodePixels: number;
  readonly maxRunPixels: number;
  readonly testHooks: boolean;
}

export const DEFAULT_CACHE_NAME = 'bagnet-elements-models-v1';

let current: PoolOptions = {};

/** Set pool options (merged with earlier calls). Takes effect for the next pool: see `disposePool()`. */
export function configure(options: PoolOptions): void {
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (key === 'numThreads' || key === 'idleReleaseMs' || key === 'maxBatch' || key === 'maxImagePixels' || key === 'maxDecodePixels' || key === 'maxRunPixels' || key === 'batchWindowMs') {
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
    wasmPaths: current.wasmPaths,
    numThreads: current.numThreads,
    sharedWorker: current.sharedWorker ?? false,
    idleReleaseMs: current.idleReleaseMs ?? 10_000,
    maxBatch: Math.max(1, Math.floor(current.maxBatch ?? 16)),
    batchWindowMs: current.batchWindowMs ?? 20,
    cacheName: current.cache === false ? null : (current.cache ?? DEFAULT_CACHE_NAME),
    maxImagePixels: current.maxImagePixels ?? 4096 * 4096,
    maxDecodePixels: current.maxDecodePixels ?? 8192 * 8192,
    maxRunPixels: current.maxRunPixels ?? 512 * 512,
    testHooks: current.testHooks ?? false,
  };
}
