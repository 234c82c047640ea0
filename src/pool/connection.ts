/**
 * One connection to the inference worker (dedicated, or a port of the shared worker): numbered
 * requests, their progress messages, and crash detection that rejects everything still pending.
 *
 * Crashes are detected two ways: the worker's `error` event (a dedicated worker's uncaught error, a
 * script that fails to load), and a ping left unanswered while requests wait. The second is the only
 * way to see a shared worker die (out of memory, killed): its `error` event reports script loading
 * only, and Chromium fires no `close` event on its port (measured in Chromium 156).
 */
import { BagnetError, deserializeError } from '../core/errors.js';
import { isFromWorker, type FromWorker, type ProgressPhase, type ToWorker } from '../core/protocol.js';
import { refetch } from '../core/refetch.js';
import { DEFAULT_POOL_SETTINGS, type WorkerSettings } from '../core/settings.js';

/** Least time a new worker is given to load before its silence counts (its first word ends it). */
const STARTUP_GRACE_MS = 10_000;

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

/**
 * The package's own worker. Bundlers (Vite, webpack, Next.js, Parcel) bundle a worker, imports and
 * all, only where they see this literal pattern, so it stays literal, here and nowhere else (the
 * embed build's rollup plugin rewrites the same text).
 */
function startOwnWorker(shared: false, name: string): Worker;
function startOwnWorker(shared: true, name: string): SharedWorker;
function startOwnWorker(shared: boolean, name: string): Worker | SharedWorker {
  return shared
    ? new SharedWorker(new URL('./bagnet-worker.js', import.meta.url), { type: 'module', name })
    : new Worker(new URL('./bagnet-worker.js', import.meta.url), { type: 'module', name });
}

/**
 * Where the package's own worker is when no bundler moved it (only to explain a failure: a path in a
 * variable, so that bundlers do not copy the file as an asset).
 */
const OWN_WORKER_PATH = './bagnet-worker.js';

/** Why a worker module at `url` did not start, from what fetching it again tells. */
async function whyWorkerFailed(given: string | undefined): Promise<string> {
  const url = given ?? new URL(OWN_WORKER_PATH, import.meta.url).href;
  const failed = `The inference worker did not start from ${url}`;
  const help = ' (see "Using a bundler" in the README; configure({ workerUrl }) points at your own copy)';
  const response = await refetch(url);
  if (typeof response === 'string') return `${failed}: ${response}${help}`;
  const type = response.headers.get('content-type') ?? '';
  if (!/javascript|ecmascript/i.test(type)) return `${failed}: it is served as "${type || 'no type'}", not JavaScript${help}`;
  return `${failed}: the module or one of its imports failed to load, or it threw as it started (an import the `
    + `bundler did not resolve, such as a bare "onnxruntime-web"?)${help}`;
}

/** Shared workers started by this page after a crash: a new name, so the browser starts a new instance. */
let sharedGeneration = 0;

export interface ConnectionOptions {
  /** How long a ping may stay unanswered while requests wait, before the worker counts as crashed. */
  readonly timeoutMs: number;
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
  readonly #timeoutMs: number;
  /** When the worker last said anything, and when the unanswered ping (if any) left. */
  #heardAt = 0;
  #pingedAt: number | null = null;
  /** Until when the worker may be silent: it announced a blocking step (`busy`) and sent nothing since. */
  #busyUntil = 0;
  #checkedAt = 0;
  /** Whether this connection ever heard its worker (a shared one that never answers may be hung, not gone). */
  #heardAny = false;
  #watch: ReturnType<typeof setInterval> | undefined;
  /** The worker's URL when the page chose it; undefined for the package's own. */
  readonly #url: string | undefined;

  /** `url`: a worker module of the page's choosing; undefined for the package's own worker. */
  constructor(url: string | undefined, shared: boolean, settings: WorkerSettings, private readonly events: ConnectionEvents,
              options: ConnectionOptions = { timeoutMs: DEFAULT_POOL_SETTINGS.workerTimeoutMs }) {
    this.#timeoutMs = options.timeoutMs;
    this.#url = url;
    const onMessage = (event: MessageEvent) => this.#receive(event.data);
    const onCrash = (event: Event) => {
      event.preventDefault(); // handled here: do not report it as the page's own uncaught error
      if (!this.#heardAny) {
        // It never said a word: most likely it never started. Say which URL and why.
        void whyWorkerFailed(url).then((why) => this.#crash(new BagnetError('inference', why)));
        return;
      }
      const detail = event instanceof ErrorEvent && event.message ? `: ${event.message}` : '';
      this.#crash(new BagnetError('inference', `The inference worker stopped unexpectedly${detail}`));
    };
    if (shared && typeof SharedWorker !== 'undefined') {
      const name = sharedGeneration === 0 ? 'bagnet-elements' : `bagnet-elements-${sharedGeneration + 1}`;
      const worker = url === undefined ? startOwnWorker(true, name) : new SharedWorker(url, { type: 'module', name });
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
      const worker = url === undefined ? startOwnWorker(false, 'bagnet-elements') : new Worker(url, { type: 'module', name: 'bagnet-elements' });
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
      if (this.#pending.size === 0) this.#startWatch();
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onProgress: options.onProgress, onLevel: options.onLevel });
      this.#post({ ...message, id } as ToWorker, options.transfer ?? []);
    });
  }

  /**
   * While requests wait, ping the worker when it has been quiet for a while; a ping unanswered for
   * `timeoutMs` means it is gone. Only an unanswered ping counts, and not while the worker said it
   * runs a session (`busy`: a WASM run blocks it, and a batch may take longer than the timeout).
   * After a gap in this page's own timers (a background tab, a frozen page, a long task) the
   * worker's answer may still be on its way: ping again rather than judge.
   */
  #startWatch(): void {
    this.#heardAt = this.#checkedAt = performance.now();
    this.#pingedAt = null;
    clearInterval(this.#watch);
    this.#watch = setInterval(() => this.#checkAlive(), this.#interval);
  }

  get #interval(): number {
    return Math.max(50, this.#timeoutMs / 4);
  }

  #checkAlive(): void {
    if (this.#pending.size === 0 || this.#closed) {
      clearInterval(this.#watch);
      this.#watch = undefined;
      return;
    }
    const now = performance.now();
    const gap = now - this.#checkedAt > 2 * this.#interval;
    this.#checkedAt = now;
    const pingAnswered = this.#pingedAt === null || this.#heardAt >= this.#pingedAt;
    if (gap || now < this.#busyUntil) {
      if (!pingAnswered) this.#pingedAt = null; // judged afresh from the next ping
      return;
    }
    // A worker that has not said a word yet may still be loading its modules (seconds on a slow or
    // busy machine): it gets at least STARTUP_GRACE_MS, whatever a short timeout for runs says.
    const limit = this.#heardAny ? this.#timeoutMs : Math.max(this.#timeoutMs, STARTUP_GRACE_MS);
    if (!pingAnswered && now - this.#pingedAt! > limit) {
      const seconds = (limit / 1000).toFixed(1);
      if (!this.#heardAny) {
        // Never a word: it most likely never started (Firefox reports a module worker whose import
        // failed to nobody). Say which URL and why, as for an `error` event.
        clearInterval(this.#watch);
        void whyWorkerFailed(this.#url).then((why) => this.#crash(new BagnetError('inference', `${why}; it did not answer for ${seconds} s`)));
        return;
      }
      this.#crash(new BagnetError('inference', `The inference worker stopped unexpectedly: it did not answer for ${seconds} s`));
    } else if (pingAnswered && now - this.#heardAt > this.#timeoutMs / 4) {
      this.#pingedAt = now;
      this.#post({ type: 'ping' }, []);
    }
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
    this.#heardAt = performance.now();
    this.#heardAny = true;
    // The worker announces a block (`busy`) just before it; whatever it sends next comes after it.
    this.#busyUntil = data.type === 'busy' ? this.#heardAt + data.ms : 0;
    switch (data.type) {
      case 'pong':
      case 'busy':
        return;
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
    // A shared worker that died is gone: the next connection under its name starts a new instance. One
    // that never answered this connection may be hung, and would be joined again: use a new name.
    if (this.mode === 'shared' && !this.#heardAny) sharedGeneration++;
    this.terminate(error);
    this.events.onCrash(error);
  }

  /** Stop the worker; pending requests reject with `error`. */
  terminate(error = new BagnetError('aborted', 'The inference pool was shut down')): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closedError = error;
    clearInterval(this.#watch);
    this.#close();
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}
