/**
 * Evidence maths on a patch-logit map `[rows, cols, classes]` (row-major, classes fastest):
 * the image logits are its spatial mean, so every number here is exact, not an estimate.
 */

export interface TopKEntry {
  readonly index: number;
  readonly probability: number;
  readonly logit: number;
}

/** Spatial mean of a `[cells, classes]` map (accumulated in float64). */
export function meanLogits(patchLogits: ArrayLike<number>, cells: number, classes: number): Float64Array {
  if (patchLogits.length !== cells * classes) {
    throw new RangeError(`patch map has ${patchLogits.length} values, expected ${cells}×${classes}`);
  }
  if (cells === 0) throw new RangeError('patch map is empty');
  const sums = new Float64Array(classes);
  for (let cell = 0; cell < cells; cell++) {
    const base = cell * classes;
    for (let k = 0; k < classes; k++) sums[k]! += patchLogits[base + k]!;
  }
  for (let k = 0; k < classes; k++) sums[k]! /= cells;
  return sums;
}

/** Numerically stable softmax. */
export function softmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += out[i] = Math.exp(logits[i]! - max);
  for (let i = 0; i < logits.length; i++) out[i]! /= sum;
  return out;
}

/** The `k` most probable classes, best first (ties keep the lower index first). */
export function topK(logits: ArrayLike<number>, k: number): TopKEntry[] {
  const probabilities = softmax(logits);
  const order = Array.from({ length: logits.length }, (_, i) => i);
  order.sort((a, b) => logits[b]! - logits[a]! || a - b);
  return order.slice(0, Math.max(0, Math.min(k, order.length))).map((index) => ({
    index,
    probability: probabilities[index]!,
    logit: logits[index]!,
  }));
}

/** Index of the largest value (first on ties). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}
