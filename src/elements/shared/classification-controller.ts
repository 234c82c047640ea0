/**
 * Everything the elements share about getting a classification: which images and model, a lazy
 * start when the element comes into view, the run itself (one AsyncRun: aborted when the inputs
 * change, stale answers dropped), a model held while connected, the events of the contract, and
 * `for="id"` / `resultFrom` (showing another element's classification through ResultMirror).
 *
 * The host calls `sync()` at the start of every update (BagnetElementBase.willUpdate), so what it
 * renders always matches its current properties.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import { abortError, type BagnetError } from '../../core/errors.js';
import type { BackendPreference } from '../../core/protocol.js';
import type { ClassificationResult } from '../../core/result.js';
import { DEFAULT_TOP_K } from '../../core/settings.js';
import type { ImageInput } from '../../pool/image-input.js';
import { connectToPool, getPool, type InferencePool, type ModelLease, type PoolClient, type ProgressInfo } from '../../pool/pool.js';
import { AsyncRun, sameArgs } from './async-run.js';
import { emit, emitError } from './events.js';
import { announce, provide, ResultMirror, withdraw, type ElementState, type MirrorSource } from './mirror.js';

export type { ElementState };

/** What a host element exposes for the controller to read. */
export interface ClassificationSource {
  model: string;
  src: string;
  image: ImageInput | null;
  backend: BackendPreference;
  precision: string;
  loading: 'lazy' | 'eager';
  htmlFor: string;
  resultFrom: Element | null;
}

type Host = ReactiveControllerHost & HTMLElement & ClassificationSource;

/** What a single-image element classifies: its `image`, else its `src` (none: an empty list). */
export function ownInputs(host: Pick<ClassificationSource, 'image' | 'src'>): ImageInput[] {
  const input = host.image ?? (host.src || null);
  return input === null ? [] : [input];
}

/** model, backend, precision, top-k, then the images. */
type RunArgs = readonly [string, BackendPreference, string, number, ...ImageInput[]];

/** How far ahead of the viewport a lazy element starts. */
const LAZY_MARGIN = '200px';

export class ClassificationController implements ReactiveController {
  progress: ProgressInfo | null = null;
  /** The backend that ran the last result, or the model's backend once loaded. */
  backend: string | null = null;

  readonly #host: Host;
  readonly #inputs: () => readonly ImageInput[];
  readonly #topK: () => number;
  readonly #reportsResults: () => boolean;
  readonly #run: AsyncRun<RunArgs, ClassificationResult[]>;
  readonly #mirror: ResultMirror;
  #phase: 'loading' | 'running' = 'loading';
  #lease: { readonly key: string; readonly pool: InferencePool; readonly lease: ModelLease } | null = null;
  #mirroring = false;
  /** What the mirror showed last: events fire, and followers hear, when it changes. */
  #mirrored: { state: ElementState; result: ClassificationResult | null; error: BagnetError | null } = { state: 'idle', result: null, error: null };
  /** A what-if edit shown in place of the classification `base` (see `showEdited`). */
  #edited: { readonly base: ClassificationResult; readonly result: ClassificationResult } | null = null;
  #connected = false;
  #visible = false;
  #observer: IntersectionObserver | null = null;
  #disconnectPool: (() => void) | null = null;

  /**
   * @param inputs the images to classify (default: the host's `image`, else its `src`; several for a set).
   * @param reportsResults whether a finished run fires `bagnet-result` (single images; not sets).
   */
  constructor(host: Host, options: { inputs?: () => readonly ImageInput[]; topK?: () => number; reportsResults?: () => boolean } = {}) {
    this.#host = host;
    this.#inputs = options.inputs ?? (() => ownInputs(host));
    this.#topK = options.topK ?? (() => DEFAULT_TOP_K);
    this.#reportsResults = options.reportsResults ?? (() => true);
    this.#run = new AsyncRun((args, signal) => this.#classify(args, signal), () => this.#runChanged());
    this.#mirror = new ResultMirror(host, () => this.#mirrorChanged());
    host.addController(this);
  }

  /** `idle`, `loading`, `running`, `result` or `error`: of the element's own run, or of the element it mirrors. */
  get state(): ElementState {
    if (this.#mirroring) return this.#mirror.source?.state ?? 'idle';
    switch (this.#run.status) {
      case 'idle': return 'idle';
      case 'pending': return this.#phase;
      case 'complete': return 'result';
      case 'error': return 'error';
    }
  }

  /** Every image's result (own run, or the mirrored one). */
  get results(): readonly ClassificationResult[] {
    if (this.#mirroring) {
      const result = this.#mirror.source?.result;
      return result ? [result] : [];
    }
    return this.#run.value ?? [];
  }

  /** The single image's result: the classification, or what the host showed in its place (`showEdited`). */
  get result(): ClassificationResult | null {
    const base = this.baseResult;
    return this.#edited && this.#edited.base === base ? this.#edited.result : base;
  }

  /** The single image's classification itself (own run or mirrored), before any what-if edit. */
  get baseResult(): ClassificationResult | null {
    const results = this.results;
    return results.length === 1 && this.#reportsResults() ? results[0]! : null;
  }

  /**
   * Show `result` (the current classification re-scored after an edit: `InferencePool.rescore`) in
   * its place, to the host and to the elements that mirror it, until the classification changes;
   * null shows the classification again. Fires `bagnet-result` with what is shown.
   */
  showEdited(result: ClassificationResult | null): void {
    const base = this.baseResult;
    const shownBefore = this.result;
    this.#edited = result && base ? { base, result } : null;
    const shown = this.result;
    if (shown === shownBefore) return;
    this.#host.requestUpdate();
    if (shown && this.state === 'result') emit(this.#host, 'bagnet-result', shown);
    announce(this.#host);
  }

  get error(): BagnetError | null {
    return this.#mirroring ? this.#mirror.source?.error ?? null : this.#run.error;
  }

  /** The first image of the inputs. */
  get input(): ImageInput | null {
    return this.#inputs()[0] ?? null;
  }

  /** The backend work on this result asks for (an exact map): the source's when mirroring. */
  get backendPreference(): BackendPreference {
    return this.#mirroring ? this.#mirror.source?.backendPreference ?? this.#host.backend : this.#host.backend;
  }

  hostConnected(): void {
    this.#connected = true;
    this.#disconnectPool = connectToPool(this.#poolClient);
    if (typeof IntersectionObserver !== 'undefined') {
      this.#observer = new IntersectionObserver((entries) => {
        const visible = entries.some((entry) => entry.isIntersecting);
        if (visible === this.#visible) return;
        this.#visible = visible;
        this.#host.requestUpdate();
      }, { rootMargin: LAZY_MARGIN });
      this.#observer.observe(this.#host);
    } else {
      this.#visible = true;
    }
    provide(this.#host, this.#asSource);
    this.#host.requestUpdate();
  }

  /** What elements that mirror this one see: a single image's classification (a set offers none). */
  readonly #asSource: MirrorSource = (() => {
    const controller = this;
    return {
      get state() {
        return controller.#reportsResults() ? controller.state : 'idle';
      },
      get result() {
        return controller.result;
      },
      get error() {
        return controller.#reportsResults() ? controller.error : null;
      },
      get backendPreference() {
        return controller.backendPreference;
      },
      get mirrors() {
        return controller.#mirroring ? controller.#mirror.element : null;
      },
    };
  })();

  hostDisconnected(): void {
    this.#connected = false;
    this.#disconnectPool?.();
    this.#disconnectPool = null;
    this.#observer?.disconnect();
    this.#observer = null;
    this.#visible = false;
    // A finished result stays (moving an element does not classify again); unfinished work stops.
    if (this.#run.status === 'pending') this.#run.clear();
    this.#mirror.follow(null);
    this.#mirroring = false;
    this.#releaseModel(); // the pool keeps the model for its idle delay: moving an element reloads nothing
    withdraw(this.#host);
  }

  /** Bring the work in line with the host's properties (the host calls it at the start of each update). */
  sync(): void {
    if (!this.#connected) return;
    const host = this.#host;
    const source = host.resultFrom ?? (host.htmlFor || null);
    if (source !== null) {
      // Mirroring: no run of its own, no model of its own.
      this.#run.update(null);
      this.#releaseModel();
      this.#mirroring = true;
      this.#mirror.follow(source);
      return;
    }
    if (this.#mirroring) {
      this.#mirroring = false;
      this.#mirror.follow(null);
      this.#mirrored = { state: 'idle', result: null, error: null };
      // Its own (idle, for now) state from here: followers of this element must hear it.
      announce(host);
      host.requestUpdate();
    }
    const inputs = this.#inputs();
    const args: RunArgs | null = host.model && inputs.length > 0 ? [host.model, host.backend, host.precision, this.#topK(), ...inputs] : null;
    if (args && host.loading === 'lazy' && !this.#visible && !sameArgs(args, this.#run.args)) {
      // Changed while off screen: stop what ran for the old inputs; start when it comes into view.
      this.#run.update(null);
      return;
    }
    this.#run.update(args);
    if (!args) this.#releaseModel();
  }

  /** Run again with the same inputs (after an error, say). */
  retry(): void {
    if (!this.#mirroring) this.#run.rerun();
  }

  async #classify([model, backend, precision, topK, ...inputs]: RunArgs, signal: AbortSignal): Promise<ClassificationResult[]> {
    this.progress = null;
    const pool = getPool();
    await this.#holdModel(pool, model, backend, precision, signal);
    if (signal.aborted) throw abortError(signal.reason);
    if (this.#phase !== 'running') {
      this.#phase = 'running';
      this.#runChanged();
    }
    // All at once: the pool batches them.
    return Promise.all(inputs.map((input) => pool.classify(input, { model, backend, precision, signal, topK, priority: this.#visible ? 1 : 0 })));
  }

  /** Hold the model while connected (loading it first: progress and `bagnet-load`). */
  async #holdModel(pool: InferencePool, model: string, backend: BackendPreference, precision: string, signal: AbortSignal): Promise<void> {
    const key = `${model}|${backend}|${precision}`;
    if (this.#lease?.key === key && this.#lease.pool === pool) return;
    this.#phase = 'loading';
    const lease = await pool.acquire(model, backend, precision, (progress) => {
      if (signal.aborted) return;
      this.progress = progress;
      emit(this.#host, 'bagnet-progress', progress);
      this.#host.requestUpdate();
    }, signal);
    if (signal.aborted) {
      lease.release();
      throw abortError(signal.reason);
    }
    this.#releaseModel();
    this.#lease = { key, pool, lease };
    this.backend = lease.backend;
    emit(this.#host, 'bagnet-load', { model: lease.manifest.url ?? model, backend: lease.backend, precision: lease.precision });
  }

  #releaseModel(): void {
    this.#lease?.lease.release();
    this.#lease = null;
  }

  #runChanged(): void {
    if (this.#mirroring) return;
    // Update first: a listener that awaits `updateComplete` sees the new state rendered.
    this.#host.requestUpdate();
    const { status } = this.#run;
    if (status === 'complete') {
      const result = this.result;
      if (result) {
        this.backend = result.backend;
        emit(this.#host, 'bagnet-result', result);
      }
    } else if (status === 'error') {
      emitError(this.#host, this.#run.error);
    }
    announce(this.#host);
  }

  #mirrorChanged(): void {
    if (!this.#mirroring) return;
    const source = this.#mirror.source;
    const state = source?.state ?? 'idle';
    const result = state === 'result' ? source!.result : null;
    const error = state === 'error' ? source!.error : null;
    const before = this.#mirrored;
    if (state === before.state && result === before.result && error === before.error) return;
    this.#mirrored = { state, result, error };
    this.backend = result?.backend ?? null;
    this.#host.requestUpdate();
    if (result && result !== before.result) emit(this.#host, 'bagnet-result', result);
    if (error && error !== before.error) emitError(this.#host, error);
    announce(this.#host);
  }

  readonly #poolClient: PoolClient = {
    onBackend: (detail) => {
      const model = this.#host.model;
      if (this.#mirroring || !model || new URL(model, location.href).href !== detail.model) return;
      if (detail.requestedPrecision !== this.#host.precision) return; // another session of the model
      this.backend = detail.actual;
      const { requested, actual, reason, requestedPrecision, precision, precisionReason } = detail;
      emit(this.#host, 'bagnet-backend', { requested, actual, reason, requestedPrecision, precision, precisionReason });
      this.#host.requestUpdate();
    },
    onDispose: () => {
      // The pool and the model held in it are gone: what was running starts again on the next pool.
      this.#lease = null;
      if (this.#run.status === 'pending') this.#run.rerun();
    },
  };
}
