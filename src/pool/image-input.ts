/**
 * What users may pass as an image, and how each kind travels to the worker: URLs and blobs as they
 * are (the worker fetches and decodes), everything already in memory as a transferred copy.
 */
import { BagnetError } from '../core/errors.js';
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

async function bitmapOf(source: ImageBitmapSource, what: string): Promise<PreparedSource> {
  try {
    const bitmap = await createImageBitmap(source);
    return { source: { kind: 'bitmap', bitmap }, transfer: [bitmap] };
  } catch (cause) {
    throw new BagnetError('image-invalid', `Could not read the ${what}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

export async function toSourceMessage(image: ImageInput): Promise<PreparedSource> {
  if (typeof image === 'string' || image instanceof URL) return { source: { kind: 'url', url: resolveImageUrl(image) }, transfer: [] };
  if (image instanceof Blob) return { source: { kind: 'blob', blob: image }, transfer: [] };
  if (typeof ImageData !== 'undefined' && image instanceof ImageData) {
    const data = new Uint8ClampedArray(image.data); // a copy: the caller keeps theirs
    return { source: { kind: 'pixels', width: image.width, height: image.height, data }, transfer: [data.buffer] };
  }
  if (typeof ImageBitmap !== 'undefined' && image instanceof ImageBitmap) return bitmapOf(image, 'ImageBitmap');
  if (typeof HTMLImageElement !== 'undefined' && image instanceof HTMLImageElement) {
    try {
      await image.decode();
    } catch (cause) {
      throw new BagnetError('image-load', `The <img> could not be loaded or decoded (${image.currentSrc || image.src || 'no src'})`, { cause });
    }
    return bitmapOf(image, '<img>');
  }
  if (typeof HTMLVideoElement !== 'undefined' && image instanceof HTMLVideoElement) return bitmapOf(image, '<video> frame');
  if ((typeof HTMLCanvasElement !== 'undefined' && image instanceof HTMLCanvasElement)
      || (typeof OffscreenCanvas !== 'undefined' && image instanceof OffscreenCanvas)) {
    return bitmapOf(image, 'canvas');
  }
  throw new BagnetError('image-invalid', `Unsupported image type: ${Object.prototype.toString.call(image)} `
    + '(use a URL, Blob/File, ImageBitmap, ImageData, <img>, <canvas>, OffscreenCanvas or <video>)');
}
