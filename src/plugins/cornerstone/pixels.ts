/**
 * The pixel pipeline from stored DICOM values to the 8-bit image a BagNet sees, per DICOM PS3.3:
 *
 * 1. Modality LUT (C.11.1): `m = stored · RescaleSlope + RescaleIntercept` (e.g. CT Hounsfield units).
 * 2. VOI LUT, LINEAR function (C.11.2.1.2.1) with window centre c and width w:
 *    `m ≤ c - 0.5 - (w-1)/2 → 0`, `m > c - 0.5 + (w-1)/2 → 1`, else `((m - (c - 0.5)) / (w - 1) + 0.5)`.
 * 3. MONOCHROME1 (white = low values): inverted after the VOI, so the model always sees
 *    MONOCHROME2 (black = low).
 * 4. To 8 bits: `round(255 · v)`, the same gray in R, G and B (a grayscale model takes it back as
 *    one channel; an RGB model gets three equal ones).
 *
 * Pure functions: no Cornerstone import, testable anywhere.
 */

export interface DicomFrame {
  readonly rows: number;
  readonly columns: number;
  /** Stored values, `rows × columns × samplesPerPixel`, already decoded (signedness applied). */
  readonly pixelData: ArrayLike<number>;
  readonly samplesPerPixel: number;
  readonly photometricInterpretation: string;
  readonly rescaleSlope: number;
  readonly rescaleIntercept: number;
}

export interface VoiWindow {
  readonly center: number;
  readonly width: number;
}

export class PixelPipelineError extends Error {
  override readonly name = 'PixelPipelineError';
}

const GRAYSCALE = new Set(['MONOCHROME1', 'MONOCHROME2']);
const COLOR = new Set(['RGB', 'YBR_FULL', 'YBR_FULL_422']);

/** Photometric interpretations the pipeline accepts (color ones must already be decoded to RGB). */
export function checkPhotometric(frame: Pick<DicomFrame, 'photometricInterpretation' | 'samplesPerPixel'>): void {
  const pi = frame.photometricInterpretation.trim().toUpperCase();
  if (GRAYSCALE.has(pi)) {
    if (frame.samplesPerPixel !== 1) throw new PixelPipelineError(`${pi} needs 1 sample per pixel, the image has ${frame.samplesPerPixel}`);
    return;
  }
  if (COLOR.has(pi) && (frame.samplesPerPixel === 3 || frame.samplesPerPixel === 4)) return;
  throw new PixelPipelineError(`Unsupported photometric interpretation "${frame.photometricInterpretation}" `
    + `(${frame.samplesPerPixel} samples per pixel): use MONOCHROME1, MONOCHROME2 or RGB`);
}

/** DICOM's LINEAR VOI function, to [0, 1]. */
export function voiLinear(value: number, { center, width }: VoiWindow): number {
  if (width < 1) throw new PixelPipelineError(`Window width must be at least 1, got ${width}`);
  const lower = center - 0.5 - (width - 1) / 2;
  const upper = center - 0.5 + (width - 1) / 2;
  if (value <= lower) return 0;
  if (value > upper) return 1;
  return width === 1 ? 1 : (value - (center - 0.5)) / (width - 1) + 0.5;
}

/** The window that maps the modality values [lower, upper] exactly onto [0, 1] (a viewer's VOI range). */
export function windowForRange(lower: number, upper: number): VoiWindow {
  // LINEAR maps [c - 0.5 - (w-1)/2, c - 0.5 + (w-1)/2] to [0, 1].
  const width = Math.max(1, upper - lower + 1);
  return { center: lower + 0.5 + (width - 1) / 2, width };
}

/** The window to use when the dataset has none: the full range of modality values. */
export function fullRangeWindow(frame: DicomFrame): VoiWindow {
  let min = Infinity;
  let max = -Infinity;
  const { pixelData, rescaleSlope: slope, rescaleIntercept: intercept } = frame;
  for (let i = 0; i < pixelData.length; i++) {
    const m = pixelData[i]! * slope + intercept;
    if (m < min) min = m;
    if (m > max) max = m;
  }
  if (!Number.isFinite(min)) throw new PixelPipelineError('The image has no pixels');
  return windowForRange(min, max);
}

/**
 * Stored values → RGBA (for the inference pool): modality LUT, VOI, MONOCHROME1 inversion (unless a
 * model's manifest says it was trained without it), 8 bits.
 */
export function frameToRgba(frame: DicomFrame, voi: VoiWindow, { invertMonochrome1 = true } = {}): { width: number; height: number; data: Uint8ClampedArray } {
  checkPhotometric(frame);
  const { rows, columns, pixelData, rescaleSlope: slope, rescaleIntercept: intercept } = frame;
  const pixels = rows * columns;
  if (pixelData.length < pixels * frame.samplesPerPixel) {
    throw new PixelPipelineError(`Pixel data has ${pixelData.length} values, expected ${pixels * frame.samplesPerPixel}`);
  }
  const data = new Uint8ClampedArray(pixels * 4);
  const pi = frame.photometricInterpretation.trim().toUpperCase();
  if (pi === 'MONOCHROME1' || pi === 'MONOCHROME2') {
    const invert = pi === 'MONOCHROME1' && invertMonochrome1;
    for (let i = 0; i < pixels; i++) {
      const v = voiLinear(pixelData[i]! * slope + intercept, voi);
      const gray = Math.round(255 * (invert ? 1 - v : v));
      data[4 * i] = gray;
      data[4 * i + 1] = gray;
      data[4 * i + 2] = gray;
      data[4 * i + 3] = 255;
    }
  } else {
    // Colour images come decoded to interleaved 8-bit RGB or RGBA (the loader converts YBR); no VOI.
    const step = frame.samplesPerPixel;
    for (let i = 0; i < pixels; i++) {
      data[4 * i] = pixelData[step * i]!;
      data[4 * i + 1] = pixelData[step * i + 1]!;
      data[4 * i + 2] = pixelData[step * i + 2]!;
      data[4 * i + 3] = 255;
    }
  }
  return { width: columns, height: rows, data };
}
