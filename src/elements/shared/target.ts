import { BagnetError } from '../../core/errors.js';
import type { ClassificationResult } from '../../core/result.js';

/** Resolve `target` (index, label or empty for top-1) against a result; null when unknown. */
export function resolveTarget(target: string, result: ClassificationResult): number | null {
  const trimmed = target.trim();
  if (trimmed === '') return result.topk[0]?.index ?? null;
  if (/^\d+$/.test(trimmed)) {
    const index = Number(trimmed);
    return index < result.evidence.classes ? index : null;
  }
  const labels = result.model.labels;
  let index = labels.indexOf(trimmed);
  if (index < 0) index = labels.findIndex((label) => label.toLowerCase() === trimmed.toLowerCase());
  return index < 0 ? null : index;
}

/** The error of a target the result's model does not have, or null (a new error per result and target). */
export function unknownTarget(result: ClassificationResult, target: string): BagnetError | null {
  return resolveTarget(target, result) === null
    ? new BagnetError('inference', `Unknown target "${target}": use a class index (0-${result.evidence.classes - 1}) or one of the model's labels`)
    : null;
}

/** The error of a contrast class the result's model does not have, or null (none, empty = the runner-up, or known). */
export function unknownContrast(result: ClassificationResult, contrast: string | null): BagnetError | null {
  return contrast === null || contrast.trim() === '' || resolveTarget(contrast, result) !== null ? null
    : new BagnetError('inference', `Unknown contrast class "${contrast}": use a class index (0-${result.evidence.classes - 1}) or one of the model's labels`);
}
