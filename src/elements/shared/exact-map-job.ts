/**
 * The exact map of a result, on the page: what the heatmap and the Cornerstone overlay both use.
 * It starts for (result, classes, backend), starts again only when one of them changes, is
 * cancelled when no longer wanted, keeps the latest level as the map sharpens, and answers "what
 * is the value at this pixel" at that level. The image is not sent again: the pool refers the
 * worker to the one it prepared for the result (see `InferencePool.exactMap`).
 */
import type { BagnetError } from '../../core/errors.js';
import type { BackendPreference } from '../../core/protocol.js';
import type { ClassificationResult } from '../../core/result.js';
import { levelValue, levelView } from '../../core/stitch.js';
import { connectToPool, getPool, type ExactMap, type ExactMapLevel } from '../../pool/pool.js';
import { AsyncRun, Memo, type RunStatus } from './async-run.js';

export interface ExactMapRequest {
  readonly result: ClassificationResult;
  /** The classes to compute (order does not matter: the same set is the same job). */
  readonly classes: readonly number[];
  readonly backend: BackendPreference;
}

/** One class of the map at its current level, over the model input's pixels. */
export interface ExactMapView {
  readonly values: Float32Array;
  readonly width: number;
  readonly height: number;
  /** Pixels between computed samples (1 = exact). */
  readonly level: number;
}

export class ExactMapJob {
  #level: ExactMapLevel | null = null;
  readonly #run: AsyncRun<readonly [ClassificationResult, string, BackendPreference], ExactMap>;
  readonly #views = new Memo((level: ExactMapLevel, slot: number): ExactMapView => ({
    values: levelView(level.data, level.width, level.height, level.classes.length, slot, level.level),
    width: level.width, height: level.height, level: level.level,
  }));
  #disconnectPool: (() => void) | null = null;

  constructor(private readonly onChange: () => void) {
    this.#run = new AsyncRun(([result, classes, backend], signal) => {
      this.#level = null;
      return getPool().exactMap(result, {
        backend, signal, classes: classes.split(',').map(Number),
        onLevel: (level) => {
          if (signal.aborted) return;
          this.#level = level;
          this.onChange();
        },
      });
    }, () => {
      if (this.#run.status === 'idle' || this.#run.status === 'error') this.#level = null;
      this.onChange();
    });
  }

  /** Compute `request` (a no-op when it asks for what is already computed or computing); null cancels. */
  update(request: ExactMapRequest | null): void {
    if (request && !this.#disconnectPool) {
      // A pool disposed mid-map takes the map with it: compute it again on the next pool.
      this.#disconnectPool = connectToPool({ onDispose: () => this.#run.status === 'pending' && this.#run.rerun() });
    }
    this.#run.update(request && [request.result, [...new Set(request.classes)].sort((a, b) => a - b).join(','), request.backend]);
    if (!request) {
      this.#disconnectPool?.();
      this.#disconnectPool = null;
    }
  }

  get status(): RunStatus {
    return this.#run.status;
  }

  get error(): BagnetError | null {
    return this.#run.error;
  }

  /** The latest level (null before the first one). */
  get level(): ExactMapLevel | null {
    return this.#level;
  }

  /** Class `k` at the current level, or null when it is not (yet) computed. */
  view(k: number): ExactMapView | null {
    const level = this.#level;
    const slot = level ? level.classes.indexOf(k) : -1;
    return level && slot >= 0 ? this.#views.get(level, slot) : null;
  }

  /** Class `k`'s value at model-input pixel (x, y) at the current level; NaN when not computed there. */
  valueAt(x: number, y: number, k: number): number {
    const level = this.#level;
    const slot = level ? level.classes.indexOf(k) : -1;
    if (!level || slot < 0 || x < 0 || y < 0 || x >= level.width || y >= level.height) return Number.NaN;
    return levelValue(level.data, level.width, level.classes.length, slot, level.level, x, y);
  }
}
