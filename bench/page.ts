/**
 * The in-browser half of `npm run bench`: every figure is measured here in one page load, so ratios
 * compare like with like. bench/run.mjs drives it and collects `window.benchResults`.
 */
import '../src/register.js';
import { classify, configure, disposePool, getPool, loadManifest, type Timings } from '../src/index.js';
import { findDamage } from '../src/core/image-integrity.js';
import { resizeBilinear } from '../src/core/resample.js';
import { makeEdit } from '../src/core/edits.js';
import { ablate, removalCurve } from '../src/core/whatif.js';
import { bruteForceMap } from '../test/reference.js';

const RANDOM_BAGNET33 = new URL('../models/generated/bagnet33-random/bagnet.json', import.meta.url).href;
const DEFAULT_MODEL = new URL('../models/default/bagnet.json', import.meta.url).href;
/** The same BagNet-33 with its fp16 and int8 files listed (bench/run.mjs makes them; bagnet.json stays fp32-only). */
const BAGNET33_PRECISIONS = new URL('../models/generated/bagnet33-random/precisions.json', import.meta.url).href;

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const round = (value: number, digits = 1) => Number(value.toFixed(digits));
const step = (message: string) => console.log(`bench step: ${message}`);

async function noisePng(width: number, height: number, seed: number): Promise<Blob> {
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d')!;
  const image = context.createImageData(width, height);
  let state = seed;
  for (let i = 0; i < image.data.length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    image.data[i] = (i & 3) === 3 ? 255 : state >>> 24;
  }
  context.putImageData(image, 0, 0);
  return canvas.convertToBlob({ type: 'image/png' });
}

/** A raw ORT-web session in its own worker; `call` sends one message and waits for the answer. */
function rawOrtWorker() {
  const worker = new Worker(new URL('./raw-ort-worker.js', import.meta.url), { type: 'module' });
  const call = <T>(message: object) => new Promise<T>((resolve, reject) => {
    worker.onmessage = (event) => (event.data.error ? reject(new Error(event.data.error)) : resolve(event.data));
    worker.onerror = (event) => reject(new Error(event.message));
    worker.postMessage(message);
  });
  return { call, terminate: () => worker.terminate() };
}

async function timed<T>(work: () => Promise<T>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

/**
 * What checking a file's structure before decoding costs (src/core/image-integrity.ts) on a JPEG of
 * about 20 MB: reading the whole Blob and walking its markers, beside decoding the same file.
 */
async function imagesSection(results: Record<string, number | string>, runs: number): Promise<void> {
  step('image integrity: a 20 MB JPEG');
  const canvas = new OffscreenCanvas(4800, 3600);
  const context = canvas.getContext('2d')!;
  const noise = context.createImageData(canvas.width, canvas.height);
  let state = 7;
  for (let i = 0; i < noise.data.length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    noise.data[i] = (i & 3) === 3 ? 255 : state >>> 24;
  }
  context.putImageData(noise, 0, 0);
  const jpeg = await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.97 });
  const walk: number[] = [];
  const readAndWalk: number[] = [];
  const decode: number[] = [];
  for (let i = 0; i <= runs; i++) {
    let bytes = new Uint8Array();
    const read = await timed(async () => { bytes = new Uint8Array(await jpeg.arrayBuffer()); });
    const started = performance.now();
    if (findDamage(bytes, 'jpeg') !== null) throw new Error('the benchmark JPEG is damaged');
    const walked = performance.now() - started;
    const decoded = await timed(async () => (await createImageBitmap(jpeg)).close());
    if (i === 0) continue; // warm-up
    walk.push(walked);
    readAndWalk.push(read + walked);
    decode.push(decoded);
  }
  results['image_integrity_jpeg_mb'] = round(jpeg.size / 1e6, 1);
  results['image_integrity_jpeg_walk_ms'] = round(median(walk));
  results['image_integrity_jpeg_read_walk_ms'] = round(median(readAndWalk));
  results['image_decode_jpeg_ms'] = round(median(decode));
  results['image_integrity_over_decode'] = round(median(readAndWalk) / median(decode), 3);

  // The model input's resize: our filter (PIL's BILINEAR, the same in every browser) against the
  // canvas's, a 4800×3600 decoded photo to 224×224 (shorter side 224, centre crop), from its pixels.
  step('resize: src/core/resample.ts vs. the canvas');
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
  const box = { x: (4800 - 3600) / 2, y: 0, width: 3600, height: 3600 };
  const target = new OffscreenCanvas(224, 224).getContext('2d', { willReadFrequently: true })!;
  target.imageSmoothingQuality = 'high';
  const ours: number[] = [];
  const canvasTimes: number[] = [];
  for (let i = 0; i <= runs; i++) {
    const own = await timed(async () => { resizeBilinear(pixels, 4800, 3600, box, 224, 224); });
    const drawn = await timed(async () => {
      target.drawImage(canvas, box.x, box.y, box.width, box.height, 0, 0, 224, 224);
      target.getImageData(0, 0, 224, 224);
    });
    if (i === 0) continue;
    ours.push(own);
    canvasTimes.push(drawn);
  }
  results['resize_4800x3600_to_224_core_ms'] = round(median(ours));
  results['resize_4800x3600_to_224_canvas_ms'] = round(median(canvasTimes));
  results['resize_core_over_canvas'] = round(median(ours) / median(canvasTimes), 2);
}

/**
 * fp16 and int8 against fp32 (models/bagnet_tools/precisions.py), WASM: BagNet-33 at 224×224 in raw
 * onnxruntime-web sessions (runs alternating between the three files), the default model through the
 * pool, the exact map of BagNet-33 through the element, and one layer type at a time
 * (models/generated/layers, bagnet_tools/layer_models.py).
 */
async function precisionSection(results: Record<string, number | string>, runs: number): Promise<void> {
  step('precision: BagNet-33 fp32 / fp16 / int8 in raw onnxruntime-web');
  const files = { fp32: 'model.onnx', fp16: 'model.fp16.onnx', int8: 'model.int8.onnx' } as const;
  const times: Record<string, number[]> = { fp32: [], fp16: [], int8: [] };
  // Three sessions, runs alternating between them: each file sees the same machine.
  const workers = Object.fromEntries(Object.keys(files).map((precision) => [precision, rawOrtWorker()]));
  for (const [precision, file] of Object.entries(files)) {
    await workers[precision]!.call({ type: 'load', modelUrl: new URL(file, BAGNET33_PRECISIONS).href, size: 224, channels: 3 });
    await workers[precision]!.call({ type: 'run' }); // warm-up
  }
  for (let i = 0; i < runs; i++) {
    for (const precision of Object.keys(files)) times[precision]!.push((await workers[precision]!.call<{ ms: number }>({ type: 'run' })).ms);
  }
  for (const worker of Object.values(workers)) {
    await worker.call({ type: 'release' });
    worker.terminate();
  }
  results['bagnet33_224_ort_web_ms'] ??= round(median(times['fp32']!));
  results['bagnet33_224_fp32_precision_section_ms'] = round(median(times['fp32']!));
  results['bagnet33_224_fp16_ort_web_ms'] = round(median(times['fp16']!));
  results['bagnet33_224_int8_ort_web_ms'] = round(median(times['int8']!));
  results['int8_over_fp32_wasm'] = round(median(times['int8']!) / median(times['fp32']!), 3);
  results['fp16_over_fp32_wasm'] = round(median(times['fp16']!) / median(times['fp32']!), 3);

  step('precision: one layer type at a time');
  const layers: { name: string; label: string; dims: number[] }[] = await (await fetch(new URL('../models/generated/layers/layers.json', import.meta.url))).json();
  const rows: string[] = [];
  for (const layer of layers) {
    // Both files loaded, runs alternating (a layer's figures are a few ms: noise matters).
    const pair = Object.fromEntries(['fp32', 'int8'].map((precision) => [precision, rawOrtWorker()]));
    const ms: Record<string, number[]> = { fp32: [], int8: [] };
    for (const [precision, worker] of Object.entries(pair)) {
      await worker.call({ type: 'load', modelUrl: new URL(`../models/generated/layers/${layer.name}.${precision}.onnx`, import.meta.url).href, size: 0, channels: 0, dims: layer.dims });
      await worker.call({ type: 'run' });
    }
    for (let i = 0; i < 6 * runs; i++) {
      for (const [precision, worker] of Object.entries(pair)) ms[precision]!.push((await worker.call<{ ms: number }>({ type: 'run' })).ms);
    }
    for (const worker of Object.values(pair)) {
      await worker.call({ type: 'release' });
      worker.terminate();
    }
    const medians = { fp32: median(ms['fp32']!), int8: median(ms['int8']!) };
    results[`layer_${layer.name}_fp32_ms`] = round(medians['fp32']!, 2);
    results[`layer_${layer.name}_int8_ms`] = round(medians['int8']!, 2);
    results[`layer_${layer.name}_int8_over_fp32`] = round(medians['int8']! / medians['fp32']!, 3);
    rows.push(`${layer.label}: fp32 ${medians['fp32']!.toFixed(2)} ms, int8 ${medians['int8']!.toFixed(2)} ms (${(medians['int8']! / medians['fp32']!).toFixed(2)}×)`);
  }
  results['layer_table'] = rows.join(' | ');

  step('precision: the default model through the pool, fp32 and int8 alternating');
  const samples: { file: string }[] = await (await fetch(new URL('../models/default/samples.json', import.meta.url))).json();
  const blobs = await Promise.all(samples.slice(0, 16).map(async (s) => (await fetch(new URL(`../models/default/${s.file}`, import.meta.url))).blob()));
  for (const precision of ['fp32', 'int8']) await classify(blobs[0]!, { model: DEFAULT_MODEL, backend: 'wasm', precision });
  const pooled: Record<string, number[]> = { fp32: [], int8: [] };
  for (let i = 0; i < 4 * runs; i++) {
    for (const precision of ['fp32', 'int8']) {
      pooled[precision]!.push(await timed(() => classify(blobs[i % 16]!, { model: DEFAULT_MODEL, backend: 'wasm', precision })));
    }
  }
  results['default_model_fp32_pool_ms'] = round(median(pooled['fp32']!), 2);
  results['default_model_int8_pool_ms'] = round(median(pooled['int8']!), 2);
  disposePool();
  configure({ cache: 'bagnet-bench', idleReleaseMs: 600_000 });

  // The exact map of BagNet-33 through the element, fp32 (its stages) then int8 (shift by shift on
  // the int8 file: the stages are cut from the fp32 weights, so they would explain another model).
  const png = await noisePng(224, 224, 5);
  const exactWith = async (precision: string) => {
    await classify(png, { model: BAGNET33_PRECISIONS, backend: 'wasm', precision }); // loaded and compiled
    const element = document.createElement('bagnet-heatmap');
    Object.assign(element, { model: BAGNET33_PRECISIONS, backend: 'wasm', precision, resolution: 'exact' });
    const started = performance.now();
    const final = new Promise<number>((resolve) => element.addEventListener('bagnet-refine', (event) => {
      step(`exact BagNet-33 ${precision} level ${event.detail.level} after ${Math.round(performance.now() - started)} ms`);
      if (event.detail.final) resolve(performance.now() - started);
    }));
    element.image = png;
    document.body.append(element);
    const ms = await final;
    element.remove();
    return ms;
  };
  const exactFp32 = await exactWith('fp32');
  const exactInt8 = await exactWith('int8');
  results['heatmap_exact_bagnet33_224_fp32_precision_section_ms'] = round(exactFp32);
  results['heatmap_exact_bagnet33_224_int8_ms'] = round(exactInt8);
  results['heatmap_exact_int8_over_fp32'] = round(exactInt8 / exactFp32, 3);
  disposePool();
}

async function run(): Promise<Record<string, number | string>> {
  const results: Record<string, number | string> = {};
  const params = new URLSearchParams(location.search);
  const runs = Number(params.get('runs') ?? 5);
  const sections = new Set((params.get('sections') ?? 'pool,heatmap,load').split(','));
  configure({ cache: 'bagnet-bench', idleReleaseMs: 600_000 });
  if (sections.has('pool')) await poolSection(results, runs);
  if (sections.has('heatmap')) await heatmapSection(results, runs);
  if (sections.has('load')) await loadSection(results);
  if (sections.has('images')) await imagesSection(results, runs);
  if (sections.has('whatif')) await whatIfSection(results, runs);
  if (sections.has('precision')) await precisionSection(results, runs);
  results['cross_origin_isolated'] = String(crossOriginIsolated);
  results['hardware_concurrency'] = navigator.hardwareConcurrency;
  return results;
}

/**
 * What-if on BagNet-33 at 224×224 (24×24 cells, 1000 classes), WASM: the exact bag ablation (no
 * inference), the removal curve, and a 32×32 pixel edit placed off the stride grid re-scored on its
 * crop, against a whole classification (alternating runs); then the exact map after that edit,
 * against the whole exact map of the same image.
 */
async function whatIfSection(results: Record<string, number | string>, runs: number): Promise<void> {
  step('what-if, BagNet-33 at 224');
  disposePool();
  configure({ cache: 'bagnet-bench', idleReleaseMs: 600_000 });
  const png = await noisePng(224, 224, 11);
  const pool = getPool();
  const base = await classify(png, { model: RANDOM_BAGNET33, backend: 'wasm', precision: 'fp32' }); // load + warm-up
  const { rows, cols } = base.evidence;
  // Ablation: a 6×6 block of cells removed, at 20 places (each a new selection).
  const ablations: number[] = [];
  for (let i = 0; i < 20; i++) {
    const r0 = i % (rows - 6);
    const c0 = (3 * i) % (cols - 6);
    const cells = Array.from({ length: 36 }, (_, j) => (r0 + Math.floor(j / 6)) * cols + c0 + (j % 6));
    const started = performance.now();
    ablate(base.evidence, cells, 'remove');
    ablations.push(performance.now() - started);
  }
  results['whatif_ablation_first_bagnet33_224_ms'] = round(ablations[0]!, 2); // includes the per-map sums, once
  results['whatif_ablation_bagnet33_224_ms'] = round(median(ablations.slice(1)), 3);
  const curveStarted = performance.now();
  removalCurve(base.evidence, base.topk[0]!.index);
  results['whatif_removal_curve_bagnet33_224_ms'] = round(performance.now() - curveStarted, 1);
  // A 32×32 edit at (101, 77): not on the stride-8 grid. Rescore vs classify, alternating.
  const box = { x: 101, y: 77, width: 32, height: 32 };
  const edit = makeEdit(base.input.pixels, box, { kind: 'mean' });
  const warm = await pool.rescore(base, edit); // the crop's shape compiled once
  const rescores: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < Math.max(5, 2 * runs); i++) {
    bare.push(await timed(() => classify(png, { model: RANDOM_BAGNET33, backend: 'wasm', precision: 'fp32' })));
    rescores.push(await timed(() => pool.rescore(base, edit)));
  }
  results['whatif_rescore_cells_recomputed'] = `${warm.rescored.recomputed} of ${rows * cols} (crop ${warm.rescored.crop!.width}×${warm.rescored.crop!.height})`;
  results['whatif_classification_bagnet33_224_ms'] = round(median(bare));
  results['bagnet33_224_classification_ms'] ??= round(median(bare));
  results['whatif_rescore_bagnet33_224_32px_ms'] = round(median(rescores));
  results['whatif_rescore_over_classification'] = round(median(rescores) / median(bare), 3);
  // The exact map: whole (once), then after the edit from it.
  step('what-if: the whole exact map of BagNet-33 at 224');
  const classes = [base.topk[0]!.index];
  let before = null as Awaited<ReturnType<typeof pool.exactMap>> | null;
  const whole = await timed(async () => {
    before = await pool.exactMap(base, { classes });
  });
  results['whatif_exact_whole_bagnet33_224_ms'] = round(whole);
  step(`what-if: whole exact map in ${Math.round(whole)} ms; now after the edit`);
  const afterEdit: number[] = [];
  for (let i = 0; i < Math.max(3, runs); i++) afterEdit.push(await timed(() => pool.exactMap(warm, { classes, from: before! })));
  results['whatif_rescore_exact_bagnet33_224_32px_ms'] = round(median(afterEdit));
  results['whatif_rescore_exact_over_whole_exact'] = round(median(afterEdit) / whole, 3);
  disposePool();
}

async function poolSection(results: Record<string, number | string>, runs: number): Promise<void> {
  // 1-2. BagNet-33 at 224×224: a raw ORT-web session vs. the pool end to end (PNG blob in, result out).
  // Runs alternate between the two, so both see the same machine; long tasks are watched throughout.
  step('BagNet-33: raw onnxruntime-web vs. the pool');
  // Inputs are made before the long-task watch starts: only the library's work is measured.
  const image = await noisePng(224, 224, 1);
  const samples: { file: string }[] = await (await fetch(new URL('../models/default/samples.json', import.meta.url))).json();
  const blobs = await Promise.all(samples.slice(0, 16).map(async (s) =>
    (await fetch(new URL(`../models/default/${s.file}`, import.meta.url))).blob()));
  await new Promise((resolve) => setTimeout(resolve, 0));
  const longTasks: number[] = [];
  const observer = new PerformanceObserver((list) => list.getEntries().forEach((e) => longTasks.push(e.duration)));
  observer.observe({ type: 'longtask' });
  const raw = rawOrtWorker();
  const { threads } = await raw.call<{ threads: number }>({ type: 'load', modelUrl: new URL('model.onnx', RANDOM_BAGNET33).href, size: 224, channels: 3 });
  results['ort_web_threads'] = threads;
  await raw.call({ type: 'run' }); // warm-up
  await classify(image, { model: RANDOM_BAGNET33, backend: 'wasm', precision: 'fp32' }); // load + warm-up
  const rawTimes: number[] = [];
  const poolTimes: number[] = [];
  for (let i = 0; i < runs; i++) {
    rawTimes.push((await raw.call<{ ms: number }>({ type: 'run' })).ms);
    poolTimes.push(await timed(() => classify(image, { model: RANDOM_BAGNET33, backend: 'wasm', precision: 'fp32' })));
  }
  await raw.call({ type: 'release' });
  raw.terminate();
  results['bagnet33_224_ort_web_ms'] = round(median(rawTimes));
  results['bagnet33_224_pool_ms'] = round(median(poolTimes));
  results['pool_over_raw_ratio'] = round(median(poolTimes) / median(rawTimes), 3);
  disposePool();

  step('pool, default model');
  // 3. The shipped default model: one image, and 16 images one at a time vs. all at once.
  configure({ cache: 'bagnet-bench', idleReleaseMs: 600_000 });
  await classify(blobs[0]!, { model: DEFAULT_MODEL, backend: 'wasm', precision: 'fp32' });
  const single: number[] = [];
  const singleTimings: Timings[] = [];
  for (let i = 0; i < 4 * runs; i++) {
    single.push(await timed(async () => singleTimings.push((await classify(blobs[i % 16]!, { model: DEFAULT_MODEL, backend: 'wasm', precision: 'fp32' })).timings)));
  }
  results['default_model_pool_ms'] = round(median(single), 2);
  results['default_model_decode_ms'] = round(median(singleTimings.map((t) => t.decodeMs)), 2);
  results['default_model_inference_ms'] = round(median(singleTimings.map((t) => t.inferenceMs)), 2);
  const oneByOne: number[] = [];
  const together: number[] = [];
  const batchTimings: Timings[] = [];
  for (let round_ = 0; round_ < 2 * runs; round_++) {
    oneByOne.push(await timed(async () => {
      for (const blob of blobs) await classify(blob, { model: DEFAULT_MODEL, backend: 'wasm', precision: 'fp32' });
    }));
    together.push(await timed(async () => {
      const batch = await Promise.all(blobs.map((blob) => classify(blob, { model: DEFAULT_MODEL, backend: 'wasm', precision: 'fp32' })));
      batchTimings.push(...batch.map((r) => r.timings));
    }));
  }
  const largest = Math.max(...batchTimings.map((t) => t.batchSize));
  results['default_16_largest_batch'] = largest;
  results['default_16_batch_inference_ms'] = round(median(batchTimings.filter((t) => t.batchSize === largest).map((t) => t.inferenceMs)), 2);
  results['default_16_one_at_a_time_ms'] = round(median(oneByOne));
  results['default_16_pooled_ms'] = round(median(together));
  results['batching_speedup_16'] = round(median(oneByOne) / median(together), 2);
  disposePool();

  await new Promise((resolve) => setTimeout(resolve, 100));
  observer.disconnect();
  results['main_thread_max_longtask_ms'] = round(Math.max(0, ...longTasks));
  results['main_thread_longtasks'] = longTasks.length;
}

async function imageDataOf(blob: Blob): Promise<ImageData> {
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const context = new OffscreenCanvas(bitmap.width, bitmap.height).getContext('2d')!;
  context.drawImage(bitmap, 0, 0);
  return context.getImageData(0, 0, bitmap.width, bitmap.height);
}

async function heatmapSection(results: Record<string, number | string>, runs: number): Promise<void> {
  // 4. The exact map of the default model: time, and its difference from the patch-by-patch reference.
  step('exact heatmap, default model');
  const sample = (await (await fetch(new URL('../models/default/samples.json', import.meta.url))).json())[0];
  const image = await imageDataOf(await (await fetch(new URL(`../models/default/${sample.file}`, import.meta.url))).blob());
  const pool = getPool();
  await pool.exactMap(image, { model: DEFAULT_MODEL, backend: 'wasm', precision: 'fp32', classes: [sample.labelIndex] }); // warm
  const times: number[] = [];
  let exact: Float32Array | null = null;
  for (let i = 0; i < 2 * runs; i++) {
    times.push(await timed(async () => {
      exact = (await pool.exactMap(image, { model: DEFAULT_MODEL, backend: 'wasm', precision: 'fp32', classes: [sample.labelIndex] })).data;
    }));
  }
  results['heatmap_exact_default_ms'] = round(median(times), 1);
  const reference = await bruteForceMap(await loadManifest(DEFAULT_MODEL), image, [sample.labelIndex]);
  let diff = 0;
  let scale = 0;
  reference.forEach((v, i) => { diff = Math.max(diff, Math.abs(v - exact![i]!)); scale = Math.max(scale, Math.abs(v)); });
  results['heatmap_exact_max_rel_diff'] = Number((diff / scale).toExponential(2));
  disposePool();

  // 5. BagNet-33 at 224×224 in <bagnet-heatmap>: the first (stride-8) map, against a bare classification
  // (medians, alternating), then the exact map as it refines.
  step('heatmaps, BagNet-33 at 224');
  configure({ cache: 'bagnet-bench', idleReleaseMs: 600_000 });
  const png = await noisePng(224, 224, 7);
  await classify(png, { model: RANDOM_BAGNET33, backend: 'wasm', precision: 'fp32' }); // load + warm-up
  const bare: number[] = [];
  const firstMaps: number[] = [];
  for (let i = 0; i < Math.max(3, runs); i++) {
    bare.push(await timed(() => classify(png, { model: RANDOM_BAGNET33, backend: 'wasm', precision: 'fp32' })));
    const fast = document.createElement('bagnet-heatmap');
    Object.assign(fast, { model: RANDOM_BAGNET33, backend: 'wasm', precision: 'fp32' });
    const shown = new Promise<void>((resolve) => fast.addEventListener('bagnet-result', () => fast.updateComplete.then(() => resolve()), { once: true }));
    const began = performance.now();
    fast.image = png;
    document.body.append(fast);
    await shown; // the stride-8 map is drawn
    firstMaps.push(performance.now() - began);
    fast.remove();
  }
  results['heatmap_first_map_bagnet33_224_ms'] = round(median(firstMaps));
  results['bagnet33_224_classification_ms'] = round(median(bare));
  results['heatmap_first_map_over_classification'] = round(median(firstMaps) / median(bare), 3);
  // The exact map from the model's stages (what users get), then shift by shift from the same files
  // without them (models/generated/bagnet33-random/whole.json): the ratio is what the stages buy.
  const exactMap = async (model: string, name: string) => {
    const element = document.createElement('bagnet-heatmap');
    Object.assign(element, { model, backend: 'wasm', precision: 'fp32', resolution: 'exact' });
    const started = performance.now();
    const levels: Record<number, number> = {};
    const final = new Promise<number>((resolve) => element.addEventListener('bagnet-refine', (event) => {
      levels[event.detail.level] = performance.now() - started;
      step(`exact BagNet-33 (${name}) level ${event.detail.level} after ${Math.round(performance.now() - started)} ms`);
      if (event.detail.final) resolve(performance.now() - started);
    }));
    element.image = png;
    document.body.append(element);
    const ms = round(await final);
    element.remove();
    return { ms, levels: JSON.stringify(Object.fromEntries(Object.entries(levels).map(([k, v]) => [k, Math.round(v)]))) };
  };
  const staged = await exactMap(RANDOM_BAGNET33, 'stages');
  results['heatmap_exact_bagnet33_224_ms'] = staged.ms;
  results['heatmap_exact_bagnet33_224_levels_ms'] = staged.levels;
  disposePool();
  configure({ cache: 'bagnet-bench', idleReleaseMs: 600_000 });
  const whole = RANDOM_BAGNET33.replace('bagnet.json', 'whole.json');
  await classify(png, { model: whole, backend: 'wasm', precision: 'fp32' }); // loaded, as the staged run's model was
  const shifts = await exactMap(whole, 'shift by shift');
  results['heatmap_exact_bagnet33_224_shifts_ms'] = shifts.ms;
  results['heatmap_exact_bagnet33_224_shifts_over_stages'] = round(shifts.ms / staged.ms, 3);
  disposePool();
}

/**
 * 500 requests from 20 <bagnet-classifier> elements on one page (each element asks again as soon as
 * it has its answer): the latency from setting `src` to `bagnet-result`, with the default model.
 */
async function loadSection(results: Record<string, number | string>): Promise<void> {
  step('load: 500 requests from 20 elements');
  disposePool();
  configure({ cache: 'bagnet-bench-cache' });
  const samples = Array.from({ length: 20 }, (_, i) => new URL(`../models/default/samples/${SAMPLE_FILES[i]}`, import.meta.url).href);
  await classify(samples[0]!, { model: DEFAULT_MODEL, backend: 'wasm', precision: 'fp32' }); // the model loaded and compiled
  const elements = Array.from({ length: 20 }, () => {
    const element = document.createElement('bagnet-classifier') as HTMLElement & { src: string };
    element.setAttribute('model', DEFAULT_MODEL);
    element.setAttribute('backend', 'wasm');
    element.setAttribute('precision', 'fp32');
    document.body.append(element);
    return element;
  });
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(elements.map(async (element, e) => {
    for (let r = 0; r < 25; r++) {
      const done = new Promise((resolve, reject) => {
        element.addEventListener('bagnet-result', resolve, { once: true });
        element.addEventListener('bagnet-error', (event) => reject(new Error((event as CustomEvent).detail.message)), { once: true });
      });
      const t0 = performance.now();
      element.src = samples[(e * 7 + r) % 20]!;
      await done;
      latencies.push(performance.now() - t0);
    }
  }));
  const total = performance.now() - started;
  latencies.sort((a, b) => a - b);
  const quantile = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  results['load_500_requests'] = latencies.length;
  results['load_500_p50_ms'] = round(quantile(0.5));
  results['load_500_p95_ms'] = round(quantile(0.95));
  results['load_500_max_ms'] = round(latencies.at(-1)!);
  results['load_500_throughput_per_s'] = round((latencies.length / total) * 1000);
  elements.forEach((element) => element.remove());
  disposePool();
}

const SAMPLE_FILES = [
  '00-t-shirt-top', '01-t-shirt-top', '02-trouser', '03-trouser', '04-pullover', '05-pullover', '06-dress', '07-dress',
  '08-coat', '09-coat', '10-sandal', '11-sandal', '12-shirt', '13-shirt', '14-sneaker', '15-sneaker', '16-bag', '17-bag',
  '18-ankle-boot', '19-ankle-boot',
].map((name) => `${name}.png`);

declare global {
  interface Window { benchResults?: Record<string, number | string>; benchError?: string }
}

run().then((results) => {
  window.benchResults = results;
  document.getElementById('status')!.textContent = JSON.stringify(results, null, 2);
}, (error: unknown) => {
  window.benchError = error instanceof Error ? `${error.message}\n${error.stack}` : String(error);
  document.getElementById('status')!.textContent = window.benchError;
});
