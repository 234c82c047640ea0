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
import { referencePadding, shiftCropSize, shiftLevels, stitchShift, writeShiftCrop, type ShiftGeometry } from '../core/stitch.js';
import { cropNchw, linearHeadCells, padChw, planStages, type LinearHead, type Nchw } from '../core/staged-plan.js';
import type { ModelFile } from '../core/manifest.js';
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
  readonly file: ModelFile;
  /** The exact map's stage sessions: created on first use; null when the graph cannot be staged. */
  staged?: Promise<StagedSessions | null>;
}

interface StagedSessions {
  readonly stem: ModelSession | null;
  readonly strided: readonly ModelSession[];
  readonly head: LinearHead | null;
}

/** The staged result differed from the whole network: the graph is not what the plan assumed. */
class StagedMismatch extends Error {}

export class ModelHost {
  readonly #models = new Map<string, HostedModel>();
  readonly #loading = new Map<string, Promise<HostedModel>>();
  #sessionsCreated = 0;
  #sessionsReleased = 0;
  #failNextWebgpuRun = false;
  #failNextStageRun = false;

  constructor(private readonly cacheName: string | null,
              /** Inputs larger than this run in tiles (core/tiles.ts). */
              private readonly maxRunPixels: number,
              /** Exact maps may share early layers between shifts. */
              private readonly exactStages: boolean,
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
      refs: new Map(), queue: Promise.resolve(), runs: 0, classes: 0, file,
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
    // Stages were made for the old backend: made again on WASM when next needed.
    const staged = model.staged;
    model.staged = undefined;
    void staged?.then((sessions) => this.#releaseStaged(sessions), () => undefined);
    model.session = await createSession(model.bytes!, 'wasm');
    this.#sessionsCreated++;
    model.bytes = null;
    old.release().catch(() => undefined).finally(() => this.#sessionsReleased++);
    this.onBackendChange({ key: model.key, requested: model.requested, actual: 'wasm', reason });
  }

  /** One queued run on the model's session (runs of a session never overlap). */
  #enqueueRun(key: string, batch: Float32Array, dims: [number, number, number, number]) {
    const model = this.#models.get(key);
    if (!model) return Promise.reject(new BagnetError('inference', 'The model is not loaded (it was released or the worker restarted)'));
    const job = model.queue.then(async () => {
      // A WASM run does not yield: let messages in between runs (cancellations, new images, a
      // tiled job's neighbours), or a long job would hold the worker until its last run.
      await yieldToEventLoop();
      if (model.session.backend === 'webgpu' && isWebgpuDeviceLost() && model.requested === 'auto' && model.bytes) {
        await this.#switchToWasm(model, 'the WebGPU device was lost');
      }
      const started = performance.now();
      const output = await this.#runOn(model, batch, dims);
      model.runs++;
      return { ...output, backend: model.session.backend, inferenceMs: performance.now() - started };
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
   * The exact full-resolution map of `keep` classes for one preprocessed image (C×H×W), coarse to
   * fine (level = stride → 1), `onLevel` getting a copy of the map after each level. Staged (see
   * core/staged-plan.ts) when the graph allows and the padded image fits in one run; otherwise by
   * plain shift-and-stitch, each level's shifts batched. Other requests run between runs.
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
    const pad = referencePadding(geometry.patchSize);
    // With stride 2 only the stem would be shared, and the extra runs cost more than that saves.
    if (this.exactStages && geometry.stride >= 4 && (height + 2 * pad) * (width + 2 * pad) <= this.maxRunPixels) {
      const staged = await this.#stagedFor(model);
      if (staged) {
        try {
          return await this.#denseStaged(model, staged, image, geometry, keep, options);
        } catch (error) {
          if (error instanceof BagnetError && error.type === 'aborted') throw error;
          // A stage failed (a lost GPU device, say): drop the stages and start over shift by shift,
          // which has the whole network's fallbacks. The levels are sent again from the coarsest.
          model.staged = Promise.resolve(null);
          void this.#releaseStaged(staged);
        }
      }
    }
    return this.#denseByShifts(model, image, geometry, keep, options);
  }

  /** The stage sessions of `model`, created on first use (null when its graph cannot be staged). */
  #stagedFor(model: HostedModel): Promise<StagedSessions | null> {
    model.staged ??= (async () => {
      const { bytes } = await fetchModelBytes(model.file, { cacheName: this.cacheName });
      const planned = planStages(bytes, model.manifest.stride);
      if (!('plan' in planned)) return null;
      const { plan } = planned;
      const backend = model.session.backend;
      const sessions: ModelSession[] = [];
      try {
        const create = async (stage: Uint8Array) => {
          const session = await createSession(stage, backend);
          this.#sessionsCreated++;
          sessions.push(session);
          return session;
        };
        const stem = plan.stem ? await create(plan.stem) : null;
        const strided: ModelSession[] = [];
        for (const stage of plan.strided) strided.push(await create(stage));
        const staged = { stem, strided, head: plan.head };
        await this.#probeStaged(model, staged);
        return staged;
      } catch {
        // Cannot be staged (or the stages disagree with the whole network): shift by shift, as before.
        await this.#releaseSessions(sessions);
        return null;
      }
    })().catch(() => null);
    return model.staged;
  }

  async #denseStaged(model: HostedModel, staged: StagedSessions, image: Float32Array, g: ShiftGeometry,
                     keep: readonly number[], options: DenseOptions): Promise<DenseResult> {
    const started = performance.now();
    const depth = staged.strided.length; // log2(stride): one stage per doubling
    const map = new Float32Array(g.height * g.width * keep.length);
    const slots = keep.map((_, j) => j);
    let runs = 0;
    let leaves = 0;
    let level = g.stride;
    const run = async (session: ModelSession, x: Nchw): Promise<Nchw> => {
      if (options.cancelled()) throw new BagnetError('aborted', 'The exact heatmap was cancelled');
      const out = await this.#runExclusive(model, session, x);
      runs++;
      return out;
    };
    // Depth-first, the finest digit of the shift outermost: the first leaf is shift (0, 0), the
    // first 4 complete level stride/2, the first 16 level stride/4, and so on.
    const visit = async (stage: number, x: Nchw, dy: number, dx: number): Promise<void> => {
      if (stage === depth) {
        const { cells, rows, cols } = headCells(x, staged.head, keep);
        stitchShift(map, g, dy, dx, cells, rows, cols, keep.length, slots);
        leaves++;
        if (leaves === (g.stride / level) ** 2) {
          options.onLevel(level, map.slice(), runs);
          level /= 2;
        }
        return;
      }
      for (const [py, px] of PHASES) {
        const next = await run(staged.strided[stage]!, cropNchw(x, py, px));
        await visit(stage + 1, next, dy + py * 2 ** stage, dx + px * 2 ** stage);
      }
    };
    const padded = padChw(image, g.channels, g.height, g.width, referencePadding(g.patchSize));
    await visit(0, staged.stem ? await run(staged.stem, padded) : padded, 0, 0);
    return { map, height: g.height, width: g.width, keep: [...keep], runs, backend: model.session.backend,
      ms: performance.now() - started, method: 'staged' };
  }

  /**
   * Before the stages are trusted: on a small random input, a few shifts whose phases differ at
   * every stage must give what the whole network gives on the shifted crop.
   */
  async #probeStaged(model: HostedModel, staged: StagedSessions): Promise<void> {
    const { patchSize: q, stride, input } = model.manifest;
    const side = q + 2 * stride;
    let seed = 12345;
    const data = new Float32Array(input.channels * side * side).map(() => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 1073741824 - 1;
    });
    const probe: Nchw = { data, dims: [1, input.channels, side, side] };
    const root = staged.stem ? await this.#runExclusive(model, staged.stem, probe) : probe;
    const classes = Array.from({ length: model.classes }, (_, k) => k);
    for (const [dy, dx] of [[stride - 1, stride - 1], [1, stride / 2]] as const) {
      let x = root;
      for (let stage = 0; stage < staged.strided.length; stage++) {
        x = await this.#runExclusive(model, staged.strided[stage]!, cropNchw(x, (dy >> stage) & 1, (dx >> stage) & 1));
      }
      const { cells, rows, cols } = headCells(x, staged.head, classes);
      const shifted = cropNchw(probe, dy, dx);
      const whole = await this.#runBatch(model.key, shifted.data, [...shifted.dims]);
      const [, wholeRows, wholeCols] = whole.dims;
      let largest = 0;
      let worst = 0;
      for (let u = 0; u < Math.min(rows, wholeRows); u++) {
        for (let v = 0; v < Math.min(cols, wholeCols); v++) {
          for (const k of classes) {
            const reference = whole.data[(u * wholeCols + v) * model.classes + k]!;
            largest = Math.max(largest, Math.abs(reference));
            worst = Math.max(worst, Math.abs(reference - cells[(u * cols + v) * model.classes + k]!));
          }
        }
      }
      if (rows < 1 || wholeRows < 1 || !(worst <= 1e-4 * Math.max(largest, 1e-6))) {
        throw new StagedMismatch(`shift (${dy}, ${dx}): the stages differ from the whole network by ${worst}`);
      }
    }
  }

  /** One run of `session` on the model's queue (runs of a model never overlap; others get in between). */
  #runExclusive(model: HostedModel, session: ModelSession, x: Nchw): Promise<Nchw> {
    const job = model.queue.then(async () => {
      await yieldToEventLoop();
      if (this.#failNextStageRun) {
        this.#failNextStageRun = false;
        throw new Error('injected stage run failure (test hook)');
      }
      const out = await session.run(x.data, x.dims);
      model.runs++;
      return { data: out.data, dims: out.dims };
    });
    model.queue = job.catch(() => undefined);
    return job;
  }

  async #denseByShifts(model: HostedModel, image: Float32Array, geometry: ShiftGeometry, keep: readonly number[],
                       options: DenseOptions): Promise<DenseResult> {
    const key = model.key;
    const { channels, height, width } = geometry;
    const crop = shiftCropSize(geometry);
    const cropSize = channels * crop.height * crop.width;
    const perBatch = Math.max(1, Math.min(16, Math.floor(options.maxBatchPixels / (crop.height * crop.width))));
    const map = new Float32Array(height * width * keep.length);
    const started = performance.now();
    let runs = 0;
    let backend = model.session.backend;
    for (const { level, shifts } of shiftLevels(geometry.stride)) {
      for (let start = 0; start < shifts.length; start += perBatch) {
        if (options.cancelled()) throw new BagnetError('aborted', 'The exact heatmap was cancelled');
        const group = shifts.slice(start, start + perBatch);
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
    return { map, height, width, keep: [...keep], runs, backend, ms: performance.now() - started, method: 'shifts' };
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
    const staged = model.staged;
    model.staged = Promise.resolve(null);
    try {
      await model.session.release();
    } finally {
      this.#sessionsReleased++;
      await staged?.then((sessions) => this.#releaseStaged(sessions), () => undefined);
    }
  }

  #releaseStaged(staged: StagedSessions | null): Promise<void> {
    if (!staged) return Promise.resolve();
    return this.#releaseSessions([staged.stem, ...staged.strided].filter((session) => session !== null));
  }

  async #releaseSessions(sessions: readonly ModelSession[]): Promise<void> {
    await Promise.allSettled(sessions.map((session) => session.release().finally(() => this.#sessionsReleased++)));
  }

  #addRef(model: HostedModel, port: PortId): void {
    model.refs.set(port, (model.refs.get(port) ?? 0) + 1);
  }

  failNextWebgpuRun(): void {
    this.#failNextWebgpuRun = true;
  }

  failNextStageRun(): void {
    this.#failNextStageRun = true;
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

export interface DenseOptions {
  /** Plain shift-and-stitch batches shifts up to this many input pixels per run. */
  readonly maxBatchPixels: number;
  readonly cancelled: () => boolean;
  readonly onLevel: (level: number, map: Float32Array, runs: number) => void;
}

const PHASES = [[0, 0], [0, 1], [1, 0], [1, 1]] as const;

/** A leaf's cells for the kept classes, `[rows, cols, keep.length]`: the linear head here, or the logits ORT gave. */
function headCells(x: Nchw, head: LinearHead | null, keep: readonly number[]): { cells: Float32Array; rows: number; cols: number } {
  if (head) return { cells: linearHeadCells(x, head, keep), rows: x.dims[2], cols: x.dims[3] };
  const [, rows, cols, classes] = x.dims;
  const cells = new Float32Array(rows * cols * keep.length);
  for (let p = 0; p < rows * cols; p++) keep.forEach((k, j) => { cells[p * keep.length + j] = x.data[p * classes + k]!; });
  return { cells, rows, cols };
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

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
