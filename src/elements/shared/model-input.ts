/**
 * Draws the image as the model saw it (resized and cropped per the result's plan) into a canvas, so
 * maps in model-input pixels line up with it exactly.
 */
import type { ClassificationResult } from '../../core/result.js';
import type { ImageInput } from '../../pool/image-input.js';

async function bitmapOf(input: ImageInput): Promise<ImageBitmap> {
  if (typeof input === 'string' || input instanceof URL) {
    const response = await fetch(String(input));
    return createImageBitmap(await response.blob(), { imageOrientation: 'from-image' });
  }
  if (input instanceof HTMLImageElement) await input.decode();
  return createImageBitmap(input as ImageBitmapSource);
}

export async function drawModelInput(input: ImageInput, info: ClassificationResult['input'], canvas: HTMLCanvasElement): Promise<void> {
  const bitmap = await bitmapOf(input);
  try {
    const { plan } = info;
    canvas.width = plan.width;
    canvas.height = plan.height;
    const context = canvas.getContext('2d', { willReadFrequently: true })!;
    context.imageSmoothingQuality = 'high';
    const scaleX = plan.scaledWidth / bitmap.width;
    const scaleY = plan.scaledHeight / bitmap.height;
    context.drawImage(bitmap, plan.cropX / scaleX, plan.cropY / scaleY, plan.width / scaleX, plan.height / scaleY,
      0, 0, plan.width, plan.height);
  } finally {
    bitmap.close();
  }
}
