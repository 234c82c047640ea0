/**
 * The elements' events (contract names). All bubble and cross shadow roots (`composed`), so a page
 * can listen on `document` or on any ancestor.
 */
import { toBagnetError, type BagnetError, type BagnetErrorType } from '../../core/errors.js';
import type { BackendPreference, ConcreteBackendName, ProgressPhase } from '../../core/protocol.js';
import type { ClassificationResult } from '../../core/result.js';

export interface BagnetProgressDetail {
  readonly phase: ProgressPhase;
  readonly loaded: number;
  readonly total: number;
}

export interface BagnetLoadDetail {
  readonly model: string;
  readonly backend: ConcreteBackendName;
  /** The model file that runs (`fp32`, `fp16`, `int8`). */
  readonly precision: string;
}

export interface BagnetBackendDetail {
  readonly requested: BackendPreference;
  readonly actual: ConcreteBackendName;
  /** Why the requested backend or precision was not used (empty when both were). */
  readonly reason: string;
  /** The element's `precision` (`auto` or a file's name). */
  readonly requestedPrecision: string;
  /** The file that runs. */
  readonly precision: string;
  /** Why that one: `auto`'s rule, or the variant's failure to load. */
  readonly precisionReason: string;
}

export type BagnetResultDetail = ClassificationResult;

export interface BagnetErrorDetail {
  readonly type: BagnetErrorType;
  readonly message: string;
  readonly cause: unknown;
}

/** Extra events of `<bagnet-heatmap>`. */
export interface BagnetRefineDetail {
  /** Pixels between computed samples: stride, stride/2, …, 1 (exact). */
  readonly level: number;
  readonly final: boolean;
}

export interface BagnetPatchDetail {
  /** The patch under the pointer (or pinned), in model-input pixels, with its evidence. */
  readonly x: number;
  readonly y: number;
  readonly box: { readonly x: number; readonly y: number; readonly width: number; readonly height: number };
  readonly evidence: readonly { readonly index: number; readonly label: string; readonly value: number }[];
  readonly pinned: boolean;
}

/** `<bagnet-heatmap>`'s selection changed: the patches, and the exact ablation (null when the bag would be empty). */
export interface BagnetWhatIfDetail {
  readonly selection: readonly number[];
  readonly ablation: 'remove' | 'keep';
  readonly result: import('../../core/whatif.js').Ablation | null;
}

export interface BagnetEventMap {
  'bagnet-progress': CustomEvent<BagnetProgressDetail>;
  'bagnet-load': CustomEvent<BagnetLoadDetail>;
  'bagnet-backend': CustomEvent<BagnetBackendDetail>;
  'bagnet-result': CustomEvent<BagnetResultDetail>;
  'bagnet-error': CustomEvent<BagnetErrorDetail>;
  'bagnet-refine': CustomEvent<BagnetRefineDetail>;
  'bagnet-patch': CustomEvent<BagnetPatchDetail>;
  'bagnet-whatif': CustomEvent<BagnetWhatIfDetail>;
}

/** Dispatch a bubbling, composed event from `target`. */
export function emit<K extends keyof BagnetEventMap>(target: EventTarget, type: K,
                                                     detail: BagnetEventMap[K]['detail']): boolean {
  return target.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true, cancelable: false }));
}

/** The documented `bagnet-error` detail of an error. */
export function errorDetail(error: BagnetError): BagnetErrorDetail {
  return { type: error.type, message: error.message, cause: (error as { cause?: unknown }).cause };
}

/** Report a failure from `target` as `bagnet-error` (unknown errors become `inference` errors); returns it as a BagnetError. */
export function emitError(target: EventTarget, cause: unknown): BagnetError {
  const error = toBagnetError(cause);
  emit(target, 'bagnet-error', errorDetail(error));
  return error;
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-empty-interface
  interface GlobalEventHandlersEventMap extends BagnetEventMap {}
}
