/**
 * `configure()`: where the worker and the ORT assets live, and how the pool behaves. Call it before
 * the first model loads; nothing is ever fetched from a CDN.
 */
import { BagnetError } from '../core/errors.js';
import { DEFAULT_POOL_SETTINGS, DEFAULT_WORKER_SETTINGS, type WorkerSettings } from '../core/settings.js';

export interface PoolOptions {
  /**
   * URL of the inference worker module. By default the pool starts the package's own worker with
   * `new Worker(new URL('./bagnet-worker.js', import.meta.url))`, which bundlers (Vite,
   * webpack, Next.js) follow and bundle; set this to use a copy of your own instead.
   */
  workerUrl?: string | URL;
  /** Folder URL that serves onnxruntime-web's `.wasm` files (default: beside the ORT module). */
  wasmPaths?: string;
  /** WASM threads (default: all cores when the page is cross-origin isolated, else 1; 1 in Firefox); the WebGPU build runs on one. */
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
   * announced by it with how long they may take, and do not count; a new worker that has not answered
   * yet is given at least 10 s to load.
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
  /** The worker module's absolute URL; undefined for the package's own worker (wherever the bundler put it). */
  readonly workerUrl?: string;
  readonly sharedWorker: boolean;
  readonly idleReleaseMs: number;
  readonly maxBatch: number;
  readonly batchWindowMs: number;
  readonly workerTimeoutMs: number;
}

let current: PoolOptions = {};

/** Where the page's pool started its current worker from (null while it has none). */
let started: { workerUrl: string | undefined; wasmPaths: string | undefined } | null = null;

/** Called by the page's pool when its worker starts (with its options) and ends (null). */
export function pageWorkerStarted(options: ResolvedPoolOptions | null): void {
  started = options && { workerUrl: options.workerUrl, wasmPaths: options.wasmPaths };
}

/**
 * Set pool options (merged with earlier calls). They apply to the page's pool whenever they come
 * before it starts its worker (the worker starts in a task after the first request); the worker's
 * own settings (limits, cache, threads) to the next worker. Asset locations (`workerUrl`,
 * `wasmPaths`) that differ from those of the running worker throw: they could not take effect.
 */
export function configure(options: PoolOptions): void {
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (key === 'numThreads' || key === 'idleReleaseMs' || key === 'maxBatch' || key === 'maxImagePixels' || key === 'maxDecodePixels' || key === 'maxRunPixels' || key === 'batchWindowMs' || key === 'workerTimeoutMs') {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
        throw new TypeError(`configure(): ${key} must be a non-negative number, got ${String(value)}`);
      }
    }
  }
  if (started) {
    const next = resolvePoolOptions({ ...current, ...options });
    const moved = (['workerUrl', 'wasmPaths'] as const).filter((key) => next[key] !== started![key]);
    if (moved.length) {
      throw new BagnetError('backend', `configure({ ${moved.join(', ')} }) came after the inference worker started `
        + `(from ${started.workerUrl ?? "the package's own worker"}${started.wasmPaths ? `, wasm from ${started.wasmPaths}` : ''}), so it could not take effect. `
        + 'Call configure() before the first element or classify() runs (in the same module is enough), or disposePool() first.');
    }
  }
  current = { ...current, ...options };
}

export function resolvePoolOptions(options: PoolOptions = current): ResolvedPoolOptions {
  return {
    ...(options.workerUrl === undefined ? {} : { workerUrl: new URL(String(options.workerUrl), globalThis.location?.href).href }),
    ...(options.wasmPaths === undefined ? {} : { wasmPaths: options.wasmPaths }),
    ...(options.numThreads === undefined ? {} : { numThreads: options.numThreads }),
    sharedWorker: options.sharedWorker ?? DEFAULT_POOL_SETTINGS.sharedWorker,
    idleReleaseMs: options.idleReleaseMs ?? DEFAULT_POOL_SETTINGS.idleReleaseMs,
    maxBatch: Math.max(1, Math.floor(options.maxBatch ?? DEFAULT_POOL_SETTINGS.maxBatch)),
    batchWindowMs: options.batchWindowMs ?? DEFAULT_POOL_SETTINGS.batchWindowMs,
    workerTimeoutMs: options.workerTimeoutMs ?? DEFAULT_POOL_SETTINGS.workerTimeoutMs,
    cacheName: options.cache === false ? null : (options.cache ?? DEFAULT_WORKER_SETTINGS.cacheName),
    maxImagePixels: options.maxImagePixels ?? DEFAULT_WORKER_SETTINGS.maxImagePixels,
    maxDecodePixels: options.maxDecodePixels ?? DEFAULT_WORKER_SETTINGS.maxDecodePixels,
    maxRunPixels: options.maxRunPixels ?? DEFAULT_WORKER_SETTINGS.maxRunPixels,
  };
}
