/**
 * `for="id"` and `resultFrom`: an element that shows another element's classification instead of
 * running the model again. The source is looked up by id in the element's root (or given by
 * reference) and followed through every change: a new result, an error, a cleared input, its
 * removal and return, another element taking the id. A chain that comes back to an element
 * (A for B, B for A) mirrors nothing.
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
  /** The element the source itself mirrors, if any (to refuse cycles). */
  readonly mirrors: Element | null;
}

/** Connected elements whose classification others can mirror. */
const sources = new WeakMap<Element, MirrorSource>();
/** Followers of each source element. */
const followers = new WeakMap<Element, Set<() => void>>();
/** Every mirror that follows something: a source that comes or goes may be theirs. */
const following = new Set<ResultMirror>();

/** `element` (connected) offers `source` to followers. */
export function provide(element: Element, source: MirrorSource): void {
  sources.set(element, source);
  for (const mirror of [...following]) mirror.resolve();
}

/** `element` left the page: its followers let go. */
export function withdraw(element: Element): void {
  sources.delete(element);
  for (const mirror of [...following]) mirror.resolve();
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

  /** The element followed now, or null (none, not a connected bagnet element, or a cycle). */
  get element(): Element | null {
    return this.#source;
  }

  /** What the followed element shows, or null. */
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
    this.#target = target === '' ? null : target;
    if (this.#target) following.add(this);
    else following.delete(this);
    this.resolve();
  }

  /** Look the source up again; tells the host when it is another one. */
  resolve = (): void => {
    const target = this.#target;
    const element = typeof target === 'string' ? this.#root?.getElementById?.(target) ?? null : target;
    const source = element && sources.has(element) && !this.#leadsBack(element) ? element : null;
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

  /** Whether following `element` would come back to the host. */
  #leadsBack(element: Element): boolean {
    const seen = new Set<Element>();
    for (let at: Element | null = element; at; at = sources.get(at)?.mirrors ?? null) {
      if (at === this.host || seen.has(at)) return true;
      seen.add(at);
    }
    return false;
  }
}
