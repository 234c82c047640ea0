/**
 * The image limits' maths, shared by the page (which checks and scales down the images it holds
 * before sending them) and the worker (which does the same for files, from their headers): both
 * must refuse the same images and agree on the size an image is decoded at.
 */

/**
 * The size an image of `width`×`height` is decoded at to fit `maxImagePixels` (aspect kept), and
 * the scale from it back to the image: the page (scaling before sending) and the worker agree.
 */
export function downscaleFor(width: number, height: number, maxImagePixels: number): { scale: number; width: number; height: number } {
  if (width * height <= maxImagePixels) return { scale: 1, width, height };
  const scale = Math.sqrt((width * height) / maxImagePixels);
  return { scale, width: Math.max(1, Math.round(width / scale)), height: Math.max(1, Math.round(height / scale)) };
}

export const megapixels = (pixels: number): string => `${(pixels / 1e6).toFixed(1)} megapixels`;

/**
 * Why an image of this size is not decoded (its pixels might not fit in memory), or null: "W×H (N
 * megapixels), over…". `decodePixels`: what the decoder works on, when more than what shows.
 */
export function overDecodeLimit(width: number, height: number, maxDecodePixels: number, decodePixels = width * height): string | null {
  if (decodePixels <= maxDecodePixels) return null;
  const decoded = decodePixels > width * height ? `, decoded from ${megapixels(decodePixels)}` : '';
  return `${width}×${height} (${megapixels(width * height)}${decoded}), over the ${megapixels(maxDecodePixels)} limit `
    + 'for decoding (configure maxDecodePixels)';
}
