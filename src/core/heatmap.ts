/**
 * Heatmap maths on one class's evidence map: the authors' symmetric scale at a percentile of
 * |evidence|, sign filters, thresholding (appendix A.1), colouring, and image edges. Pure functions.
 */
import { COLORMAP_LEVELS, colormapLut, isDiverging, type ColormapName } from './colormap.js';
import type { ClassificationResult, Evidence } from './result.js';
import type { PixelBox } from './geometry.js';

export type SignFilter = 'all' | 'positive' | 'negative';
export type ThresholdMode = 'clip' | 'binary';

/** How a map is coloured unless told otherwise: the authors' RdBu_r, on ±(the 99th percentile of |evidence|). */
export const HEATMAP_DEFAULTS: { readonly colormap: ColormapName; readonly percentile: number } = Object.freeze({ colormap: 'rdbu', percentile: 99 });

/** One class's evidence, `[rows, cols]` row-major. */
export function classMap(evidence: Pick<Evidence, 'rows' | 'cols' | 'classes' | 'data'>, classIndex: number): Float32Array {
  const { rows, cols, classes, data } = evidence;
  if (!Number.isInteger(classIndex) || classIndex < 0 || classIndex >= classes) {
    throw new RangeError(`class ${classIndex} is out of range (the model has ${classes} classes)`);
  }
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < out.length; i++) out[i] = data[i * classes + classIndex]!;
  return out;
}

/** The p-th percentile (0-100) of |values|, interpolated linearly like numpy's default. */
export function absPercentile(values: ArrayLike<number>, p: number): number {
  if (values.length === 0) return 0;
  const sorted = Float64Array.from(values, Math.abs).sort();
  const rank = (Math.min(100, Math.max(0, p)) / 100) * (sorted.length - 1);
  const lower = Math.floor(rank);
  const upper = Math.min(lower + 1, sorted.length - 1);
  return sorted[lower]! + (sorted[upper]! - sorted[lower]!) * (rank - lower);
}

/**
 * The colour scale: ±`scale` when given (to compare images on one scale), else the `percentile` of
 * |values| (the authors use 99). Never 0, so an all-zero map still draws.
 */
export function evidenceScale(values: ArrayLike<number>, options: { percentile?: number; scale?: number } = {}): number {
  const chosen = options.scale !== undefined && options.scale > 0 ? options.scale : absPercentile(values, options.percentile ?? 99);
  return chosen > 0 && Number.isFinite(chosen) ? chosen : 1;
}

/** Keep positive or negative evidence only (the rest becomes 0). */
export function filterSign(values: ArrayLike<number>, sign: SignFilter): Float32Array {
  const out = Float32Array.from(values);
  if (sign === 'all') return out;
  for (let i = 0; i < out.length; i++) {
    if (sign === 'positive' ? out[i]! < 0 : out[i]! > 0) out[i] = 0;
  }
  return out;
}

/**
 * Appendix A.1's thresholding: `clip` zeroes evidence whose magnitude is below `threshold`;
 * `binary` turns the map into ±1 where the magnitude reaches it (sign kept) and 0 elsewhere.
 */
export function applyThreshold(values: ArrayLike<number>, threshold: number, mode: ThresholdMode): Float32Array {
  const out = Float32Array.from(values);
  for (let i = 0; i < out.length; i++) {
    const v = out[i]!;
    if (Math.abs(v) < threshold) out[i] = 0;
    else if (mode === 'binary') out[i] = Math.sign(v);
  }
  return out;
}

export interface ColorizeOptions {
  readonly scale: number;
  readonly colormap: ColormapName;
  /** 0-1, multiplies the alpha. */
  readonly opacity: number;
  /** `uniform`: every pixel at `opacity`; `magnitude`: alpha grows with |value| (zero is transparent). */
  readonly alpha: 'uniform' | 'magnitude';
}

/**
 * Values → RGBA pixels. Diverging maps place [-scale, scale] on [0, 1] (0 at the centre);
 * sequential ones place [0, scale] of |value| on [0, 1].
 */
export function colorize(values: ArrayLike<number>, options: ColorizeOptions): Uint8ClampedArray {
  const lut = colormapLut(options.colormap);
  const diverging = isDiverging(options.colormap);
  const out = new Uint8ClampedArray(values.length * 4);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    const t = diverging ? 0.5 + v / (2 * options.scale) : Math.abs(v) / options.scale;
    const level = Math.round(Math.min(1, Math.max(0, t)) * (COLORMAP_LEVELS - 1));
    out[i * 4] = lut[level * 3]!;
    out[i * 4 + 1] = lut[level * 3 + 1]!;
    out[i * 4 + 2] = lut[level * 3 + 2]!;
    const strength = options.alpha === 'uniform' ? 1 : Math.min(1, Math.abs(v) / options.scale);
    out[i * 4 + 3] = Math.round(255 * options.opacity * strength);
  }
  return out;
}

export interface PaintOptions {
  readonly sign: SignFilter;
  /** 0 = off. */
  readonly threshold: number;
  readonly thresholdMode: ThresholdMode;
  readonly percentile: number;
  /** A fixed ±scale when > 0. */
  readonly scale: number;
  readonly colormap: ColormapName;
  readonly opacity: number;
  readonly alpha: 'uniform' | 'magnitude';
}

/**
 * A map (NaN = nothing drawn) → RGBA pixels, with the sign filter, threshold and symmetric scale
 * applied; returns the scale used (±scale spans the colormap).
 */
export function paintEvidence(map: ArrayLike<number>, options: PaintOptions): { rgba: Uint8ClampedArray; scale: number } {
  let values = filterSign(map, options.sign);
  if (options.threshold > 0) values = applyThreshold(values, options.threshold, options.thresholdMode);
  const binary = options.threshold > 0 && options.thresholdMode === 'binary';
  const scale = binary ? 1 : evidenceScale(values.filter((v) => !Number.isNaN(v)), { percentile: options.percentile, scale: options.scale });
  const rgba = colorize(values, { scale, colormap: options.colormap, opacity: options.opacity, alpha: options.alpha });
  for (let i = 0; i < values.length; i++) if (Number.isNaN(values[i]!)) rgba[i * 4 + 3] = 0;
  return { rgba, scale };
}

/**
 * Edge strength of an RGBA image (Sobel on BT.601 luma), normalised to [0, 1] by its maximum:
 * the outline the authors draw over their heatmaps.
 */
export function edgeMap(rgba: ArrayLike<number>, width: number, height: number): Float32Array {
  const gray = new Float32Array(width * height);
  for (let i = 0; i < gray.length; i++) gray[i] = 0.299 * rgba[4 * i]! + 0.587 * rgba[4 * i + 1]! + 0.114 * rgba[4 * i + 2]!;
  const at = (x: number, y: number) => gray[Math.min(height - 1, Math.max(0, y)) * width + Math.min(width - 1, Math.max(0, x))]!;
  const out = new Float32Array(width * height);
  let max = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const gx = at(x + 1, y - 1) + 2 * at(x + 1, y) + at(x + 1, y + 1) - at(x - 1, y - 1) - 2 * at(x - 1, y) - at(x - 1, y + 1);
      const gy = at(x - 1, y + 1) + 2 * at(x, y + 1) + at(x + 1, y + 1) - at(x - 1, y - 1) - 2 * at(x, y - 1) - at(x + 1, y - 1);
      const magnitude = Math.hypot(gx, gy);
      out[y * width + x] = magnitude;
      if (magnitude > max) max = magnitude;
    }
  }
  if (max > 0) for (let i = 0; i < out.length; i++) out[i]! /= max;
  return out;
}

/** Darken `rgba` where `image` (RGBA, same size) has edges, as the authors overlay edges at alpha 0.25. */
export function overlayEdges(rgba: Uint8ClampedArray, image: ArrayLike<number>, width: number, height: number): void {
  const edges = edgeMap(image, width, height);
  for (let i = 0; i < edges.length; i++) {
    const k = 1 - 0.25 * Math.min(1, edges[i]! * 2);
    rgba[i * 4] = rgba[i * 4]! * k;
    rgba[i * 4 + 1] = rgba[i * 4 + 1]! * k;
    rgba[i * 4 + 2] = rgba[i * 4 + 2]! * k;
  }
}

/**
 * Where an evidence cell is drawn on the model input, in input pixels: a stride×stride block whose
 * top-left pixel is its patch's centre. Exactly where the exact map's samples of the same patches
 * sit at each refinement level, so coarse and exact maps line up pixel for pixel.
 */
export function cellDrawBox(row: number, col: number, geometry: { patchSize: number; stride: number; offset: number }) {
  const centre = geometry.offset + (geometry.patchSize - 1) / 2;
  return { x: centre + geometry.stride * col, y: centre + geometry.stride * row, width: geometry.stride, height: geometry.stride };
}

/**
 * The selection drawn over a map (RGBA, `width × height` model-input pixels): grey hatching on the
 * patches out of the bag: the selected ones when they are removed, every other one when they are kept alone.
 */
export function selectionRgba(evidence: { rows: number; cols: number; patchSize: number; stride: number; offset: number },
                              selection: readonly number[], ablation: 'remove' | 'keep', width: number, height: number): Uint8ClampedArray {
  const rgba = new Uint8ClampedArray(width * height * 4);
  const selected = new Set(selection);
  for (let row = 0; row < evidence.rows; row++) {
    for (let col = 0; col < evidence.cols; col++) {
      if (selected.has(row * evidence.cols + col) !== (ablation === 'remove')) continue;
      const box = cellDrawBox(row, col, evidence);
      for (let y = box.y; y < Math.min(height, box.y + box.height); y++) {
        for (let x = box.x; x < Math.min(width, box.x + box.width); x++) {
          rgba.set((x + y) % 2 === 0 ? [20, 20, 20, 200] : [240, 240, 240, 160], (y * width + x) * 4);
        }
      }
    }
  }
  return rgba;
}

/** The cells (`row * cols + col`) whose drawn block (`cellDrawBox`, as the map shows them) meets `box`. */
export function cellsMeeting(box: PixelBox, evidence: { rows: number; cols: number; patchSize: number; stride: number; offset: number }): number[] {
  const cells: number[] = [];
  for (let row = 0; row < evidence.rows; row++) {
    for (let col = 0; col < evidence.cols; col++) {
      const b = cellDrawBox(row, col, evidence);
      if (b.x < box.x + box.width && box.x < b.x + b.width && b.y < box.y + box.height && box.y < b.y + b.height) cells.push(row * evidence.cols + col);
    }
  }
  return cells;
}

/**
 * One class of the stride map spread over the model input's pixels: each cell a stride×stride block
 * from its patch's centre (NaN where no cell is drawn, near the borders).
 */
export function fastMap(result: Pick<ClassificationResult, 'evidence' | 'input'>, index: number): { values: Float32Array; width: number; height: number } {
  return spreadCells(result, classMap(result.evidence, index));
}

/** Per-cell values (`[rows, cols]`, e.g. a class or a contrast of two) spread as `fastMap` spreads a class. */
export function spreadCells(result: Pick<ClassificationResult, 'evidence' | 'input'>, cells: ArrayLike<number>): { values: Float32Array; width: number; height: number } {
  const { evidence, input } = result;
  const width = input.plan.width;
  const height = input.plan.height;
  const values = new Float32Array(width * height).fill(Number.NaN);
  for (let row = 0; row < evidence.rows; row++) {
    for (let col = 0; col < evidence.cols; col++) {
      const box = cellDrawBox(row, col, evidence);
      const value = cells[row * evidence.cols + col]!;
      for (let y = box.y; y < Math.min(height, box.y + box.height); y++) {
        for (let x = box.x; x < Math.min(width, box.x + box.width); x++) values[y * width + x] = value;
      }
    }
  }
  return { values, width, height };
}
