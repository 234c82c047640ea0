/**
 * The exact map: the authors' full-resolution heatmap (the evidence of the q×q patch centred on every
 * pixel of the zero-padded, normalised image), by shift-and-stitch, level by level (stride → 1).
 * Two paths give the same numbers: the model's exported stages (stage 0 once, stage i on the 4
 * phases of each stage i - 1 output, the last stage once per shift) or, without stages, the whole
 * network once per shift. Sessions belong to ModelHost; this module only decides what runs.
 */
import { BagnetError } from '../core/errors.js';
import type { ConcreteBackendName, ExactMapResult } from '../core/protocol.js';
import {
  batchSizes, cropPhase, shiftCropSize, shiftLevels, stitchShift, writeShiftCrop, type ShiftGeometry,
} from '../core/stitch.js';
import type { PatchLogits } from '../runtime/onnx.js';

type Dims = readonly [number, number, number, number];

/** What the exact map needs from a hosted model (ModelHost gives it; see `ModelHost.exactMapModel`). */
export interface ExactMapModel {
  readonly patchSize: number;
  readonly stride: number;
  /** Classes the model has (requested classes are checked against it). */
  readonly classCount: number;
  readonly backend: ConcreteBackendName;
  /** WASM threads (batches split best into multiples of them); 1 on WebGPU. */
  readonly parallelism: number;
  /**
   * The whole network on a batch of same-size inputs, queued with the session's other runs (tiled
   * when large; `cancelled` is checked between tiles).
   */
  runWhole(batch: Float32Array, dims: Dims, cancelled?: () => boolean): Promise<PatchLogits & { readonly backend: ConcreteBackendName }>;
  /** The stage runner when the model has stages that load (made on first use), else null. */
  stages(): Promise<StageRunner | null>;
  /** The stages failed: release them, shift by shift from now on. */
  dropStages(): void;
}

export interface StageRunner {
  readonly count: number;
  readonly backend: ConcreteBackendName;
  /** Stage `index` on an NCHW batch, queued with the session's other runs; the last stage takes `classes`. */
  run(index: number, data: Float32Array, dims: Dims, classes?: readonly number[]): Promise<PatchLogits>;
}

export interface ExactMapOptions {
  /** Largest batch, in input pixels (a batch's activations must fit in WASM memory). */
  readonly maxBatchPixels: number;
  /** Whether the page gave up on the map (checked between runs). */
  cancelled(): boolean;
  /** The map so far (a copy) after each level. */
  onLevel(level: number, map: Float32Array, runs: number): void;
  /** The staged path runs the whole padded image at once: only when it has at most this many pixels. */
  readonly maxRunPixels: number;
}

/** The exact map of `classes` for one preprocessed image (1×C×H×W). */
export async function computeExactMap(model: ExactMapModel, image: Float32Array, dims: Dims, classes: readonly number[],
                                      options: ExactMapOptions): Promise<ExactMapResult> {
  const [, channels, height, width] = dims;
  const geometry: ShiftGeometry = { channels, height, width, patchSize: model.patchSize, stride: model.stride };
  for (const k of classes) {
    if (!Number.isInteger(k) || k < 0 || k >= model.classCount) {
      throw new BagnetError('inference', `Class ${k} is out of range (the model has ${model.classCount} classes)`);
    }
  }
  const started = performance.now();
  const done = (map: Float32Array, runs: number, backend: ConcreteBackendName): ExactMapResult =>
    ({ map, height, width, classes: [...classes], runs, backend, ms: performance.now() - started });
  const pad = model.patchSize + model.stride - 2;
  const stages = (height + pad) * (width + pad) <= options.maxRunPixels ? await model.stages() : null;
  if (stages) {
    try {
      const [map, runs] = await staged(stages, image, geometry, classes, options);
      return done(map, runs, stages.backend);
    } catch (error) {
      if (error instanceof BagnetError && error.type === 'aborted') throw error;
      model.dropStages(); // a stage failed (a lost GPU device, say): start over shift by shift
    }
  }
  const [map, runs, backend] = await shiftByShift(model, image, geometry, classes, options);
  return done(map, runs, backend);
}

/** The whole network once per shift, the shifts of a level batched. */
async function shiftByShift(model: ExactMapModel, image: Float32Array, g: ShiftGeometry, classes: readonly number[],
                            options: ExactMapOptions): Promise<[Float32Array, number, ConcreteBackendName]> {
  const crop = shiftCropSize(g);
  const cropSize = g.channels * crop.height * crop.width;
  const perBatch = Math.max(1, Math.min(16, Math.floor(options.maxBatchPixels / (crop.height * crop.width))));
  const map = new Float32Array(g.height * g.width * classes.length);
  let runs = 0;
  let backend = model.backend;
  for (const { level, shifts } of shiftLevels(g.stride)) {
    let start = 0;
    for (const size of batchSizes(shifts.length, perBatch, model.parallelism)) {
      if (options.cancelled()) throw cancelled();
      const group = shifts.slice(start, start += size);
      const batch = new Float32Array(cropSize * group.length);
      group.forEach(([dy, dx], i) => writeShiftCrop(image, g, dy, dx, batch.subarray(i * cropSize, (i + 1) * cropSize)));
      const out = await model.runWhole(batch, [group.length, g.channels, crop.height, crop.width], () => options.cancelled());
      backend = out.backend;
      runs++;
      const [, rows, cols, classCount] = out.dims;
      const perImage = rows * cols * classCount;
      group.forEach(([dy, dx], i) => stitchShift(map, g, dy, dx, out.data.subarray(i * perImage, (i + 1) * perImage),
        rows, cols, classCount, classes));
    }
    options.onLevel(level, map.slice(), runs);
  }
  return [map, runs, backend];
}

/**
 * The exact map from the model's stages (models/bagnet_tools/stages.py): stage 0 runs once on
 * the padded image, stage i on the 4 phases of each stage i - 1 output (the shifts that agree
 * modulo 2^i share it), the last stage, for the requested classes only, once per shift, level by
 * level (one shift a run on WASM, batches on WebGPU). Returns the map and the number of last-stage runs.
 */
async function staged(stages: StageRunner, image: Float32Array, g: ShiftGeometry, classes: readonly number[],
                      options: ExactMapOptions): Promise<[Float32Array, number]> {
  const last = stages.count - 1;
  // The reference padding, and stride - 1 more zeros at the bottom/right for the phase crops to take.
  const crop = { height: g.height + g.patchSize + g.stride - 2, width: g.width + g.patchSize + g.stride - 2 };
  const padded = new Float32Array(g.channels * crop.height * crop.width);
  writeShiftCrop(image, g, 0, 0, padded, crop);
  const whole: Nchw = { data: padded, dims: [1, g.channels, crop.height, crop.width] };
  const bit = (shift: number, stage: number) => (shift >> (stage - 1)) & 1; // the phase stage `stage` takes
  // Stage i's output for the shifts ≡ (dy, dx) mod 2^i, kept while a shift still needs it.
  const outputs = new Map<string, Promise<Nchw>>();
  const uses = new Map<string, number>();
  const keys = (dy: number, dx: number) => Array.from({ length: last }, (_, i) => `${i},${dy % 2 ** i},${dx % 2 ** i}`);
  const output = (i: number, dy: number, dx: number): Promise<Nchw> => {
    const key = keys(dy, dx)[i]!;
    let out = outputs.get(key);
    if (!out) {
      const input = i === 0 ? Promise.resolve(whole)
        : output(i - 1, dy, dx).then((x) => cropPhase(x.data, x.dims, bit(dy, i), bit(dx, i)));
      outputs.set(key, out = input.then((x) => stages.run(i, x.data, x.dims)));
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
  const map = new Float32Array(g.height * g.width * classes.length);
  const slots = classes.map((_, j) => j);
  let runs = 0;
  // Every shift's last-stage input has one shape. On WASM one shift a run: onnxruntime splits each
  // convolution between its threads, which then share weights and activations in cache (measured
  // faster than whole images a thread; see the README's exact-map figures).
  const [, channels, height, width] = await lastInput(0, 0);
  const most = Math.max(1, Math.min(stages.backend === 'wasm' ? 1 : 16, Math.floor(options.maxBatchPixels / (height! * width!))));
  const size = channels! * height! * width!;
  // Written in place: onnxruntime copies its input, so one buffer serves every run.
  const buffer = new Float32Array(size * most);
  for (const { level, shifts } of levels) {
    for (let start = 0; start < shifts.length;) {
      if (options.cancelled()) throw cancelled();
      const group = shifts.slice(start, start += most);
      const batch = buffer.subarray(0, size * group.length);
      for (let i = 0; i < group.length; i++) await lastInput(...group[i]!, batch.subarray(i * size, (i + 1) * size));
      const { data, dims: [, rows, cols, k] } = await stages.run(last, batch, [group.length, channels!, height!, width!], classes);
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

interface Nchw {
  readonly data: Float32Array;
  readonly dims: Dims;
}

export function cancelled(): BagnetError {
  return new BagnetError('aborted', 'The exact map was cancelled');
}
