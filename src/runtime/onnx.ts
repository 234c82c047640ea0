/**
 * The one door to onnxruntime-web (its builds are imported by ort-builds.ts). Everything above it
 * sees plain typed arrays and our own types, never `ort.Tensor` or `ort.InferenceSession`.
 *
 * Two ORT builds (ort-builds.ts), each binary fetched only when first needed: the plain WASM build
 * for the `wasm` backend (a 14 MB binary, and measurably faster on CPU than the instrumented WebGPU
 * build) and the WebGPU build for `webgpu` (27 MB).
 */
import type * as Ort from 'onnxruntime-web';
import { refetch } from '../core/refetch.js';
import { defaultWasmThreads } from '../core/settings.js';
import { ORT_BUILDS } from './ort-builds.js';

/** Backends a session can run on (`auto` is resolved above this layer, by the worker's host). */
export type ConcreteBackend = 'webgpu' | 'wasm';

export interface RuntimeSettings {
  /** Folder URL that serves the ORT `.wasm` binaries; default: beside the ORT modules. */
  readonly wasmPaths?: string;
  /** WASM threads; default: `defaultWasmThreads()`. */
  readonly numThreads?: number;
}

export interface PatchLogits {
  /** `[N, rows, cols, classes]`, row-major. */
  readonly data: Float32Array;
  readonly dims: readonly [number, number, number, number];
}

export interface ModelSession {
  readonly backend: ConcreteBackend;
  /** WASM threads (a batch splits best into multiples of them); 1 on WebGPU. */
  readonly parallelism: number;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /**
   * Run a float32 NCHW batch; resolves with the patch-logit map (or, for an exact-map stage, its
   * 4-D output). `classes` feeds the last stage's `classes` input.
   */
  run(input: Float32Array, dims: readonly [number, number, number, number], classes?: readonly number[]): Promise<PatchLogits>;
  /** True when its WebGPU device was lost since it was made: it can never run again (make a new one). */
  lost(): boolean;
  release(): Promise<void>;
}

/** Thrown when a backend is not available in this browser, with the reason. */
export class BackendUnavailableError extends Error {
  override readonly name = 'BackendUnavailableError';
  constructor(readonly backend: ConcreteBackend, reason: string) {
    super(`The ${backend} backend is not available: ${reason}`);
  }
}

/** The binary each build fetches (its JS glue is bundled in the module). Self-host both. */
export const ORT_WASM_FILES: Readonly<Record<ConcreteBackend, string>> = Object.freeze({
  wasm: 'ort-wasm-simd-threaded.wasm',
  webgpu: 'ort-wasm-simd-threaded.asyncify.wasm',
});


let settings: RuntimeSettings | null = null;
const builds = new Map<ConcreteBackend, Promise<typeof Ort>>();

/** Decide WASM threads and asset location (once: ORT reads them before its first session). */
export function applyRuntimeSettings(value: RuntimeSettings = {}): void {
  settings ??= value;
}

function ortFor(backend: ConcreteBackend): Promise<typeof Ort> {
  let build = builds.get(backend);
  if (!build) {
    build = Promise.resolve(ORT_BUILDS[backend] as typeof Ort).then((ort) => {
      const chosen = settings ?? {};
      const threads = defaultWasmThreads({
        crossOriginIsolated: (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true,
        cores: globalThis.navigator?.hardwareConcurrency ?? 1,
        userAgent: globalThis.navigator?.userAgent ?? '',
      });
      // Only the WASM build gets threads: a thread worker can then tell whose it is (ort-thread.ts),
      // and the WebGPU build computes on the GPU.
      ort.env.wasm.numThreads = backend === 'webgpu' ? 1 : chosen.numThreads ?? threads;
      // ORT's own warnings (node placement on WebGPU, …) would reach the page's console as errors.
      ort.env.logLevel = 'error';
      if (chosen.wasmPaths !== undefined) {
        const folder = new URL(chosen.wasmPaths, globalThis.location?.href);
        ort.env.wasm.wasmPaths = { wasm: new URL(ORT_WASM_FILES[backend], folder).href };
      }
      return ort;
    });
    builds.set(backend, build);
  }
  return build;
}

/** The builds that made a session: their binary loaded. */
const binaryLoaded = new Set<ConcreteBackend>();

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d]; // "\0asm"

/**
 * Why onnxruntime's binary did not load, from what fetching it again tells; null when it is fine (the
 * failure was something else). Its URL: the configured one, else the last .wasm this worker asked for
 * (a bundler names the file, so only the request knows it).
 */
async function whyBinaryFailed(ort: typeof Ort): Promise<string | null> {
  const configured = ort.env.wasm.wasmPaths;
  const url = typeof configured === 'object' && configured.wasm !== undefined ? String(configured.wasm)
    : globalThis.performance?.getEntriesByType('resource').map((entry) => entry.name)
      .filter((name) => new URL(name).pathname.endsWith('.wasm')).at(-1);
  if (url === undefined) return null;
  const failed = `onnxruntime-web's WebAssembly binary did not load from ${url}`;
  const help = ' (see "Using a bundler" in the README; configure({ wasmPaths }) names a folder that serves it)';
  const response = await refetch(url);
  if (typeof response === 'string') return `${failed}: ${response}${help}`;
  const reader = response.body?.getReader();
  const first = (await reader?.read())?.value ?? new Uint8Array();
  await reader?.cancel().catch(() => undefined);
  if (WASM_MAGIC.every((byte, i) => first[i] === byte)) return null;
  const start = new TextDecoder().decode(first.subarray(0, 16)).replace(/\s+/g, ' ');
  return `${failed}: it is not WebAssembly (served as "${response.headers.get('content-type') ?? 'no type'}", starting "${start}")${help}`;
}

/** Why WebGPU cannot be used here, or null when an adapter is available. */
export async function webgpuUnavailableReason(): Promise<string | null> {
  const adapter = await webgpuAdapter();
  return typeof adapter === 'string' ? adapter : null;
}

/** The WebGPU adapter's features (`shader-f16`, …), or null when there is no adapter. */
export async function webgpuFeatures(): Promise<ReadonlySet<string> | null> {
  const adapter = await webgpuAdapter();
  return typeof adapter === 'string' ? null : new Set(adapter.features ?? []);
}

async function webgpuAdapter(): Promise<{ readonly features?: Iterable<string> } | string> {
  const gpu = (globalThis.navigator as Navigator & { gpu?: { requestAdapter(): Promise<{ features?: Iterable<string> } | null> } } | undefined)?.gpu;
  if (!gpu) return 'navigator.gpu is missing (browser without WebGPU, or an insecure context)';
  try {
    return (await gpu.requestAdapter()) ?? 'no WebGPU adapter was found';
  } catch (error) {
    return `requesting a WebGPU adapter failed: ${String(error)}`;
  }
}

/**
 * WebGPU device losses. After one, the next WebGPU session creation tries a new device, once: the
 * sessions on the lost device are released first (onnxruntime makes a new device when its last
 * session is gone). If that fails, WebGPU stays unavailable in this worker.
 */
let deviceLosses = 0;
let deviceLost = false;
let newDeviceTried = false;
/** The device being watched (by identity: a new one is watched too). */
let watchedDevice: DeviceLike | null = null;
/** Live WebGPU sessions, with the device loss count when they were made. */
const webgpuSessions = new Map<ModelSession, { losses: number; release: () => Promise<void> }>();

interface DeviceLike {
  readonly lost?: Promise<{ reason?: string }>;
}

async function webgpuDevice(): Promise<DeviceLike | undefined> {
  const ort = await ortFor('webgpu');
  return (await ort.env.webgpu.device) as DeviceLike | undefined;
}

/**
 * Watch the WebGPU device ORT uses, once it exists, so a loss is noticed before the next run; each
 * new device too (ORT makes one after the last session of the old one is released).
 */
async function watchWebgpuDevice(): Promise<void> {
  const device = await webgpuDevice().catch(() => undefined);
  if (!device || device === watchedDevice) return;
  watchedDevice = device;
  device.lost?.then((info) => {
    // 'destroyed' is a deliberate destroy() (onnxruntime releasing its device): the next session gets a new one.
    if (info?.reason !== 'destroyed') {
      deviceLosses++;
      deviceLost = true;
      newDeviceTried = false;
    }
    if (watchedDevice === device) watchedDevice = null;
  });
}

/** A file an ONNX model reads its weights from (ONNX external data), by the name the model uses. */
export interface ExternalFile {
  readonly path: string;
  readonly data: Uint8Array;
}

/**
 * Work on one onnxruntime build that must not overlap, one after another:
 * - creations on either build: ORT mounts a session's external files in one table per module and
 *   clears it when a creation ends, so one creation would clear the files of another;
 * - everything on the WebGPU build (creation, run, release): its WebGPU backend is one per module,
 *   and a run of one session during the creation (or release) of another breaks it for good
 *   ("Failed to execute 'setPipeline'…", then "another WebGPU EP inference session is being created"
 *   and runs that never end). WASM runs of different sessions may overlap.
 */
const lanes = new Map<ConcreteBackend, Promise<unknown>>();

function inLane<T>(backend: ConcreteBackend, work: () => Promise<T>): Promise<T> {
  const done = (lanes.get(backend) ?? Promise.resolve()).then(work);
  lanes.set(backend, done.catch(() => undefined));
  return done;
}

/** Create a session from the ONNX bytes on one backend (with the files its external data names). */
export function createSession(model: Uint8Array, backend: ConcreteBackend, externalData: readonly ExternalFile[] = []): Promise<ModelSession> {
  return inLane(backend, () => create(model, backend, externalData));
}

async function create(model: Uint8Array, backend: ConcreteBackend, externalData: readonly ExternalFile[]): Promise<ModelSession> {
  if (backend === 'webgpu') {
    const reason = await webgpuUnavailableReason();
    if (reason) throw new BackendUnavailableError('webgpu', reason);
    if (deviceLost) {
      if (newDeviceTried) throw new BackendUnavailableError('webgpu', 'the WebGPU device was lost, and a new one could not be made');
      newDeviceTried = true;
      // Let go of the lost device: sessions on it can never run again, and hold it while they live.
      for (const [session, { losses, release }] of webgpuSessions) {
        if (losses === deviceLosses) continue;
        webgpuSessions.delete(session);
        await release().catch(() => undefined);
      }
    }
  }
  const ort = await ortFor(backend);
  let session: Ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(model, {
      executionProviders: [backend],
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3, // errors only
      externalData,
    });
  } catch (error) {
    const why = binaryLoaded.has(backend) ? null : await whyBinaryFailed(ort);
    if (why) throw new BackendUnavailableError(backend, why);
    throw error;
  }
  binaryLoaded.add(backend);
  if (backend !== 'webgpu') return wrapSession(ort, session, backend, ort.env.wasm.numThreads ?? 1);
  deviceLost = false; // a session on a new device (or the first one)
  await watchWebgpuDevice();
  return wrapSession(ort, session, backend, 1);
}

function wrapSession(ort: typeof Ort, session: Ort.InferenceSession, backend: ConcreteBackend, parallelism: number): ModelSession {
  const inputName = session.inputNames[0]!;
  const outputName = session.outputNames[0]!;
  const run = async (input: Float32Array, dims: readonly [number, number, number, number], classes?: readonly number[]) => {
    const tensor = new ort.Tensor('float32', input, [...dims]);
    const feeds: Record<string, Ort.Tensor> = { [inputName]: tensor };
    if (classes) feeds['classes'] = new ort.Tensor('int64', BigInt64Array.from(classes, BigInt), [classes.length]);
    const results = await session.run(feeds);
    const output = results[outputName]!;
    try {
      if (output.dims.length !== 4) throw new Error(`${outputName} has rank ${output.dims.length}, expected 4`);
      const data = (await output.getData()) as Float32Array;
      const [n, rows, cols, classCount] = output.dims;
      return { data, dims: [n!, rows!, cols!, classCount!] as const };
    } finally {
      tensor.dispose();
      output.dispose();
    }
  };
  if (backend === 'wasm') {
    return {
      backend, parallelism, inputNames: [...session.inputNames], outputNames: [...session.outputNames],
      run, lost: () => false, release: () => session.release(),
    };
  }
  // On WebGPU one thing at a time for the whole build (see `lanes`); released once, whoever asks first
  // (its owner, or a creation that needs the lost device gone).
  let released: Promise<void> | null = null;
  const releaseNow = () => (released ??= session.release());
  const losses = deviceLosses;
  const wrapped: ModelSession = {
    backend,
    parallelism,
    inputNames: [...session.inputNames],
    outputNames: [...session.outputNames],
    run: (input, dims, classes) => inLane(backend, () => {
      if (released) return Promise.reject(new Error('the session\'s WebGPU device was lost'));
      return run(input, dims, classes);
    }),
    lost: () => losses < deviceLosses,
    release: () => inLane(backend, () => {
      webgpuSessions.delete(wrapped);
      return releaseNow();
    }),
  };
  webgpuSessions.set(wrapped, { losses, release: releaseNow });
  return wrapped;
}
