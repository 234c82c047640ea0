/**
 * The one resize filter of the library: a browser's `drawImage` filter is its own (Firefox's reduction
 * of a 128×96 image to 32×24 was on average 9/255 from any of PIL's, Chromium's 0.6/255 from an area
 * average), so the model input would depend on the browser. This is PIL's `Image.resize(size,
 * Image.BILINEAR, box)` (Pillow's Resample.c): a triangle filter widened by the reduction factor
 * (antialiased), a horizontal pass rounded to 8 bits, then a vertical pass, in 22-bit fixed point, so
 * a model trained on PIL-resized images sees the same pixels in every browser (to within 1/255).
 */

/** The part of the source image that becomes the output, in source pixels (fractions allowed). */
export interface SourceBox {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);

/** Per output pixel: the first source pixel and the fixed-point weights from there on. */
interface Coefficients {
  readonly first: Int32Array;
  readonly count: Int32Array;
  readonly weights: Float64Array;
  /** Weights per output pixel in `weights` (the largest `count`). */
  readonly stride: number;
}

function coefficients(inSize: number, start: number, length: number, outSize: number): Coefficients {
  const scale = length / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // the triangle's support is 1
  const stride = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * stride);
  const raw = new Float64Array(stride);
  for (let out = 0; out < outSize; out++) {
    const center = start + (out + 0.5) * scale;
    // (C's `(int)` truncates toward zero.)
    const min = Math.max(0, Math.trunc(center - support + 0.5));
    const max = Math.min(inSize, Math.trunc(center + support + 0.5)) - min;
    let total = 0;
    for (let i = 0; i < max; i++) {
      const x = Math.abs((i + min - center + 0.5) / filterScale);
      raw[i] = x < 1 ? 1 - x : 0;
      total += raw[i]!;
    }
    for (let i = 0; i < max; i++) {
      const w = total === 0 ? 0 : raw[i]! / total;
      weights[out * stride + i] = Math.trunc(w * ONE + (w < 0 ? -0.5 : 0.5));
    }
    first[out] = min;
    count[out] = Math.max(0, max);
  }
  return { first, count, weights, stride };
}

const clip8 = (sum: number) => {
  const value = Math.floor(sum / ONE);
  return value < 0 ? 0 : value > 255 ? 255 : value;
};

/**
 * `box` of the RGBA image `source` (`width`×`height`) resized to `outWidth`×`outHeight`, RGBA. Every
 * channel is filtered alike: give it opaque pixels (transparency composited first), as PIL resizes
 * premultiplied ones.
 */
export function resizeBilinear(source: Uint8ClampedArray, width: number, height: number, box: SourceBox,
                               outWidth: number, outHeight: number): Uint8ClampedArray<ArrayBuffer> {
  if (source.length !== width * height * 4) throw new RangeError(`resizeBilinear: ${source.length} bytes for ${width}×${height} RGBA`);
  if (!(outWidth > 0 && outHeight > 0 && box.width > 0 && box.height > 0)) throw new RangeError('resizeBilinear: empty size');
  const horizontal = coefficients(width, box.x, box.width, outWidth);
  const vertical = coefficients(height, box.y, box.height, outHeight);
  // Only the rows the vertical pass reads go through the horizontal one.
  const firstRow = vertical.first[0]!;
  const lastRow = vertical.first[outHeight - 1]! + vertical.count[outHeight - 1]!;
  const rows = lastRow - firstRow;
  const between = new Uint8ClampedArray(outWidth * rows * 4);
  for (let y = 0; y < rows; y++) {
    const rowStart = (y + firstRow) * width * 4;
    for (let x = 0; x < outWidth; x++) {
      const from = rowStart + horizontal.first[x]! * 4;
      const k = x * horizontal.stride;
      let r = HALF;
      let g = HALF;
      let b = HALF;
      let a = HALF;
      for (let i = 0, n = horizontal.count[x]!; i < n; i++) {
        const w = horizontal.weights[k + i]!;
        const p = from + i * 4;
        r += source[p]! * w;
        g += source[p + 1]! * w;
        b += source[p + 2]! * w;
        a += source[p + 3]! * w;
      }
      const o = (y * outWidth + x) * 4;
      between[o] = clip8(r);
      between[o + 1] = clip8(g);
      between[o + 2] = clip8(b);
      between[o + 3] = clip8(a);
    }
  }
  const out = new Uint8ClampedArray(outWidth * outHeight * 4);
  const rowBytes = outWidth * 4;
  for (let y = 0; y < outHeight; y++) {
    const k = y * vertical.stride;
    const from = (vertical.first[y]! - firstRow) * rowBytes;
    const n = vertical.count[y]!;
    for (let c = 0; c < rowBytes; c++) {
      let sum = HALF;
      for (let i = 0; i < n; i++) sum += between[from + i * rowBytes + c]! * vertical.weights[k + i]!;
      out[y * rowBytes + c] = clip8(sum);
    }
  }
  return out;
}
