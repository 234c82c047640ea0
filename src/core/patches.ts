/**
 * The most informative patches for a class (the paper's Figure 3): the cells with the largest
 * evidence, kept apart so that neighbouring cells do not show the same detail again and again.
 */
import { cellBox, type PixelBox } from './geometry.js';
import type { Evidence } from './result.js';

export interface Patch {
  /** Which image of a set it comes from. */
  readonly image: number;
  readonly row: number;
  readonly col: number;
  /** Its evidence (patch logit) for the class. */
  readonly value: number;
  /** The pixels it sees, in model-input coordinates. */
  readonly box: PixelBox;
}

/**
 * The `count` cells of one image with the largest evidence for `classIndex` (or, with `versus`, the
 * largest evidence for it minus that class's), no two closer than `minDistance` pixels (default: half
 * a patch) centre to centre.
 */
export function topPatches(evidence: Evidence, classIndex: number, count: number,
                           options: { image?: number; minDistance?: number; versus?: number } = {}): Patch[] {
  const { rows, cols, classes, data } = evidence;
  const minDistance = options.minDistance ?? evidence.patchSize / 2;
  // With `versus`: the patches that most separate the class from that one (evidence A − B).
  const versus = options.versus;
  const score = (cell: number) => data[cell * classes + classIndex]! - (versus === undefined ? 0 : data[cell * classes + versus]!);
  const order = Array.from({ length: rows * cols }, (_, i) => i).sort((a, b) => score(b) - score(a) || a - b);
  const chosen: Patch[] = [];
  for (const cell of order) {
    if (chosen.length >= count) break;
    const row = Math.floor(cell / cols);
    const col = cell % cols;
    const box = cellBox(row, col, evidence);
    const clash = chosen.some((p) => Math.hypot(p.box.x - box.x, p.box.y - box.y) < minDistance);
    if (!clash) chosen.push({ image: options.image ?? 0, row, col, value: score(cell), box });
  }
  return chosen;
}

/** The `count` patches with the largest evidence across several lists (ties: earlier image first). */
export function mergeTopPatches(lists: readonly (readonly Patch[])[], count: number): Patch[] {
  return lists.flat().sort((a, b) => b.value - a.value || a.image - b.image).slice(0, count);
}
