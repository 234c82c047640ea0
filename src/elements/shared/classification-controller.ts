/**
 * Everything the three elements share about getting a classification: which image and model,
 * lazy start when the element comes into view, one run at a time with stale results dropped,
 * a model held while connected, the events of the contract, and `for="id"` (reusing another
 * element's result instead of running the model again).
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import { BagnetError } from '../../core/errors.js';
import type { BackendPreference } from '../../core/protocol.js';
import type { ClassificationResult } from '../../core/result.js';
import type { ImageInput } from '../../pool/image-input.js';
import { getPool, type BackendEventDetail, type ModelLease, type ProgressInfo } from '../../pool/pool.js';
import { emit } from './events.js';

export type ElementState = 'idle' | 'loading' | 'running' | 'result' | 'error';

/** What a host element exposes for the controller to read. */
export interface ClassificationSource {
  model: string;
  src: string;
  image: ImageInput | null;
  backend: BackendPreference;
  loading: 'lazy' | 'eager';
  htmlFor: string;
  resultFrom: ResultProvider | null;
}

/** Elements that can be the target of `for="id"`. */
export interface ResultProvider extends HTMLElement {
  readonly result: ClassificationResult | null;
  /** The image that produced `result` (for work that needs the pixels again). */
  readonly resultInput: ImageInput | null;
  readonly model: string;
  readonly backend: BackendPreference;
}

export function isResultProvider(element: Element | null): element is ResultProvider {
  return !!element && 'result' in element && 'resultInput' in element;
}

type Host = ReactiveControllerHost & HTMLElement & ClassificationSource;

export class ClassificationController implements ReactiveController {
  state: ElementState = 'idle';
  result: ClassificationResult | null = null;
  /** The image that produced `result`. */
  resultInput: ImageInput | null = null;
  error: BagnetError | null = null;
  progress: ProgressInfo | null = null;
  /** The backend that ran the last result, or the model's backend once loaded. */
  backend: string | null = null;

  readonly #host: Host;
  readonly #topK: () => number;
  #abort: AbortController | null = null;
  #runKey = '';
  #lease: ModelLease | null = null;
  #leaseKey = '';
  #visible = false;
  #observer: IntersectionObserver | null = null;
  #connected = false;
  #forSource: ResultProvider | null = null;
  #root: EventTarget | null = null;

  constructor(host: Host, options: { topK?: () => number } = {}) {
    this.#host = host;
    this.#topK = options.topK ?? (() => 5);
    host.addController(this);
  }

  /** The input to classify: the `image` property wins over `src`. */
  get input(): ImageInput | null {
    const { image, src } = this.#host;
    return image ?? (src ? src : null);
  }

  /** Whether this element mirrors another one (`for` or `resultFrom`) instead of running the model. */
  get mirrors(): boolean {
    return this.#host.htmlFor !== '' || this.#host.resultFrom !== null;
  }

  hostConnected(): void {
    this.#connected = true;
    getPool().addEventListener('backend', this.#onBackend);
    if (typeof IntersectionObserver !== 'undefined') {
      this.#observer = new IntersectionObserver((entries) => {
        const visible = entries.some((entry) => entry.isIntersecting);
        if (visible === this.#visible) return;
        this.#visible = visible;
        this.#schedule();
      }, { rootMargin: '200px' });
      this.#observer.observe(this.#host);
    } else {
      this.#visible = true;
    }
    this.#schedule();
  }

  hostDisconnected(): void {
    this.#connected = false;
    getPool().removeEventListener('backend', this.#onBackend);
    this.#observer?.disconnect();
    this.#observer = null;
    this.#abort?.abort();
    this.#abort = null;
    this.#runKey = '';
    this.#unfollow();
    // The pool keeps the model for its idle delay: moving an element does not reload it.
    this.#lease?.release();
    this.#lease = null;
    this.#leaseKey = '';
  }

  hostUpdated(): void {
    // After the update, not inside it: starting a run changes state and requests another update.
    queueMicrotask(() => this.#schedule());
  }

  /** Run again even if nothing changed (e.g. after an error). */
  retry(): void {
    this.#runKey = '';
    this.#schedule();
  }

  #schedule(): void {
    if (!this.#connected) return;
    if (this.mirrors) {
      this.#follow();
      return;
    }
    this.#unfollow();
    const { model, backend, loading } = this.#host;
    const input = this.input;
    if (!model || input === null) {
      if (this.#runKey !== '') this.#reset();
      return;
    }
    if (loading === 'lazy' && !this.#visible) return;
    const key = JSON.stringify([model, backend, this.#topK(), typeof input === 'string' ? input : identity(input)]);
    if (key === this.#runKey) return;
    this.#runKey = key;
    void this.#run(model, backend, input);
  }

  #reset(): void {
    this.#abort?.abort();
    this.#runKey = '';
    this.state = 'idle';
    this.result = null;
    this.resultInput = null;
    this.error = null;
    this.progress = null;
    this.#host.requestUpdate();
  }

  async #run(model: string, backend: BackendPreference, input: ImageInput): Promise<void> {
    this.#abort?.abort();
    const abort = new AbortController();
    this.#abort = abort;
    const stale = () => abort !== this.#abort || abort.signal.aborted;
    const pool = getPool();
    this.error = null;
    this.progress = null;
    try {
      const leaseKey = `${model}|${backend}`;
      if (leaseKey !== this.#leaseKey) {
        this.state = 'loading';
        this.#host.requestUpdate();
        this.#lease?.release();
        this.#lease = null;
        this.#leaseKey = '';
        const lease = await pool.acquire(model, backend, 'fp32', (progress) => {
          if (stale()) return;
          this.progress = progress;
          emit(this.#host, 'bagnet-progress', progress);
          this.#host.requestUpdate();
        }, abort.signal);
        if (stale()) {
          lease.release();
          return;
        }
        this.#lease = lease;
        this.#leaseKey = leaseKey;
        this.backend = lease.backend;
        emit(this.#host, 'bagnet-load', { model: lease.manifest.url ?? model, backend: lease.backend });
      }
      this.state = 'running';
      this.#host.requestUpdate();
      const result = await pool.classify(input, {
        model, backend, signal: abort.signal, topK: this.#topK(), priority: this.#visible ? 1 : 0,
      });
      if (stale()) return;
      this.result = result;
      this.resultInput = input;
      this.backend = result.backend;
      this.state = 'result';
      this.#host.requestUpdate();
      emit(this.#host, 'bagnet-result', result);
    } catch (cause) {
      if (stale()) return; // superseded: a newer run owns the state
      this.#fail(cause);
    }
  }

  #fail(cause: unknown): void {
    const error = cause instanceof BagnetError ? cause
      : new BagnetError('inference', cause instanceof Error ? cause.message : String(cause), { cause });
    this.error = error;
    this.result = null;
    this.state = 'error';
    // #runKey stays: the same input is not retried by itself (retry() or a new input does).
    this.#host.requestUpdate();
    emit(this.#host, 'bagnet-error', { type: error.type, message: error.message, cause: (error as { cause?: unknown }).cause });
  }

  /** Report a failure that happened in the host's own work (e.g. an unknown target label). */
  reportError(error: BagnetError): void {
    this.#fail(error);
  }

  #onBackend = (event: Event) => {
    const detail = (event as CustomEvent<BackendEventDetail>).detail;
    const model = this.#host.model;
    if (!model || new URL(model, location.href).href !== detail.model) return;
    this.backend = detail.actual;
    emit(this.#host, 'bagnet-backend', { requested: detail.requested, actual: detail.actual, reason: detail.reason });
    this.#host.requestUpdate();
  };

  // ---- for="id" ------------------------------------------------------------------------------

  #follow(): void {
    // By reference: listen on the provider itself. By id: listen on the root, so a provider that
    // appears later (or is replaced) is still heard.
    const listenOn: EventTarget = this.#host.resultFrom ?? (this.#host.getRootNode() as Document | ShadowRoot);
    if (listenOn !== this.#root) {
      this.#unfollow();
      this.#root = listenOn;
      listenOn.addEventListener('bagnet-result', this.#onSourceEvent);
      listenOn.addEventListener('bagnet-error', this.#onSourceEvent);
    }
    const source = this.#host.resultFrom
      ?? (this.#host.getRootNode() as Document | ShadowRoot).getElementById?.(this.#host.htmlFor) ?? null;
    if (source !== this.#forSource) {
      this.#forSource = isResultProvider(source) ? source : null;
      if (this.#forSource?.result) this.#mirror(this.#forSource);
    }
  }

  #unfollow(): void {
    this.#root?.removeEventListener('bagnet-result', this.#onSourceEvent);
    this.#root?.removeEventListener('bagnet-error', this.#onSourceEvent);
    this.#root = null;
    this.#forSource = null;
  }

  #onSourceEvent = (event: Event) => {
    const origin = event.composedPath()[0];
    if (!(origin instanceof Element) || origin === this.#host) return;
    if (this.#host.resultFrom ? origin !== this.#host.resultFrom : origin.id !== this.#host.htmlFor) return;
    if (!isResultProvider(origin)) return;
    this.#forSource = origin;
    if (event.type === 'bagnet-result') {
      this.#mirror(origin);
    } else {
      const detail = (event as CustomEvent<{ type: BagnetError['type']; message: string }>).detail;
      this.error = new BagnetError(detail.type, detail.message);
      this.result = null;
      this.state = 'error';
      this.#host.requestUpdate();
    }
  };

  #mirror(source: ResultProvider): void {
    if (this.result === source.result) return;
    this.result = source.result;
    this.resultInput = source.resultInput;
    this.backend = source.result?.backend ?? null;
    this.error = null;
    this.state = source.result ? 'result' : 'idle';
    this.#host.requestUpdate();
    if (source.result) emit(this.#host, 'bagnet-result', source.result);
  }
}

const identities = new WeakMap<object, number>();
let nextIdentity = 1;

/** A stable number per object, so a new `image` object triggers a new run but the same one does not. */
function identity(value: object): string {
  let id = identities.get(value);
  if (id === undefined) {
    id = nextIdentity++;
    identities.set(value, id);
  }
  return `#${id}`;
}
