/**
 * Async work for the current inputs: the one mechanism the elements and the Cornerstone overlay use
 * to start work, abort it when its inputs change and drop answers that arrive too late. The
 * semantics of `@lit/task`, without needing a lit host:
 * - `update(args)` starts a run only when the arguments changed (element by element, by identity);
 * - every run has its own AbortController, aborted when a newer run starts, on `clear()`, and when
 *   the run fails (what else it started, the other images of a set say, stops too);
 * - a run id drops whatever an older run resolves or rejects with;
 * - `status` is one field: `idle`, `pending`, `complete` or `error`.
 *
 * ```ts
 * const run = new AsyncRun(([url]: [string], signal) => classify(url, { model, signal }), () => host.requestUpdate());
 * run.update(['a.png']); // starts
 * run.update(['a.png']); // same arguments: nothing
 * run.update(['b.png']); // aborts the first run; only b's answer is ever reported
 * ```
 */
import { toBagnetError, type BagnetError } from '../../core/errors.js';

export type RunStatus = 'idle' | 'pending' | 'complete' | 'error';

export class AsyncRun<Args extends readonly unknown[], Value> {
  status: RunStatus = 'idle';
  /** The value of the latest complete run (kept while a newer run is pending; cleared by an error or `clear()`). */
  value: Value | undefined = undefined;
  /** Why the latest run failed (null unless `status` is `error`). */
  error: BagnetError | null = null;
  #args: Args | null = null;
  #abort: AbortController | null = null;
  #id = 0;
  /** Callers of `settled()` waiting for the current run. */
  #waiting: (() => void)[] = [];

  constructor(private readonly task: (args: Args, signal: AbortSignal) => Promise<Value>,
              /** Called on every status change of the current run, never for a stale one. */
              private readonly onChange: () => void) {}

  /** The arguments of the current run (null when idle). */
  get args(): Args | null {
    return this.#args;
  }

  /** Run for `args` unless they equal the current ones; `null` means nothing to do (see `clear`). */
  update(args: Args | null): void {
    if (args === null) {
      if (this.#args !== null || this.status !== 'idle') this.clear();
      return;
    }
    if (!sameArgs(args, this.#args)) this.#start(args);
  }

  /** Resolves once no run is pending (at once when none is): after `complete`, `error` or `idle`. */
  settled(): Promise<void> {
    return this.status === 'pending' ? new Promise((resolve) => this.#waiting.push(resolve)) : Promise.resolve();
  }

  /** Run the current arguments again (after an error, or when the work they did was lost). */
  rerun(): void {
    if (this.#args) this.#start(this.#args);
  }

  /** Abort what runs, forget the arguments and the value: `idle`. */
  clear(): void {
    this.#abort?.abort();
    this.#abort = null;
    this.#id++;
    this.#args = null;
    this.status = 'idle';
    this.value = undefined;
    this.error = null;
    this.#changed();
  }

  #changed(): void {
    this.onChange();
    if (this.status !== 'pending') this.#waiting.splice(0).forEach((resolve) => resolve());
  }

  #start(args: Args): void {
    this.#abort?.abort();
    const abort = new AbortController();
    const id = ++this.#id;
    this.#abort = abort;
    this.#args = args;
    this.status = 'pending';
    this.error = null;
    this.onChange();
    let work: Promise<Value>;
    try {
      work = this.task(args, abort.signal);
    } catch (cause) {
      work = Promise.reject(cause);
    }
    work.then((value) => {
      if (id !== this.#id) return;
      this.#abort = null;
      this.status = 'complete';
      this.value = value;
      this.#changed();
    }, (cause: unknown) => {
      if (id !== this.#id) return;
      abort.abort();
      this.#abort = null;
      this.status = 'error';
      this.value = undefined;
      this.error = toBagnetError(cause);
      this.#changed();
    });
  }
}

/** Whether two argument lists are equal element by element, by identity (`Object.is`). */
export function sameArgs(a: readonly unknown[] | null, b: readonly unknown[] | null): boolean {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  return a.every((value, i) => Object.is(value, b[i]));
}

/**
 * The last value of `compute`, recomputed only when its arguments change (compared as above): for
 * derived data that a render (a hover, say) must not compute again.
 */
export class Memo<Args extends readonly unknown[], Value> {
  #args: Args | null = null;
  #value: Value | undefined;

  constructor(private readonly compute: (...args: Args) => Value) {}

  get(...args: Args): Value {
    if (!sameArgs(args, this.#args)) {
      this.#value = this.compute(...args);
      this.#args = args;
    }
    return this.#value as Value;
  }
}
