/**
 * Pixel edits of the model input, exactly (../shared/DESIGN.md, "What-if maths"): cell (r, c) sees
 * input rows [s·r + o, s·r + o + q), so an edit of a box changes only the cells whose window meets it;
 * the network runs on the crop covering those windows (aligned to the stride) and the cells are
 * spliced into the previous map. The exact map's pixels change where their centred patch meets the
 * edit. Pure functions, used by the what-if code that loads on first use (pool/rescore.ts, the heatmap).
 */
import type { PixelBox } from './geometry.js';

/** A run of evidence cells: rows [row, row + rows) × cols [col, col + cols). */
export interface CellBlock {
  readonly row: number;
  readonly col: number;
  readonly rows: number;
  readonly cols: number;
}

export interface EditPlan {
  /** The cells whose q×q window meets the edit: the only ones that change. */
  readonly cells: CellBlock;
  /**
   * The input pixels the network runs on to compute them: from cell (row, col)'s window start
   * (a multiple of the stride) to the last cell's window end, plus stride − 1 pixels where the
   * image has them (so the network's own grid never ends before the last cell).
   */
  readonly crop: PixelBox;
}

/** Clamp `box` to a `width`×`height` image; null when nothing of it is inside. */
export function clampBox(box: PixelBox, width: number, height: number): PixelBox | null {
  const x0 = Math.max(0, Math.floor(box.x));
  const y0 = Math.max(0, Math.floor(box.y));
  const x1 = Math.min(width, Math.ceil(box.x + box.width));
  const y1 = Math.min(height, Math.ceil(box.y + box.height));
  return x1 > x0 && y1 > y0 ? { x: x0, y: y0, width: x1 - x0, height: y1 - y0 } : null;
}

/**
 * Which cells an edit of the pixels in `edit` changes, and the crop that recomputes them: cell
 * (r, c) sees rows [s·r + o, s·r + o + q), so the rows r with s·r + o < y1 and s·r + o + q > y0
 * (likewise columns). Null when the edit meets no cell's window (pixels past the last cell).
 */
export function editPlan(edit: PixelBox, grid: { rows: number; cols: number },
                         geometry: { patchSize: number; stride: number; offset: number },
                         image: { width: number; height: number }): EditPlan | null {
  const box = clampBox(edit, image.width, image.height);
  if (!box) return null;
  const { patchSize: q, stride: s, offset: o } = geometry;
  const span = (from: number, to: number, count: number): [number, number] | null => {
    const first = Math.max(0, Math.floor((from - o - q) / s) + 1);
    const last = Math.min(count - 1, Math.floor((to - 1 - o) / s));
    return first <= last ? [first, last] : null;
  };
  const rows = span(box.y, box.y + box.height, grid.rows);
  const cols = span(box.x, box.x + box.width, grid.cols);
  if (!rows || !cols) return null;
  const cropAlong = ([first, last]: [number, number], size: number) => {
    const start = s * first;
    return [start, Math.min(size, s * last + o + q + s - 1) - start] as const;
  };
  const [y, height] = cropAlong(rows, image.height);
  const [x, width] = cropAlong(cols, image.width);
  return {
    cells: { row: rows[0], col: cols[0], rows: rows[1] - rows[0] + 1, cols: cols[1] - cols[0] + 1 },
    crop: { x, y, width, height },
  };
}

export interface ExactEditPlan {
  /** The exact map's pixels that change: those whose centred q×q patch meets the edit. */
  readonly pixels: PixelBox;
  /**
   * The input pixels their patches see (`pixels` grown by (q − 1)/2, within the image). The exact map
   * of this crop, zero-padded as the reference pads the whole image, holds the new values of
   * `pixels`: their patches lie inside the crop or reach past the image's own edge.
   */
  readonly crop: PixelBox;
}

/** The exact map's share of an edit (null when the edit is outside the image). */
export function exactEditPlan(edit: PixelBox, patchSize: number, image: { width: number; height: number }): ExactEditPlan | null {
  const box = clampBox(edit, image.width, image.height);
  if (!box) return null;
  const half = (patchSize - 1) / 2;
  const grow = (b: PixelBox, by: number) => clampBox({ x: b.x - by, y: b.y - by, width: b.width + 2 * by, height: b.height + 2 * by }, image.width, image.height)!;
  const pixels = grow(box, half);
  return { pixels, crop: grow(pixels, half) };
}

/** Copy the `box` of a `width`-wide RGBA image (4 bytes a pixel). */
export function cropPixels(rgba: ArrayLike<number>, width: number, box: PixelBox): Uint8ClampedArray {
  const out = new Uint8ClampedArray(box.width * box.height * 4);
  for (let y = 0; y < box.height; y++) {
    const from = ((box.y + y) * width + box.x) * 4;
    for (let i = 0; i < box.width * 4; i++) out[y * box.width * 4 + i] = rgba[from + i]!;
  }
  return out;
}

/** Write `pixels` (the RGBA of `box`) into a `width`-wide RGBA image, in place. */
export function pastePixels(rgba: Uint8ClampedArray, width: number, box: PixelBox, pixels: ArrayLike<number>): void {
  for (let y = 0; y < box.height; y++) {
    const to = ((box.y + y) * width + box.x) * 4;
    for (let i = 0; i < box.width * 4; i++) rgba[to + i] = pixels[y * box.width * 4 + i]!;
  }
}

/** A pixel edit of the model input: the new RGBA of the pixels in a box (4 bytes a pixel, row-major). */
export interface PixelEdit {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  readonly data: Uint8ClampedArray;
}

/**
 * How an edited region is filled: a colour (e.g. the manifest's background), the image's mean
 * colour, a box blur of the image itself (`radius` pixels), or another image's pixels (its RGBA at
 * the model input's size, pasted at the same place).
 */
export type EditFill =
  | { readonly kind: 'color'; readonly rgb: readonly [number, number, number] }
  | { readonly kind: 'mean' }
  | { readonly kind: 'blur'; readonly radius: number }
  | { readonly kind: 'image'; readonly pixels: { readonly data: ArrayLike<number>; readonly width: number; readonly height: number } };

/** RGBA pixels with their size (an `ImageData` will do). */
export interface RgbaImage {
  readonly data: ArrayLike<number>;
  readonly width: number;
  readonly height: number;
}

/**
 * The edit that fills `box` of `image` with `fill`. With a `mask` (one byte per pixel of the box,
 * non-zero = painted, as a brush leaves it) only the painted pixels change. Opaque: the model input
 * is composited already.
 */
export function makeEdit(image: RgbaImage, box: PixelBox, fill: EditFill, mask?: ArrayLike<number>): PixelEdit {
  const area = clampBox(box, image.width, image.height);
  if (!area) throw new RangeError(`the edit box ${box.width}×${box.height} at (${box.x}, ${box.y}) is outside the ${image.width}×${image.height} image`);
  if (mask && (mask.length !== area.width * area.height || area.width !== box.width || area.height !== box.height)) {
    throw new RangeError(`the mask has ${mask.length} values; a box of ${box.width}×${box.height} inside the image needs one per pixel`);
  }
  const data = cropPixels(image.data, image.width, area);
  const colour = fill.kind === 'color' ? fill.rgb : fill.kind === 'mean' ? meanColour(image) : null;
  if (fill.kind === 'image' && (fill.pixels.width !== image.width || fill.pixels.height !== image.height)) {
    throw new RangeError(`the pasted image is ${fill.pixels.width}×${fill.pixels.height}; it must be the model input's ${image.width}×${image.height}`);
  }
  const blurred = fill.kind === 'blur' ? boxBlur(image, area, fill.radius) : null;
  for (let y = 0; y < area.height; y++) {
    for (let x = 0; x < area.width; x++) {
      const i = y * area.width + x;
      if (mask && !mask[i]) continue;
      for (let c = 0; c < 3; c++) {
        data[4 * i + c] = colour ? colour[c]!
          : blurred ? blurred[4 * i + c]!
            : (fill as Extract<EditFill, { kind: 'image' }>).pixels.data[((area.y + y) * image.width + area.x + x) * 4 + c]!;
      }
      data[4 * i + 3] = 255;
    }
  }
  return { ...area, data };
}

/** The image's mean colour, rounded. */
export function meanColour(image: RgbaImage): [number, number, number] {
  const sums = [0, 0, 0];
  const n = image.width * image.height;
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) sums[c]! += image.data[4 * i + c]!;
  return [Math.round(sums[0]! / n), Math.round(sums[1]! / n), Math.round(sums[2]! / n)];
}

/** A (2r+1)² box blur of the image over `area` (edges clamped), as the area's RGBA. */
function boxBlur(image: RgbaImage, area: PixelBox, radius: number): Uint8ClampedArray {
  const r = Math.max(0, Math.round(radius));
  const out = new Uint8ClampedArray(area.width * area.height * 4);
  for (let y = 0; y < area.height; y++) {
    for (let x = 0; x < area.width; x++) {
      const sums = [0, 0, 0];
      let count = 0;
      for (let yy = Math.max(0, area.y + y - r); yy <= Math.min(image.height - 1, area.y + y + r); yy++) {
        for (let xx = Math.max(0, area.x + x - r); xx <= Math.min(image.width - 1, area.x + x + r); xx++) {
          const j = (yy * image.width + xx) * 4;
          sums[0]! += image.data[j]!;
          sums[1]! += image.data[j + 1]!;
          sums[2]! += image.data[j + 2]!;
          count++;
        }
      }
      const i = (y * area.width + x) * 4;
      out[i] = Math.round(sums[0]! / count);
      out[i + 1] = Math.round(sums[1]! / count);
      out[i + 2] = Math.round(sums[2]! / count);
      out[i + 3] = 255;
    }
  }
  return out;
}

/** Splice a block of `rows×cols×classes` cells into a `gridCols`-wide map (in place) at `block`'s cell. */
export function spliceCells(grid: Float32Array, gridCols: number, classes: number, cells: ArrayLike<number>, cellCols: number, block: CellBlock): void {
  for (let r = 0; r < block.rows; r++) {
    for (let c = 0; c < block.cols; c++) {
      const to = ((block.row + r) * gridCols + block.col + c) * classes;
      const from = (r * cellCols + c) * classes;
      for (let k = 0; k < classes; k++) grid[to + k] = cells[from + k]!;
    }
  }
}
