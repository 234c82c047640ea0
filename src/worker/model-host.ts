/**
 * Hosts model sessions inside the worker: one per (model URL, backend, precision) key, shared by
 * every client port, reference-counted, with runs on one session strictly one after another.
 * `auto` falls back from WebGPU to WASM at creation, when a run fails, and after a device loss.
 */
import { BagnetError } from '../core/errors.js';
import { meanLogits } from '../core/evidence.js';
import type {
  BackendPreference, ConcreteBackendName, DenseResult, LoadedModel, ManifestData, ProgressPhase, RunOutput, RunResult,
} from '../core/protocol.js';
import {
  BackendUnavailableError, createSession, isWebgpuDeviceLost, type ModelSession,
} from '../runtime/onnx.js';
import { batchSizes, cropPhase, shiftCropSize, shiftLevels, stitchShift, writeShiftCrop, type ShiftGeometry } from '../core/stitch.js';
import { cropTile, placeTileCells, tilePlan } from '../core/tiles.js';
import { fetchModelBytes } from './model-bytes.js';

export type PortId = number;

export interface HostEvents {
  progress(phase: ProgressPhase, loaded: number, total: number): void;
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
  session: ModelSession;
  /** Kept only while a WebGPU session may still need to fall back to WASM. */
  bytes: Uint8Array | null;
  readonly refs: Map<PortId, number>;
  /** Serialises runs: ORT sessions must not run concurrently. */
  queue: Promise<unknown>;
  runs: number;
  classes: number;
  /** The exact map's stage sessions (manifest.stages), made on first use; null: shift by shift. */
  stages?: Promise<ModelSession[] | null>;
}

export class ModelHost {
  readonly #models = new Map<string, HostedModel>();
  readonly #loading = new Map<string, Promise<HostedModel>>();
  #sessionsCreated = 0;
  #sessionsReleased = 0;
  #failNextWebgpuRun = false;

  constructor(private readonly cacheName: string | null,
              /** Inputs larger than this run in tiles (core/tiles.ts). */
              private readonly maxRunPixels: number,
              private readonly onBackendChange: (change: BackendChange) => void) {}

  async load(port: PortId, key: string, manifest: ManifestData, backend: BackendPreference,
             precision: string, events: HostEvents): Promise<LoadedModel> {
    const existing = this.#models.get(key);
    if (existing) {
      this.#addRef(existing, port);
      return { backend: existing.session.backend, reason: '', source: 'memory', classes: existing.classes };
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
    return { backend: model.session.backend, reason, source, classes: model.classes };
  }

  async #create(key: string, manifest: ManifestData, backend: BackendPreference, precision: string,
                events: HostEvents): Promise<{ model: HostedModel; source: 'network' | 'cache'; reason: string }> {
    const file = manifest.files[precision];
    if (!file) {
      throw new BagnetError('model-invalid', `The model has no ${precision} file (it has: ${Object.keys(manifest.files).join(', ')})`);
    }
    const { bytes, source } = await fetchModelBytes(file, { cacheName: this.cacheName, onProgress: events.progress });
    events.progress('compile', 0, 1);
    const { session, reason } = await this.#createSession(bytes, backend);
    const model: HostedModel = {
      key, manifest, requested: backend, session,
      bytes: backend === 'auto' && session.backend === 'webgpu' ? bytes : null,
      refs: new Map(), queue: Promise.resolve(), runs: 0, classes: 0,
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
        const session = await createSession(bytes, name);
        this.#sessionsCreated++;
        return session;
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
      output = await this.#runOn(model, new Float32Array(channels * q * q), [1, channels, q, q]);
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

  /** One run, with `auto`'s fallback to WASM when WebGPU fails. */
  async #runOn(model: HostedModel, data: Float32Array, dims: [number, number, number, number]) {
    const session = model.session;
    try {
      if (session.backend === 'webgpu' && this.#failNextWebgpuRun) {
        this.#failNextWebgpuRun = false;
        throw new Error('injected WebGPU run failure (test hook)');
      }
      return await session.run(data, dims);
    } catch (error) {
      if (model.requested !== 'auto' || session.backend !== 'webgpu' || !model.bytes) {
        throw error instanceof BagnetError ? error
          : new BagnetError('inference', `The model failed on ${session.backend}: ${messageOf(error)}`, { cause: error });
      }
      const reason = isWebgpuDeviceLost() ? 'the WebGPU device was lost' : `a WebGPU run failed: ${messageOf(error)}`;
      await this.#switchToWasm(model, reason);
      return model.session.run(data, dims);
    }
  }

  async #switchToWasm(model: HostedModel, reason: string): Promise<void> {
    const old = model.session;
    model.session = await createSession(model.bytes!, 'wasm');
    this.#sessionsCreated++;
    model.bytes = null;
    this.#releaseAll([old]);
    this.#dropStages(model, true); // made on WebGPU: made again on WASM when next needed
    this.onBackendChange({ key: model.key, requested: model.requested, actual: 'wasm', reason });
  }

  /** One queued run on the model's session (runs of a session never overlap). */
  #enqueueRun(key: string, batch: Float32Array, dims: [number, number, number, number]) {
    const model = this.#models.get(key);
    if (!model) return Promise.reject(new BagnetError('inference', 'The model is not loaded (it was released or the worker restarted)'));
    return this.#queued(model, async () => {
      if (model.session.backend === 'webgpu' && isWebgpuDeviceLost() && model.requested === 'auto' && model.bytes) {
        await this.#switchToWasm(model, 'the WebGPU device was lost');
      }
      const started = performance.now();
      const output = await this.#runOn(model, batch, dims);
      model.runs++;
      return { ...output, backend: model.session.backend, inferenceMs: performance.now() - started };
    });
  }

  /** `work` after everything queued on the model's sessions (ORT runs must not overlap). */
  #queued<T>(model: HostedModel, work: () => Promise<T>): Promise<T> {
    const job = model.queue.then(async () => {
      // A WASM run does not yield: let messages in between runs (cancellations, new images, a
      // tiled job's neighbours), or a long job would hold the worker until its last run.
      await yieldToEventLoop();
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
  async #runBatch(key: string, batch: Float32Array, dims: [number, number, number, number]) {
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
    return { data: grid, dims: [n, rows, cols, classes] as [number, number, number, number], backend, inferenceMs };
  }

  /** Run a batch (tensors of identical dims, concatenated) and split the output per request. */
  async run(key: string, requestIds: readonly number[], batch: Float32Array, dims: [number, number, number, number]): Promise<RunResult> {
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

  /**
   * The exact full-resolution map of `keep` classes for one preprocessed image (C×H×W), by
   * shift-and-stitch, level by level (stride → 1). Each level's runs are batched; other requests
   * for the session run between batches. `onLevel` gets a copy of the map after each level.
   */
  async dense(key: string, image: Float32Array, dims: readonly [number, number, number, number], keep: readonly number[],
              options: DenseOptions): Promise<DenseResult> {
    const model = this.#models.get(key);
    if (!model) throw new BagnetError('inference', 'The model is not loaded (it was released or the worker restarted)');
    const [, channels, height, width] = dims;
    const geometry: ShiftGeometry = { channels, height, width, patchSize: model.manifest.patchSize, stride: model.manifest.stride };
    for (const k of keep) {
      if (!Number.isInteger(k) || k < 0 || k >= model.classes) throw new BagnetError('inference', `Class ${k} is out of range (the model has ${model.classes} classes)`);
    }
    const started = performance.now();
    const done = (map: Float32Array, runs: number, backend = model.session.backend): DenseResult =>
      ({ map, height, width, keep: [...keep], runs, backend, ms: performance.now() - started });
    // Staged when the model has stages and its padded image fits one run; else shift by shift.
    const pad = geometry.patchSize + geometry.stride - 2;
    const stages = (height + pad) * (width + pad) <= this.maxRunPixels ? await this.#stagesFor(model) : null;
    if (stages) {
      try {
        const [map, runs] = await this.#denseStaged(model, stages, image, geometry, keep, options);
        return done(map, runs, stages[0]!.backend);
      } catch (error) {
        if (error instanceof BagnetError && error.type === 'aborted') throw error;
        this.#dropStages(model); // a stage failed (a lost GPU device, say): start over shift by shift
      }
    }
    const crop = shiftCropSize(geometry);
    const cropSize = channels * crop.height * crop.width;
    const perBatch = Math.max(1, Math.min(16, Math.floor(options.maxBatchPixels / (crop.height * crop.width))));
    const map = new Float32Array(height * width * keep.length);
    let runs = 0;
    let backend = model.session.backend;
    for (const { level, shifts } of shiftLevels(geometry.stride)) {
      let start = 0;
      for (const size of batchSizes(shifts.length, perBatch, model.session.parallelism)) {
        if (options.cancelled()) throw cancelled();
        const group = shifts.slice(start, start += size);
        const batch = new Float32Array(cropSize * group.length);
        group.forEach(([dy, dx], i) => writeShiftCrop(image, geometry, dy, dx, batch.subarray(i * cropSize, (i + 1) * cropSize)));
        const out = await this.#runBatch(key, batch, [group.length, channels, crop.height, crop.width]);
        backend = out.backend;
        runs++;
        const [, rows, cols, classes] = out.dims;
        const perImage = rows * cols * classes;
        group.forEach(([dy, dx], i) => stitchShift(map, geometry, dy, dx, out.data.subarray(i * perImage, (i + 1) * perImage),
          rows, cols, classes, keep));
      }
      options.onLevel(level, map.slice(), runs);
    }
    return done(map, runs, backend);
  }

  /**
   * The exact map from the model's stages (models/bagnet_tools/stages.py): stage 0 runs once on
   * the padded image, stage i on the 4 phases of each stage i - 1 output (the shifts that agree
   * modulo 2^i share it), the last stage, for the kept classes only, once per shift, level by level
   * (one shift a run on WASM, batches on WebGPU). Returns the map and the number of last-stage runs.
   */
  async #denseStaged(model: HostedModel, stages: ModelSession[], image: Float32Array, g: ShiftGeometry,
                     keep: readonly number[], options: DenseOptions): Promise<[Float32Array, number]> {
    const last = stages.length - 1;
    // The reference padding, and stride - 1 more zeros at the bottom/right for the phase crops to take.
    const crop = { height: g.height + g.patchSize + g.stride - 2, width: g.width + g.patchSize + g.stride - 2 };
    const padded = new Float32Array(g.channels * crop.height * crop.width);
    writeShiftCrop(image, g, 0, 0, padded, crop);
    const whole: Nchw = { data: padded, dims: [1, g.channels, crop.height, crop.width] };
    const run = (i: number, data: Float32Array, dims: readonly [number, number, number, number]) =>
      this.#queued(model, () => stages[i]!.run(data, dims, i === last ? keep : undefined));
    const bit = (shift: number, stage: number) => (shift >> (stage - 1)) & 1; // the phase stage `stage` takes
    // Stage i's output for the shifts ≡ (dy, dx) mod 2^i, kept while a shift still needs it.
    const outputs = new Map<string, Promise<Nchw>>();
    const uses = new Map<string, number>();
    const keys = (dy: number, dx: number) => stages.slice(0, last).map((_, i) => `${i},${dy % 2 ** i},${dx % 2 ** i}`);
    const output = (i: number, dy: number, dx: number): Promise<Nchw> => {
      const key = keys(dy, dx)[i]!;
      let out = outputs.get(key);
      if (!out) {
        const input = i === 0 ? Promise.resolve(whole)
          : output(i - 1, dy, dx).then((x) => cropPhase(x.data, x.dims, bit(dy, i), bit(dx, i)));
        outputs.set(key, out = input.then((x) => run(i, x.data, x.dims)));
      }
      return out;
    };
    // The last stage's input for shift (dy, dx): its dims, and its values written into `into` if given.
    const lastInput = async (dy: number, dx: number, into?: Float32Array): Promise<readonly number[]> => {
      if (last === 0) return into?.set(padded), whole.dims;
      const { data, dims } = await output(last - 1, dy, dx);
      if (into) cropPhase(data, dims, bit(dy, last), bit(dx, last), into);
      return [1, dims[1], dims[2] - 1, dims[3] - 1];
    };
    const levels = shiftLevels(g.stride);
    for (const { shifts } of levels) for (const [dy, dx] of shifts) for (const key of keys(dy, dx)) uses.set(key, (uses.get(key) ?? 0) + 1);
    const map = new Float32Array(g.height * g.width * keep.length);
    const slots = keep.map((_, j) => j);
    let runs = 0;
    // Every shift's last-stage input has one shape. On WASM one shift a run: onnxruntime splits each
    // convolution between its threads, which then share weights and activations in cache (BagNet-33
    // at 224: 56.1 s against 58.2 s with 4 shifts a run, whole images a thread, mean of 4 alternating
    // runs each).
    const [, channels, height, width] = await lastInput(0, 0);
    const most = Math.max(1, Math.min(stages[last]!.backend === 'wasm' ? 1 : 16, Math.floor(options.maxBatchPixels / (height! * width!))));
    const size = channels! * height! * width!;
    // Written in place: onnxruntime copies its input, so one buffer serves every run (filling a fresh
    // array each time, page faults included, took 1 s more in all).
    const buffer = new Float32Array(size * most);
    for (const { level, shifts } of levels) {
      for (let start = 0; start < shifts.length;) {
        if (options.cancelled()) throw cancelled();
        const group = shifts.slice(start, start += most);
        const batch = buffer.subarray(0, size * group.length);
        for (let i = 0; i < group.length; i++) await lastInput(...group[i]!, batch.subarray(i * size, (i + 1) * size));
        const { data, dims: [, rows, cols, k] } = await run(last, batch, [group.length, channels!, height!, width!]);
        runs++;
        group.forEach(([dy, dx], i) => {
          stitchShift(map, g, dy, dx, data.subarray(i * rows * cols * k, (i + 1) * rows * cols * k), rows, cols, k, slots);
          for (const key of keys(dy, dx)) if (uses.set(key, uses.get(key)! - 1).get(key) === 0) outputs.delete(key);
        });
      }
      options.onLevel(level, map.slice(), runs);
    }
    return [map, runs];
  }

  /** The stage sessions of `model`, made on first use (null when it has none or they fail to load). */
  #stagesFor(model: HostedModel): Promise<ModelSession[] | null> {
    model.stages ??= (async () => {
      const sessions: ModelSession[] = [];
      try {
        // The file the stages take their weights from: the model's own, normally in the Cache API since it loaded.
        let weights: { precision: string; bytes: Promise<Uint8Array> } | undefined;
        for (const file of model.manifest.stages ?? []) {
          // Stored in the Cache API meanwhile: the map need not wait for the write.
          const { bytes } = await fetchModelBytes(file, { cacheName: this.cacheName, storeInBackground: true });
          const external = file.externalData;
          if (external && weights?.precision !== external.precision) {
            weights = { ...external, bytes: fetchModelBytes(model.manifest.files[external.precision]!, { cacheName: this.cacheName }).then((w) => w.bytes) };
          }
          sessions.push(await createSession(bytes, model.session.backend, external ? [{ path: external.path, data: await weights!.bytes }] : []));
          this.#sessionsCreated++;
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
    model.bytes = null;
    this.#dropStages(model);
    try {
      await model.session.release();
    } finally {
      this.#sessionsReleased++;
    }
  }

  #addRef(model: HostedModel, port: PortId): void {
    model.refs.set(port, (model.refs.get(port) ?? 0) + 1);
  }

  failNextWebgpuRun(): void {
    this.#failNextWebgpuRun = true;
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

/**
 * A new task after everything already queued (messages, timers). Not `scheduler.yield()`: its
 * continuation goes ahead of other tasks, so it would not let them in.
 */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}

interface Nchw {
  readonly data: Float32Array;
  readonly dims: readonly [number, number, number, number];
}

interface DenseOptions {
  readonly maxBatchPixels: number;
  cancelled(): boolean;
  onLevel(level: number, map: Float32Array, runs: number): void;
}

function cancelled(): BagnetError {
  return new BagnetError('aborted', 'The exact heatmap was cancelled');
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
