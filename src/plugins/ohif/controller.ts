/**
 * The extension's state in OHIF: one BagNet overlay per stack viewport of the layout (a second
 * viewport gets its own), the options they share (model, target, resolution, …), and which one is
 * active (the panel shows that one). It follows OHIF's viewport grid: a viewport that gets a new
 * display set or goes away, and the active viewport changing.
 */
import type { Types } from '@cornerstonejs/core';
import { BagnetOverlay, type OverlayOptions } from '../cornerstone/overlay.js';

export interface ModelChoice {
  readonly label: string;
  /** The model's manifest URL. */
  readonly url: string;
}

interface Subscription { unsubscribe(): void }
interface PubSubService {
  readonly EVENTS: Record<string, string>;
  subscribe(event: string, callback: (...args: unknown[]) => void): Subscription;
}

/** The few OHIF services the extension uses (OHIF ships no type declarations). */
export interface OhifServices {
  readonly cornerstoneViewportService: PubSubService & { getCornerstoneViewport(viewportId: string): unknown };
  readonly viewportGridService: PubSubService & {
    getActiveViewportId(): string;
    getState(): { viewports: Map<string, unknown> | Record<string, unknown> };
  };
  readonly customizationService?: { getCustomization(id: string): unknown };
}

type SharedOptions = Omit<OverlayOptions, 'model'> & { readonly model: string | null };

/** Where the controller is (the panel and the commands find it here). */
let current: OhifBagnet | null = null;

export function currentBagnet(): OhifBagnet | null {
  return current;
}

/** Fires `change` when the overlays, the active one or the options change. */
export class OhifBagnet extends EventTarget {
  #options: SharedOptions = { model: null, enabled: true };
  /** Overlays only while the `bagnet` mode is on (and not cleared): other modes are left alone. */
  #attached = false;
  readonly #overlays = new Map<string, { viewport: Types.IStackViewport; overlay: BagnetOverlay }>();
  readonly #subscriptions: Subscription[] = [];
  #disposed = false;

  constructor(private readonly services: OhifServices) {
    super();
    const { cornerstoneViewportService: viewports, viewportGridService: grid } = services;
    const sync = () => this.sync();
    for (const [service, names] of [[viewports, ['VIEWPORT_DATA_CHANGED']], [grid, ['ACTIVE_VIEWPORT_ID_CHANGED', 'GRID_STATE_CHANGED', 'LAYOUT_CHANGED', 'VIEWPORTS_READY']]] as const) {
      for (const name of names) {
        const event = service.EVENTS?.[name];
        if (event) this.#subscriptions.push(service.subscribe(event, sync));
      }
    }
    current = this;
  }

  /** The models a site offers (the `bagnet.models` customization), the first one by default. */
  get models(): readonly ModelChoice[] {
    const configured = this.services.customizationService?.getCustomization('bagnet.models');
    return Array.isArray(configured) && configured.length ? configured as ModelChoice[] : [];
  }

  get options(): Readonly<SharedOptions> {
    return this.#options;
  }

  /** The model in use: the one chosen, else the first of the list. */
  get model(): string | null {
    return this.#options.model ?? this.models[0]?.url ?? null;
  }

  /** The overlay of the active viewport (null when it shows no stack). */
  get active(): BagnetOverlay | null {
    return this.#overlays.get(this.services.viewportGridService.getActiveViewportId())?.overlay ?? null;
  }

  /** Every overlay, by OHIF viewport id. */
  get overlays(): ReadonlyMap<string, BagnetOverlay> {
    return new Map([...this.#overlays].map(([id, { overlay }]) => [id, overlay]));
  }

  /** The Cornerstone viewport an overlay draws on (for checks: it is OHIF's, from OHIF's rendering engine). */
  viewportOf(overlay: BagnetOverlay): Types.IStackViewport | null {
    return [...this.#overlays.values()].find((entry) => entry.overlay === overlay)?.viewport ?? null;
  }

  setOptions(options: Partial<SharedOptions>): void {
    this.#options = { ...this.#options, ...options };
    const model = this.model;
    for (const { overlay } of this.#overlays.values()) {
      const { model: _chosen, ...rest } = options;
      overlay.setOptions(model ? { ...rest, model } : rest);
    }
    this.#changed();
  }

  /** Classify the active viewport's image again. */
  refresh(): Promise<void> {
    return this.active?.refresh() ?? Promise.resolve();
  }

  /** Start attaching overlays (the `bagnet` mode's entry; `bagnetRun`). */
  attach(): void {
    this.#attached = true;
    this.sync();
  }

  /** Attach an overlay to every stack viewport that lacks one; drop those whose viewport went away. */
  sync(): void {
    if (this.#disposed || !this.#attached) return;
    const model = this.model;
    const { viewports } = this.services.viewportGridService.getState();
    const ids = new Set(viewports instanceof Map ? viewports.keys() : Object.keys(viewports));
    let changed = false;
    for (const [id, entry] of this.#overlays) {
      const viewport = this.services.cornerstoneViewportService.getCornerstoneViewport(id);
      if (!ids.has(id) || viewport !== entry.viewport) {
        entry.overlay.destroy();
        this.#overlays.delete(id);
        changed = true;
      }
    }
    for (const id of ids) {
      if (this.#overlays.has(id) || !model) continue;
      const viewport = this.services.cornerstoneViewportService.getCornerstoneViewport(id) as Types.IStackViewport | undefined;
      if (!isStackViewport(viewport)) continue;
      const { model: _chosen, ...shared } = this.#options;
      const overlay = new BagnetOverlay(viewport, { ...shared, model });
      overlay.addEventListener('bagnet-result', () => this.#changed());
      overlay.addEventListener('bagnet-error', () => this.#changed());
      this.#overlays.set(id, { viewport, overlay });
      changed = true;
    }
    if (changed) this.#changed();
    else this.dispatchEvent(new Event('change')); // the active viewport may have changed
  }

  /** Remove every overlay and attach none until `attach()` (leaving the mode; `bagnetClear`). */
  detachAll(): void {
    this.#attached = false;
    for (const { overlay } of this.#overlays.values()) overlay.destroy();
    this.#overlays.clear();
    this.#changed();
  }

  dispose(): void {
    this.detachAll();
    this.#subscriptions.splice(0).forEach((s) => s.unsubscribe());
    this.#disposed = true;
    if (current === this) current = null;
  }

  #changed(): void {
    this.dispatchEvent(new Event('change'));
  }
}

function isStackViewport(viewport: unknown): viewport is Types.IStackViewport {
  const candidate = viewport as Partial<Types.IStackViewport> | undefined;
  return typeof candidate?.getCurrentImageId === 'function' && typeof candidate.setStack === 'function' && !!candidate.element;
}
