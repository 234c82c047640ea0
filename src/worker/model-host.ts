/**
 * Hosts model sessions inside the worker: one per (model URL, backend, precision) key, shared by
 * every client port, reference-counted, with runs on one session strictly one after another.
 * `auto` falls back from WebGPU to WASM at creation and when a run fails. After a WebGPU device loss
 * the next run tries a session on a new device, once; if that fails, `auto` goes on on WASM and an
 * explicit `webgpu` fails with a `backend` error. The precision `auto` resolves by core/precision.ts
 * once the backend is known; a variant (fp16, int8) that fails to load falls back to fp32.
 */
import { BagnetError } from '../core/errors.js';
import { checkInputSize } from '../core/manifest.js';
import type { ModelFile } from '../core/manifest.js';
import type { WorkerSettings } from '../core/settings.js';
import { meanLogits } from '../core/evidence.js';
import { nextTask } from '../core/next-task.js';
import type {
  BackendPreference, ConcreteBackendName, LoadedModel, ManifestData, ProgressPhase, RunOutput, RunResult,
} from '../core/protocol.js';
import {
  BackendUnavailableError, createSession, webgpuFeatures, type ExternalFile, type ModelSession,
} from '../runtime/onnx.js';
import { choosePrecision, type PrecisionChoice } from '../core/precision.js';
import { cropTile, placeTileCells, tilePlan } from '../core/tiles.js';
import { cancelled as cancelledError, type ExactMapModel } from './exact-map.js';
import { fetchModelBytes } from './model-bytes.js';

export type PortId = number;

type Dims = readonly [number, number, number, number];

export interface HostEvents {
  progress(phase: ProgressPhase, loaded: number, total: number): void;
}

/** What the host tells every client. */
export interface HostChanges {
  backendChanged(change: BackendChange): void;
  /**
   * The worker is about to block for up to about `expectedMs` (a WASM run, a session creation: they
   * do not yield): clients waiting for an answer should not take the silence for a crash.
   */
  busy(expectedMs: number): void;
}

export interface BackendChange {
  readonly key: string;
  readonly requested: BackendPreference;
  readonly actual: ConcreteBackendName;
  readonly reason: string;
}

interface HostedModel {
  readonly key: string;
  readonly manifest: ManifestData;
  readonly requested: BackendPreference;
  /** The file that runs (a precision: `auto` resolved). */
  readonly precision: string;
  readonly precisionReason: string;
  session: ModelSession;
  /** Its ONNX file: read again (normally from the Cache API) to remake a WebGPU session or fall back to WASM. */
  readonly file: ModelFile;
  readonly refs: Map<PortId, number>;
  /** Serialises runs: ORT sessions must not run concurrently. */
  queue: Promise<unknown>;
  runs: number;
  classes: number;
  /** The slowest time per input element of its runs so far: how long the next one may take. */
  msPerPixel: number;
  /** The exact map's stage sessions (manifest.stages), made on first use; null: shift by shift. */
  stages?: Promise<ModelSession[] | null>;
}

export class ModelHost {
  readonly #models = new Map<string, HostedModel>();
  readonly #loading = new Map<string, Promise<HostedModel>>();
  #sessionsCreated = 0;
  #sessionsReleased = 0;

  readonly cacheName: string | null;
  /** Inputs larger than this run in tiles (core/tiles.ts). */
  readonly maxRunPixels: number;
  /** A model whose inputs are all larger than this is refused at load (the pool's maxDecodePixels). */
  readonly maxInputPixels: number;

  constructor(settings: Pick<WorkerSettings, 'cacheName' | 'maxRunPixels' | 'maxDecodePixels'>, private readonly events: HostChanges) {
    this.cacheName = settings.cacheName;
    this.maxRunPixels = settings.maxRunPixels;
    this.maxInputPixels = settings.maxDecodePixels;
  }

  async load(port: PortId, key: string, manifest: ManifestData, backend: BackendPreference,
             precision: string, events: HostEvents): Promise<LoadedModel> {
    const existing = this.#models.get(key);
    if (existing) {
      this.#addRef(existing, port);
      return { backend: existing.session.backend, reason: '', precision: existing.precision, precisionReason: existing.precisionReason, source: 'memory', classes: existing.classes };
    }
    let pending = this.#loading.get(key);
    let source: LoadedModel['source'] = 'memory';
    let reason = '';
    if (!pending) {
      pending = this.#create(key, manifest, backend, precision, events).then((created) => {
        source = created.source;
        reason = created.reason;
        return created.model;
      });
      this.#loading.set(key, pending);
      // Never keep a failed load: the next request tries again.
      pending.finally(() => this.#loading.delete(key)).catch(() => undefined);
    }
    const model = await pending;
    this.#addRef(model, port);
    return { backend: model.session.backend, reason, precision: model.precision, precisionReason: model.precisionReason, source, classes: model.classes };
  }

  /** The requested precision's file, or, when a variant does not load, fp32's (saying why). */
  async #create(key: string, manifest: ManifestData, backend: BackendPreference, requested: string,
                events: HostEvents): Promise<{ model: HostedModel; source: 'network' | 'cache'; reason: string }> {
    const choice = await this.#choosePrecision(manifest, backend, requested);
    try {
      return await this.#createWith(key, manifest, backend, choice, events);
    } catch (error) {
      const variantFailed = choice.precision !== 'fp32' && error instanceof BagnetError
        && (error.type === 'model-load' || error.type === 'model-invalid') && manifest.files[choice.precision];
      if (!variantFailed) throw error;
      const why = `the ${choice.precision} file did not load (${error.message}): fp32 runs instead`;
      const created = await this.#createWith(key, manifest, backend, { precision: 'fp32', reason: why }, events);
      return { ...created, reason: created.reason ? `${created.reason}; ${why}` : why };
    }
  }

  async #choosePrecision(manifest: ManifestData, backend: BackendPreference, requested: string): Promise<PrecisionChoice> {
    if (requested !== 'auto') return { precision: requested, reason: '' };
    const features = backend === 'wasm' ? null : await webgpuFeatures();
    // `auto` tries WebGPU first whenever there is an adapter (#createSession).
    const onGpu = backend === 'webgpu' || features !== null;
    return choosePrecision(manifest.files, onGpu ? 'webgpu' : 'wasm', { shaderF16: features?.has('shader-f16') ?? false });
  }

  async #createWith(key: string, manifest: ManifestData, backend: BackendPreference, choice: PrecisionChoice,
                    events: HostEvents): Promise<{ model: HostedModel; source: 'network' | 'cache'; reason: string }> {
    const { precision } = choice;
    const file = manifest.files[precision];
    if (!file) {
      throw new BagnetError('model-invalid', `The model has no ${precision} file (it has: ${Object.keys(manifest.files).join(', ')})`);
    }
    try {
      checkInputSize(manifest.input, this.maxInputPixels); // before downloading a model that could never run
    } catch (cause) {
      throw new BagnetError('model-invalid', messageOf(cause), { cause });
    }
    const { bytes, source } = await fetchModelBytes(file, { cacheName: this.cacheName, onProgress: events.progress });
    events.progress('compile', 0, 1);
    const { session, reason } = await this.#createSession(bytes, backend);
    const model: HostedModel = {
      key, manifest, requested: backend, precision, precisionReason: choice.reason, session,
      file,
      refs: new Map(), queue: Promise.resolve(), runs: 0, classes: 0, msPerPixel: 0,
    };
    try {
      model.classes = await this.#checkContract(model);
    } catch (error) {
      await this.#release(model);
      throw error;
    }
    events.progress('compile', 1, 1);
    this.#models.set(key, model);
    return { model, source, reason };
  }

  async #createSession(bytes: Uint8Array, backend: BackendPreference): Promise<{ session: ModelSession; reason: string }> {
    const attempt = async (name: ConcreteBackendName) => {
      try {
        return await this.#newSession(bytes, name);
      } catch (cause) {
        if (cause instanceof BackendUnavailableError) throw new BagnetError('backend', cause.message, { cause });
        throw new BagnetError('model-invalid', `onnxruntime could not load the model on ${name}: ${messageOf(cause)}`, { cause });
      }
    };
    if (backend !== 'auto') return { session: await attempt(backend), reason: '' };
    try {
      return { session: await attempt('webgpu'), reason: '' };
    } catch (error) {
      // A model the runtime cannot parse fails the same way on WASM: say so rather than hide it.
      const session = await attempt('wasm');
      return { session, reason: `WebGPU was not used: ${messageOf(error)}` };
    }
  }

  /** One tiny run checks the ONNX contract (names, rank, classes) and warms the session up. */
  async #checkContract(model: HostedModel): Promise<number> {
    const { session, manifest } = model;
    if (session.inputNames[0] !== 'input' || session.outputNames[0] !== 'patch_logits') {
      throw new BagnetError('model-invalid', `The ONNX model must have input "input" and output "patch_logits", `
        + `but has ${JSON.stringify(session.inputNames)} → ${JSON.stringify(session.outputNames)}`);
    }
    const q = manifest.patchSize;
    const channels = manifest.input.channels;
    let output;
    try {
      output = await this.#timed(model, [1, channels, q, q], () => this.#runOn(model, new Float32Array(channels * q * q), [1, channels, q, q]));
    } catch (cause) {
      throw new BagnetError('model-invalid', `The model does not run on a ${channels}×${q}×${q} input `
        + `(does patchSize ${q} or input.channels ${channels} match the ONNX file?): ${messageOf(cause)}`, { cause });
    }
    const [, rows, cols, classes] = output.dims;
    if (rows !== 1 || cols !== 1) {
      throw new BagnetError('model-invalid', `A ${q}×${q} input should give one evidence cell, but gave ${rows}×${cols}: `
        + 'the manifest\'s patchSize does not match the network');
    }
    if (classes !== manifest.labels.length) {
      throw new BagnetError('model-invalid', `The model has ${classes} classes, but its manifest lists ${manifest.labels.length} labels`);
    }
    return classes;
  }

  /** One run, with a new WebGPU device after a loss, and `auto`'s fallback to WASM when WebGPU fails. */
  async #runOn(model: HostedModel, data: Float32Array, dims: Dims) {
    const session = model.session;
    try {
      return await session.run(data, dims);
    } catch (error) {
      const recoverable = session.backend === 'webgpu' && (session.lost() || model.requested === 'auto');
      if (!recoverable) {
        throw error instanceof BagnetError ? error
          : new BagnetError('inference', `The model failed on ${session.backend}: ${messageOf(error)}`, { cause: error });
      }
      await this.#recover(model, session.lost() ? null : `a WebGPU run failed: ${messageOf(error)}`);
      return model.session.run(data, dims);
    }
  }

  /**
   * A WebGPU session that cannot run: after a device loss (`runFailure` null), a session on a new
   * device, tried once; else, or if that fails, WASM for `auto` and a `backend` error for `webgpu`.
   */
  async #recover(model: HostedModel, runFailure: string | null): Promise<void> {
    let reason = runFailure;
    if (reason === null) {
      try {
        const old = model.session;
        model.session = await this.#newSession(await this.#bytesOf(model), 'webgpu');
        this.#releaseAll([old]);
        this.#dropStages(model, true); // made on the lost device: made again when next needed
        return;
      } catch (error) {
        reason = `the WebGPU device was lost, and a new one could not be used: ${messageOf(error)}`;
      }
    }
    if (model.requested === 'auto') return this.#switchToWasm(model, reason);
    throw new BagnetError('backend', `The model cannot run on webgpu: ${reason}`);
  }

  /**
   * A session, announced as blocking the worker for a while: creating one (onnxruntime's graph
   * optimisation, the first one's runtime start) does not yield. Generously: a second per MB of
   * model and external data on top of 30 s, as no history tells how long it takes here.
   */
  async #newSession(bytes: Uint8Array, backend: ConcreteBackendName, externalData: ExternalFile[] = []): Promise<ModelSession> {
    const megabytes = (bytes.length + externalData.reduce((sum, file) => sum + file.data.length, 0)) / 1e6;
    this.events.busy(30_000 + 1000 * megabytes);
    const session = await createSession(bytes, backend, externalData);
    this.#sessionsCreated++;
    return session;
  }

  /** The model's ONNX bytes again (not kept in memory beside its session: a big model is tens of MB). */
  async #bytesOf(model: HostedModel): Promise<Uint8Array> {
    return (await fetchModelBytes(model.file, { cacheName: this.cacheName })).bytes;
  }

  async #switchToWasm(model: HostedModel, reason: string): Promise<void> {
    const old = model.session;
    model.session = await this.#newSession(await this.#bytesOf(model), 'wasm');
    this.#releaseAll([old]);
    this.#dropStages(model, true); // made on WebGPU: made again on WASM when next needed
    this.events.backendChanged({ key: model.key, requested: model.requested, actual: 'wasm', reason });
  }

  /** One queued run on the model's session (runs of a session never overlap). */
  #enqueueRun(key: string, batch: Float32Array, dims: Dims) {
    const model = this.#models.get(key);
    if (!model) return Promise.reject(new BagnetError('inference', 'The model is not loaded (it was released or the worker restarted)'));
    return this.#queued(model, async () => {
      if (model.session.backend === 'webgpu' && model.session.lost()) await this.#recover(model, null);
      const started = performance.now();
      const output = await this.#timed(model, dims, () => this.#runOn(model, batch, dims));
      model.runs++;
      return { ...output, backend: model.session.backend, inferenceMs: performance.now() - started };
    });
  }

  /**
   * One session run on an input of `dims`, announced with how long it may block the worker (four
   * times the slowest time per input pixel this model has taken, at least a second), and learnt from.
   */
  async #timed<T>(model: HostedModel, dims: readonly number[], run: () => Promise<T>): Promise<T> {
    const pixels = dims.reduce((a, b) => a * b, 1);
    this.events.busy(Math.max(1000, 4 * model.msPerPixel * pixels));
    const started = performance.now();
    const output = await run();
    model.msPerPixel = Math.max(model.msPerPixel, (performance.now() - started) / pixels);
    return output;
  }

  /** `work` after everything queued on the model's sessions (ORT runs must not overlap). */
  #queued<T>(model: HostedModel, work: () => Promise<T>): Promise<T> {
    const job = model.queue.then(async () => {
      // A WASM run does not yield: let messages in between runs (cancellations, new images, a
      // tiled job's neighbours), or a long job would hold the worker until its last run.
      await nextTask();
      return work();
    });
    model.queue = job.catch(() => undefined);
    return job;
  }

  /**
   * Runs N same-size inputs: as one batch, or, when one input alone is larger than `maxRunPixels`,
   * each input in tiles whose cells are assembled into the whole grid (exactly the cells one run
   * would give: every cell depends on its own patch only).
   */
  async #runBatch(key: string, batch: Float32Array, dims: Dims, cancelled?: () => boolean) {
    const [n, channels, height, width] = dims;
    const model = this.#models.get(key);
    const tiles = model ? tilePlan(height, width, model.manifest, this.maxRunPixels) : null;
    if (!tiles) return this.#enqueueRun(key, batch, dims);
    const perImage = channels * height * width;
    let backend = model!.session.backend;
    let inferenceMs = 0;
    const outputs: { data: Float32Array; rows: number; cols: number; classes: number }[][] = [];
    for (let i = 0; i < n; i++) {
      const image = batch.subarray(i * perImage, (i + 1) * perImage);
      const cells = [];
      for (const tile of tiles) {
        if (cancelled?.()) throw cancelledError(); // a big input is many runs: stop within one
        const out = await this.#enqueueRun(key, cropTile(image, channels, height, width, tile), [1, channels, tile.height, tile.width]);
        cells.push({ data: out.data, rows: out.dims[1], cols: out.dims[2], classes: out.dims[3] });
        backend = out.backend;
        inferenceMs += out.inferenceMs;
      }
      outputs.push(cells);
    }
    // The last tiles of each axis reach the input's edges: they end the grid.
    const first = outputs[0]!;
    const rows = Math.max(...tiles.map((tile, t) => tile.row + first[t]!.rows));
    const cols = Math.max(...tiles.map((tile, t) => tile.col + first[t]!.cols));
    const classes = first[0]!.classes;
    const grid = new Float32Array(n * rows * cols * classes);
    outputs.forEach((cells, i) => cells.forEach((out, t) => placeTileCells(grid.subarray(i * rows * cols * classes), rows, cols, classes,
      out.data, out.rows, out.cols, tiles[t]!)));
    return { data: grid, dims: [n, rows, cols, classes] as Dims, backend, inferenceMs };
  }

  /** Run a batch (tensors of identical dims, concatenated) and split the output per request. */
  async run(key: string, requestIds: readonly number[], batch: Float32Array, dims: Dims): Promise<RunResult> {
    const { data, dims: outDims, backend, inferenceMs } = await this.#runBatch(key, batch, dims);
    const [n, rows, cols, classes] = outDims;
    if (n !== requestIds.length) throw new BagnetError('inference', `The model returned ${n} results for ${requestIds.length} images`);
    const perImage = rows * cols * classes;
    const outputs: RunOutput[] = requestIds.map((requestId, i) => {
      const patchLogits = data.slice(i * perImage, (i + 1) * perImage);
      return { requestId, rows, cols, classes, patchLogits, logits: Float32Array.from(meanLogits(patchLogits, rows * cols, classes)) };
    });
    return { outputs, backend, batchSize: n, inferenceMs };
  }

  /** The network on one input (a crop, say), queued with the session's other runs, tiled when large. */
  async runInput(key: string, data: Float32Array, dims: Dims) {
    return this.#runBatch(key, data, dims);
  }

  /** The exact map's view of a loaded model (./exact-map.ts): its whole network and its stages. */
  exactMapModel(key: string): ExactMapModel {
    const model = this.#models.get(key);
    if (!model) throw new BagnetError('inference', 'The model is not loaded (it was released or the worker restarted)');
    return {
      patchSize: model.manifest.patchSize,
      stride: model.manifest.stride,
      classCount: model.classes,
      backend: model.session.backend,
      parallelism: model.session.parallelism,
      runWhole: (batch, dims, cancelled) => this.#runBatch(key, batch, dims, cancelled),
      stages: () => this.#stagesFor(model).then((sessions) => sessions && {
        count: sessions.length,
        backend: sessions[0]!.backend,
        run: (index, data, dims, classes) => this.#queued(model, async () => {
          const output = await this.#timed(model, dims, () => sessions[index]!.run(data, dims, classes));
          model.runs++;
          return output;
        }),
      }),
      dropStages: () => this.#dropStages(model),
    };
  }

  /** The stage sessions of `model`, made on first use (null when it has none or they fail to load). */
  #stagesFor(model: HostedModel): Promise<ModelSession[] | null> {
    model.stages ??= (async () => {
      // The stages compute with their precision's weights (fp32 unless they name another file's):
      // another precision's exact map runs shift by shift on its own session, to stay its own.
      const stages = model.manifest.stages ?? [];
      if (stages.some((stage) => (stage.externalData?.precision ?? 'fp32') !== model.precision)) return null;
      const sessions: ModelSession[] = [];
      try {
        // The file the stages take their weights from: the model's own, normally in the Cache API since it loaded.
        let weights: { precision: string; bytes: Promise<Uint8Array> } | undefined;
        for (const file of stages) {
          // Stored in the Cache API meanwhile: the map need not wait for the write.
          const { bytes } = await fetchModelBytes(file, { cacheName: this.cacheName, storeInBackground: true });
          const external = file.externalData;
          if (external && weights?.precision !== external.precision) {
            weights = { ...external, bytes: fetchModelBytes(model.manifest.files[external.precision]!, { cacheName: this.cacheName }).then((w) => w.bytes) };
          }
          const data = external ? [{ path: external.path, data: await weights!.bytes }] : [];
          sessions.push(await this.#newSession(bytes, model.session.backend, data));
        }
      } catch {
        this.#releaseAll(sessions);
        return null;
      }
      return sessions.length ? sessions : null;
    })();
    return model.stages;
  }

  /** Release the stage sessions; shift by shift from now on, unless `remake` (then on next use). */
  #dropStages(model: HostedModel, remake = false): void {
    const stages = model.stages;
    model.stages = remake ? undefined : Promise.resolve(null);
    void stages?.then((sessions) => this.#releaseAll(sessions ?? []));
  }

  #releaseAll(sessions: readonly ModelSession[]): void {
    for (const session of sessions) session.release().catch(() => undefined).finally(() => this.#sessionsReleased++);
  }

  unload(port: PortId, key: string): void {
    const model = this.#models.get(key);
    if (!model) return;
    const count = (model.refs.get(port) ?? 0) - 1;
    if (count > 0) model.refs.set(port, count);
    else model.refs.delete(port);
    if (model.refs.size === 0) this.#drop(model);
  }

  /** A client went away: drop all its references. */
  forgetPort(port: PortId): void {
    for (const model of [...this.#models.values()]) {
      model.refs.delete(port);
      if (model.refs.size === 0) this.#drop(model);
    }
  }

  #drop(model: HostedModel): void {
    this.#models.delete(model.key);
    // Let a run in progress finish before the session goes.
    model.queue.then(() => this.#release(model)).catch(() => undefined);
  }

  async #release(model: HostedModel): Promise<void> {
    this.#dropStages(model);
    try {
      await model.session.release();
    } finally {
      this.#sessionsReleased++;
    }
  }

  /** Whether `port` still holds any model. */
  holds(port: PortId): boolean {
    return [...this.#models.values()].some((model) => model.refs.has(port));
  }

  /** The manifest of a loaded model, or undefined. */
  manifestOf(key: string): ManifestData | undefined {
    return this.#models.get(key)?.manifest;
  }

  #addRef(model: HostedModel, port: PortId): void {
    model.refs.set(port, (model.refs.get(port) ?? 0) + 1);
  }

  stats() {
    return {
      sessions: this.#models.size,
      models: [...this.#models.values()].map((m) => ({
        key: m.key, backend: m.session.backend, refs: [...m.refs.values()].reduce((a, b) => a + b, 0), runs: m.runs,
      })),
      sessionsCreated: this.#sessionsCreated,
      sessionsReleased: this.#sessionsReleased,
    };
  }
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
