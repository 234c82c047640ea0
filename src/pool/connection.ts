/**
 * One connection to the inference worker (dedicated, or a port of the shared worker): numbered
 * requests, their progress messages, and crash detection that rejects everything still pending.
 */
import { BagnetError, deserializeError } from '../core/errors.js';
import { isFromWorker, type FromWorker, type ProgressPhase, type ToWorker } from '../core/protocol.js';
import type { WorkerSettings } from '../core/settings.js';

type Pending = {
  resolve(value: unknown): void;
  reject(error: unknown): void;
  onProgress?: ((phase: ProgressPhase, loaded: number, total: number) => void) | undefined;
  onLevel?: ((level: number, map: Float32Array, runs: number) => void) | undefined;
};

/** Distributive Omit, so each message variant keeps its own fields. */
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;
export type RequestMessage = WithoutId<Extract<ToWorker, { id: number }>>;
export type NotifyMessage = Exclude<ToWorker, { id: number }>;

export interface ConnectionEvents {
  onBackend(message: Extract<FromWorker, { type: 'backend' }>): void;
  /** The worker died; every pending request has been rejected. */
  onCrash(error: BagnetError): void;
}

export class WorkerConnection {
  readonly mode: 'dedicated' | 'shared';
  readonly #postNow: (message: ToWorker | ToWorker[], transfer: Transferable[]) => void;
  /** Messages of this task, sent together at its end: one message event for 16 images instead of 16. */
  #outbox: { message: ToWorker; transfer: Transferable[] }[] = [];
  readonly #close: () => void;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed = false;
  /** Why the connection closed: later requests reject with the same error. */
  #closedError: BagnetError | null = null;

  constructor(url: string, shared: boolean, settings: WorkerSettings, private readonly events: ConnectionEvents) {
    const onMessage = (event: MessageEvent) => this.#receive(event.data);
    const onCrash = (event: Event) => {
      event.preventDefault(); // handled here: do not report it as the page's own uncaught error
      const detail = event instanceof ErrorEvent && event.message ? `: ${event.message}` : '';
      this.#crash(new BagnetError('inference', `The inference worker stopped unexpectedly${detail}`));
    };
    if (shared && typeof SharedWorker !== 'undefined') {
      const worker = new SharedWorker(url, { type: 'module', name: 'bagnet-elements' });
      const port = worker.port;
      port.addEventListener('message', onMessage);
      port.addEventListener('messageerror', onCrash);
      worker.addEventListener('error', onCrash);
      port.start();
      this.mode = 'shared';
      this.#postNow = (message, transfer) => port.postMessage(message, transfer);
      const bye = () => port.postMessage({ type: 'bye' } satisfies ToWorker);
      globalThis.addEventListener?.('pagehide', bye);
      this.#close = () => {
        globalThis.removeEventListener?.('pagehide', bye);
        bye();
        port.close();
      };
    } else {
      const worker = new Worker(url, { type: 'module', name: 'bagnet-elements' });
      worker.addEventListener('message', onMessage);
      worker.addEventListener('messageerror', onCrash);
      worker.addEventListener('error', onCrash);
      this.mode = 'dedicated';
      this.#postNow = (message, transfer) => worker.postMessage(message, transfer);
      this.#close = () => worker.terminate();
    }
    this.#post({ type: 'init', settings }, []);
  }

  get closed(): boolean {
    return this.#closed;
  }

  request<T>(message: RequestMessage,
             options: { transfer?: Transferable[]; onProgress?: Pending['onProgress']; onLevel?: Pending['onLevel'] } = {}): Promise<T> {
    if (this.#closed) return Promise.reject(this.#closedError ?? new BagnetError('inference', 'The inference worker is gone'));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onProgress: options.onProgress, onLevel: options.onLevel });
      this.#post({ ...message, id } as ToWorker, options.transfer ?? []);
    });
  }

  #post(message: ToWorker, transfer: Transferable[]): void {
    if (this.#outbox.push({ message, transfer }) === 1) queueMicrotask(() => this.#flush());
  }

  #flush(): void {
    const outbox = this.#outbox;
    this.#outbox = [];
    if (this.#closed) return;
    try {
      this.#postNow(outbox.length === 1 ? outbox[0]!.message : outbox.map((m) => m.message), outbox.flatMap((m) => m.transfer));
      return;
    } catch {
      // One of them cannot be cloned: send them one by one, so only that request fails.
    }
    for (const { message, transfer } of outbox) {
      try {
        this.#postNow(message, transfer);
      } catch (cause) {
        if (!('id' in message)) continue;
        this.#pending.get(message.id)?.reject(new BagnetError('inference', `Could not send the request to the worker: ${String(cause)}`, { cause }));
        this.#pending.delete(message.id);
      }
    }
  }

  notify(message: NotifyMessage): void {
    if (!this.#closed) this.#post(message, []);
  }

  #receive(data: unknown): void {
    if (!isFromWorker(data)) return; // not ours: ignore
    switch (data.type) {
      case 'progress':
        this.#pending.get(data.id)?.onProgress?.(data.phase, data.loaded, data.total);
        return;
      case 'exact-level':
        this.#pending.get(data.id)?.onLevel?.(data.level, data.map, data.runs);
        return;
      case 'backend':
        this.events.onBackend(data);
        return;
      case 'reply': {
        const pending = this.#pending.get(data.id);
        if (!pending) return;
        this.#pending.delete(data.id);
        if (data.ok) pending.resolve(data.value);
        else pending.reject(deserializeError(data.error));
      }
    }
  }

  #crash(error: BagnetError): void {
    if (this.#closed) return;
    this.terminate(error);
    this.events.onCrash(error);
  }

  /** Stop the worker; pending requests reject with `error`. */
  terminate(error = new BagnetError('aborted', 'The inference pool was shut down')): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closedError = error;
    this.#close();
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}
