/**
 * What users may pass as an image, and how each kind travels to the worker: URLs and blobs as they
 * are (the worker fetches and decodes), everything already in memory as a transferred copy.
 */
import { BagnetError } from '../core/errors.js';
import { downscaleFor, overDecodeLimit } from '../core/image-limits.js';
import type { ImageSourceMessage } from '../core/protocol.js';

export type ImageInput =
  | string
  | URL
  | Blob
  | ImageBitmap
  | ImageData
  | HTMLImageElement
  | HTMLCanvasElement
  | OffscreenCanvas
  | HTMLVideoElement;

export interface PreparedSource {
  readonly source: ImageSourceMessage;
  readonly transfer: Transferable[];
}

/** Resolve a user-supplied image URL; only http(s) and relative URLs are accepted. */
export function resolveImageUrl(url: string | URL): string {
  let resolved: URL;
  try {
    resolved = new URL(String(url), globalThis.location?.href);
  } catch (cause) {
    throw new BagnetError('image-load', `Not a valid image URL: ${String(url)}`, { cause });
  }
  if (resolved.protocol !== 'http:' && resolved.protocol !== 'https:') {
    throw new BagnetError('image-load', `Image URLs must be http(s) or relative, got ${resolved.protocol} `
      + '(pass a Blob, File or ImageBitmap through the image property instead)');
  }
  return resolved.href;
}

/** The pool's image limits (`configure()`), checked on the page before it copies an image it holds. */
export interface ImageLimits {
  readonly maxImagePixels: number;
  readonly maxDecodePixels: number;
}

/**
 * Whether the page may read `source`'s pixels (one pixel drawn and read back): a cross-origin image
 * without CORS, and a canvas it was drawn on, may be shown but not read, nor sent to the worker.
 */
function isReadable(source: CanvasImageSource): boolean {
  const context = typeof OffscreenCanvas === 'undefined' ? null : new OffscreenCanvas(1, 1).getContext('2d');
  try {
    context?.drawImage(source, 0, 0, 1, 1, 0, 0, 1, 1);
  } catch {
    return true; // nothing to draw (an empty canvas): createImageBitmap says what is wrong
  }
  try {
    context?.getImageData(0, 0, 1, 1);
    return true;
  } catch (error) {
    return !(error instanceof DOMException && error.name === 'SecurityError');
  }
}

/**
 * A copy of `source` (`width`×`height`, 0 when unknown) to transfer: refused over `maxDecodePixels`
 * before any copy is made, and made already scaled down when over `maxImagePixels`, so the page never
 * holds a full-size copy of a big image (the message then carries the image's own size).
 */
async function bitmapOf(source: CanvasImageSource | ImageData, width: number, height: number, what: string,
                        limits: ImageLimits): Promise<PreparedSource> {
  if (!(source instanceof ImageData) && !isReadable(source)) { // (only pages, which have ImageData, get here)
    throw new BagnetError('image-load', `The ${what}'s pixels cannot be read: it comes from another origin without CORS `
      + '(a tainted <img> or canvas). Serve it with Access-Control-Allow-Origin and load it with crossorigin="anonymous", '
      + 'or pass its URL instead');
  }
  const tooBig = overDecodeLimit(width, height, limits.maxDecodePixels);
  if (tooBig) throw new BagnetError('image-invalid', `The ${what} is ${tooBig}`);
  const target = downscaleFor(width, height, limits.maxImagePixels);
  try {
    if (target.scale === 1) {
      const bitmap = await createImageBitmap(source);
      return { source: { kind: 'bitmap', bitmap }, transfer: [bitmap] };
    }
    const bitmap = await createImageBitmap(source, {
      resizeWidth: target.width, resizeHeight: target.height, resizeQuality: 'high',
    });
    return { source: { kind: 'bitmap', bitmap, imageWidth: width, imageHeight: height }, transfer: [bitmap] };
  } catch (cause) {
    throw new BagnetError('image-invalid', `Could not read the ${what}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

export async function toSourceMessage(image: ImageInput, limits: ImageLimits): Promise<PreparedSource> {
  if (typeof image === 'string' || image instanceof URL) return { source: { kind: 'url', url: resolveImageUrl(image) }, transfer: [] };
  if (image instanceof Blob) return { source: { kind: 'blob', blob: image }, transfer: [] };
  if (typeof ImageData !== 'undefined' && image instanceof ImageData) {
    if (image.width * image.height > limits.maxImagePixels) return bitmapOf(image, image.width, image.height, 'ImageData', limits);
    const tooBig = overDecodeLimit(image.width, image.height, limits.maxDecodePixels);
    if (tooBig) throw new BagnetError('image-invalid', `The ImageData is ${tooBig}`);
    const data = new Uint8ClampedArray(image.data); // a copy: the caller keeps theirs
    return { source: { kind: 'pixels', width: image.width, height: image.height, data }, transfer: [data.buffer] };
  }
  if (typeof ImageBitmap !== 'undefined' && image instanceof ImageBitmap) return bitmapOf(image, image.width, image.height, 'ImageBitmap', limits);
  if (typeof HTMLImageElement !== 'undefined' && image instanceof HTMLImageElement) {
    try {
      await image.decode();
    } catch (cause) {
      throw new BagnetError('image-load', `The <img> could not be loaded or decoded (${image.currentSrc || image.src || 'no src'})`, { cause });
    }
    return bitmapOf(image, image.naturalWidth, image.naturalHeight, '<img>', limits);
  }
  if (typeof HTMLVideoElement !== 'undefined' && image instanceof HTMLVideoElement) {
    return bitmapOf(image, image.videoWidth, image.videoHeight, '<video> frame', limits);
  }
  if ((typeof HTMLCanvasElement !== 'undefined' && image instanceof HTMLCanvasElement)
      || (typeof OffscreenCanvas !== 'undefined' && image instanceof OffscreenCanvas)) {
    return bitmapOf(image, image.width, image.height, 'canvas', limits);
  }
  throw new BagnetError('image-invalid', `Unsupported image type: ${Object.prototype.toString.call(image)} `
    + '(use a URL, Blob/File, ImageBitmap, ImageData, <img>, <canvas>, OffscreenCanvas or <video>)');
}
