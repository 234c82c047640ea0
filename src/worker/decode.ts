/**
 * Image decoding and preprocessing off the main thread: any source → the model's input tensor, as
 * the manifest prescribes (resize policy, channels, normalisation).
 */
import { BagnetError } from '../core/errors.js';
import type { ManifestInput } from '../core/manifest.js';
import { pixelsToTensor, resizePlan, type ResizePlan } from '../core/preprocess.js';
import type { ImageSourceMessage } from '../core/protocol.js';

export interface DecodedTensor {
  readonly data: Float32Array;
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
  return response.blob();
}

async function toBitmap(source: ImageSourceMessage): Promise<ImageBitmap | ImageData> {
  switch (source.kind) {
    case 'bitmap':
      return source.bitmap;
    case 'pixels':
      if (source.data.length !== source.width * source.height * 4) {
        throw new BagnetError('image-invalid', `Pixel data has ${source.data.length} bytes, expected ${source.width}×${source.height}×4`);
      }
      return new ImageData(source.data as Uint8ClampedArray<ArrayBuffer>, source.width, source.height);
    case 'url':
    case 'blob': {
      const blob = source.kind === 'url' ? await fetchImage(source.url) : source.blob;
      try {
        return await createImageBitmap(blob, DECODE_OPTIONS);
      } catch (cause) {
        const what = source.kind === 'url' ? source.url : `the ${blob.type || 'untyped'} blob of ${blob.size} bytes`;
        throw new BagnetError('image-invalid', `Could not decode ${what} as an image`, { cause });
      }
    }
  }
}

function drawable(image: ImageBitmap | ImageData): CanvasImageSource {
  if (image instanceof ImageData) {
    const canvas = new OffscreenCanvas(image.width, image.height);
    canvas.getContext('2d')!.putImageData(image, 0, 0);
    return canvas;
  }
  return image;
}

let scratch: OffscreenCanvasRenderingContext2D | null = null;

/** One reusable CPU-backed canvas: creating a 2D context per image costs more than drawing it. */
function scratchContext(width: number, height: number): OffscreenCanvasRenderingContext2D {
  if (!scratch) scratch = new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true, colorSpace: 'srgb' })!;
  const canvas = scratch.canvas;
  if (canvas.width !== width || canvas.height !== height) {
    if (width * height > 4096 * 4096) {
      // Do not keep a huge canvas around: use a one-off.
      return new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true, colorSpace: 'srgb' })!;
    }
    canvas.width = width; // resets the context state too
    canvas.height = height;
  }
  return scratch;
}

/**
 * Decode `source`, apply the manifest's resize policy and normalisation. Images larger than
 * `maxPixels` are first scaled down (aspect kept) so memory stays bounded.
 */
export async function decodeToTensor(source: ImageSourceMessage, input: ManifestInput, patchSize: number,
                                     maxPixels: number): Promise<DecodedTensor> {
  const image = await toBitmap(source);
  try {
    const { width, height } = image;
    if (width === 0 || height === 0) throw new BagnetError('image-invalid', `The image is empty (${width}×${height})`);
    const downscale = width * height > maxPixels ? Math.sqrt((width * height) / maxPixels) : 1;
    const baseWidth = Math.max(1, Math.round(width / downscale));
    const baseHeight = Math.max(1, Math.round(height / downscale));
    const plan = resizePlan(baseWidth, baseHeight, input.resize);
    if (plan.width < patchSize || plan.height < patchSize) {
      throw new BagnetError('image-invalid',
        `The image is ${plan.width}×${plan.height} pixels after resizing, smaller than the model's ${patchSize}×${patchSize} patch`);
    }
    const context = scratchContext(plan.width, plan.height);
    context.clearRect(0, 0, plan.width, plan.height);
    context.imageSmoothingEnabled = true;
    context.imageSmoothingQuality = 'high';
    // The crop window, mapped back to source pixels.
    const scaleX = plan.scaledWidth / width;
    const scaleY = plan.scaledHeight / height;
    context.drawImage(drawable(image), plan.cropX / scaleX, plan.cropY / scaleY, plan.width / scaleX, plan.height / scaleY,
      0, 0, plan.width, plan.height);
    const pixels = context.getImageData(0, 0, plan.width, plan.height);
    return {
      data: pixelsToTensor(pixels.data, plan.width, plan.height, input),
      dims: [1, input.channels, plan.height, plan.width],
      imageWidth: width,
      imageHeight: height,
      plan,
      downscale,
    };
  } finally {
    if (!(image instanceof ImageData)) image.close();
  }
}
