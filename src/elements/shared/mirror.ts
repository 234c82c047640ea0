/**
 * `for="id"` and `resultFrom`: an element that shows another element's classification instead of
 * running the model again. The source is looked up by id in the element's root (or given by
 * reference) and followed through every change: a new result, an error, a cleared input, its
 * removal, another element taking the id.
 */
import type { BagnetError } from '../../core/errors.js';
import type { BackendPreference } from '../../core/protocol.js';
import type { ClassificationResult } from '../../core/result.js';

export type ElementState = 'idle' | 'loading' | 'running' | 'result' | 'error';

/** What a follower sees of its source. */
export interface MirrorSource {
  readonly state: ElementState;
  readonly result: ClassificationResult | null;
  readonly error: BagnetError | null;
  /** The backend the source asks for: work a follower adds (an exact map) runs there too. */
  readonly backendPreference: BackendPreference;
}

/** Connected elements whose classification others can mirror. */
const sources = new WeakMap<Element, MirrorSource>();
/** Followers of each source element. */
const followers = new WeakMap<Element, Set<() => void>>();
/** Mirrors that look their source up by id: a source that comes or goes may be theirs. */
const byId = new Set<ResultMirror>();

/** Whether `element` is a connected bagnet element whose result can be mirrored. */
export function isResultProvider(element: Element | null): boolean {
  return !!element && sources.has(element);
}

/** `element` (connected) offers `source` to followers. */
export function provide(element: Element, source: MirrorSource): void {
  sources.set(element, source);
  for (const mirror of [...byId]) mirror.resolve();
}

/** `element` left the page: its followers let go. */
export function withdraw(element: Element): void {
  sources.delete(element);
  announce(element);
  for (const mirror of [...byId]) mirror.resolve();
}

/** The source's state changed: tell its followers. */
export function announce(element: Element): void {
  for (const changed of [...followers.get(element) ?? []]) changed();
}

export class ResultMirror {
  #target: string | Element | null = null;
  /** Where a source by id is looked up (and where its events are heard). */
  #root: Document | ShadowRoot | null = null;
  #source: Element | null = null;

  constructor(private readonly host: HTMLElement, private readonly onChange: () => void) {}

  /** The source followed now, or null (none, or not a connected bagnet element). */
  get source(): MirrorSource | null {
    return this.#source ? sources.get(this.#source) ?? null : null;
  }

  /** Follow an id in the host's root or an element (null: stop). Call again whenever it may have changed. */
  follow(target: string | Element | null): void {
    const root = typeof target === 'string' && target !== '' ? this.host.getRootNode() as Document | ShadowRoot : null;
    if (root !== this.#root) {
      // A source whose id was set after it connected is found when it reports.
      this.#root?.removeEventListener('bagnet-result', this.resolve);
      this.#root?.removeEventListener('bagnet-error', this.resolve);
      root?.addEventListener('bagnet-result', this.resolve);
      root?.addEventListener('bagnet-error', this.resolve);
      this.#root = root;
    }
    if (root) byId.add(this);
    else byId.delete(this);
    this.#target = target === '' ? null : target;
    this.resolve();
  }

  /** Look the source up again; tells the host when it is another one. */
  resolve = (): void => {
    const target = this.#target;
    const element = typeof target === 'string' ? this.#root?.getElementById?.(target) ?? null : target;
    const source = element !== this.host && isResultProvider(element) ? element : null;
    if (source === this.#source) return;
    if (this.#source) followers.get(this.#source)?.delete(this.onChange);
    if (source) {
      let set = followers.get(source);
      if (!set) followers.set(source, set = new Set());
      set.add(this.onChange);
    }
    this.#source = source;
    this.onChange();
  };
}
