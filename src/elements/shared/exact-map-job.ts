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

type JobArgs = readonly [ClassificationResult, string, BackendPreference];

export class ExactMapJob {
  /** The latest level, with the arguments of the run it belongs to (a level of an older run is never shown). */
  #level: { readonly args: JobArgs; readonly level: ExactMapLevel } | null = null;
  readonly #run: AsyncRun<JobArgs, ExactMap>;
  readonly #views = new Memo((level: ExactMapLevel, slot: number): ExactMapView => ({
    values: levelView(level.data, level.width, level.height, level.classes.length, slot, level.level),
    width: level.width, height: level.height, level: level.level,
  }));
  #disconnectPool: (() => void) | null = null;

  constructor(private readonly onChange: () => void) {
    this.#run = new AsyncRun((args, signal) => {
      const [result, classes, backend] = args;
      // The map before an edit: the pool recomputes only the pixels the edit changes (when it is that map).
      const before = this.#run.value;
      return getPool().exactMap(result, {
        backend, signal, classes: classes.split(',').map(Number), ...(before ? { from: before } : {}),
        onLevel: (level) => {
          if (signal.aborted) return;
          this.#level = { args, level };
          this.onChange();
        },
      });
    }, () => {
      // While a map is computed, a disposed pool takes it along: compute it again on the next pool.
      if (this.#run.status === 'pending') {
        this.#disconnectPool ??= connectToPool({ onDispose: () => this.#run.rerun() });
      } else {
        this.#disconnectPool?.();
        this.#disconnectPool = null;
      }
      this.onChange();
    });
  }

  /** Compute `request` (a no-op when it asks for what is already computed or computing); null cancels. */
  update(request: ExactMapRequest | null): void {
    this.#run.update(request && [request.result, [...new Set(request.classes)].sort((a, b) => a - b).join(','), request.backend]);
  }

  /** Stop a map still being computed (one already finished stays). */
  stop(): void {
    if (this.#run.status === 'pending') this.#run.clear();
  }

  get status(): RunStatus {
    return this.#run.status;
  }

  get error(): BagnetError | null {
    return this.#run.error;
  }

  /** The latest level of the current map (null before its first one, and when it failed). */
  get level(): ExactMapLevel | null {
    return this.#level && this.#level.args === this.#run.args && this.#run.status !== 'error' ? this.#level.level : null;
  }

  /** Class `k` at the current level, or null when it is not (yet) computed. */
  view(k: number): ExactMapView | null {
    const level = this.level;
    const slot = level ? level.classes.indexOf(k) : -1;
    return level && slot >= 0 ? this.#views.get(level, slot) : null;
  }

  /** Class `k`'s value at model-input pixel (x, y) at the current level; NaN when not computed there. */
  valueAt(x: number, y: number, k: number): number {
    const level = this.level;
    const slot = level ? level.classes.indexOf(k) : -1;
    if (!level || slot < 0 || x < 0 || y < 0 || x >= level.width || y >= level.height) return Number.NaN;
    return levelValue(level.data, level.width, level.classes.length, slot, level.level, x, y);
  }
}
