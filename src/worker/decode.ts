/**
 * Image decoding and preprocessing off the main thread: any source → the model's input tensor, as
 * the manifest prescribes (resize policy, channels, normalisation).
 */
import { BagnetError } from '../core/errors.js';
import type { ManifestInput } from '../core/manifest.js';
import { pixelsToTensor, resizePlan, type ResizePlan } from '../core/preprocess.js';
import type { ImageSourceMessage } from '../core/protocol.js';
import {
  FORMAT_NAMES, isHeaderReadOn, isUnreadable, readImageHeader, type HeaderRead, type ImageHeader,
} from '../core/image-header.js';
import { CHECKED_FORMATS, findDamage } from '../core/image-integrity.js';
import { downscaleFor, megapixels, overDecodeLimit } from '../core/image-limits.js';
import { resizeBilinear } from '../core/resample.js';

export interface DecodedTensor {
  readonly data: Float32Array;
  /** The model input as RGBA before normalisation (what the model saw, for drawing). */
  readonly pixels: Uint8ClampedArray;
  readonly dims: [number, number, number, number];
  readonly imageWidth: number;
  readonly imageHeight: number;
  readonly plan: ResizePlan;
  readonly downscale: number;
}

// Pixel values as stored (no colour management, no premultiplication), as PIL reads them in the Python tools.
const DECODE_OPTIONS: ImageBitmapOptions = { colorSpaceConversion: 'none', premultiplyAlpha: 'none', imageOrientation: 'from-image' };

async function fetchImage(url: string): Promise<Blob> {
  let parsed: URL;
  try {
    parsed = new URL(url, (globalThis as { location?: { href: string } }).location?.href);
  } catch (cause) {
    throw new BagnetError('image-load', `Not a valid image URL: ${url}`, { cause });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new BagnetError('image-load', `Image URLs must be http(s) or relative, got ${parsed.protocol}`);
  }
  let response: Response;
  try {
    response = await fetch(parsed.href, { credentials: 'same-origin' });
  } catch (cause) {
    throw new BagnetError('image-load', `Could not fetch the image ${parsed.href} (network error or blocked by CORS)`, { cause });
  }
  if (!response.ok) throw new BagnetError('image-load', `Could not fetch the image ${parsed.href}: the server answered ${response.status}`);
  try {
    return await response.blob();
  } catch (cause) {
    throw new BagnetError('image-load', `Could not fetch the image ${parsed.href}: the download broke off (${describe(cause)})`, { cause });
  }
}

/** `what` (a URL, or "the …") at the start of a sentence. */
const capitalised = (what: string) => what.replace(/^the /, 'The ');

const describe = (error: unknown) => (error instanceof Error ? `${error.name}: ${error.message}` : String(error));

/** A blob's bytes; a file that cannot be read (moved, changed or deleted since it was picked) is an `image-load` error. */
async function readBytes(blob: Blob, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await blob.arrayBuffer());
  } catch (cause) {
    throw new BagnetError('image-load', `Could not read ${what}: ${describe(cause)} `
      + '(was the file changed or removed since it was picked?)', { cause });
  }
}

export interface DecodeLimits {
  /** Larger images are scaled down (aspect kept) to about this many pixels. */
  readonly maxImagePixels: number;
  /** Larger images are refused before decoding: their pixels might not fit in memory. */
  readonly maxDecodePixels: number;
}

interface Decoded {
  readonly image: ImageBitmap | ImageData | VideoFrame;
  /** The image's own size (the decoded one may be smaller, see DecodeLimits). */
  readonly width: number;
  readonly height: number;
}


// Small files are read whole (the header is in there too), large ones only up to their header.
const HEADER_BYTES = 256 * 1024;
/**
 * Reads past those first bytes, for a header that goes on (a JPEG's metadata before its frame
 * header, an AVIF's boxes after its pixels): each a few bytes (at most 16 KB, or a box that
 * holds the size), and never more than these, so a hostile file cannot make it walk on forever.
 */
const MAX_HEADER_READS = 256;

/**
 * A whole PNG already in memory, decoded by WebCodecs from those bytes: `createImageBitmap(blob)` would
 * read the blob a second time, which costs more than decoding a small image (Chromium).
 */
async function decodePngBytes(bytes: Uint8Array): Promise<VideoFrame | null> {
  if (typeof ImageDecoder !== 'function') return null;
  const decoder = new ImageDecoder({ data: bytes, type: 'image/png', colorSpaceConversion: 'none', preferAnimation: false });
  try {
    return (await decoder.decode()).image;
  } catch {
    return null; // createImageBitmap has the last word, and the error message
  } finally {
    decoder.close();
  }
}

const prefetched = new WeakMap<Blob, Promise<Uint8Array>>();

/**
 * Read small blobs sent together (a batch) as one: one trip to the blob store instead of one each.
 * Their decoding then takes the bytes from here.
 */
export function prefetchBlobs(blobs: readonly Blob[]): void {
  const small = blobs.filter((blob) => blob.size <= HEADER_BYTES && !prefetched.has(blob));
  if (small.length < 2) return;
  const all = new Blob(small).arrayBuffer();
  let offset = 0;
  for (const blob of small) {
    const start = offset;
    offset += blob.size;
    prefetched.set(blob, all.then((buffer) => new Uint8Array(buffer, start, blob.size)));
  }
}

/** The file's header, read on through `blob` where it goes past `bytes`; refuses a file whose size cannot be known. */
async function headerOf(blob: Blob, bytes: Uint8Array, what: string): Promise<ImageHeader> {
  // A field read past the bytes given (a header cut short in a way not foreseen) is a damaged file.
  const damaged = (parse: () => HeaderRead): HeaderRead => {
    try {
      return parse();
    } catch (cause) {
      if (!(cause instanceof RangeError)) throw cause;
      throw new BagnetError('image-invalid', `Could not decode ${what} as an image: its header is damaged`, { cause });
    }
  };
  let read = damaged(() => readImageHeader(bytes, blob.size));
  for (let reads = 0; isHeaderReadOn(read); reads++) {
    if (reads === MAX_HEADER_READS) {
      throw new BagnetError('image-invalid', `Could not decode ${what} as an image: its ${FORMAT_NAMES[read.format]} header `
        + `goes on past ${MAX_HEADER_READS} reads without saying its size`);
    }
    const { resume } = read;
    const more = await readBytes(blob.slice(read.offset, read.offset + read.length), what);
    read = damaged(() => resume(more));
  }
  // Unknown size, unknown memory: what cannot be measured is not decoded.
  if (read === null) {
    throw new BagnetError('image-invalid', `Could not decode ${what} as an image: not a format whose size can be read before `
      + 'decoding (PNG, JPEG, GIF, WebP, BMP, ICO/CUR, AVIF or JPEG XL)');
  }
  if (isUnreadable(read)) {
    throw new BagnetError('image-invalid', `Could not decode ${what} as an image: it looks like ${FORMAT_NAMES[read.format]}, `
      + `but its size cannot be read (${read.unreadable})`);
  }
  return read;
}

/**
 * Refuses an empty image, and one over `maxDecodePixels` (its pixels might not fit in memory);
 * `decodePixels`: what the decoder works on when more than what shows (an AVIF's crop or grid).
 */
function checkDecodeSize(width: number, height: number, what: string, limits: DecodeLimits, decodePixels = width * height): void {
  if (width * height === 0) throw new BagnetError('image-invalid', `${capitalised(what)} is empty (${width}×${height})`);
  const tooBig = overDecodeLimit(width, height, limits.maxDecodePixels, decodePixels);
  if (tooBig) throw new BagnetError('image-invalid', `${capitalised(what)} is ${tooBig}`);
}

/** Decodes a file's bytes, checking its header first: refuse what is too big, scale down what is big. */
async function decodeBlob(blob: Blob, what: string, limits: DecodeLimits): Promise<Decoded> {
  const early = prefetched.get(blob);
  prefetched.delete(blob);
  const bytes = await early?.catch(() => undefined)
    ?? await readBytes(blob.size <= HEADER_BYTES ? blob : blob.slice(0, HEADER_BYTES), what);
  const header = await headerOf(blob, bytes, what);
  if (header.format === 'svg') {
    // No DOM here, and SVG can carry scripts and external references: only raster images are taken.
    throw new BagnetError('image-invalid', `${capitalised(what)} is an SVG image: rasterise it (e.g. to PNG) first`);
  }
  checkDecodeSize(header.width, header.height, what, limits, header.decodePixels);
  if (CHECKED_FORMATS.has(header.format)) {
    // Whole or not is ours to say: a browser may decode a truncated file as far as it goes.
    const damage = findDamage(bytes.length === blob.size ? bytes : await readBytes(blob, what), header.format);
    if (damage) {
      throw new BagnetError('image-invalid', `Could not decode ${what} as an image: the ${FORMAT_NAMES[header.format]} file is truncated or damaged (${damage})`);
    }
  }
  const target = downscaleFor(header.width, header.height, limits.maxImagePixels);
  // The header's size is the one displayed (orientation applied): only the width, so the browser
  // keeps the aspect of what it decodes, whatever our reading of the header missed.
  const options: ImageBitmapOptions = target.scale === 1 ? DECODE_OPTIONS
    : { ...DECODE_OPTIONS, resizeWidth: target.width, resizeQuality: 'high' };
  // A PNG with EXIF goes to createImageBitmap, whose option says how its orientation is applied.
  if (header.format === 'png' && !header.exif && target.scale === 1 && bytes.length === blob.size) {
    const frame = await decodePngBytes(bytes);
    if (frame) return { image: frame, width: frame.displayWidth, height: frame.displayHeight };
  }
  let image: ImageBitmap;
  try {
    image = await createImageBitmap(blob, options);
  } catch (cause) {
    // The structure of the checked formats was found whole: their decoder's refusal is the pixels'.
    // The others (AVIF, JPEG XL, ICO) are not decoded by every browser (Firefox has no JPEG XL).
    const why = CHECKED_FORMATS.has(header.format) ? `its ${FORMAT_NAMES[header.format]} data is damaged`
      : `this browser may not decode ${FORMAT_NAMES[header.format]}, or the file is damaged`;
    throw new BagnetError('image-invalid', `Could not decode ${what} as an image: ${why}`, { cause });
  }
  // The image's own size, from what was decoded (the header only bounded it).
  return { image, width: Math.round(image.width * target.scale), height: Math.round(image.height * target.scale) };
}

async function decodeSource(source: ImageSourceMessage, limits: DecodeLimits): Promise<Decoded> {
  switch (source.kind) {
    case 'bitmap': {
      // The page may have scaled it down already (image-input.ts): it says the image's own size.
      const width = source.imageWidth ?? source.bitmap.width;
      const height = source.imageHeight ?? source.bitmap.height;
      try {
        checkDecodeSize(width, height, 'the image', limits);
      } catch (error) {
        source.bitmap.close();
        throw error;
      }
      return { image: source.bitmap, width, height };
    }
    case 'pixels':
      if (source.data.length !== source.width * source.height * 4) {
        throw new BagnetError('image-invalid', `Pixel data has ${source.data.length} bytes, expected ${source.width}×${source.height}×4`);
      }
      checkDecodeSize(source.width, source.height, 'the ImageData', limits);
      return { image: new ImageData(source.data as Uint8ClampedArray<ArrayBuffer>, source.width, source.height), width: source.width, height: source.height };
    case 'url':
      return decodeBlob(await fetchImage(source.url), source.url, limits);
    case 'blob':
      return decodeBlob(source.blob, `the ${source.blob.type || 'untyped'} blob of ${source.blob.size} bytes`, limits);
  }
}

function drawable(image: Decoded['image']): CanvasImageSource {
  if (image instanceof ImageData) {
    const canvas = new OffscreenCanvas(image.width, image.height);
    canvas.getContext('2d')!.putImageData(image, 0, 0);
    return canvas;
  }
  return image;
}

let scratch: OffscreenCanvasRenderingContext2D | null = null;
/** Larger canvases are one-offs: the scratch holds a whole decoded image (up to maxImagePixels). */
const KEPT_SCRATCH_PIXELS = 1024 * 1024;

/** One reusable CPU-backed canvas: creating a 2D context per image costs more than drawing it. */
function scratchContext(width: number, height: number): OffscreenCanvasRenderingContext2D {
  const create = () => new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true, colorSpace: 'srgb' })!;
  // Do not keep a big canvas around: use a one-off.
  if (width * height > KEPT_SCRATCH_PIXELS) return create();
  scratch ??= create();
  const canvas = scratch.canvas;
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width; // resets the context state too
    canvas.height = height;
  }
  return scratch;
}

/**
 * Decode `source`, apply the manifest's resize policy and normalisation. Images larger than
 * `maxImagePixels` are first scaled down (aspect kept) so memory stays bounded; transparent pixels
 * are composited on the manifest's background.
 */
export async function decodeToTensor(source: ImageSourceMessage, input: ManifestInput, patchSize: number,
                                     limits: DecodeLimits): Promise<DecodedTensor> {
  const { image, width, height } = await decodeSource(source, limits);
  try {
    if (width === 0 || height === 0) throw new BagnetError('image-invalid', `The image is empty (${width}×${height})`);
    const { scale: downscale, width: baseWidth, height: baseHeight } = downscaleFor(width, height, limits.maxImagePixels);
    const plan = resizePlan(baseWidth, baseHeight, input.resize);
    if (plan.width * plan.height > limits.maxDecodePixels) {
      // A shorter-side policy on a very long image: the model input itself would not fit.
      throw new BagnetError('image-invalid', `The image is ${width}×${height}: resized for the model it would be `
        + `${plan.width}×${plan.height} (${megapixels(plan.width * plan.height)}), over the ${megapixels(limits.maxDecodePixels)} `
        + 'limit for decoding (configure maxDecodePixels)');
    }
    if (plan.width < patchSize || plan.height < patchSize) {
      throw new BagnetError('image-invalid',
        `The image is ${plan.width}×${plan.height} pixels after resizing, smaller than the model's ${patchSize}×${patchSize} patch`);
    }
    const tensor = (pixels: Uint8ClampedArray): DecodedTensor => ({
      data: pixelsToTensor(pixels, plan.width, plan.height, input),
      pixels,
      dims: [1, input.channels, plan.height, plan.width],
      imageWidth: width,
      imageHeight: height,
      plan,
      downscale,
    });
    if ('displayWidth' in image && image.displayWidth === plan.width && image.displayHeight === plan.height
        && plan.scaledWidth === plan.width && plan.scaledHeight === plan.height) {
      // Nothing to resize or crop: if opaque, the frame's own pixels, without a trip through a canvas.
      const rgba = new Uint8ClampedArray(plan.width * plan.height * 4);
      // (A browser that cannot convert the frame to RGBA takes the canvas path.)
      let opaque = await image.copyTo(rgba, { format: 'RGBA' }).then(() => true, () => false);
      for (let i = 3; i < rgba.length && opaque; i += 4) opaque = rgba[i] === 255;
      if (opaque) return tensor(rgba);
    }
    // (`VideoFrame` itself may not exist where WebCodecs does not.)
    const decodedWidth = 'displayWidth' in image ? image.displayWidth : image.width;
    const decodedHeight = 'displayHeight' in image ? image.displayHeight : image.height;
    // Transparent pixels show the manifest's background (source-over on an opaque fill), drawn 1:1:
    // a copy, the same in every browser.
    const context = scratchContext(decodedWidth, decodedHeight);
    const [r, g, b] = input.background;
    context.fillStyle = `rgb(${r}, ${g}, ${b})`;
    context.fillRect(0, 0, decodedWidth, decodedHeight);
    context.drawImage(drawable(image), 0, 0);
    const decoded = context.getImageData(0, 0, decodedWidth, decodedHeight).data;
    if (plan.width === decodedWidth && plan.height === decodedHeight && plan.scaledWidth === decodedWidth && plan.scaledHeight === decodedHeight) {
      return tensor(decoded);
    }
    // The crop window, mapped back to the decoded image's pixels (it may have been decoded smaller),
    // resized by our filter rather than the browser's (see core/resample.ts).
    const scaleX = plan.scaledWidth / decodedWidth;
    const scaleY = plan.scaledHeight / decodedHeight;
    const box = { x: plan.cropX / scaleX, y: plan.cropY / scaleY, width: plan.width / scaleX, height: plan.height / scaleY };
    return tensor(resizeBilinear(decoded, decodedWidth, decodedHeight, box, plan.width, plan.height));
  } finally {
    if (!(image instanceof ImageData)) image.close();
  }
}
