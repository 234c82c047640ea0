/**
 * Preprocessing maths: how an image of any size becomes the model's normalised input tensor, as the
 * manifest prescribes. Pure functions over pixel arrays; drawing/decoding happens elsewhere.
 */
import type { ManifestInput, ResizePolicy } from './manifest.js';

/**
 * Where the source image lands: scale it to `scaledWidth`×`scaledHeight`, then keep the
 * `width`×`height` window whose top-left is (`cropX`, `cropY`) in scaled pixels.
 */
export interface ResizePlan {
  readonly scaledWidth: number;
  readonly scaledHeight: number;
  readonly cropX: number;
  readonly cropY: number;
  readonly width: number;
  readonly height: number;
}

export function resizePlan(width: number, height: number, policy: ResizePolicy): ResizePlan {
  if (!(width > 0 && height > 0)) throw new RangeError(`image size must be positive, got ${width}×${height}`);
  switch (policy.mode) {
    case 'none':
      return { scaledWidth: width, scaledHeight: height, cropX: 0, cropY: 0, width, height };
    case 'stretch':
      return { scaledWidth: policy.width, scaledHeight: policy.height, cropX: 0, cropY: 0, width: policy.width, height: policy.height };
    case 'shorter-side': {
      // As torchvision's Resize(size): the shorter side becomes `size`, the longer one is truncated.
      const short = Math.min(width, height);
      const long = Math.max(width, height);
      const scaledLong = Math.floor((policy.size * long) / short);
      const scaledWidth = width <= height ? policy.size : scaledLong;
      const scaledHeight = width <= height ? scaledLong : policy.size;
      if (policy.crop === undefined) return { scaledWidth, scaledHeight, cropX: 0, cropY: 0, width: scaledWidth, height: scaledHeight };
      // As torchvision's CenterCrop: int(round((size - crop) / 2)), Python rounding halves to even.
      return {
        scaledWidth,
        scaledHeight,
        cropX: roundHalfEven((scaledWidth - policy.crop) / 2),
        cropY: roundHalfEven((scaledHeight - policy.crop) / 2),
        width: policy.crop,
        height: policy.crop,
      };
    }
  }
}

function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff !== 0.5) return Math.round(x);
  return floor % 2 === 0 ? floor : floor + 1;
}

/** ITU-R BT.601 luma, the weights PIL's `convert('L')` uses. */
const LUMA = [0.299, 0.587, 0.114] as const;

/**
 * RGBA pixels (row-major, 4 bytes per pixel, as in `ImageData`) → float32 `[channels, height, width]`,
 * normalised as `(p / 255 - mean) / std`. Alpha is ignored (composite beforehand).
 */
export function pixelsToTensor(rgba: ArrayLike<number>, width: number, height: number, input: ManifestInput): Float32Array {
  const pixels = width * height;
  if (rgba.length !== pixels * 4) {
    throw new RangeError(`expected ${pixels * 4} RGBA bytes for ${width}×${height}, got ${rgba.length}`);
  }
  const out = new Float32Array(pixels * input.channels);
  if (input.channels === 1) {
    const mean = input.mean[0]!;
    const std = input.std[0]!;
    for (let i = 0; i < pixels; i++) {
      const r = rgba[4 * i]!, g = rgba[4 * i + 1]!, b = rgba[4 * i + 2]!;
      // Exact for gray pixels (r = g = b), which is what grayscale models usually receive.
      const gray = r === g && g === b ? r : LUMA[0] * r + LUMA[1] * g + LUMA[2] * b;
      out[i] = (gray / 255 - mean) / std;
    }
    return out;
  }
  for (let c = 0; c < 3; c++) {
    const mean = input.mean[c]!;
    const std = input.std[c]!;
    const plane = c * pixels;
    for (let i = 0; i < pixels; i++) out[plane + i] = (rgba[4 * i + c]! / 255 - mean) / std;
  }
  return out;
}
