/**
 * What-if in the pool, loaded on first use (`InferencePool.rescore`, `exactMap(…, { from })`): a pixel
 * edit re-scored on the crop whose cells see it, and the exact map after an edit recomputed only where
 * the edit reaches (../core/edits.ts has the geometry). The worker edits the image it kept for the
 * previous result; when it let it go, the page sends the crop.
 */
import { abortError, BagnetError } from '../core/errors.js';
import { meanLogits, topK } from '../core/evidence.js';
import {
  clampBox, cropPixels, editPlan, exactEditPlan, pastePixels, spliceCells, type PixelEdit,
} from '../core/edits.js';
import type { BagnetManifest } from '../core/manifest.js';
import type { ExactMapReply, Region, RescoreReply, ToWorker } from '../core/protocol.js';
import type { ClassificationResult } from '../core/result.js';
import { topKCount } from '../core/settings.js';
import {
  raceAbort, type ExactMap, type ExactMapOptions, type ModelEntry, type RescoredResult, type RescoreInfo, type RescoreOptions,
  type ResultOrigin, type WhatIfAccess,
} from './pool.js';

export async function rescore(pool: WhatIfAccess, previous: ClassificationResult, origin: ResultOrigin, edit: PixelEdit,
                            options: RescoreOptions): Promise<RescoredResult> {
  const started = performance.now();
  const { signal } = options;
  const { width, height } = previous.input.plan;
  const box = { x: edit.x, y: edit.y, width: edit.width, height: edit.height };
  const inside = clampBox(box, width, height);
  if (!inside || inside.x !== box.x || inside.y !== box.y || inside.width !== box.width || inside.height !== box.height) {
    throw new BagnetError('image-invalid', `The edit (${box.width}×${box.height} at ${box.x}, ${box.y}) must be whole pixels inside the `
      + `${width}×${height} model input`);
  }
  if (!(edit.data instanceof Uint8ClampedArray) || edit.data.length !== box.width * box.height * 4) {
    throw new BagnetError('image-invalid', `The edit's data must be ${box.width * box.height * 4} RGBA bytes (a Uint8ClampedArray), `
      + `got ${edit.data?.length ?? 'none'}`);
  }
  const pixels = new Uint8ClampedArray(previous.input.pixels.data);
  if (previous.evidence.offset < 0) {
    // A padded network's cells see past their crop: a crop would not give the image's cells.
    throw new BagnetError('inference', `Re-scoring a crop is exact for unpadded networks only; this model's offset is ${previous.evidence.offset}`);
  }
  // The model input is opaque (composited): so is the edit, as classify() of the edited image would see it.
  const opaque = new Uint8ClampedArray(edit.data);
  for (let i = 3; i < opaque.length; i += 4) opaque[i] = 255;
  edit = { ...edit, data: opaque };
  pastePixels(pixels, width, box, edit.data);
  const input = { ...previous.input, pixels: new ImageData(pixels, width, height) };
  const { evidence } = previous;
  const plan = editPlan(box, evidence, evidence, { width, height });
  const backend = options.backend ?? origin.backend;
  const precision = options.precision ?? origin.precision;
  return pool.withModel(previous.model.url, { backend, precision, ...(signal ? { signal } : {}) }, async (entry, manifest) => {
    const requestId = pool.nextRequestId();
    let data = evidence.data;
    let ran: Extract<RescoreReply, { rows: number }> | null = null;
    let sent: RescoreInfo['sent'] = 'nothing';
    if (plan) {
      const message = { type: 'rescore', key: entry.key, base: origin.requestId, requestId, edit: { ...box, data: edit.data }, crop: plan.crop } as const;
      const send = (extra: Partial<Extract<ToWorker, { type: 'rescore' }>>) =>
        raceAbort(entry.connection.request<RescoreReply>({ ...message, ...extra }), signal);
      let reply: RescoreReply = origin.connection === entry.connection ? await send({}) : { gone: true };
      sent = 'reference';
      if ('gone' in reply) {
        sent = 'crop';
        reply = await send({ pixels: cropPixels(pixels, width, plan.crop) });
      }
      if ('gone' in reply) throw new BagnetError('inference', 'The worker did not re-score the edited crop');
      if (reply.rows < plan.cells.rows || reply.cols < plan.cells.cols || reply.classes !== evidence.classes) {
        throw new BagnetError('inference', `The crop gave ${reply.rows}×${reply.cols}×${reply.classes} cells, `
          + `expected at least ${plan.cells.rows}×${plan.cells.cols}×${evidence.classes}`);
      }
      data = evidence.data.slice();
      spliceCells(data, evidence.cols, evidence.classes, reply.patchLogits, reply.cols, plan.cells);
      ran = reply;
    }
    const logits = Float32Array.from(meanLogits(data, evidence.rows * evidence.cols, evidence.classes));
    const result: RescoredResult = {
      topk: topK(logits, options.topK === undefined ? previous.topk.length : topKCount(options.topK)).map((t) => ({ ...t, label: manifest.labels[t.index] ?? String(t.index) })),
      logits,
      evidence: { ...evidence, data },
      backend: ran?.backend ?? previous.backend,
      precision: ran ? entry.precision ?? previous.precision : previous.precision,
      timings: { decodeMs: 0, queueMs: 0, inferenceMs: ran?.inferenceMs ?? 0, totalMs: performance.now() - started, batchSize: 1 },
      model: previous.model,
      input,
      rescored: {
        edit: box, cells: plan?.cells ?? null, recomputed: plan ? plan.cells.rows * plan.cells.cols : 0, crop: plan?.crop ?? null, sent,
      },
    };
    // The worker keeps the edited image under `requestId` when it had the previous one ('reference').
    pool.remember(result, {
      image: input.pixels, connection: entry.connection, requestId, backend, precision, parent: { input: previous.input, edit: box },
    });
    return result;
  });
}

/**
 * The exact map of an edited image from the map before the edit: only the pixels whose centred
 * patch meets the edit change; their values are the exact map of the crop they see (zero-padded
 * where it reaches the image's edge, as the reference pads), computed in the worker on the image
 * it kept, or on the crop the page sends when it let it go.
 */
export async function exactMapAfterEdit(pool: WhatIfAccess, entry: ModelEntry, manifest: BagnetManifest, result: ClassificationResult,
                                        origin: ResultOrigin, from: ExactMap, options: ExactMapOptions): Promise<ExactMap> {
  const { signal } = options;
  const { width, height } = result.input.plan;
  const classes = [...options.classes];
  const data = new Float32Array(width * height * classes.length);
  const slots = classes.map((k) => from.classes.indexOf(k));
  for (let p = 0; p < width * height; p++) {
    for (let j = 0; j < classes.length; j++) data[p * classes.length + j] = from.data[p * from.classes.length + slots[j]!]!;
  }
  const started = performance.now();
  const plan = exactEditPlan(origin.parent!.edit, manifest.patchSize, { width, height });
  let runs = 0;
  let backend = from.backend;
  if (plan) {
    const region: Region = plan.crop;
    const send = async (pixels?: Uint8ClampedArray) => {
      if (signal?.aborted) throw abortError(signal.reason);
      const id = pool.nextRequestId();
      const job = entry.connection.request<ExactMapReply>({
        type: 'exact', key: entry.key, requestId: origin.requestId, job: id, classes, region, ...(pixels ? { pixels } : {}),
      });
      const onAbort = () => entry.connection.notify({ type: 'cancel', job: id });
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        return await raceAbort(job, signal);
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    };
    let reply = origin.connection === entry.connection ? await send() : { gone: true as const };
    if ('gone' in reply) reply = await send(cropPixels(result.input.pixels.data, width, region));
    if ('gone' in reply) throw new BagnetError('inference', 'The worker did not compute the edited region\'s exact map');
    // The region's map → the changed pixels of the whole map.
    const { pixels } = plan;
    for (let y = 0; y < pixels.height; y++) {
      for (let x = 0; x < pixels.width; x++) {
        const to = ((pixels.y + y) * width + pixels.x + x) * classes.length;
        const fromRegion = ((pixels.y - region.y + y) * region.width + pixels.x - region.x + x) * classes.length;
        for (let j = 0; j < classes.length; j++) data[to + j] = reply.map[fromRegion + j]!;
      }
    }
    runs = reply.runs;
    backend = reply.backend;
  }
  const map: ExactMap = {
    data, height, width, classes, runs, backend, ms: performance.now() - started, patchSize: manifest.patchSize, stride: manifest.stride,
    input: result.input, ...(plan ? { recomputed: plan.pixels } : { recomputed: { x: 0, y: 0, width: 0, height: 0 } }),
  };
  options.onLevel?.({ level: 1, data: map.data.slice(), height, width, classes, runs });
  return map;
}
