/**
 * Defaults and option types shared by the page (`configure()`, the pool) and the worker: defined
 * once, so both sides agree on what an unset option means.
 */

/** What the pool tells its worker when it starts. */
export interface WorkerSettings {
  /** Folder URL of the onnxruntime-web `.wasm` files (default: beside the ORT module). */
  readonly wasmPaths?: string;
  /** WASM threads (default: `defaultWasmThreads()`). */
  readonly numThreads?: number;
  /** Cache API bucket for model bytes; null disables caching. */
  readonly cacheName: string | null;
  /** Largest image (in pixels) that is decoded at full size; larger ones are downscaled first. */
  readonly maxImagePixels: number;
  /** Larger images (by their header) are refused before decoding. */
  readonly maxDecodePixels: number;
  /** Largest model input (in pixels) for one session run; larger inputs run in tiles (see core/tiles.ts). */
  readonly maxRunPixels: number;
}

/**
 * WASM threads when `numThreads` is not configured: all cores where the page is cross-origin isolated
 * (SharedArrayBuffer), else 1. Firefox gets 1 as well: with 2 threads its worker at times never returns
 * from a run on a loaded machine (README, "Browser support": seen there, not in Chromium).
 */
export function defaultWasmThreads(environment: { crossOriginIsolated: boolean; cores: number; userAgent: string }): number {
  if (!environment.crossOriginIsolated || environment.userAgent.includes('Firefox/')) return 1;
  return Math.max(1, environment.cores);
}

export const DEFAULT_CACHE_NAME = 'bagnet-elements-models-v1';

export const DEFAULT_WORKER_SETTINGS: WorkerSettings = Object.freeze({
  cacheName: DEFAULT_CACHE_NAME,
  maxImagePixels: 4096 * 4096,
  maxDecodePixels: 8192 * 8192,
  maxRunPixels: 512 * 512,
});

/** The pool's own defaults (see `PoolOptions` in pool/config.ts for what each means). */
export const DEFAULT_POOL_SETTINGS = Object.freeze({
  sharedWorker: false,
  idleReleaseMs: 10_000,
  maxBatch: 16,
  batchWindowMs: 20,
  workerTimeoutMs: 30_000,
});

/** Classes `topk` lists when the caller does not say (or says something that is not a count). */
export const DEFAULT_TOP_K = 5;

/** A usable top-k from any value: a positive integer, else the default. */
export function topKCount(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 1 ? Math.floor(value) : DEFAULT_TOP_K;
}
