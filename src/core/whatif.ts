/**
 * What-if maths on the evidence, exact for a BagNet (../shared/DESIGN.md, "What-if maths"). With
 * patch logits E[cell, k] over n cells, the image logits are L[k] = mean over cells of E[cell, k], so:
 * - removing a set S of cells from the bag gives L'[k] = (n·L[k] − Σ_S E[·, k]) / (n − |S|), and
 *   keeping only S gives Σ_S E[·, k] / |S|: no inference;
 * - the contrast map E[·, A] − E[·, B] has mean L[A] − L[B], the logit margin.
 * Pixel edits are in ./edits.ts. Pure functions; the elements and the Cornerstone panel use them.
 */
import { argmax, softmax } from './evidence.js';
import type { Evidence } from './result.js';

export type AblationMode = 'remove' | 'keep';

/** The evidence map's shape and data (a `ClassificationResult['evidence']` will do). */
export type EvidenceGrid = Pick<Evidence, 'rows' | 'cols' | 'classes' | 'data'>;

export interface Ablation {
  readonly mode: AblationMode;
  /** Distinct cells selected (flat indices `row * cols + col`, ascending). */
  readonly selected: readonly number[];
  /** Cells left in the bag: n − |S| when removing, |S| when keeping. */
  readonly bagSize: number;
  /** The image's logits with the bag changed (float64). */
  readonly logits: Float64Array;
  readonly probabilities: Float64Array;
  /** The whole image's logits and probabilities (the mean over every cell). */
  readonly fullLogits: Float64Array;
  readonly fullProbabilities: Float64Array;
  /** `logits − fullLogits`, per class. */
  readonly delta: Float64Array;
  /** Top-1 class after and before; `flipped` when they differ. */
  readonly top: number;
  readonly fullTop: number;
  readonly flipped: boolean;
}

/** The per-class sum of `cells`' evidence (float64). */
function sumOver(grid: EvidenceGrid, cells: Iterable<number>): Float64Array {
  const { classes, data } = grid;
  const sums = new Float64Array(classes);
  for (const cell of cells) {
    const base = cell * classes;
    for (let k = 0; k < classes; k++) sums[k]! += data[base + k]!;
  }
  return sums;
}

const allSums = new WeakMap<Float32Array, Float64Array>();

/** Σ over every cell, per class: computed once per map (the element ablates the same map many times). */
function totalOf(grid: EvidenceGrid): Float64Array {
  let total = allSums.get(grid.data);
  if (!total) {
    total = sumOver(grid, Array.from({ length: grid.rows * grid.cols }, (_, i) => i));
    allSums.set(grid.data, total);
  }
  return total;
}

/** Distinct valid cell indices, ascending; a RangeError for anything else. */
export function normalizeCells(grid: Pick<EvidenceGrid, 'rows' | 'cols'>, cells: Iterable<number>): number[] {
  const n = grid.rows * grid.cols;
  const set = new Set<number>();
  for (const cell of cells) {
    if (!Number.isInteger(cell) || cell < 0 || cell >= n) {
      throw new RangeError(`cell ${String(cell)} is not one of the map's ${grid.rows}×${grid.cols} cells (0 … ${n - 1})`);
    }
    set.add(cell);
  }
  return [...set].sort((a, b) => a - b);
}

/**
 * The image's logits with `cells` removed from the bag (`remove`: the mean over the other cells) or
 * with only them kept (`keep`: the mean over `cells`). Exact, no inference. Refuses (RangeError) to
 * remove every cell or to keep none: the mean of an empty bag does not exist.
 */
export function ablate(grid: EvidenceGrid, cells: Iterable<number>, mode: AblationMode): Ablation {
  if (mode !== 'remove' && mode !== 'keep') throw new RangeError(`mode must be "remove" or "keep", got ${String(mode)}`);
  const selected = normalizeCells(grid, cells);
  const n = grid.rows * grid.cols;
  const bagSize = mode === 'remove' ? n - selected.length : selected.length;
  if (bagSize === 0) {
    throw new RangeError(mode === 'remove'
      ? `Removing all ${n} patches leaves an empty bag: there is nothing to average`
      : 'Keeping no patch leaves an empty bag: select at least one patch to keep');
  }
  const total = totalOf(grid);
  const picked = sumOver(grid, selected);
  const logits = new Float64Array(grid.classes);
  const fullLogits = new Float64Array(grid.classes);
  const delta = new Float64Array(grid.classes);
  for (let k = 0; k < grid.classes; k++) {
    fullLogits[k] = total[k]! / n;
    logits[k] = (mode === 'remove' ? total[k]! - picked[k]! : picked[k]!) / bagSize;
    delta[k] = logits[k]! - fullLogits[k]!;
  }
  const top = argmax(logits);
  const fullTop = argmax(fullLogits);
  return {
    mode, selected, bagSize, logits, probabilities: softmax(logits), fullLogits, fullProbabilities: softmax(fullLogits), delta,
    top, fullTop, flipped: top !== fullTop,
  };
}

export interface RemovalCurve {
  readonly target: number;
  /** Cells by their evidence for the target, most first (ties: lower index first). */
  readonly order: Int32Array;
  /** `probability[k]`: the target's probability with the k first cells of `order` removed (k = 0 … n − 1). */
  readonly probability: Float64Array;
  /** `top[k]`: the top-1 class then. */
  readonly top: Int32Array;
  /** The smallest k at which the top-1 class is no longer the full image's, or null if it never changes. */
  readonly flipsAt: number | null;
}

/**
 * The patch-removal experiment, exactly: remove the k patches with the most evidence for `target`,
 * for k = 0 … n − 1 (n is refused: an empty bag), and follow the target's probability.
 */
export function removalCurve(grid: EvidenceGrid, target: number): RemovalCurve {
  const { rows, cols, classes, data } = grid;
  if (!Number.isInteger(target) || target < 0 || target >= classes) {
    throw new RangeError(`class ${target} is out of range (the model has ${classes} classes)`);
  }
  const n = rows * cols;
  const order = Int32Array.from({ length: n }, (_, i) => i)
    .sort((a, b) => data[b * classes + target]! - data[a * classes + target]! || a - b);
  const remaining = Float64Array.from(totalOf(grid));
  const probability = new Float64Array(n);
  const top = new Int32Array(n);
  const logits = new Float64Array(classes);
  let flipsAt: number | null = null;
  for (let k = 0; k < n; k++) {
    if (k > 0) {
      const base = order[k - 1]! * classes;
      for (let c = 0; c < classes; c++) remaining[c]! -= data[base + c]!;
    }
    for (let c = 0; c < classes; c++) logits[c] = remaining[c]! / (n - k);
    probability[k] = softmax(logits)[target]!;
    top[k] = argmax(logits);
    if (flipsAt === null && top[k] !== top[0]) flipsAt = k;
  }
  return { target, order, probability, top, flipsAt };
}

/** One class minus another, per cell: its mean over the cells is exactly the logit margin L[a] − L[b]. */
export function contrastCells(grid: EvidenceGrid, a: number, b: number): Float32Array {
  const { rows, cols, classes, data } = grid;
  for (const k of [a, b]) {
    if (!Number.isInteger(k) || k < 0 || k >= classes) throw new RangeError(`class ${k} is out of range (the model has ${classes} classes)`);
  }
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < out.length; i++) out[i] = data[i * classes + a]! - data[i * classes + b]!;
  return out;
}

/** The most probable class other than `target` (the default contrast class), or null with a single class. */
export function runnerUp(logits: ArrayLike<number>, target: number): number | null {
  let best: number | null = null;
  for (let k = 0; k < logits.length; k++) if (k !== target && (best === null || logits[k]! > logits[best]!)) best = k;
  return best;
}
