/**
 * The messages between the pool client (main thread) and the inference worker. Both sides check
 * every message they receive with the guards below: anything else is rejected, never acted on.
 */
import type { SerializedError } from './errors.js';
import type { BagnetManifest, ManifestInput } from './manifest.js';
import type { ResizePlan } from './preprocess.js';
import type { WorkerSettings } from './settings.js';

export type BackendPreference = 'auto' | 'webgpu' | 'wasm';
export type ConcreteBackendName = 'webgpu' | 'wasm';
export const BACKEND_PREFERENCES: readonly BackendPreference[] = Object.freeze(['auto', 'webgpu', 'wasm']);

/** An image on its way to the worker. */
export type ImageSourceMessage =
  | { readonly kind: 'url'; readonly url: string }
  | { readonly kind: 'blob'; readonly blob: Blob }
  /** `imageWidth`/`imageHeight`: the image's own size when the page sent it scaled down (pool/image-input.ts). */
  | { readonly kind: 'bitmap'; readonly bitmap: ImageBitmap; readonly imageWidth?: number; readonly imageHeight?: number }
  | { readonly kind: 'pixels'; readonly width: number; readonly height: number; readonly data: Uint8ClampedArray };

export type ToWorker =
  | { readonly type: 'init'; readonly settings: WorkerSettings }
  | { readonly type: 'load'; readonly id: number; readonly key: string; readonly manifest: ManifestData;
      readonly backend: BackendPreference; readonly precision: string }
  | { readonly type: 'unload'; readonly key: string }
  | { readonly type: 'prepare'; readonly id: number; readonly requestId: number; readonly source: ImageSourceMessage;
      readonly input: ManifestInput; readonly patchSize: number }
  | { readonly type: 'run'; readonly id: number; readonly key: string; readonly requestIds: readonly number[] }
  /**
   * The exact map of the image prepared under `requestId`; `job` names this map (two maps of one image
   * are two jobs). With `region`: the map of that crop of the image alone (zero-padded as the whole
   * image is), from `pixels` (the crop's RGBA) when given, else from the prepared image.
   */
  | { readonly type: 'exact'; readonly id: number; readonly key: string; readonly requestId: number; readonly job: number;
      readonly classes: readonly number[]; readonly region?: Region; readonly pixels?: Uint8ClampedArray }
  /**
   * The image prepared under `base` with `edit` written into it, kept as `requestId`; the network
   * runs on its `crop` only. Without the base image (`gone`), the page sends the crop's edited
   * RGBA as `pixels`.
   */
  | { readonly type: 'rescore'; readonly id: number; readonly key: string; readonly base: number; readonly requestId: number;
      readonly edit: RegionPixels; readonly crop: Region; readonly pixels?: Uint8ClampedArray }
  /** Stop exact map `job` (between its runs). */
  | { readonly type: 'cancel'; readonly job: number }
  | { readonly type: 'discard'; readonly requestIds: readonly number[] }
  | { readonly type: 'stats'; readonly id: number }
  /** Are you there? (answered with `pong` at once, between runs) */
  | { readonly type: 'ping' }
  | { readonly type: 'bye' };

/** A box of model-input pixels. */
export interface Region {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** A box and its new RGBA (4 bytes a pixel, row-major). */
export interface RegionPixels extends Region {
  readonly data: Uint8ClampedArray;
}

/** The manifest as plain data (what structured clone keeps of a validated manifest). */
export type ManifestData = Omit<BagnetManifest, 'provenance'> & { readonly provenance?: unknown };

export interface LoadedModel {
  readonly backend: ConcreteBackendName;
  /** Why the requested backend was not used, or the requested precision (empty when both were). */
  readonly reason: string;
  /** The file that runs (`fp32`, `fp16`, `int8`): `auto` resolved, or fp32 after a variant failed to load. */
  readonly precision: string;
  /** Why that precision: `auto`'s rule, or the failure that made it fall back (empty for an explicit one that loaded). */
  readonly precisionReason: string;
  readonly source: 'network' | 'cache' | 'memory';
  readonly classes: number;
}

export interface PreparedImage {
  readonly dims: readonly [number, number, number, number];
  /** The model input as RGBA, before normalisation (`plan.width`×`plan.height`): what the elements draw. */
  readonly pixels: Uint8ClampedArray;
  /** The image as decoded, before resizing. */
  readonly imageWidth: number;
  readonly imageHeight: number;
  readonly plan: ResizePlan;
  /** > 1 when the image was larger than `maxImagePixels` and was downscaled before `plan`. */
  readonly downscale: number;
  readonly decodeMs: number;
}

export interface RunOutput {
  readonly requestId: number;
  readonly rows: number;
  readonly cols: number;
  readonly classes: number;
  /** `[rows, cols, classes]` for this image (its own buffer, transferred). */
  readonly patchLogits: Float32Array;
  /** Mean over cells, per class. */
  readonly logits: Float32Array;
}

export interface RunResult {
  readonly outputs: readonly RunOutput[];
  readonly backend: ConcreteBackendName;
  readonly batchSize: number;
  readonly inferenceMs: number;
}

/** The exact full-resolution map: `[height, width, classes.length]` over the model input's pixels. */
export interface ExactMapResult {
  readonly map: Float32Array;
  readonly height: number;
  readonly width: number;
  readonly classes: readonly number[];
  readonly runs: number;
  readonly backend: ConcreteBackendName;
  readonly ms: number;
}

/** The reply to `rescore`: the crop's cells, or `gone` when the worker no longer keeps the base image. */
export type RescoreReply =
  | { readonly gone: true }
  | { readonly rows: number; readonly cols: number; readonly classes: number; readonly patchLogits: Float32Array;
      readonly backend: ConcreteBackendName; readonly inferenceMs: number };

/**
 * The reply to `exact`: the map, or `gone` when the worker no longer keeps the image (it keeps the
 * few most recent ones; see `retained` in WorkerStats): then the page sends the image again.
 */
export type ExactMapReply = ExactMapResult | { readonly gone: true };

export interface WorkerStats {
  readonly sessions: number;
  readonly models: readonly { readonly key: string; readonly backend: ConcreteBackendName; readonly refs: number; readonly runs: number }[];
  /** Images decoded and waiting for their run. */
  readonly prepared: number;
  /** Images kept after their run, for exact maps (the most recent few per client). */
  readonly retained: number;
  /** Images decoded since the worker started. */
  readonly decoded: number;
  readonly ports: number;
  readonly sessionsCreated: number;
  readonly sessionsReleased: number;
}

export type FromWorker =
  | { readonly type: 'reply'; readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly type: 'reply'; readonly id: number; readonly ok: false; readonly error: SerializedError }
  | { readonly type: 'progress'; readonly id: number; readonly phase: ProgressPhase; readonly loaded: number; readonly total: number }
  | { readonly type: 'exact-level'; readonly id: number; readonly level: number; readonly map: Float32Array; readonly runs: number }
  | { readonly type: 'backend'; readonly key: string; readonly requested: BackendPreference; readonly actual: ConcreteBackendName; readonly reason: string }
  | { readonly type: 'pong' }
  /** A session run starts and may block the worker for up to `ms` (no answers to pings meanwhile). */
  | { readonly type: 'busy'; readonly ms: number };

export type ProgressPhase = 'download' | 'cache' | 'compile';

// ---- guards -------------------------------------------------------------------------------------

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);
const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isStr = (v: unknown): v is string => typeof v === 'string';
const isIdList = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.length <= 4096 && v.every(isId);
const isRegion = (v: unknown): v is Region => isRec(v) && isId(v['x']) && isId(v['y']) && isId(v['width']) && isId(v['height'])
  && (v['width'] as number) > 0 && (v['height'] as number) > 0;
/** RGBA bytes for a `width`×`height` box. */
const isRgbaFor = (v: unknown, region: Region) => v instanceof Uint8ClampedArray && v.length === region.width * region.height * 4;

function isImageSource(v: unknown): v is ImageSourceMessage {
  if (!isRec(v)) return false;
  switch (v['kind']) {
    case 'url': return isStr(v['url']);
    case 'blob': return typeof Blob !== 'undefined' && v['blob'] instanceof Blob;
    case 'bitmap': return typeof ImageBitmap !== 'undefined' && v['bitmap'] instanceof ImageBitmap
      && (v['imageWidth'] === undefined || isId(v['imageWidth'])) && (v['imageHeight'] === undefined || isId(v['imageHeight']));
    case 'pixels': return isId(v['width']) && isId(v['height']) && v['data'] instanceof Uint8ClampedArray;
    default: return false;
  }
}

/** True when `v` is a well-formed message to the worker. */
export function isToWorker(v: unknown): v is ToWorker {
  if (!isRec(v)) return false;
  switch (v['type']) {
    case 'init': return isRec(v['settings']);
    case 'load': return isId(v['id']) && isStr(v['key']) && isRec(v['manifest']) && isStr(v['precision'])
      && BACKEND_PREFERENCES.includes(v['backend'] as BackendPreference);
    case 'unload': return isStr(v['key']);
    case 'prepare': return isId(v['id']) && isId(v['requestId']) && isImageSource(v['source']) && isRec(v['input'])
      && isId(v['patchSize']);
    case 'run': return isId(v['id']) && isStr(v['key']) && isIdList(v['requestIds']);
    case 'exact': return isId(v['id']) && isStr(v['key']) && isId(v['requestId']) && isId(v['job']) && Array.isArray(v['classes'])
      && (v['classes'] as unknown[]).length > 0 && (v['classes'] as unknown[]).length <= 64 && (v['classes'] as unknown[]).every(isId)
      && (v['region'] === undefined ? v['pixels'] === undefined
        : isRegion(v['region']) && (v['pixels'] === undefined || isRgbaFor(v['pixels'], v['region'])));
    case 'rescore': return isId(v['id']) && isStr(v['key']) && isId(v['base']) && isId(v['requestId'])
      && isRegion(v['edit']) && isRgbaFor((v['edit'] as unknown as Rec)['data'], v['edit']) && isRegion(v['crop'])
      && (v['pixels'] === undefined || isRgbaFor(v['pixels'], v['crop']));
    case 'cancel': return isId(v['job']);
    case 'discard': return isIdList(v['requestIds']);
    case 'stats': return isId(v['id']);
    case 'ping': return true;
    case 'bye': return true;
    default: return false;
  }
}

/** True when `v` is a well-formed message from the worker. */
export function isFromWorker(v: unknown): v is FromWorker {
  if (!isRec(v)) return false;
  switch (v['type']) {
    case 'reply': return isId(v['id']) && (v['ok'] === true || (v['ok'] === false && isRec(v['error'])));
    case 'progress': return isId(v['id']) && isStr(v['phase']) && typeof v['loaded'] === 'number' && typeof v['total'] === 'number';
    case 'backend': return isStr(v['key']) && isStr(v['actual']);
    case 'pong': return true;
    case 'busy': return typeof v['ms'] === 'number' && v['ms'] >= 0;
    case 'exact-level': return isId(v['id']) && isId(v['level']) && v['map'] instanceof Float32Array && isId(v['runs']);
    default: return false;
  }
}
