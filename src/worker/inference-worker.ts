/**
 * The inference worker: a module worker (dedicated, or shared by same-origin tabs and iframes) that
 * hosts the sessions, decodes and preprocesses images, and runs batches. It never touches the DOM.
 */
import { BagnetError, serializeError } from '../core/errors.js';
import { pixelsToTensor } from '../core/preprocess.js';
import {
  isToWorker, type ExactMapReply, type FromWorker, type PreparedImage, type Region, type RescoreReply, type RunResult, type ToWorker,
  type WorkerStats,
} from '../core/protocol.js';
import { DEFAULT_WORKER_SETTINGS, type WorkerSettings } from '../core/settings.js';
import { cropTile, writeTile } from '../core/tiles.js';
import { applyRuntimeSettings } from '../runtime/onnx.js';
import { isOrtThread } from '../runtime/ort-thread.js';
import { decodeToTensor, prefetchBlobs } from './decode.js';
import { computeExactMap } from './exact-map.js';
import { ModelHost, type PortId } from './model-host.js';

interface Endpoint {
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
}

/** A preprocessed image, and which preprocessing made it (a model with other preprocessing cannot use it). */
interface Prepared {
  readonly data: Float32Array;
  readonly dims: [number, number, number, number];
  readonly preprocessing: string;
}

// Images kept after their run, so an exact map (or a second view) refers to them instead of sending
// and decoding the image again: the most recent few, within a memory bound.
const RETAINED_IMAGES = 16;
const RETAINED_BYTES = 64 * 1024 * 1024;
// Big crops of big models run one or two at a time: a batch's activations must fit in WASM memory.
const EXACT_MAP_BATCH_PIXELS = 140_000;

let settings: WorkerSettings | null = null;
let host: ModelHost | null = null;
const endpoints = new Map<PortId, Endpoint>();
/** Decoded images waiting for their run, by port and request. */
const prepared = new Map<string, Prepared>();
/** Images that ran, least recently used first. */
const retained = new Map<string, Prepared>();
let decoded = 0;
/** Exact maps running and those asked to stop (checked between their runs), by port and job. */
const cancelled = new Set<string>();
const exactRunning = new Set<string>();
let nextPortId = 1;

const preparedKey = (port: PortId, requestId: number) => `${port}:${requestId}`;
const preprocessingOf = (input: unknown, patchSize: number) => JSON.stringify([input, patchSize]);

function getHost(): ModelHost {
  if (!host) {
    settings ??= DEFAULT_WORKER_SETTINGS;
    applyRuntimeSettings({
      ...(settings.wasmPaths === undefined ? {} : { wasmPaths: settings.wasmPaths }),
      ...(settings.numThreads === undefined ? {} : { numThreads: settings.numThreads }),
    });
    host = new ModelHost(settings, {
      backendChanged: (change) => {
        for (const endpoint of endpoints.values()) endpoint.postMessage({ type: 'backend', ...change });
      },
      // Every client: a run of anyone's model blocks the worker for all of them.
      busy: (expectedMs) => {
        for (const endpoint of endpoints.values()) endpoint.postMessage({ type: 'busy', ms: expectedMs });
      },
    });
  }
  return host;
}

/** Keep `image` as the most recent, dropping the oldest beyond the bounds. */
function retain(key: string, image: Prepared): void {
  retained.delete(key);
  retained.set(key, image);
  let bytes = 0;
  for (const kept of retained.values()) bytes += kept.data.byteLength;
  for (const [oldest, kept] of retained) {
    if (retained.size <= RETAINED_IMAGES && bytes <= RETAINED_BYTES) break;
    retained.delete(oldest);
    bytes -= kept.data.byteLength;
  }
}

function dropImagesOf(port: PortId, from: Map<string, Prepared>): void {
  for (const key of [...from.keys()]) if (key.startsWith(`${port}:`)) from.delete(key);
}

/** The image kept under `requestId` if it was prepared for this model's preprocessing, else undefined. */
function keptImage(port: PortId, requestId: number, modelKey: string): Prepared | undefined {
  const key = preparedKey(port, requestId);
  const image = prepared.get(key) ?? retained.get(key);
  const manifest = getHost().manifestOf(modelKey);
  return image && (!manifest || image.preprocessing === preprocessingOf(manifest.input, manifest.patchSize)) ? image : undefined;
}

function checkInside(region: Region, dims: readonly number[], what: string): void {
  const [, , height, width] = dims as [number, number, number, number];
  if (region.x + region.width > width || region.y + region.height > height) {
    throw new BagnetError('inference', `The ${what} (${region.width}×${region.height} at ${region.x}, ${region.y}) is outside the ${width}×${height} image`);
  }
}

function loadedManifest(modelKey: string) {
  const manifest = getHost().manifestOf(modelKey);
  if (!manifest) throw new BagnetError('inference', 'The model is not loaded (it was released or the worker restarted)');
  return manifest;
}

function concatenate(tensors: Prepared[]): { data: Float32Array; dims: [number, number, number, number] } {
  const [first] = tensors;
  const shape = first!.dims.join('×');
  for (const t of tensors) {
    if (t.dims.join('×') !== shape) throw new BagnetError('inference', `A batch mixes input shapes ${shape} and ${t.dims.join('×')}`);
  }
  if (tensors.length === 1) return { data: first!.data, dims: first!.dims };
  const size = first!.data.length;
  const data = new Float32Array(size * tensors.length);
  tensors.forEach((t, i) => data.set(t.data, i * size));
  return { data, dims: [tensors.length, first!.dims[1], first!.dims[2], first!.dims[3]] };
}

async function handle(port: PortId, endpoint: Endpoint, message: ToWorker): Promise<void> {
  const reply = (id: number, value: unknown, transfer: Transferable[] = []) =>
    endpoint.postMessage({ type: 'reply', id, ok: true, value }, transfer);
  switch (message.type) {
    case 'init':
      // The first client's settings win: the runtime is configured once per worker.
      if (!settings) settings = { ...DEFAULT_WORKER_SETTINGS, ...message.settings };
      return;
    case 'load': {
      const loaded = await getHost().load(port, message.key, message.manifest, message.backend, message.precision, {
        progress: (phase, loadedBytes, total) => endpoint.postMessage({ type: 'progress', id: message.id, phase, loaded: loadedBytes, total }),
      });
      if (!endpoints.has(port)) getHost().forgetPort(port); // the client left while it loaded
      return reply(message.id, loaded);
    }
    case 'unload':
      getHost().unload(port, message.key);
      // A client that holds no model any more has no use for the images it kept.
      if (!getHost().holds(port)) dropImagesOf(port, retained);
      return;
    case 'prepare': {
      const started = performance.now();
      // Decoding blocks the worker too (canvas reads, the tensor): clients should not take the
      // silence for a crash. A microsecond a pixel where the size is known, at least 2 s.
      const { source } = message;
      const pixels = source.kind === 'pixels' ? source.width * source.height
        : source.kind === 'bitmap' ? source.bitmap.width * source.bitmap.height : 0;
      for (const client of endpoints.values()) client.postMessage({ type: 'busy', ms: Math.max(2000, pixels / 1000) });
      const tensor = await decodeToTensor(message.source, message.input, message.patchSize, settings ?? DEFAULT_WORKER_SETTINGS);
      decoded++;
      if (!endpoints.has(port)) return; // the client left while it decoded
      prepared.set(preparedKey(port, message.requestId), {
        data: tensor.data, dims: tensor.dims, preprocessing: preprocessingOf(message.input, message.patchSize),
      });
      const value: PreparedImage = {
        dims: tensor.dims, pixels: tensor.pixels, imageWidth: tensor.imageWidth, imageHeight: tensor.imageHeight, plan: tensor.plan,
        downscale: tensor.downscale, decodeMs: performance.now() - started,
      };
      return reply(message.id, value, [tensor.pixels.buffer]);
    }
    case 'run': {
      const keys = message.requestIds.map((id) => preparedKey(port, id));
      const images = keys.map((key) => prepared.get(key));
      keys.forEach((key) => prepared.delete(key));
      if (images.some((t) => t === undefined)) throw new BagnetError('inference', 'A batch refers to an image that was never prepared or already used');
      const { data, dims } = concatenate(images as Prepared[]);
      const result: RunResult = await getHost().run(message.key, message.requestIds, data, dims);
      if (endpoints.has(port)) keys.forEach((key, i) => retain(key, images[i]!));
      const transfer = result.outputs.flatMap((o) => [o.patchLogits.buffer, o.logits.buffer] as Transferable[]);
      return reply(message.id, result, transfer);
    }
    case 'exact': {
      const { region, pixels } = message;
      let data: Float32Array;
      let dims: [number, number, number, number];
      if (region && pixels) {
        const { input } = loadedManifest(message.key);
        data = pixelsToTensor(pixels, region.width, region.height, input);
        dims = [1, input.channels, region.height, region.width];
      } else {
        const image = keptImage(port, message.requestId, message.key);
        if (!image) return reply(message.id, { gone: true } satisfies ExactMapReply);
        const key = preparedKey(port, message.requestId);
        prepared.delete(key);
        retain(key, image);
        ({ data, dims } = image);
        if (region) {
          checkInside(region, dims, 'exact map region');
          data = cropTile(data, dims[1], dims[2], dims[3], region);
          dims = [1, dims[1], region.height, region.width];
        }
      }
      const job = preparedKey(port, message.job);
      exactRunning.add(job);
      try {
        const result = await computeExactMap(getHost().exactMapModel(message.key), data, dims, message.classes, {
          maxBatchPixels: EXACT_MAP_BATCH_PIXELS,
          maxRunPixels: (settings ?? DEFAULT_WORKER_SETTINGS).maxRunPixels,
          cancelled: () => cancelled.has(job),
          onLevel: (level, map, runs) => endpoint.postMessage({ type: 'exact-level', id: message.id, level, map, runs }, [map.buffer]),
        });
        return reply(message.id, result satisfies ExactMapReply, [result.map.buffer]);
      } finally {
        exactRunning.delete(job);
        cancelled.delete(job);
      }
    }
    case 'rescore': {
      const { input } = loadedManifest(message.key);
      const { edit, crop } = message;
      const base = keptImage(port, message.base, message.key);
      let cropData: Float32Array;
      if (base) {
        // The edited image, kept for what follows (an exact map, the next edit); the base stays too.
        checkInside(edit, base.dims, 'edit');
        checkInside(crop, base.dims, 'crop');
        const [, channels, height, width] = base.dims;
        const data = base.data.slice();
        writeTile(data, channels, height, width, edit, pixelsToTensor(edit.data, edit.width, edit.height, input));
        if (endpoints.has(port)) retain(preparedKey(port, message.requestId), { ...base, data });
        cropData = cropTile(data, channels, height, width, crop);
      } else if (message.pixels) {
        cropData = pixelsToTensor(message.pixels, crop.width, crop.height, input);
      } else {
        return reply(message.id, { gone: true } satisfies RescoreReply);
      }
      const out = await getHost().runInput(message.key, cropData, [1, input.channels, crop.height, crop.width]);
      const [, rows, cols, classes] = out.dims;
      const value: RescoreReply = { rows, cols, classes, patchLogits: out.data.slice(), backend: out.backend, inferenceMs: out.inferenceMs };
      return reply(message.id, value, [value.patchLogits.buffer]);
    }
    case 'cancel': {
      const job = preparedKey(port, message.job);
      if (exactRunning.has(job)) cancelled.add(job);
      return;
    }
    case 'discard':
      for (const id of message.requestIds) prepared.delete(preparedKey(port, id));
      return;
    case 'stats': {
      const stats: WorkerStats = { ...getHost().stats(), prepared: prepared.size, retained: retained.size, decoded, ports: endpoints.size };
      return reply(message.id, stats);
    }
    case 'ping':
      endpoint.postMessage({ type: 'pong' });
      return;
    case 'bye':
      forget(port);
  }
}

function forget(port: PortId): void {
  endpoints.delete(port);
  for (const job of exactRunning) if (job.startsWith(`${port}:`)) cancelled.add(job); // nobody waits for them
  host?.forgetPort(port);
  dropImagesOf(port, prepared);
  dropImagesOf(port, retained);
}

function connect(endpoint: Endpoint, receive: (listener: (event: MessageEvent) => void) => void): void {
  const port = nextPortId++;
  endpoints.set(port, endpoint);
  const receiveOne = (message: unknown, valid: ToWorker | null) => {
    if (!valid) {
      // Not our protocol: never act on it. Answer when it carries an id, so a caller is not left waiting.
      const id = (message as { id?: unknown } | null)?.id;
      if (Number.isSafeInteger(id)) {
        endpoint.postMessage({ type: 'reply', id: id as number, ok: false,
          error: { type: 'inference', message: 'Malformed message rejected by the inference worker' } });
      }
      return;
    }
    handle(port, endpoint, valid).catch((error: unknown) => {
      const id = 'id' in valid ? valid.id : undefined;
      if (id !== undefined) endpoint.postMessage({ type: 'reply', id, ok: false, error: serializeError(error, 'inference') });
    });
  };
  receive((event) => {
    // The page sends the messages of one task together, as an array; their images are read together.
    const messages = Array.isArray(event.data) ? event.data as unknown[] : [event.data];
    const valid = messages.map((message) => (isToWorker(message) ? message : null));
    prefetchBlobs(valid.flatMap((m) => (m?.type === 'prepare' && m.source.kind === 'blob' ? [m.source.blob] : [])));
    messages.forEach((message, i) => receiveOne(message, valid[i] ?? null));
  });
}

const scope = globalThis as unknown as {
  onconnect?: ((event: MessageEvent) => void) | null;
  postMessage?: (message: unknown, transfer?: Transferable[]) => void;
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
};

if (isOrtThread) {
  // One of onnxruntime's WASM threads, started from this file: its thread code runs, ours does not.
} else if (typeof (globalThis as { SharedWorkerGlobalScope?: unknown }).SharedWorkerGlobalScope !== 'undefined'
    && globalThis instanceof (globalThis as unknown as { SharedWorkerGlobalScope: { new(): unknown } }).SharedWorkerGlobalScope) {
  scope.onconnect = (event) => {
    const port = event.ports[0]!;
    connect({ postMessage: (m, t) => port.postMessage(m, t ?? []) }, (listener) => {
      port.addEventListener('message', listener);
      port.start();
    });
  };
} else {
  connect({ postMessage: (m, t) => scope.postMessage!(m, t ?? []) }, (listener) => scope.addEventListener('message', listener));
}
