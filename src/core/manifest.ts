/**
 * The model manifest (`bagnet.json`): its types, a validator that checks every field with a clear
 * error, and a loader. Pure: no DOM, no workers, no onnxruntime (the fetch function is injectable).
 *
 * @example
 * const manifest = await loadManifest('/models/default/bagnet.json');
 * manifest.labels[0];               // 'T-shirt/top'
 * manifest.files.fp32.url;          // 'http://host/models/default/model.onnx' (resolved)
 */
import { BagnetError, toBagnetError } from './errors.js';
import { megapixels } from './image-limits.js';

/** How an image is brought to the model's input size before normalisation. */
export type ResizePolicy =
  /** Use the image as it is (BagNets are fully convolutional). */
  | { readonly mode: 'none' }
  /** Scale to exactly `width`×`height`, ignoring the aspect ratio (small fixed-size models). */
  | { readonly mode: 'stretch'; readonly width: number; readonly height: number }
  /** Scale so the shorter side is `size`, then optionally centre-crop a `crop`×`crop` square (ImageNet). */
  | { readonly mode: 'shorter-side'; readonly size: number; readonly crop?: number };

export interface ManifestInput {
  /** 1 (grayscale, ITU-R BT.601 luma) or 3 (RGB). */
  readonly channels: 1 | 3;
  /** Per-channel mean and std applied to pixels scaled to [0, 1]: `(p / 255 - mean) / std`. */
  readonly mean: readonly number[];
  readonly std: readonly number[];
  readonly resize: ResizePolicy;
  /** RGB (0–255) that transparent pixels are composited on (optional; default white). */
  readonly background: readonly number[];
  /**
   * How the model's DICOM images were made (optional; written by models/bagnet_tools/train.py): the
   * VOI window (`'file'`: the image's own; or `[center, width]`) and whether MONOCHROME1 is inverted.
   * Without it the model takes the displayed (VOI-applied) image.
   */
  readonly dicom?: DicomInput;
}

export interface DicomInput {
  readonly window: 'file' | readonly [number, number];
  readonly invertMonochrome1: boolean;
}

export interface ModelFile {
  /** Absolute URL (resolved against the manifest's URL). */
  readonly url: string;
  readonly bytes?: number;
  readonly sha256?: string;
  /** What its arithmetic runs in (`fp32`, `fp16`, `int8`): an fp16 file may widen its weights to fp32. */
  readonly compute?: string;
  /** Its fidelity against fp32, as measured by the model tools (models/bagnet_tools/precisions.py). */
  readonly metrics?: FileMetrics;
}

export interface FileMetrics {
  /** Top-1 equal to fp32's, as a fraction of the test images (what `precision="auto"` checks for int8). */
  readonly agreement?: number;
  readonly top1?: number | null;
  readonly maxAbsPatchDeviation?: number;
  readonly meanAbsPatchDeviation?: number;
  readonly images?: number;
  readonly dataset?: string;
}

/** An exact-map stage file, whose weights may live in one of the model's `files`. */
export interface StageFile extends ModelFile {
  /**
   * The ONNX external data the stage reads its weights from: `path` as the ONNX file names it, and
   * `precision`, the entry of `files` with those bytes (the worker mounts that file under `path`).
   */
  readonly externalData?: { readonly path: string; readonly precision: string };
}

export interface ManifestMetrics {
  readonly dataset: string;
  /** Measured top-1 accuracy in [0, 1], or null when it was not measured (say why in `note`). */
  readonly top1: number | null;
  readonly images?: number;
  readonly note?: string;
}

export interface BagnetManifest {
  readonly name: string;
  readonly arch: string;
  /** q: every evidence cell sees a q×q patch of the (resized) input. */
  readonly patchSize: number;
  /** Pixels between neighbouring cells. */
  readonly stride: number;
  /** Input pixel of cell (0, 0)'s top-left corner, the same on both axes (0 for unpadded BagNets). */
  readonly offset: number;
  readonly input: ManifestInput;
  readonly labels: readonly string[];
  /** One file per precision; `fp32` is required. */
  readonly files: Readonly<Record<string, ModelFile>> & { readonly fp32: ModelFile };
  readonly metrics: ManifestMetrics;
  /**
   * The network cut where its resolution halves (models/bagnet_tools/stages.py): exact maps share
   * the early layers between shifts. Optional; without it exact maps run the whole network per shift.
   */
  readonly stages?: readonly StageFile[];
  /** How the model was made (free-form JSON, copied as data, never interpreted). */
  readonly provenance: Readonly<Record<string, unknown>>;
  /** The URL the manifest was loaded from, when known. */
  readonly url?: string;
}

/** A manifest field that is missing or wrong. `field` is a JSON path such as `input.mean[2]`. */
export class ManifestError extends Error {
  override readonly name = 'ManifestError';
  constructor(readonly field: string, detail: string) {
    super(`Invalid model manifest: ${field} ${detail}`);
  }
}

type Json = unknown;

function isRecord(value: Json): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Own, enumerable property only: never read `__proto__` or inherited keys of a parsed object. */
function own(record: Record<string, Json>, key: string): Json {
  return Object.prototype.hasOwnProperty.call(record, key) ? record[key] : undefined;
}

function describe(value: Json): string {
  if (value === undefined) return 'is missing';
  if (value === null) return 'is null';
  if (Array.isArray(value)) return `is an array of ${value.length}`;
  if (typeof value === 'number' && !Number.isFinite(value)) return `is ${value}`;
  const text = JSON.stringify(value);
  return `is ${typeof value} ${text.length > 40 ? `${text.slice(0, 40)}…` : text}`;
}

function requireRecord(value: Json, field: string): Record<string, Json> {
  if (!isRecord(value)) throw new ManifestError(field, `must be an object, but ${describe(value)}`);
  return value;
}

function requireString(value: Json, field: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ManifestError(field, `must be a non-empty string, but ${describe(value)}`);
  }
  return value;
}

function requireNumber(value: Json, field: string, check: (n: number) => boolean, rule: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || !check(value)) {
    throw new ManifestError(field, `must be ${rule}, but ${describe(value)}`);
  }
  return value;
}

const positiveInteger = (n: number) => Number.isInteger(n) && n > 0;

function requireNumberList(value: Json, field: string, length: number,
                           check: (n: number) => boolean, rule: string): number[] {
  if (!Array.isArray(value) || value.length !== length) {
    throw new ManifestError(field, `must be an array of ${length} numbers, but ${describe(value)}`);
  }
  return value.map((item, i) => requireNumber(item, `${field}[${i}]`, check, rule));
}

function validateResize(value: Json): ResizePolicy {
  const resize = requireRecord(value, 'input.resize');
  const mode = own(resize, 'mode');
  switch (mode) {
    case 'none':
      return Object.freeze({ mode });
    case 'stretch':
      return Object.freeze({
        mode,
        width: requireNumber(own(resize, 'width'), 'input.resize.width', positiveInteger, 'a positive integer'),
        height: requireNumber(own(resize, 'height'), 'input.resize.height', positiveInteger, 'a positive integer'),
      });
    case 'shorter-side': {
      const size = requireNumber(own(resize, 'size'), 'input.resize.size', positiveInteger, 'a positive integer');
      const cropValue = own(resize, 'crop');
      if (cropValue === undefined) return Object.freeze({ mode, size });
      const crop = requireNumber(cropValue, 'input.resize.crop', (n) => positiveInteger(n) && n <= size,
        `a positive integer no larger than input.resize.size (${size})`);
      return Object.freeze({ mode, size, crop });
    }
    default:
      throw new ManifestError('input.resize.mode', `must be one of "none", "stretch", "shorter-side", but ${describe(mode)}`);
  }
}

function validateInput(value: Json): ManifestInput {
  const input = requireRecord(value, 'input');
  const channels = own(input, 'channels');
  if (channels !== 1 && channels !== 3) {
    throw new ManifestError('input.channels', `must be 1 or 3, but ${describe(channels)}`);
  }
  return Object.freeze({
    channels,
    mean: Object.freeze(requireNumberList(own(input, 'mean'), 'input.mean', channels, () => true, 'a finite number')),
    std: Object.freeze(requireNumberList(own(input, 'std'), 'input.std', channels, (n) => n > 0, 'a positive number')),
    resize: validateResize(own(input, 'resize')),
    background: Object.freeze(own(input, 'background') === undefined ? [255, 255, 255]
      : requireNumberList(own(input, 'background'), 'input.background', 3, (n) => Number.isInteger(n) && n >= 0 && n <= 255,
        'an integer from 0 to 255')),
    ...(own(input, 'dicom') === undefined ? {} : { dicom: validateDicom(own(input, 'dicom')) }),
  });
}

function validateDicom(value: Json): DicomInput {
  const dicom = requireRecord(value, 'input.dicom');
  const window = own(dicom, 'window');
  const invert = own(dicom, 'invertMonochrome1') ?? true;
  if (typeof invert !== 'boolean') throw new ManifestError('input.dicom.invertMonochrome1', `must be true or false, but ${describe(invert)}`);
  if (window === 'file') return Object.freeze({ window, invertMonochrome1: invert });
  if (!Array.isArray(window) || window.length !== 2 || !window.every((n) => typeof n === 'number' && Number.isFinite(n)) || (window[1] as number) < 1) {
    throw new ManifestError('input.dicom.window', `must be "file" or [center, width] with width ≥ 1, but ${describe(window)}`);
  }
  return Object.freeze({ window: Object.freeze([window[0] as number, window[1] as number] as const), invertMonochrome1: invert });
}

function validateLabels(value: Json): readonly string[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new ManifestError('labels', `must be a non-empty array of strings, but ${describe(value)}`);
  }
  return Object.freeze(value.map((label, i) => {
    if (typeof label !== 'string') throw new ManifestError(`labels[${i}]`, `must be a string, but ${describe(label)}`);
    return label;
  }));
}

const SHA256 = /^[0-9a-f]{64}$/;

function validateFiles(value: Json, baseUrl: string | undefined): BagnetManifest['files'] {
  const files = requireRecord(value, 'files');
  if (own(files, 'fp32') === undefined) throw new ManifestError('files.fp32', 'is missing (every model needs an fp32 file)');
  const result: Record<string, ModelFile> = Object.create(null);
  for (const precision of Object.keys(files)) {
    if (!/^[a-z0-9_-]+$/i.test(precision)) throw new ManifestError(`files.${precision}`, 'is not a valid precision name');
    result[precision] = validateFile(own(files, precision), `files.${precision}`, baseUrl);
  }
  return Object.freeze(result) as BagnetManifest['files'];
}

function validateFile(value: Json, field: string, baseUrl: string | undefined): ModelFile {
  const entry = requireRecord(value, field);
  const url = resolveModelUrl(requireString(own(entry, 'url'), `${field}.url`), baseUrl, `${field}.url`);
  const file: { -readonly [K in keyof ModelFile]: ModelFile[K] } = { url };
  const bytes = own(entry, 'bytes');
  if (bytes !== undefined) file.bytes = requireNumber(bytes, `${field}.bytes`, positiveInteger, 'a positive integer');
  const sha = own(entry, 'sha256');
  if (sha !== undefined) {
    if (typeof sha !== 'string' || !SHA256.test(sha)) throw new ManifestError(`${field}.sha256`, `must be 64 lowercase hex digits, but ${describe(sha)}`);
    file.sha256 = sha;
  }
  const compute = own(entry, 'compute');
  if (compute !== undefined) file.compute = requireString(compute, `${field}.compute`);
  const metrics = own(entry, 'metrics');
  if (metrics !== undefined) {
    const record = requireRecord(metrics, `${field}.metrics`);
    const agreement = own(record, 'agreement');
    if (agreement !== undefined) requireNumber(agreement, `${field}.metrics.agreement`, (x) => x >= 0 && x <= 1, 'a fraction in [0, 1]');
    file.metrics = Object.freeze(JSON.parse(JSON.stringify(record)) as FileMetrics);
  }
  return Object.freeze(file);
}

/** Optional: one stage per halving of the resolution, plus stage 0 (log2(stride) + 1 files). */
function validateStages(value: Json, stride: number, files: BagnetManifest['files'],
                        baseUrl: string | undefined): readonly StageFile[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || 2 ** (value.length - 1) !== stride) {
    throw new ManifestError('stages', `must list log2(stride) + 1 = ${Math.log2(stride) + 1} files, but ${describe(value)}`);
  }
  return Object.freeze(value.map((entry, i): StageFile => {
    const field = `stages[${i}]`;
    const file = validateFile(entry, field, baseUrl);
    const path = own(requireRecord(entry, field), 'externalData');
    if (path === undefined) return file;
    // A file beside the stage, named as the stage's ONNX names it: one of the model's own files.
    const url = typeof path === 'string' ? file.url.replace(/[^/]*$/, () => path) : '';
    const precision = Object.keys(files).find((name) => files[name]!.url === url);
    if (!precision) throw new ManifestError(`${field}.externalData`, `must name a model file beside the stage, but ${describe(path)}`);
    return Object.freeze({ ...file, externalData: Object.freeze({ path: path as string, precision }) });
  }));
}

/** Resolve a model file URL; only http(s) (or relative to an http(s) manifest) is accepted. */
function resolveModelUrl(url: string, baseUrl: string | undefined, field: string): string {
  let resolved: URL;
  try {
    resolved = baseUrl === undefined ? new URL(url) : new URL(url, baseUrl);
  } catch {
    if (baseUrl === undefined && !/^[a-z][a-z0-9+.-]*:/i.test(url)) return url; // relative, no base to resolve against
    throw new ManifestError(field, `is not a valid URL: ${JSON.stringify(url)}`);
  }
  if (resolved.protocol !== 'http:' && resolved.protocol !== 'https:') {
    throw new ManifestError(field, `must be an http(s) or relative URL, but uses ${resolved.protocol}`);
  }
  return resolved.href;
}

function validateMetrics(value: Json): ManifestMetrics {
  const metrics = requireRecord(value, 'metrics');
  const top1 = own(metrics, 'top1');
  const result: { dataset: string; top1: number | null; images?: number; note?: string } = {
    dataset: requireString(own(metrics, 'dataset'), 'metrics.dataset'),
    top1: top1 === null ? null : requireNumber(top1, 'metrics.top1', (n) => n >= 0 && n <= 1, 'a number in [0, 1] or null'),
  };
  const images = own(metrics, 'images');
  if (images !== undefined) result.images = requireNumber(images, 'metrics.images', positiveInteger, 'a positive integer');
  const note = own(metrics, 'note');
  if (note !== undefined) result.note = requireString(note, 'metrics.note');
  if (result.top1 === null && result.note === undefined) {
    throw new ManifestError('metrics.note', 'must say why metrics.top1 is null');
  }
  return Object.freeze(result);
}

/** Deep-copy plain JSON into null-prototype objects, so keys like `__proto__` stay inert data. */
function inertCopy(value: Json): Json {
  if (Array.isArray(value)) return Object.freeze(value.map(inertCopy));
  if (isRecord(value)) {
    const copy: Record<string, Json> = Object.create(null);
    for (const key of Object.keys(value)) copy[key] = inertCopy(value[key]);
    return Object.freeze(copy);
  }
  return value;
}

/**
 * Check a parsed `bagnet.json` and return a frozen, normalised manifest. Throws a
 * {@link ManifestError} naming the first wrong field. `baseUrl` (the manifest's own URL)
 * resolves relative file URLs.
 */
export function validateManifest(json: Json, baseUrl?: string): BagnetManifest {
  const root = requireRecord(json, 'manifest');
  const patchSize = requireNumber(own(root, 'patchSize'), 'patchSize', positiveInteger, 'a positive integer');
  const stride = requireNumber(own(root, 'stride'), 'stride', positiveInteger, 'a positive integer');
  const offset = requireNumber(own(root, 'offset'), 'offset', Number.isInteger, 'an integer');
  const labels = validateLabels(own(root, 'labels'));
  const files = validateFiles(own(root, 'files'), baseUrl);
  const stages = validateStages(own(root, 'stages'), stride, files, baseUrl);
  const manifest: BagnetManifest = {
    name: requireString(own(root, 'name'), 'name'),
    arch: requireString(own(root, 'arch'), 'arch'),
    patchSize,
    stride,
    offset,
    input: validateInput(own(root, 'input')),
    labels,
    files,
    metrics: validateMetrics(own(root, 'metrics')),
    provenance: inertCopy(requireRecord(own(root, 'provenance'), 'provenance')) as Record<string, unknown>,
    ...(stages && { stages }),
    ...(baseUrl === undefined ? {} : { url: baseUrl }),
  };
  return Object.freeze(manifest);
}

/**
 * The fewest pixels a model input can have under `input.resize`: the fixed size of `stretch` and of
 * a cropped `shorter-side`, `size`² for an uncropped one (a square image; longer ones give more),
 * and 0 for `none` (the image's own size, bounded by the pool's image limits).
 */
export function minimumInputPixels(input: Pick<ManifestInput, 'resize'>): number {
  const resize = input.resize;
  switch (resize.mode) {
    case 'none': return 0;
    case 'stretch': return resize.width * resize.height;
    case 'shorter-side': return (resize.crop ?? resize.size) ** 2;
  }
}

/**
 * Throws a {@link ManifestError} when every model input would be larger than `maxPixels` (the
 * pool's `maxDecodePixels`): such a model could never classify an image, and its first image
 * would fail allocating the input instead of saying why.
 */
export function checkInputSize(input: Pick<ManifestInput, 'resize'>, maxPixels: number): void {
  const pixels = minimumInputPixels(input);
  if (pixels <= maxPixels) return;
  const resize = input.resize;
  const size = resize.mode === 'stretch' ? `${resize.width}×${resize.height}`
    : resize.mode === 'shorter-side' ? `at least ${resize.crop ?? resize.size}×${resize.crop ?? resize.size}` : '';
  throw new ManifestError('input.resize', `asks for ${size} model inputs (${megapixels(pixels)}), over the `
    + `${(maxPixels / 1e6).toFixed(1)} megapixel limit for decoding (configure maxDecodePixels)`);
}

export type FetchLike = (url: string, init?: RequestInit) => Promise<Response>;

/**
 * Fetch and validate a manifest. Network and JSON failures throw a {@link ManifestLoadError};
 * a wrong field throws a {@link ManifestError}.
 */
export async function loadManifest(url: string, options: { fetch?: FetchLike; signal?: AbortSignal } = {}): Promise<BagnetManifest> {
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const absolute = new URL(url, globalThis.location?.href).href;
  if (!/^https?:$/.test(new URL(absolute).protocol)) {
    throw new ManifestLoadError(absolute, 'only http(s) and relative manifest URLs are allowed');
  }
  let response: Response;
  try {
    response = await doFetch(absolute, options.signal ? { signal: options.signal } : undefined);
  } catch (cause) {
    if (options.signal?.aborted) throw cause;
    throw new ManifestLoadError(absolute, `the request failed (network error or blocked by CORS)`, cause);
  }
  if (!response.ok) throw new ManifestLoadError(absolute, `the server answered ${response.status} ${response.statusText}`.trim());
  const text = await response.text();
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new ManifestLoadError(absolute, `it is not JSON (starts with ${JSON.stringify(text.slice(0, 30))})`, cause);
  }
  return validateManifest(json, absolute);
}

/** The manifest could not be fetched or parsed (as opposed to a field being wrong). */
export class ManifestLoadError extends Error {
  override readonly name = 'ManifestLoadError';
  constructor(readonly url: string, detail: string, override readonly cause?: unknown) {
    super(`Could not load the model manifest ${url}: ${detail}`);
  }
}

/** {@link loadManifest} with the library's error types: a wrong field is `model-invalid`, any other failure `model-load`. */
export async function loadModelManifest(url: string): Promise<BagnetManifest> {
  try {
    return await loadManifest(url);
  } catch (error) {
    if (error instanceof ManifestError) throw new BagnetError('model-invalid', error.message, { cause: error });
    throw toBagnetError(error, 'model-load');
  }
}
