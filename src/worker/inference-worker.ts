/**
 * The inference worker: a module worker (dedicated, or shared by same-origin tabs and iframes) that
 * hosts the sessions, decodes and preprocesses images, and runs batches. It never touches the DOM.
 */
import { BagnetError, serializeError } from '../core/errors.js';
import {
  isToWorker, type FromWorker, type PreparedImage, type RunResult, type ToWorker, type WorkerSettings, type WorkerStats,
} from '../core/protocol.js';
import { applyRuntimeSettings, destroyWebgpuDevice } from '../runtime/onnx.js';
import { decodeToTensor, prefetchBlobs, type DecodedTensor } from './decode.js';
import { ModelHost, type PortId } from './model-host.js';

interface Endpoint {
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
}

const DEFAULT_SETTINGS: WorkerSettings = {
  cacheName: 'bagnet-elements-models-v1',
  maxImagePixels: 4096 * 4096,
  maxDecodePixels: 8192 * 8192,
  maxRunPixels: 512 * 512,
  testHooks: false,
};

let settings: WorkerSettings | null = null;
let host: ModelHost | null = null;
const endpoints = new Map<PortId, Endpoint>();
const prepared = new Map<string, DecodedTensor>();
/** Exact-map jobs asked to stop (checked between their batches). */
const cancelled = new Set<string>();
const denseRunning = new Set<string>();
let nextPortId = 1;

const preparedKey = (port: PortId, requestId: number) => `${port}:${requestId}`;

function getHost(): ModelHost {
  if (!host) {
    settings ??= DEFAULT_SETTINGS;
    applyRuntimeSettings({
      ...(settings.wasmPaths === undefined ? {} : { wasmPaths: settings.wasmPaths }),
      ...(settings.numThreads === undefined ? {} : { numThreads: settings.numThreads }),
    });
    host = new ModelHost(settings.cacheName, settings.maxRunPixels, (change) => {
      for (const endpoint of endpoints.values()) endpoint.postMessage({ type: 'backend', ...change });
    });
  }
  return host;
}

function concatenate(tensors: DecodedTensor[]): { data: Float32Array; dims: [number, number, number, number] } {
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
      if (!settings) settings = { ...DEFAULT_SETTINGS, ...message.settings };
      return;
    case 'load': {
      const loaded = await getHost().load(port, message.key, message.manifest, message.backend, message.precision, {
        progress: (phase, loadedBytes, total) => endpoint.postMessage({ type: 'progress', id: message.id, phase, loaded: loadedBytes, total }),
      });
      return reply(message.id, loaded);
    }
    case 'unload':
      getHost().unload(port, message.key);
      return;
    case 'prepare': {
      const started = performance.now();
      const tensor = await decodeToTensor(message.source, message.input, message.patchSize, settings ?? DEFAULT_SETTINGS);
      prepared.set(preparedKey(port, message.requestId), tensor);
      const value: PreparedImage = {
        dims: tensor.dims, imageWidth: tensor.imageWidth, imageHeight: tensor.imageHeight, plan: tensor.plan,
        downscale: tensor.downscale, decodeMs: performance.now() - started,
      };
      return reply(message.id, value);
    }
    case 'run': {
      const keys = message.requestIds.map((id) => preparedKey(port, id));
      const tensors = keys.map((key) => prepared.get(key));
      keys.forEach((key) => prepared.delete(key));
      if (tensors.some((t) => t === undefined)) throw new BagnetError('inference', 'A batch refers to an image that was never prepared or already used');
      const { data, dims } = concatenate(tensors as DecodedTensor[]);
      const result: RunResult = await getHost().run(message.key, message.requestIds, data, dims);
      const transfer = result.outputs.flatMap((o) => [o.patchLogits.buffer, o.logits.buffer] as Transferable[]);
      return reply(message.id, result, transfer);
    }
    case 'dense': {
      const key = preparedKey(port, message.requestId);
      const tensor = prepared.get(key);
      prepared.delete(key);
      if (!tensor) throw new BagnetError('inference', 'The exact map refers to an image that was never prepared or already used');
      denseRunning.add(key);
      try {
        const result = await getHost().dense(message.key, tensor.data, tensor.dims, message.keep, {
          // Big crops of big models run one or two at a time: a batch's activations must fit in WASM memory.
          maxBatchPixels: 140_000,
          cancelled: () => cancelled.has(key),
          onLevel: (level, map, runs) => endpoint.postMessage({ type: 'dense-level', id: message.id, level, map, runs }, [map.buffer]),
        });
        return reply(message.id, result, [result.map.buffer]);
      } finally {
        denseRunning.delete(key);
        cancelled.delete(key);
      }
    }
    case 'cancel': {
      const key = preparedKey(port, message.requestId);
      if (denseRunning.has(key)) cancelled.add(key);
      return;
    }
    case 'discard':
      for (const id of message.requestIds) prepared.delete(preparedKey(port, id));
      return;
    case 'stats': {
      const stats: WorkerStats = { ...getHost().stats(), prepared: prepared.size, ports: endpoints.size };
      return reply(message.id, stats);
    }
    case 'test-hook':
      if (!(settings ?? DEFAULT_SETTINGS).testHooks) throw new BagnetError('inference', 'Test hooks are disabled');
      if (message.action === 'crash') {
        setTimeout(() => { throw new Error('injected worker crash (test hook)'); });
        return reply(message.id, true);
      }
      if (message.action === 'break-cache-api') {
        // Every Cache API call now throws, as in browsers with storage disabled.
        const broken = () => Promise.reject(new DOMException('injected Cache API failure (test hook)', 'SecurityError'));
        Object.assign(globalThis.caches, { open: broken, match: broken, has: broken, delete: broken, keys: broken });
        return reply(message.id, true);
      }
      if (message.action === 'remove-cache-api') {
        // As in insecure contexts and some embedded browsers: no `caches` at all.
        Reflect.deleteProperty(globalThis, 'caches');
        return reply(message.id, true);
      }
      if (message.action === 'cache-quota-exceeded') {
        // Reading works; every write fails as on a full disk.
        Cache.prototype.put = () => Promise.reject(new DOMException('injected quota failure (test hook)', 'QuotaExceededError'));
        return reply(message.id, true);
      }
      if (message.action === 'fail-next-webgpu-run') {
        getHost().failNextWebgpuRun();
        return reply(message.id, true);
      }
      return reply(message.id, await destroyWebgpuDevice());
    case 'bye':
      forget(port);
  }
}

function forget(port: PortId): void {
  endpoints.delete(port);
  host?.forgetPort(port);
  for (const key of [...prepared.keys()]) if (key.startsWith(`${port}:`)) prepared.delete(key);
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

if (typeof (globalThis as { SharedWorkerGlobalScope?: unknown }).SharedWorkerGlobalScope !== 'undefined'
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
