/**
 * Pixel edits of a result's model input, re-scored exactly through the pool: the heatmap's `edits`
 * and the Cornerstone overlay's use this one chain (and one AsyncRun each around it).
 */
import { BagnetError } from '../../core/errors.js';
import type { EditFill, PixelEdit } from '../../core/edits.js';
import type { ClassificationResult } from '../../core/result.js';
import { getPool } from '../../pool/pool.js';

/** The fills an edit names: the manifest's background, the image's mean colour, a blur, or `fillImage` pasted in. */
export type HeatmapFill = 'background' | 'mean' | 'blur' | 'image';

/** A pixel edit of the model input, as `edits` lists them: a box (and optional brush mask) and its fill. */
export interface HeatmapEdit {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  /** `background` (the manifest's), `mean` (the image's mean colour), `blur`, `image` (`fillImage`), or a fill of core/edits.ts. */
  readonly fill: HeatmapFill | EditFill;
  /** One value per pixel of the box, non-zero = painted (default: the whole box). */
  readonly mask?: ArrayLike<number>;
}

/**
 * Applies a list of edits in order, each re-scoring the result before it; a longer list that starts
 * with the edits already applied goes on from their result.
 */
export class EditChain {
  #applied: { base: ClassificationResult; edits: readonly HeatmapEdit[]; result: ClassificationResult } | null = null;

  async apply(base: ClassificationResult, edits: readonly HeatmapEdit[], fillImage: ImageData | null, signal: AbortSignal): Promise<ClassificationResult> {
    const done = this.#applied;
    let start = 0;
    let result = base;
    if (done && done.base === base && done.edits.length <= edits.length && done.edits.every((edit, i) => edits[i] === edit)) {
      start = done.edits.length;
      result = done.result;
    }
    for (let i = start; i < edits.length; i++) {
      result = await getPool().rescore(result, await toPixelEdit(result, edits[i]!, fillImage), { signal });
      this.#applied = { base, edits: edits.slice(0, i + 1), result };
    }
    return result;
  }

  /** Forget what was applied unless it was applied to `base`. */
  keepOnly(base: ClassificationResult | null): void {
    if (base !== this.#applied?.base) this.#applied = null;
  }
}

/** A `HeatmapEdit` as the pixels it writes into `result`'s model input; a clear error for a bad one. */
export async function toPixelEdit(result: ClassificationResult, edit: HeatmapEdit, fillImage: ImageData | null): Promise<PixelEdit> {
  let fill: EditFill;
  switch (edit.fill) {
    case 'background': {
      const [r = 0, g = 0, b = 0] = (await getPool().manifest(result.model.url)).input.background;
      fill = { kind: 'color', rgb: [r, g, b] };
      break;
    }
    case 'mean': fill = { kind: 'mean' }; break;
    case 'blur': fill = { kind: 'blur', radius: Math.max(2, Math.round(result.evidence.patchSize / 4)) }; break;
    case 'image':
      if (!fillImage) throw new BagnetError('image-invalid', 'The "image" fill needs `fillImage`: an ImageData at the model input\'s size');
      fill = { kind: 'image', pixels: fillImage };
      break;
    default:
      if (typeof edit.fill !== 'object' || edit.fill === null || !['color', 'mean', 'blur', 'image'].includes(edit.fill.kind)) {
        throw new BagnetError('image-invalid', `Edit refused: unknown fill ${JSON.stringify(edit.fill)} (use background, mean, blur, image or a fill object)`);
      }
      fill = edit.fill;
  }
  // Loaded with the rest of the what-if code, on first use.
  const { clampBox, makeEdit } = await import('../../core/edits.js');
  const { width, height } = result.input.plan;
  const inside = clampBox(edit, width, height);
  if (!inside || inside.x !== edit.x || inside.y !== edit.y || inside.width !== edit.width || inside.height !== edit.height) {
    throw new BagnetError('image-invalid', `Edit refused: the box ${edit.width}×${edit.height} at (${edit.x}, ${edit.y}) is not whole pixels `
      + `inside the ${width}×${height} model input`);
  }
  try {
    return makeEdit(result.input.pixels, edit, fill, edit.mask);
  } catch (cause) {
    throw new BagnetError('image-invalid', `Edit refused: ${(cause as Error).message}`, { cause });
  }
}
