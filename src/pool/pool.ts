/**
 * The inference pool: one per page, created lazily. It owns the worker, shares model sessions by
 * (manifest URL, backend, precision) with reference counts and a deferred release, and schedules
 * requests: a priority queue per session, batching of requests with the same input shape, and
 * `AbortSignal` cancellation whether a request is loading, queued or running.
 */
import { abortError, BagnetError } from '../core/errors.js';
import { meanLogits, topK } from '../core/evidence.js';
import type { PixelBox } from '../core/geometry.js';
import { nextTask } from '../core/next-task.js';
import { loadModelManifest, type BagnetManifest } from '../core/manifest.js';
import type {
  BackendPreference, ConcreteBackendName, ExactMapReply, LoadedModel, PreparedImage, ProgressPhase, Region, RescoreReply, RunOutput,
  RunResult, ToWorker, WorkerStats,
} from '../core/protocol.js';
import { BACKEND_PREFERENCES } from '../core/protocol.js';
import type { PrecisionPreference } from '../core/precision.js';
import type { ClassificationResult } from '../core/result.js';
import { topKCount } from '../core/settings.js';
import type { CellBlock, PixelEdit } from '../core/edits.js';
import { pageWorkerStarted, resolvePoolOptions, type ResolvedPoolOptions } from './config.js';
import { WorkerConnection } from './connection.js';
import { toSourceMessage, type ImageInput } from './image-input.js';

export interface ProgressInfo {
  readonly phase: ProgressPhase;
  readonly loaded: number;
  readonly total: number;
}

export interface ClassifyOptions {
  /** URL of the model's manifest (`bagnet.json`). */
  readonly model: string | URL;
  readonly backend?: BackendPreference;
  /**
   * Which of the model's files runs: `auto` (default: int8 on WASM where its recorded agreement with
   * fp32 is ≥ 99.5%, else fp16, else fp32; see core/precision.ts), or a name in the manifest's `files`.
   */
  readonly precision?: PrecisionPreference | (string & {});
  readonly signal?: AbortSignal;
  /** Higher runs first (elements on screen use 1, off screen 0). */
  readonly priority?: number;
  /** How many classes `topk` lists (default 5). */
  readonly topK?: number;
  readonly onProgress?: (progress: ProgressInfo) => void;
}

export interface BackendEventDetail {
  readonly model: string;
  readonly requested: BackendPreference;
  readonly actual: ConcreteBackendName;
  /** Why the requested backend or precision was not used (empty when both were). */
  readonly reason: string;
  readonly requestedPrecision: string;
  /** The file that runs: `fp32`, `fp16`, `int8`. */
  readonly precision: string;
  /** Why that precision (`auto`'s rule, or a variant's failure to load). */
  readonly precisionReason: string;
}

export interface PoolStats {
  /** Elements (and overlays) connected to the page's pool: see `connectToPool`. */
  readonly clients: number;
  /** Live workers this page holds (0 or 1). */
  readonly workers: number;
  readonly mode: 'dedicated' | 'shared' | null;
  /** Models this page holds (including those waiting for their idle release). */
  readonly models: number;
  readonly queued: number;
  /** Session runs this page has sent (each may carry a batch). */
  readonly runs: number;
  readonly worker: WorkerStats | null;
}

export interface ModelLease {
  readonly manifest: BagnetManifest;
  readonly backend: ConcreteBackendName;
  /** The file that runs (`auto` resolved). */
  readonly precision: string;
  release(): void;
}

export interface ExactMapOptions {
  /** The model's manifest URL (default: the model of the result given instead of an image). */
  readonly model?: string | URL;
  /** Default: the backend (and precision) the given result was classified with; `auto` for an image. */
  readonly backend?: BackendPreference;
  readonly precision?: string;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: ProgressInfo) => void;
  /** Classes whose maps to compute (e.g. the target and the top classes). */
  readonly classes: readonly number[];
  /** The map as it sharpens: level = stride, stride/2, …, 1. */
  readonly onLevel?: (level: ExactMapLevel) => void;
  /**
   * The exact map of the result this one was edited from (`rescore()`): only the pixels whose patch
   * meets the edit are computed, on a crop, and spliced into it. Ignored when it is not that map or
   * lacks one of `classes`.
   */
  readonly from?: ExactMap;
}

export interface RescoreOptions {
  readonly signal?: AbortSignal;
  /** Default: those of the previous result's classification. */
  readonly backend?: BackendPreference;
  readonly precision?: string;
  /** How many classes `topk` lists (default: as many as the previous result's). */
  readonly topK?: number;
}

/** What `rescore()` recomputed. */
export interface RescoreInfo {
  /** The edited box, in model-input pixels. */
  readonly edit: PixelBox;
  /** The cells whose window meets the edit, recomputed; null when it meets none. */
  readonly cells: CellBlock | null;
  /** How many cells that is (of `rows × cols`). */
  readonly recomputed: number;
  /** The input pixels the network ran on (null: it did not run). */
  readonly crop: PixelBox | null;
  /** `reference`: the worker edited the image it kept; `crop`: it had let it go, so the page sent the crop. */
  readonly sent: 'reference' | 'crop' | 'nothing';
}

/** A result of `rescore()`: the edited image's classification, exact, and what was recomputed. */
export interface RescoredResult extends ClassificationResult {
  readonly rescored: RescoreInfo;
}

export interface ExactMapLevel {
  /** Pixels between computed samples: stride, stride/2, …, 1 (exact). */
  readonly level: number;
  /** `[height, width, classes.length]`, complete at this level's resolution. */
  readonly data: Float32Array;
  readonly height: number;
  readonly width: number;
  readonly classes: readonly number[];
  readonly runs: number;
}

export interface ExactMap {
  /** `[height, width, classes.length]`: pixel (y, x) holds the evidence of the patch centred on it. */
  readonly data: Float32Array;
  readonly height: number;
  readonly width: number;
  readonly classes: readonly number[];
  readonly patchSize: number;
  readonly stride: number;
  readonly runs: number;
  readonly backend: ConcreteBackendName;
  readonly ms: number;
  readonly input: ClassificationResult['input'];
  /** With `from`: the pixels computed (the rest came from that map); absent when the whole map was. */
  readonly recomputed?: PixelBox;
}

/** What an element (or overlay) hears from the page's pool, whichever pool that is, while connected. */
export interface PoolClient {
  /** The pool's `backend` event. */
  onBackend?(detail: BackendEventDetail): void;
  /** The page's pool was disposed: its work in flight was dropped; start it again (on the next pool). */
  onDispose?(): void;
}

const clients = new Set<PoolClient>();

/** Connect an element to the page's pool (current and future ones); returns the disconnect. */
export function connectToPool(client: PoolClient): () => void {
  clients.add(client);
  return () => clients.delete(client);
}

/** Where a result's image is: prepared in a worker (by request), and the image itself to send again. */
export interface ResultOrigin {
  readonly image: ImageInput;
  readonly connection: WorkerConnection;
  readonly requestId: number;
  readonly backend: BackendPreference;
  readonly precision: string;
  /** A `rescore()` result: the input it was edited from, and the edited box. */
  readonly parent?: { readonly input: ClassificationResult['input']; readonly edit: PixelBox };
}

/** Every pool's results, so an exact map of a result refers to its image instead of sending it again. */
const origins = new WeakMap<ClassificationResult, ResultOrigin>();

function isResult(value: unknown): value is ClassificationResult {
  return typeof value === 'object' && value !== null && 'evidence' in value && 'topk' in value && 'input' in value;
}

function inputInfo(prepared: PreparedImage): ClassificationResult['input'] {
  const { imageWidth, imageHeight, downscale, plan, pixels } = prepared;
  return { imageWidth, imageHeight, downscale, plan, pixels: new ImageData(pixels as Uint8ClampedArray<ArrayBuffer>, plan.width, plan.height) };
}

export interface ModelEntry {
  readonly key: string;
  readonly url: string;
  readonly backend: BackendPreference;
  /** As asked (`auto` or a file's name); `precision` is the file that runs. */
  readonly requestedPrecision: string;
  readonly connection: WorkerConnection;
  readonly ready: Promise<{ manifest: BagnetManifest; loaded: LoadedModel }>;
  readonly listeners: Set<(progress: ProgressInfo) => void>;
  refs: number;
  idleTimer: ReturnType<typeof setTimeout> | undefined;
  actual: ConcreteBackendName | undefined;
  /** The file that runs, once loaded. */
  precision: string | undefined;
}

interface QueuedRequest {
  readonly requestId: number;
  readonly entry: ModelEntry;
  readonly shape: string;
  readonly priority: number;
  readonly seq: number;
  readonly readyAt: number;
  readonly resolve: (value: { output: RunOutput; run: RunResult; dispatchedAt: number }) => void;
  readonly reject: (error: unknown) => void;
  settled: boolean;
  /** Removes the caller's abort listener: a long-lived signal must not keep every result reachable. */
  stopListening?: () => void;
}

/** Settle with `promise`, or reject as soon as `signal` aborts (the work itself goes on for others). */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortError(signal.reason));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** The pool's internals the what-if code (./rescore.ts, loaded on first use) works with. */
export interface WhatIfAccess {
  withModel<T>(model: string | URL, options: Omit<ClassifyOptions, 'model'>, work: (entry: ModelEntry, manifest: BagnetManifest) => Promise<T>): Promise<T>;
  nextRequestId(): number;
  remember(result: ClassificationResult, origin: ResultOrigin): void;
}

export class InferencePool extends EventTarget {
  /** Options given to the constructor: fixed. Otherwise `configure()`'s, read when the worker starts. */
  readonly #given: ResolvedPoolOptions | null;
  /** The options the current worker started with. */
  #started: ResolvedPoolOptions | null = null;
  #connection: WorkerConnection | null = null;
  readonly #models = new Map<string, ModelEntry>();
  readonly #manifests = new Map<string, Promise<BagnetManifest>>();
  #queue: QueuedRequest[] = [];
  readonly #busy = new Set<string>();
  /** Images being decoded in the worker, per session key: a batch waits a moment for them. */
  readonly #preparing = new Map<string, number>();
  #pumpTimer: ReturnType<typeof setTimeout> | undefined;
  #nextRequestId = 1;
  #seq = 0;
  #runs = 0;
  #disposed = false;

  constructor(options?: ResolvedPoolOptions) {
    super();
    this.#given = options ?? null;
  }

  /**
   * The pool's options: those its worker started with; before it starts, `configure()`'s as they
   * are now (so a `configure()` call takes effect whenever it comes before the worker starts).
   */
  get options(): ResolvedPoolOptions {
    return this.#given ?? this.#started ?? resolvePoolOptions();
  }

  #getConnection(): WorkerConnection {
    if (this.#disposed) throw new BagnetError('aborted', 'The inference pool was disposed');
    if (!this.#connection || this.#connection.closed) {
      this.#started = this.#given ?? resolvePoolOptions();
      if (singleton === this) pageWorkerStarted(this.#started);
      const { workerUrl, sharedWorker, cacheName, maxImagePixels, maxDecodePixels, maxRunPixels, wasmPaths, numThreads } = this.#started;
      this.#connection = new WorkerConnection(workerUrl, sharedWorker, {
        cacheName, maxImagePixels, maxDecodePixels, maxRunPixels,
        ...(wasmPaths === undefined ? {} : { wasmPaths }),
        ...(numThreads === undefined ? {} : { numThreads }),
      }, {
        onBackend: (message) => {
          const entry = this.#models.get(message.key);
          if (!entry) return;
          entry.actual = message.actual;
          const precision = entry.precision ?? 'fp32';
          this.#emitBackend({
            model: entry.url, requested: message.requested, actual: message.actual, reason: message.reason,
            requestedPrecision: entry.requestedPrecision, precision, precisionReason: '',
          });
        },
        onCrash: (error) => this.#forgetWorker(error),
      }, { timeoutMs: this.options.workerTimeoutMs });
    }
    return this.#connection;
  }

  /** Everything tied to a dead worker is gone: reject what waits on it, start afresh next time. */
  #forgetWorker(error: BagnetError): void {
    const dead = this.#connection;
    this.#connection = null;
    this.#started = null; // the next worker starts with configure()'s options as they are then
    if (singleton === this) pageWorkerStarted(null);
    for (const entry of [...this.#models.values()]) {
      if (entry.connection !== dead) continue;
      clearTimeout(entry.idleTimer);
      this.#models.delete(entry.key);
    }
    const [lost, kept] = partition(this.#queue, (item) => item.entry.connection === dead);
    this.#queue = kept;
    for (const item of lost) this.#settle(item, () => item.reject(error));
    for (const key of [...this.#busy]) if (!this.#models.has(key)) this.#busy.delete(key);
  }

  #emitBackend(detail: BackendEventDetail): void {
    this.dispatchEvent(new CustomEvent<BackendEventDetail>('backend', { detail }));
    if (singleton === this) for (const client of [...clients]) client.onBackend?.(detail);
  }

  /** The manifest at `url`, validated (fetched once per pool). */
  manifest(url: string | URL): Promise<BagnetManifest> {
    return this.#manifest(new URL(String(url), globalThis.location?.href).href);
  }

  #manifest(url: string): Promise<BagnetManifest> {
    let pending = this.#manifests.get(url);
    if (!pending) {
      pending = loadModelManifest(url).catch((error: unknown) => {
        this.#manifests.delete(url); // never keep a failure
        throw error;
      });
      this.#manifests.set(url, pending);
    }
    return pending;
  }

  /**
   * Hold a model: loads it on first use (progress through `onProgress`), shares it afterwards.
   * `release()` lets go; the session is freed `idleReleaseMs` after the last holder is gone.
   */
  async acquire(model: string | URL, backend: BackendPreference = 'auto', precision: string = 'auto',
                onProgress?: (progress: ProgressInfo) => void, signal?: AbortSignal): Promise<ModelLease> {
    if (!BACKEND_PREFERENCES.includes(backend)) {
      throw new BagnetError('backend', `Unknown backend "${String(backend)}": use one of ${BACKEND_PREFERENCES.join(', ')}`);
    }
    if (typeof precision !== 'string' || precision === '') {
      throw new BagnetError('model-invalid', `Unknown precision ${JSON.stringify(precision)}: use auto or one of the model's files (fp32, fp16, int8)`);
    }
    let url: string;
    try {
      url = new URL(String(model), globalThis.location?.href).href;
    } catch (cause) {
      throw new BagnetError('model-load', `Not a valid model URL: ${String(model)}`, { cause });
    }
    const key = `${url}|${backend}|${precision}`;
    if (!this.#connection || this.#connection.closed) {
      // The worker starts in a task of its own: a `configure()` later in the task that made this
      // request (the module that imported the elements, say) still applies to it.
      await nextTask();
      if (signal?.aborted) throw abortError(signal.reason);
    }
    let entry = this.#models.get(key);
    if (!entry) entry = this.#createEntry(key, url, backend, precision);
    entry.refs++;
    clearTimeout(entry.idleTimer);
    entry.idleTimer = undefined;
    if (onProgress) entry.listeners.add(onProgress);
    const held = entry;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      if (onProgress) held.listeners.delete(onProgress);
      this.#release(held);
    };
    try {
      const { manifest, loaded } = await raceAbort(held.ready, signal);
      if (onProgress) held.listeners.delete(onProgress);
      return { manifest, backend: held.actual ?? loaded.backend, precision: loaded.precision, release };
    } catch (error) {
      release();
      throw error;
    }
  }

  #createEntry(key: string, url: string, backend: BackendPreference, precision: string): ModelEntry {
    const connection = this.#getConnection();
    const partial: Omit<ModelEntry, 'ready'> = {
      key, url, backend, requestedPrecision: precision, connection, listeners: new Set(), refs: 0, idleTimer: undefined, actual: undefined, precision: undefined,
    };
    const entry = Object.assign(partial, { ready: this.#load(partial, precision) });
    this.#models.set(key, entry);
    entry.ready.catch(() => {
      // A failed load is not kept: the next request tries again.
      if (this.#models.get(key) === entry) this.#models.delete(key);
    });
    return entry;
  }

  async #load(entry: Omit<ModelEntry, 'ready'>, precision: string): Promise<{ manifest: BagnetManifest; loaded: LoadedModel }> {
    const manifest = await this.#manifest(entry.url);
    if (precision !== 'auto' && !(precision in manifest.files)) {
      throw new BagnetError('model-invalid', `The model ${manifest.name} has no ${precision} file (it has: ${Object.keys(manifest.files).join(', ')})`);
    }
    const loaded = await entry.connection.request<LoadedModel>(
      { type: 'load', key: entry.key, manifest: { ...manifest, provenance: undefined }, backend: entry.backend, precision },
      { onProgress: (phase, loadedBytes, total) => entry.listeners.forEach((l) => l({ phase, loaded: loadedBytes, total })) },
    );
    entry.actual = loaded.backend;
    entry.precision = loaded.precision;
    if (loaded.source !== 'memory' || loaded.reason) {
      this.#emitBackend({
        model: entry.url, requested: entry.backend, actual: loaded.backend, reason: loaded.reason,
        requestedPrecision: precision, precision: loaded.precision, precisionReason: loaded.precisionReason,
      });
    }
    return { manifest, loaded };
  }

  #release(entry: ModelEntry): void {
    entry.refs--;
    if (entry.refs > 0 || this.#models.get(entry.key) !== entry) return;
    clearTimeout(entry.idleTimer);
    entry.idleTimer = setTimeout(() => {
      if (entry.refs > 0 || this.#models.get(entry.key) !== entry) return;
      this.#models.delete(entry.key);
      // Unload only what loaded; a load that failed holds nothing in the worker.
      entry.ready.then(() => entry.connection.notify({ type: 'unload', key: entry.key }), () => undefined);
    }, this.options.idleReleaseMs);
  }

  /** Classify one image: decode and preprocess in the worker, queue, batch, run, explain. */
  async classify(image: ImageInput, options: ClassifyOptions): Promise<ClassificationResult> {
    const started = performance.now();
    const { signal } = options;
    return this.#withModel(options.model, options, async (entry, manifest) => {
      const { requestId, prepared } = await this.#prepare(entry, manifest, image, signal);
      const queuedAt = performance.now();
      const { output, run, dispatchedAt } = await this.#enqueue(entry, requestId, prepared, options.priority ?? 0, signal);
      const result: ClassificationResult = {
        topk: topK(output.logits, topKCount(options.topK)).map((t) => ({ ...t, label: manifest.labels[t.index] ?? String(t.index) })),
        logits: output.logits,
        evidence: {
          rows: output.rows, cols: output.cols, classes: output.classes,
          stride: manifest.stride, patchSize: manifest.patchSize, offset: manifest.offset,
          data: output.patchLogits,
        },
        backend: run.backend,
        precision: entry.precision ?? 'fp32',
        timings: {
          decodeMs: prepared.decodeMs,
          queueMs: dispatchedAt - queuedAt,
          inferenceMs: run.inferenceMs,
          totalMs: performance.now() - started,
          batchSize: run.batchSize,
        },
        model: { url: manifest.url ?? String(options.model), name: manifest.name, labels: manifest.labels },
        input: inputInfo(prepared),
      };
      // The worker keeps the prepared image for a while: an exact map of this result refers to it.
      origins.set(result, { image, connection: entry.connection, requestId, backend: entry.backend, precision: options.precision ?? 'auto' });
      return result;
    });
  }

  /**
   * The classification of `previous`'s model input with `edit` applied (its new RGBA pixels in a
   * box), exactly as `classify()` of the edited image would give, but running the network only on
   * the crop whose cells see the edit (their windows meet it) and splicing them into the previous
   * map. The worker edits the image it kept for `previous`; if it let it go, the page sends the crop.
   * (The what-if code loads on first use.)
   */
  async rescore(previous: ClassificationResult, edit: PixelEdit, options: RescoreOptions = {}): Promise<RescoredResult> {
    const origin = origins.get(previous);
    if (!origin) throw new BagnetError('inference', 'This result was not made by classify() or rescore(): classify the edited image instead');
    const { rescore } = await import('./rescore.js');
    return rescore(this.#whatIf, previous, origin, edit, options);
  }

  /** What the what-if code (./rescore.ts) may do with this pool. */
  readonly #whatIf: WhatIfAccess = {
    withModel: (model, options, work) => this.#withModel(model, options, work),
    nextRequestId: () => this.#nextRequestId++,
    remember: (result, origin) => origins.set(result, origin),
  };

  /**
   * The exact full-resolution map of `classes`: what the authors' reference computes patch by
   * patch, here by shift-and-stitch in the worker. Give the result of `classify()` to reuse the
   * image the worker already prepared (it is sent again only if the worker let it go), or an image.
   * `onLevel` receives the map as it sharpens (level = stride, stride/2, …, 1).
   */
  async exactMap(source: ImageInput | ClassificationResult, options: ExactMapOptions): Promise<ExactMap> {
    const { signal } = options;
    const result = isResult(source) ? source : null;
    const origin = result ? origins.get(result) : undefined;
    if (result && !origin) throw new BagnetError('inference', 'This result was not made by classify(): pass its image instead');
    const model = options.model ?? result?.model.url;
    if (model === undefined) throw new BagnetError('model-load', 'exactMap() needs a model: pass options.model');
    // A result's map runs where its classification ran unless told otherwise (not a second session).
    const backend = options.backend ?? origin?.backend ?? 'auto';
    const precision = options.precision ?? origin?.precision ?? 'auto';
    return this.#withModel(model, { ...options, backend, precision }, async (entry, manifest) => {
      const from = result && origin ? this.#editedFrom(result, origin, options) : null;
      if (from) return (await import('./rescore.js')).exactMapAfterEdit(this.#whatIf, entry, manifest, result!, origin!, from, options);
      const run = async (requestId: number, input: ClassificationResult['input'], pixels?: Uint8ClampedArray): Promise<ExactMap | null> => {
        const { width, height } = input.plan;
        if (signal?.aborted) throw abortError(signal.reason); // never sent: nothing to cancel
        const id = this.#nextRequestId++;
        // With `pixels`: the model input itself, as it is (no resize policy applied again).
        const region = pixels ? { region: { x: 0, y: 0, width, height }, pixels } : {};
        const job = entry.connection.request<ExactMapReply>({ type: 'exact', key: entry.key, requestId, job: id, classes: [...options.classes], ...region }, {
          onLevel: (level, map, runs) => options.onLevel?.({ level, data: map, height, width, classes: options.classes, runs }),
        });
        const onAbort = () => entry.connection.notify({ type: 'cancel', job: id });
        signal?.addEventListener('abort', onAbort, { once: true });
        try {
          const reply = await raceAbort(job, signal);
          if ('gone' in reply) return null;
          return {
            data: reply.map, height, width, classes: [...options.classes], runs: reply.runs, backend: reply.backend, ms: reply.ms,
            patchSize: manifest.patchSize, stride: manifest.stride, input,
          };
        } finally {
          signal?.removeEventListener('abort', onAbort);
        }
      };
      if (result && origin!.connection === entry.connection) {
        const map = await run(origin!.requestId, result.input);
        if (map) return map;
      }
      // An edited result's image is its model input: sent as it is (preparing it again would resize it).
      if (result && origin?.parent) {
        const map = await run(origin.requestId, result.input, new Uint8ClampedArray(result.input.pixels.data));
        if (!map) throw new BagnetError('inference', 'The worker did not compute the edited image\'s exact map');
        return map;
      }
      // The worker does not have the image (a plain image, a restarted worker, or it let it go): send it.
      const image = origin?.image ?? (source as ImageInput);
      const { requestId, prepared } = await this.#prepare(entry, manifest, image, signal);
      this.#donePreparing(entry.key); // not a batch candidate: never hold batches for it
      if (result && origin) origins.set(result, { ...origin, image, connection: entry.connection, requestId });
      const map = await run(requestId, result?.input ?? inputInfo(prepared));
      if (!map) throw new BagnetError('inference', 'The worker let go of the image before its exact map');
      return map;
    });
  }

  /** `options.from` when it is the exact map of the input `result` was edited from and has every class asked for. */
  #editedFrom(result: ClassificationResult, origin: ResultOrigin, options: ExactMapOptions): ExactMap | null {
    const from = options.from;
    if (!from || !origin.parent || from.input !== origin.parent.input) return null;
    if (options.model !== undefined && new URL(String(options.model), globalThis.location?.href).href !== result.model.url) return null;
    return options.classes.every((k) => from.classes.includes(k)) ? from : null;
  }

  /** @deprecated Use `exactMap()` (the same method, under the name the library uses everywhere); removed in the next release. */
  exactEvidence(source: ImageInput | ClassificationResult, options: ExactMapOptions): Promise<ExactMap> {
    return this.exactMap(source, options);
  }

  /** Hold the model for the duration of `work` (loading it first if needed). */
  async #withModel<T>(model: string | URL, options: Omit<ClassifyOptions, 'model'>,
                      work: (entry: ModelEntry, manifest: BagnetManifest) => Promise<T>): Promise<T> {
    const { signal } = options;
    if (signal?.aborted) throw abortError(signal.reason);
    const backend = options.backend ?? 'auto';
    const precision = options.precision ?? 'auto';
    const lease = await this.acquire(model, backend, precision, options.onProgress, signal);
    try {
      const entry = this.#models.get(`${lease.manifest.url}|${backend}|${precision}`);
      if (!entry) throw new BagnetError('inference', 'The inference worker restarted while the model was loading; try again');
      return await work(entry, lease.manifest);
    } finally {
      lease.release();
    }
  }

  /** Decode and preprocess `image` in the worker; the tensor stays there under `requestId`. */
  async #prepare(entry: ModelEntry, manifest: BagnetManifest, image: ImageInput, signal: AbortSignal | undefined) {
    const { source, transfer } = await raceAbort(toSourceMessage(image, this.options), signal);
    const requestId = this.#nextRequestId++;
    const preparing = entry.connection.request<PreparedImage>(
      { type: 'prepare', requestId, source, input: manifest.input, patchSize: manifest.patchSize }, { transfer });
    this.#preparing.set(entry.key, (this.#preparing.get(entry.key) ?? 0) + 1);
    try {
      return { requestId, prepared: await raceAbort(preparing, signal) };
    } catch (error) {
      // Failed, or aborted while decoding: free the tensor once it exists; stop holding batches for it.
      preparing.then(() => entry.connection.notify({ type: 'discard', requestIds: [requestId] }), () => undefined)
        .finally(() => this.#donePreparing(entry.key));
      throw error;
    }
  }

  #enqueue(entry: ModelEntry, requestId: number, prepared: PreparedImage, priority: number, signal: AbortSignal | undefined) {
    return new Promise<{ output: RunOutput; run: RunResult; dispatchedAt: number }>((resolve, reject) => {
      const item: QueuedRequest = {
        requestId, entry, shape: prepared.dims.join('×'), priority, seq: this.#seq++, readyAt: performance.now(),
        resolve, reject, settled: false,
      };
      if (signal) {
        const onAbort = () => {
          const index = this.#queue.indexOf(item);
          if (index >= 0) {
            this.#queue.splice(index, 1);
            entry.connection.notify({ type: 'discard', requestIds: [requestId] });
          }
          // Queued or running: the caller hears at once; a running batch's result for it is dropped.
          this.#settle(item, () => reject(abortError(signal.reason)));
        };
        if (signal.aborted) {
          entry.connection.notify({ type: 'discard', requestIds: [requestId] }); // never queued: free its tensor
          onAbort();
          this.#donePreparing(entry.key);
          return;
        }
        signal.addEventListener('abort', onAbort, { once: true });
        item.stopListening = () => signal.removeEventListener('abort', onAbort);
      }
      this.#queue.push(item);
      // Queued first, then no longer "being prepared": a batch never leaves without it.
      this.#donePreparing(entry.key);
    });
  }

  #donePreparing(key: string): void {
    const count = (this.#preparing.get(key) ?? 1) - 1;
    if (count > 0) this.#preparing.set(key, count);
    else this.#preparing.delete(key);
    this.#pump();
  }

  #settle(item: QueuedRequest, action: () => void): void {
    if (item.settled) return;
    item.settled = true;
    item.stopListening?.();
    action();
  }

  /**
   * Start a batch for every session that is idle and has work. While more images for the same
   * session are still being decoded, wait for them (at most `batchWindowMs` after the oldest is
   * ready), so requests made together run together.
   */
  #pump(): void {
    clearTimeout(this.#pumpTimer);
    this.#pumpTimer = undefined;
    const byKey = new Map<string, QueuedRequest[]>();
    for (const item of this.#queue) {
      if (this.#busy.has(item.entry.key)) continue;
      const list = byKey.get(item.entry.key) ?? [];
      list.push(item);
      byKey.set(item.entry.key, list);
    }
    const now = performance.now();
    let wakeAt = Infinity;
    for (const [key, items] of byKey) {
      items.sort((a, b) => b.priority - a.priority || a.seq - b.seq);
      const first = items[0]!;
      const batch = items.filter((item) => item.shape === first.shape).slice(0, this.options.maxBatch);
      const oldest = Math.min(...items.map((item) => item.readyAt));
      if ((this.#preparing.get(key) ?? 0) > 0 && batch.length < this.options.maxBatch
          && now - oldest < this.options.batchWindowMs) {
        wakeAt = Math.min(wakeAt, oldest + this.options.batchWindowMs);
        continue;
      }
      this.#queue = this.#queue.filter((item) => !batch.includes(item));
      this.#busy.add(key);
      this.#runs++;
      const dispatchedAt = performance.now();
      first.entry.connection.request<RunResult>({ type: 'run', key, requestIds: batch.map((item) => item.requestId) })
        .then((run) => {
          for (const item of batch) {
            const output = run.outputs.find((o) => o.requestId === item.requestId);
            this.#settle(item, () => output ? item.resolve({ output, run, dispatchedAt })
              : item.reject(new BagnetError('inference', 'The worker returned no result for this image')));
          }
        }, (error: unknown) => {
          for (const item of batch) this.#settle(item, () => item.reject(error));
        })
        .finally(() => {
          this.#busy.delete(key);
          this.#pump();
        });
    }
    if (wakeAt < Infinity) this.#pumpTimer = setTimeout(() => this.#pump(), Math.max(0, wakeAt - now));
  }

  /** This page's side of the pool, synchronously. */
  snapshot(): Omit<PoolStats, 'worker'> & { readonly running: number } {
    const connection = this.#connection && !this.#connection.closed ? this.#connection : null;
    return {
      clients: clients.size,
      workers: connection ? 1 : 0,
      mode: connection?.mode ?? null,
      models: this.#models.size,
      queued: this.#queue.length,
      running: this.#busy.size,
      runs: this.#runs,
    };
  }

  /** The snapshot plus the worker's own counts (sessions, prepared tensors, runs per model). */
  async stats(): Promise<PoolStats> {
    const connection = this.#connection && !this.#connection.closed ? this.#connection : null;
    const worker = connection ? await connection.request<WorkerStats>({ type: 'stats' }) : null;
    const { running: _running, ...snapshot } = this.snapshot();
    return { ...snapshot, worker };
  }

  /** Stop the worker now: pending requests reject with an `aborted` error; the next request starts a new one. */
  terminateWorker(): void {
    const connection = this.#connection;
    if (!connection) return;
    const error = new BagnetError('aborted', 'The inference worker was terminated');
    connection.terminate(error);
    this.#forgetWorker(error);
  }

  /**
   * Shut down: the worker and its sessions go, pending requests reject with an `aborted` error. The
   * page's pool is then replaced on next use, and connected elements start their work again on it.
   */
  dispose(): void {
    this.terminateWorker();
    this.#disposed = true;
    if (singleton !== this) return;
    singleton = null;
    for (const client of [...clients]) client.onDispose?.();
  }
}

function partition<T>(items: T[], predicate: (item: T) => boolean): [T[], T[]] {
  const yes: T[] = [];
  const no: T[] = [];
  for (const item of items) (predicate(item) ? yes : no).push(item);
  return [yes, no];
}

let singleton: InferencePool | null = null;

/** The page's pool, created on first use (the worker starts with the first model). */
export function getPool(): InferencePool {
  singleton ??= new InferencePool();
  return singleton;
}

/** Shut the page's pool down (its worker and sessions); the next `getPool()` builds a new one with the current `configure()` options. */
export function disposePool(): void {
  singleton?.dispose();
}

/** Classify an image with the page's pool. */
export function classify(image: ImageInput, options: ClassifyOptions): Promise<ClassificationResult> {
  return getPool().classify(image, options);
}
