import { html, nothing, type PropertyValues } from 'lit';
import { property, state } from 'lit/decorators.js';
import { colormapGradient, COLORMAPS, type ColormapName } from '../../core/colormap.js';
import type { BagnetError } from '../../core/errors.js';
import { cellAt, cellBox, patchAround, type PixelBox } from '../../core/geometry.js';
import {
  cellDrawBox, cellsMeeting, colorize, selectionRgba, evidenceScale, fastMap, HEATMAP_DEFAULTS, overlayEdges, paintEvidence, spreadCells, type SignFilter, type ThresholdMode,
} from '../../core/heatmap.js';
import type { ClassificationResult } from '../../core/result.js';
import type { EditFill } from '../../core/edits.js';
import { ablate, contrastCells, runnerUp, type Ablation, type AblationMode } from '../../core/whatif.js';
import { connectToPool } from '../../pool/pool.js';
import { AsyncRun, Memo } from '../shared/async-run.js';
import { BagnetElementBase } from '../shared/base.js';
import { ClassificationController, type ElementState } from '../shared/classification-controller.js';
import { emit, emitError, type BagnetPatchDetail } from '../shared/events.js';
import { ExactMapJob } from '../shared/exact-map-job.js';
import { drawOnce } from '../shared/image-view.js';
import { resolveTarget, unknownContrast, unknownTarget } from '../shared/target.js';
import { heatmapStyles } from './bagnet-heatmap.styles.js';
import type { HeatmapTool, WhatIfHost } from './whatif-panel.js';
import { EditChain, type HeatmapEdit, type HeatmapFill } from '../shared/edit-chain.js';

export type { HeatmapEdit, HeatmapFill, HeatmapTool };

/** What `toBlob()` / `toDataURL()` draw. */
export interface FigureOptions {
  /** Pixels per model-input pixel (default 1: the model input's size). */
  readonly scale?: number;
  /** Draw the legend (colormap, scale, target, resolution) under the map (default true). */
  readonly legend?: boolean;
}

type WhatIfModule = typeof import('./whatif-panel.js');
let whatIfModule: Promise<WhatIfModule> | null = null;
/** The what-if panel's chunk, fetched the first time any heatmap needs it. */
function loadWhatIf(): Promise<WhatIfModule> {
  whatIfModule ??= import('./whatif-panel.js');
  return whatIfModule;
}

/** The mask-free edit boxes in model-input pixels a drag gives. */
function dragBox(drag: { x0: number; y0: number; x1: number; y1: number }): PixelBox {
  const x = Math.min(drag.x0, drag.x1);
  const y = Math.min(drag.y0, drag.y1);
  return { x, y, width: Math.abs(drag.x1 - drag.x0) + 1, height: Math.abs(drag.y1 - drag.y0) + 1 };
}

export type HeatmapMode = 'overlay' | 'side-by-side' | 'edges';
export type HeatmapResolution = 'fast' | 'exact';

/** How many classes the hover card lists besides the target (their exact maps are computed with it). */
const HOVER_CLASSES = 3;

interface MapState {
  /** Values over the model input's pixels (`width`×`height`); NaN where no cell is drawn. */
  readonly values: Float32Array;
  readonly width: number;
  readonly height: number;
  /** 'fast': the stride map; otherwise the refinement level of the exact map (1 = final). */
  readonly level: number | 'fast';
}

interface Painted {
  readonly image: ImageData;
  /** The colour scale used: ±scale. */
  readonly scale: number;
}

/**
 * The evidence for one class, drawn over the image as the authors plot it: a diverging colormap
 * on a symmetric scale, from the stride map at once, or the exact full-resolution map as it sharpens.
 *
 * @summary Where in the image the evidence for a class comes from, patch by patch.
 *
 * @fires bagnet-progress - Model download/compile progress: `{phase, loaded, total}`.
 * @fires bagnet-load - The model is ready: `{model, backend}`.
 * @fires bagnet-backend - Which backend runs and why: `{requested, actual, reason}`.
 * @fires bagnet-result - The classification behind the map.
 * @fires bagnet-refine - The exact map got sharper: `{level, final}` (level = pixels between samples).
 * @fires bagnet-patch - The patch under the pointer, or pinned by a click: `{x, y, box, evidence, pinned}`.
 * @fires bagnet-whatif - The selection changed: `{selection, ablation, result}` (result: the exact ablation).
 * @fires bagnet-error - Something failed: `{type, message, cause}`.
 *
 * @slot progress - Replaces the built-in progress bar.
 * @slot error - Replaces the built-in error message.
 *
 * @csspart base - The wrapper.
 * @csspart figure - The image(s) and map.
 * @csspart image - The image canvas.
 * @csspart heatmap - The heatmap canvas.
 * @csspart patch - The outline of the hovered or pinned patch.
 * @csspart tooltip - The evidence of that patch.
 * @csspart legend - The colour scale.
 * @csspart selection - The selected patches, hatched over the map.
 * @csspart marquee - The box being dragged.
 * @csspart whatif - The what-if panel (ablation table, tools, edits).
 * @csspart curve - The patch-removal curve.
 * @csspart progress - The progress bar.
 * @csspart error - The error message.
 *
 * @cssprop --bagnet-accent - Progress colour and patch outline.
 * @cssprop --bagnet-heatmap-size - Displayed width of the image (default 280px).
 * @cssprop --bagnet-surface - Background.
 * @cssprop --bagnet-radius - Corner radius.
 * @cssprop --bagnet-font - Font shorthand.
 */
export class BagnetHeatmap extends BagnetElementBase {
  static override styles = heatmapStyles;

  /** The class to explain: an index or a label. Default: the top-1 class. */
  @property({ reflect: true, useDefault: true }) target = '';

  /** `rdbu` (the authors' RdBu_r), `coolwarm`, `bwr`, `viridis`, `magma` or `gray`. */
  @property({ reflect: true, useDefault: true }) colormap: ColormapName = HEATMAP_DEFAULTS.colormap;

  /** The colour scale is ±(this percentile of |evidence|). */
  @property({ type: Number, reflect: true, useDefault: true }) percentile = HEATMAP_DEFAULTS.percentile;

  /** A fixed colour scale ±scale (to compare images); overrides `percentile` when > 0. */
  @property({ type: Number, reflect: true, useDefault: true }) scale = 0;

  /** Heatmap opacity in `overlay` mode. */
  @property({ type: Number, reflect: true, useDefault: true }) opacity = 0.75;

  /** `overlay` (map over the image), `side-by-side`, or `edges` (the image's edges over the map, as in the paper). */
  @property({ reflect: true, useDefault: true }) mode: HeatmapMode = 'overlay';

  /** Show `all` evidence, only `positive` or only `negative`. */
  @property({ reflect: true, useDefault: true }) sign: SignFilter = 'all';

  /** Evidence magnitude below which the map is blank (appendix A.1); 0 = off. */
  @property({ type: Number, reflect: true, useDefault: true }) threshold = 0;

  /** `clip` (keep values above the threshold) or `binary` (±1 above, 0 below). */
  @property({ attribute: 'threshold-mode', reflect: true, useDefault: true }) thresholdMode: ThresholdMode = 'clip';

  /** `fast`: the stride map of the classification itself; `exact`: the full-resolution map, refined progressively. */
  @property({ reflect: true, useDefault: true }) resolution: HeatmapResolution = 'fast';

  /** The image's accessible description. */
  @property() alt = '';

  /**
   * Contrast the target with this class (index or label): the map of evidence target − contrast,
   * whose mean is exactly the logit margin. Empty: the most probable class other than the target.
   * Absent (null): no contrast.
   */
  @property({ reflect: true }) contrast: string | null = null;

  /** Selected evidence cells (`row * cols + col`): removed from the bag, or kept alone (`ablation`). */
  @property({ attribute: false }) selection: readonly number[] = [];

  /** `remove`: the selected patches leave the bag; `keep`: only they stay. Exact either way. */
  @property({ reflect: true, useDefault: true }) ablation: AblationMode = 'remove';

  /** Show the what-if panel and tools (the panel also shows once patches are selected or pixels edited). */
  @property({ type: Boolean, reflect: true, useDefault: true }) whatif = false;

  /**
   * What the pointer does on the map: `inspect` (hover, click pins), `select` (drag a box of patches),
   * `brush` (paint patches), `edit` (drag a box of pixels to fill), `paint` (paint pixels to fill).
   */
  @property({ reflect: true, useDefault: true }) tool: HeatmapTool = 'inspect';

  /** How the `edit` tool fills: `background` (the model's), `mean`, `blur` or `image` (`fillImage`). */
  @property({ reflect: true, useDefault: true }) fill: HeatmapFill = 'background';

  /** The image pasted by the `image` fill: RGBA at the model input's size. */
  @property({ attribute: false }) fillImage: ImageData | null = null;

  /** Pixel edits of the model input, applied in order and re-scored exactly (`InferencePool.rescore`). */
  @property({ attribute: false }) edits: readonly HeatmapEdit[] = [];

  @state() private hovered: BagnetPatchDetail | null = null;
  @state() private pinned: BagnetPatchDetail | null = null;
  @state() private drag: { x0: number; y0: number; x1: number; y1: number; mode: 'add' | 'remove' } | null = null;
  /** The k of the last "remove the k most informative patches". */
  @state() private removedTop: number | null = null;
  @state() private whatIfPanel: WhatIfModule | null = null;

  protected readonly classification = new ClassificationController(this);
  readonly #exact = new ExactMapJob(() => this.#exactChanged());
  readonly #targets = new Memo((result: ClassificationResult, target: string) => resolveTarget(target, result));
  readonly #targetErrors = new Memo(unknownTarget);
  readonly #fastMaps = new Memo((result: ClassificationResult, index: number, versus: number | null): MapState =>
    ({ ...(versus === null ? fastMap(result, index) : spreadCells(result, contrastCells(result.evidence, index, versus))), level: 'fast' }));
  readonly #contrastViews = new Memo((a: MapState, b: MapState): MapState => {
    const values = new Float32Array(a.values.length);
    for (let i = 0; i < values.length; i++) values[i] = a.values[i]! - b.values[i]!;
    return { ...a, values };
  });
  readonly #contrastErrors = new Memo(unknownContrast);
  readonly #selectionLayer = new Memo(selectionImage);
  /** Edits applied in order, each re-scoring the result before it: one AsyncRun (aborted when they change). */
  readonly #editChain = new EditChain();
  readonly #rescoring = new AsyncRun(([base, ...edits]: readonly [ClassificationResult, ...HeatmapEdit[]], signal: AbortSignal) =>
    this.#editChain.apply(base, edits, this.fillImage, signal), () => this.#rescoringChanged());
  /** The classification the edits / the selection were set for ('next': set while one ran). */
  #editsFor: ClassificationResult | 'next' | null = null;
  #selectionFor: ClassificationResult | 'next' | null = null;
  readonly #painted = new Memo(paint);
  /** The last error reported with `bagnet-error` (each is reported once), and the result it was about. */
  #reported: BagnetError | null = null;
  #reportedAbout: ClassificationResult | null = null;
  #refinedTo: unknown = null;
  #pinnedOn: MapState | null = null;

  /** The index of the class shown, or null (no result, or an unknown target). */
  get targetIndex(): number | null {
    const result = this.classification.result;
    return result ? this.#targets.get(result, this.target) : null;
  }

  /** The class the target is contrasted with, or null (no `contrast`, or an unknown one). */
  get contrastIndex(): number | null {
    const result = this.classification.result;
    const index = this.targetIndex;
    if (!result || index === null || this.contrast === null) return null;
    if (this.contrast.trim() === '') return runnerUp(result.logits, index);
    return resolveTarget(this.contrast, result);
  }

  /**
   * The exact ablation of `selection` on the result shown (null without a selection): every class's
   * logit and probability with those patches removed from the bag or kept alone. Throws nothing: an
   * empty bag is reported in the panel and here as null.
   */
  get whatIf(): Ablation | null {
    const result = this.classification.result;
    if (!result || this.selection.length === 0) return null;
    try {
      return ablate(result.evidence, this.selection, this.ablation);
    } catch {
      return null;
    }
  }

  /** Select the `k` patches with the most evidence for the target and remove them from the bag (the patch-removal experiment). */
  removeMostInformative(k: number): void {
    const result = this.classification.result;
    const index = this.targetIndex;
    if (!result || index === null) return;
    const { classes, data } = result.evidence;
    if (!Number.isFinite(k)) return;
    const n = result.evidence.rows * result.evidence.cols;
    // k = n is allowed through: the panel then says why an empty bag is refused.
    const count = Math.max(1, Math.min(n, Math.round(k)));
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => data[b * classes + index]! - data[a * classes + index]! || a - b);
    this.removedTop = count;
    this.ablation = 'remove';
    this.#select(order.slice(0, count).sort((a, b) => a - b));
  }

  /** Apply a pixel edit (appended to `edits`); the result shown becomes the edited image's, re-scored exactly. */
  edit(edit: HeatmapEdit): void {
    this.edits = [...this.edits, edit];
  }

  /** Settles once the current edits are re-scored: the result shown then, or null (no edits, or they failed). */
  get editsComplete(): Promise<ClassificationResult | null> {
    return this.updateComplete
      .then(() => this.#rescoring.settled())
      .then(() => (this.#rescoring.status === 'complete' ? this.classification.result : null));
  }

  #disconnectPool: (() => void) | null = null;

  #rescoringChanged(): void {
    const { status } = this.#rescoring;
    // While edits are re-scored, a disposed pool takes the work along: do it again on the next pool.
    if (status === 'pending') this.#disconnectPool ??= connectToPool({ onDispose: () => this.#rescoring.rerun() });
    else {
      this.#disconnectPool?.();
      this.#disconnectPool = null;
    }
    if (status === 'complete') this.classification.showEdited(this.#rescoring.value ?? null);
    // Idle (no edits) or failed (a bad edit: an error, reported with the classification shown).
    if (status === 'idle' || status === 'error') this.classification.showEdited(null);
    this.requestUpdate();
  }

  #select(cells: readonly number[]): void {
    this.selection = cells;
    emit(this, 'bagnet-whatif', { selection: cells, ablation: this.ablation, result: this.whatIf });
  }

  /** The scale the colours use (±scale), as last drawn. */
  get colorScale(): number {
    return this.#lastPainted?.scale ?? 1;
  }

  #lastPainted: Painted | null = null;

  /** `error` also when the target is unknown or the exact map failed (the fast map stays shown then). */
  override get state(): ElementState {
    const state = this.classification.state;
    return state === 'result' && this.#ownError() ? 'error' : state;
  }

  override get error(): BagnetError | null {
    return this.classification.state === 'result' ? this.#ownError() : super.error;
  }

  /** A failure of this element's own work on a good classification. */
  #ownError(): BagnetError | null {
    const result = this.classification.result;
    if (!result) return null;
    return this.#targetErrors.get(result, this.target) ?? this.#contrastErrors.get(result, this.contrast) ?? this.#rescoring.error
      ?? (this.resolution === 'exact' ? this.#exact.error : null);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.#exact.stop(); // a finished map stays: moving the element computes nothing again
    if (this.#rescoring.status === 'pending') this.#rescoring.clear(); // re-scored again when it comes back
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    super.willUpdate(changed);
    if (!COLORMAPS.includes(this.colormap)) this.colormap = HEATMAP_DEFAULTS.colormap;
    const base = this.classification.state === 'result' ? this.classification.baseResult : null;
    // Edits and a selection belong to the classification shown when they were set (or, set while
    // one runs, to the next one): a later classification (another image, say) clears them.
    if (changed.has('edits')) this.#editsFor = base ?? 'next';
    if (changed.has('selection')) this.#selectionFor = base ?? 'next';
    if (base && this.#editsFor !== base) {
      if (this.#editsFor !== 'next' && this.#editsFor !== null && this.edits.length > 0) this.edits = [];
      this.#editsFor = base;
    }
    if (base && this.#selectionFor !== base) {
      if (this.#selectionFor !== 'next' && this.#selectionFor !== null && this.selection.length > 0) {
        this.removedTop = null;
        this.#select([]);
      }
      this.#selectionFor = base;
    }
    this.#editChain.keepOnly(base);
    if (changed.has('edits') || base !== this.#rescoring.args?.[0]) {
      this.#rescoring.update(base && this.edits.length > 0 && this.isConnected ? [base, ...this.edits] : null);
    }
    const result = this.classification.result;
    const index = this.targetIndex;
    const versus = this.contrastIndex;
    // Only for the result shown as final (not while a new image is classified), and only on the page.
    this.#exact.update(result && index !== null && this.resolution === 'exact' && this.classification.state === 'result' && this.isConnected
      ? {
        result, backend: this.classification.backendPreference,
        // The hover classes of the classification itself: the same set after an edit, so its map updates only what changed.
        classes: [index, ...(versus === null ? [] : [versus]), ...(base ?? result).topk.slice(0, HOVER_CLASSES).map((t) => t.index)],
      }
      : null);
    if ((this.whatif || this.selection.length > 0 || this.edits.length > 0) && !this.whatIfPanel) {
      void loadWhatIf().then((module) => {
        this.whatIfPanel = module;
      });
    }
    const map = this.#map();
    if (map !== this.#pinnedOn) {
      // The pinned patch stays where it is, with the new map's values.
      this.#pinnedOn = map;
      if (this.pinned) this.pinned = this.#patchAt(this.pinned.x, this.pinned.y, true);
    }
    const error = this.#ownError();
    if (error && error !== this.#reported) emitError(this, error);
    // Back to showing the result it reported an error about (a corrected target, say): report it again.
    else if (!error && this.#reported && result && result === this.#reportedAbout) emit(this, 'bagnet-result', result);
    this.#reported = error;
    this.#reportedAbout = result;
  }

  #exactChanged(): void {
    this.requestUpdate();
    const level = this.#exact.level;
    if (level && level !== this.#refinedTo) emit(this, 'bagnet-refine', { level: level.level, final: level.level === 1 });
    this.#refinedTo = level;
  }

  /** The map shown: the exact map at its latest level, else the stride map; null without a target. */
  #map(): MapState | null {
    const result = this.classification.result;
    const index = this.targetIndex;
    if (!result || index === null) return null;
    const versus = this.contrastIndex;
    if (this.contrast !== null && versus === null) return null; // an unknown contrast class: an error, not the plain map
    if (this.resolution === 'exact') {
      const a = this.#exact.view(index);
      const b = versus === null ? null : this.#exact.view(versus);
      if (a && versus === null) return a;
      if (a && b && a.level === b.level) return this.#contrastViews.get(a, b);
    }
    return this.#fastMaps.get(result, index, versus);
  }

  /** The patch at model-input pixel (x, y) with its evidence, or null outside the map. */
  #patchAt(x: number, y: number, pinned: boolean): BagnetPatchDetail | null {
    const result = this.classification.result;
    const index = this.targetIndex;
    const map = this.#map();
    if (!result || index === null || !map) return null;
    const { evidence } = result;
    const versus = this.contrastIndex;
    const classes = [...new Set([index, ...(versus === null ? [] : [versus]), ...result.topk.slice(0, HOVER_CLASSES).map((t) => t.index)])];
    let box: PixelBox;
    let valueOf: (k: number) => number;
    if (map.level === 'fast') {
      const cell = cellAt(x, y, evidence, evidence);
      if (!cell) return null;
      box = cellBox(cell.row, cell.col, evidence);
      valueOf = (k) => evidence.data[(cell.row * evidence.cols + cell.col) * evidence.classes + k]!;
    } else {
      if (x < 0 || y < 0 || x >= map.width || y >= map.height) return null;
      box = patchAround(x, y, evidence.patchSize);
      valueOf = (k) => this.#exact.valueAt(x, y, k);
    }
    const values = classes.map((k) => ({ index: k, label: result.model.labels[k] ?? String(k), value: valueOf(k) }))
      .filter((entry) => !Number.isNaN(entry.value));
    return { x, y, box, evidence: values, pinned };
  }

  #pointerToInput(event: PointerEvent | MouseEvent): { x: number; y: number } | null {
    const canvas = event.currentTarget as HTMLElement;
    const rect = canvas.getBoundingClientRect();
    const map = this.#map();
    if (!map || rect.width === 0) return null;
    const x = Math.floor(((event.clientX - rect.left) / rect.width) * map.width);
    const y = Math.floor(((event.clientY - rect.top) / rect.height) * map.height);
    return { x, y };
  }

  #onPointerMove(event: PointerEvent) {
    const point = this.#pointerToInput(event);
    const map = this.#map();
    if (this.drag && point && map) {
      const x1 = Math.max(0, Math.min(map.width - 1, point.x));
      const y1 = Math.max(0, Math.min(map.height - 1, point.y));
      this.drag = { ...this.drag, x1, y1 };
      if (this.tool === 'brush') this.#brush(x1, y1, this.drag.mode);
      if (this.tool === 'paint') this.#paint(x1, y1);
      return;
    }
    const patch = point && this.#patchAt(point.x, point.y, false);
    this.hovered = patch;
    if (patch && !this.pinned) emit(this, 'bagnet-patch', patch);
  }

  #onPointerLeave() {
    this.hovered = null;
  }

  #onPointerDown(event: PointerEvent) {
    if (this.tool === 'inspect' || event.button !== 0) return;
    const point = this.#pointerToInput(event);
    const map = this.#map();
    if (!point || !map || point.x < 0 || point.y < 0 || point.x >= map.width || point.y >= map.height) return;
    try {
      // The drag goes on outside the map. (A pointer the browser does not track cannot be captured: Firefox throws.)
      (event.currentTarget as HTMLElement).setPointerCapture(event.pointerId);
    } catch {
      // the drag still works while over the map
    }
    const mode = event.shiftKey || event.altKey ? 'remove' : 'add';
    this.drag = { x0: point.x, y0: point.y, x1: point.x, y1: point.y, mode };
    if (this.tool === 'brush') this.#brush(point.x, point.y, mode);
    if (this.tool === 'paint') {
      this.#paintedPixels = new Set();
      this.#paint(point.x, point.y);
    }
  }

  /** Pixels painted by the `paint` tool so far (indices into the model input), while the pointer is down. */
  #paintedPixels: Set<number> | null = null;

  /** The fill an edit made now gets: the pasted image itself, so undoing or re-running later pastes the same one. */
  #currentFill(): HeatmapFill | EditFill {
    return this.fill === 'image' && this.fillImage ? { kind: 'image', pixels: this.fillImage } : this.fill;
  }

  /** Paint a disc (radius: a 28th of the image's shorter side, at least 1 pixel) at (x, y). */
  #paint(x: number, y: number) {
    const map = this.#map();
    if (!this.#paintedPixels || !map) return;
    const radius = Math.max(1, Math.round(Math.min(map.width, map.height) / 28));
    for (let dy = -radius; dy <= radius; dy++) {
      for (let dx = -radius; dx <= radius; dx++) {
        const px = x + dx;
        const py = y + dy;
        if (dx * dx + dy * dy <= radius * radius && px >= 0 && py >= 0 && px < map.width && py < map.height) this.#paintedPixels.add(py * map.width + px);
      }
    }
  }

  /** The painted pixels as an edit: their bounding box, and a mask of what was painted in it. */
  #paintedEdit(): HeatmapEdit | null {
    const map = this.#map();
    const painted = this.#paintedPixels;
    this.#paintedPixels = null;
    if (!map || !painted || painted.size === 0) return null;
    let [x, y, right, bottom] = [Infinity, Infinity, -Infinity, -Infinity];
    for (const i of painted) {
      const px = i % map.width;
      const py = Math.floor(i / map.width);
      [x, y, right, bottom] = [Math.min(x, px), Math.min(y, py), Math.max(right, px), Math.max(bottom, py)];
    }
    const width = right - x + 1;
    const height = bottom - y + 1;
    const mask = new Uint8Array(width * height);
    for (const i of painted) mask[(Math.floor(i / map.width) - y) * width + (i % map.width) - x] = 1;
    return { x, y, width, height, fill: this.#currentFill(), mask };
  }

  /** The browser took the pointer away (a scroll, a gesture): nothing is applied. */
  #onPointerCancel() {
    this.drag = null;
    this.#paintedPixels = null;
  }

  #onPointerUp() {
    const drag = this.drag;
    if (!drag) return;
    this.drag = null;
    const box = dragBox(drag);
    if (this.tool === 'select') this.#changeSelection(this.#cellsIn(box), drag.mode);
    else if (this.tool === 'edit') this.edit({ ...box, fill: this.#currentFill() });
    else if (this.tool === 'paint') {
      const painted = this.#paintedEdit();
      if (painted) this.edit(painted);
    }
  }

  #cellsIn(box: PixelBox): number[] {
    const evidence = this.classification.result?.evidence;
    return evidence ? cellsMeeting(box, evidence) : [];
  }

  #brush(x: number, y: number, mode: 'add' | 'remove') {
    const evidence = this.classification.result?.evidence;
    const cell = evidence && cellAt(x, y, evidence, evidence);
    if (cell) this.#changeSelection([cell.row * evidence.cols + cell.col], mode);
  }

  #changeSelection(cells: readonly number[], mode: 'add' | 'remove' | 'toggle') {
    const selected = new Set(this.selection);
    for (const cell of cells) {
      if (mode === 'add' || (mode === 'toggle' && !selected.has(cell))) selected.add(cell);
      else selected.delete(cell);
    }
    if (selected.size === this.selection.length && cells.every((cell) => selected.has(cell) === this.selection.includes(cell))) return;
    this.removedTop = null;
    this.#select([...selected].sort((a, b) => a - b));
  }

  #onClick(event: MouseEvent) {
    if (this.tool !== 'inspect') return;
    const point = this.#pointerToInput(event);
    const patch = point && this.#patchAt(point.x, point.y, true);
    // A click pins the patch; a click on the pinned one (or outside the map) unpins.
    this.pinned = patch && !(this.pinned && this.pinned.box.x === patch.box.x && this.pinned.box.y === patch.box.y) ? patch : null;
    if (this.pinned) emit(this, 'bagnet-patch', this.pinned);
  }

  /**
   * The keyboard on the focused map: arrows move the inspected patch (a cell in the stride map, a
   * pixel in the exact one), Enter pins or unpins it, Space adds its cell to the selection or takes it
   * out, Escape clears the pin and the selection. The tooltip (a live region) announces the patch.
   */
  #onKeyDown(event: KeyboardEvent) {
    const result = this.classification.result;
    const map = this.#map();
    if (!result || !map) return;
    const { evidence } = result;
    const fast = map.level === 'fast';
    const step = fast ? evidence.stride : 1;
    const first = cellDrawBox(0, 0, evidence);
    const current = this.pinned ?? this.hovered;
    let x = current?.x ?? first.x;
    let y = current?.y ?? first.y;
    if (fast && current) {
      // On the drawn block's top-left pixel, the patch centre: moving by a stride stays on the grid.
      const cell = cellAt(x, y, evidence, evidence);
      if (cell) ({ x, y } = cellDrawBox(cell.row, cell.col, evidence));
    }
    const moves: Record<string, [number, number]> = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (event.ctrlKey || event.altKey || event.metaKey) return; // the page's shortcuts, not ours
    const move = moves[event.key];
    if (move) {
      const last = fast ? cellDrawBox(evidence.rows - 1, evidence.cols - 1, evidence) : { x: map.width - 1, y: map.height - 1 };
      const low = fast ? first : { x: 0, y: 0 };
      const nx = current ? Math.max(low.x, Math.min(last.x, x + move[0])) : x;
      const ny = current ? Math.max(low.y, Math.min(last.y, y + move[1])) : y;
      const patch = this.#patchAt(nx, ny, !!this.pinned);
      if (this.pinned) this.pinned = patch;
      else this.hovered = patch;
      if (patch) emit(this, 'bagnet-patch', patch);
    } else if (event.key === 'Enter') {
      this.pinned = this.pinned ? null : this.#patchAt(x, y, true);
      this.hovered = this.pinned ? null : this.#patchAt(x, y, false);
      if (this.pinned) emit(this, 'bagnet-patch', this.pinned);
    } else if (event.key === ' ') {
      const cell = cellAt(x, y, evidence, evidence);
      if (!current) this.hovered = this.#patchAt(x, y, false);
      if (cell) this.#changeSelection([cell.row * evidence.cols + cell.col], 'toggle');
    } else if (event.key === 'Escape') {
      if (!this.pinned && !this.hovered && this.selection.length === 0) return; // nothing to clear: a dialog around may close
      this.pinned = null;
      this.hovered = null;
      if (this.selection.length > 0) this.#select([]);
    } else {
      return;
    }
    event.preventDefault();
  }

  #renderStack(map: MapState, painted: Painted, image: ImageData | null, withMap: boolean) {
    const shown = this.pinned ?? this.hovered;
    const box = shown?.box;
    const percent = (value: number, total: number) => `${(value / total) * 100}%`;
    const label = this.alt || `Evidence for ${this.#targetLabel()}`;
    const result = this.classification.result!;
    const selection = this.selection.length > 0 && withMap
      ? this.#selectionLayer.get(result, this.selection, this.ablation, map.width, map.height) : null;
    const marquee = this.drag && (this.tool === 'select' || this.tool === 'edit') ? dragBox(this.drag) : null;
    return html`<div class="stack ${map.width <= 96 ? 'tiny' : ''} tool-${this.tool}" style="aspect-ratio: ${map.width} / ${map.height}"
        @pointermove=${this.#onPointerMove} @pointerleave=${this.#onPointerLeave} @click=${this.#onClick}
        @pointerdown=${this.#onPointerDown} @pointerup=${this.#onPointerUp} @pointercancel=${this.#onPointerCancel}>
      ${image ? html`<canvas part="image" aria-hidden="true" ${drawOnce(image)}></canvas>` : nothing}
      ${withMap ? html`<canvas part="heatmap" role="img" aria-label=${label} ${drawOnce(painted.image)}
        class=${map.level === 'fast' || map.level > 1 ? 'coarse' : ''}></canvas>` : nothing}
      ${selection ? html`<canvas part="selection" class="coarse" aria-hidden="true" ${drawOnce(selection)}></canvas>` : nothing}
      ${marquee ? html`<div part="marquee" style="left: ${percent(marquee.x, map.width)}; top: ${percent(marquee.y, map.height)};
        width: ${percent(marquee.width, map.width)}; height: ${percent(marquee.height, map.height)}"></div>` : nothing}
      ${box ? html`<div part="patch" class=${this.pinned ? 'pinned' : ''} style="left: ${percent(box.x, map.width)};
        top: ${percent(box.y, map.height)}; width: ${percent(box.width, map.width)}; height: ${percent(box.height, map.height)}"></div>` : nothing}
    </div>`;
  }

  #targetLabel(): string {
    const result = this.classification.result;
    const index = this.targetIndex;
    if (!result || index === null) return '';
    const versus = this.contrastIndex;
    const label = (k: number) => result.model.labels[k] ?? String(k);
    return versus === null ? label(index) : `${label(index)} − ${label(versus)}`;
  }

  /** What the live region says of the selection: how many patches, and what the model says without them. */
  #selectionSummary(): string {
    const n = this.selection.length;
    if (n === 0) return '';
    const result = this.classification.result;
    const ablation = this.whatIf;
    const patches = `${n} patch${n > 1 ? 'es' : ''} ${this.ablation === 'remove' ? 'removed' : 'kept alone'}`;
    if (!result || !ablation) return `. ${patches}: an empty bag, refused`;
    const label = (k: number) => result.model.labels[k] ?? String(k);
    return `. ${patches}: top-1 ${label(ablation.top)} (${(ablation.probabilities[ablation.top]! * 100).toFixed(1)}%)`
      + (ablation.flipped ? `, was ${label(ablation.fullTop)}` : '');
  }

  /** With a contrast: the logit margin target − contrast, which is the contrast map's mean. */
  #margin(): number | null {
    const result = this.classification.result;
    const index = this.targetIndex;
    const versus = this.contrastIndex;
    return result && index !== null && versus !== null ? result.logits[index]! - result.logits[versus]! : null;
  }

  #renderTooltip() {
    const shown = this.pinned ?? this.hovered;
    if (!shown) return nothing;
    const versus = this.contrastIndex;
    const a = shown.evidence[0];
    const b = versus === null ? undefined : shown.evidence.find((entry) => entry.index === versus);
    return html`<div part="tooltip" role="status">
      <div class="where">Patch at (${shown.box.x}, ${shown.box.y}), ${shown.box.width}×${shown.box.height}${shown.pinned ? ' (pinned)' : ''}</div>
      <table>${a && b ? html`<tr class="contrast"><th scope="row">${a.label} − ${b.label}</th><td>${signed(a.value - b.value)}</td></tr>` : nothing}
        ${shown.evidence.map((entry, i) => html`<tr class=${i === 0 ? 'target' : ''}>
        <th scope="row">${entry.label}</th><td>${signed(entry.value)}</td></tr>`)}</table>
    </div>`;
  }

  #renderWhatIf() {
    const module = this.whatIfPanel;
    const result = this.classification.result;
    const target = this.targetIndex;
    if (!module || !result || target === null || !(this.whatif || this.selection.length > 0 || this.edits.length > 0)) return nothing;
    const element = this;
    const host: WhatIfHost = {
      result, target, selection: this.selection, ablation: this.ablation, tool: this.tool, fill: this.fill, edits: this.edits.length,
      removedTop: this.removedTop,
      set(change) {
        if (change.ablation) element.ablation = change.ablation;
        if (change.tool) element.tool = change.tool;
        if (change.fill) element.fill = change.fill;
        if (change.selection) {
          element.removedTop = null;
          element.#select(change.selection);
        } else if (change.ablation) {
          element.#select(element.selection);
        }
      },
      removeMostInformative: (k) => this.removeMostInformative(k),
      undoEdit: () => {
        this.edits = this.edits.slice(0, -1);
      },
      clearEdits: () => {
        this.edits = [];
      },
    };
    return module.renderWhatIfPanel(host);
  }

  /**
   * A PNG of what is shown, for papers and reports: the image and the map as the mode lays them out,
   * the selection, and the legend (colormap, scale, target, resolution), at the model input's size or
   * `scale` times it. Null when there is no map to draw.
   */
  toBlob(options: FigureOptions = {}): Promise<Blob | null> {
    const canvas = this.#figure(options);
    if (!canvas) return Promise.resolve(null);
    return new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
  }

  /** The figure of `toBlob()` as a `data:image/png` URL ('' when there is no map). */
  toDataURL(options: FigureOptions = {}): string {
    return this.#figure(options)?.toDataURL('image/png') ?? '';
  }

  #figure(options: FigureOptions): HTMLCanvasElement | null {
    const result = this.classification.result;
    const map = this.#map();
    const painted = this.#lastPainted;
    if (!result || !map || !painted) return null;
    const scale = Math.max(1, Math.round(options.scale ?? 1));
    const w = map.width * scale;
    const h = map.height * scale;
    const panels = this.mode === 'side-by-side' ? 2 : 1;
    const gap = panels > 1 ? 4 * scale : 0;
    const legend = options.legend === false ? 0 : Math.max(28, 14 * scale);
    const canvas = document.createElement('canvas');
    canvas.width = w * panels + gap;
    canvas.height = h + legend;
    const context = canvas.getContext('2d')!;
    context.imageSmoothingEnabled = false;
    context.fillStyle = '#ffffff';
    context.fillRect(0, 0, canvas.width, canvas.height);
    const layer = (image: ImageData, x: number) => {
      const source = document.createElement('canvas');
      source.width = image.width;
      source.height = image.height;
      source.getContext('2d')!.putImageData(image, 0, 0);
      context.drawImage(source, x, 0, w, h);
    };
    const mapX = panels > 1 ? w + gap : 0;
    if (this.mode !== 'edges') layer(result.input.pixels, 0);
    layer(painted.image, mapX);
    if (this.selection.length > 0) layer(this.#selectionLayer.get(result, this.selection, this.ablation, map.width, map.height), mapX);
    if (legend > 0) {
      const bar = { x: 4, y: h + 4, width: canvas.width - 8, height: Math.round(legend * 0.3) };
      const ramp = colorize(Float32Array.from({ length: bar.width }, (_, i) => -1 + (2 * i) / Math.max(1, bar.width - 1)),
        { scale: 1, colormap: this.colormap, opacity: 1, alpha: 'uniform' });
      const strip = new ImageData(bar.width, 1);
      strip.data.set(ramp);
      const row = document.createElement('canvas');
      row.width = bar.width;
      row.height = 1;
      row.getContext('2d')!.putImageData(strip, 0, 0);
      context.drawImage(row, bar.x, bar.y, bar.width, bar.height);
      context.fillStyle = '#1d1d1f';
      context.font = `${Math.round(legend * 0.35)}px system-ui, sans-serif`;
      context.textBaseline = 'bottom';
      const margin = this.#margin();
      const text = `${this.#targetLabel()}  ±${painted.scale.toPrecision(3)}  ${this.#resolutionLabel(map)}${margin === null ? '' : `  margin ${signed(margin)}`}`;
      context.fillText(text, 4, canvas.height - 2, canvas.width - 8);
    }
    return canvas;
  }

  #resolutionLabel(map: MapState): string {
    return map.level === 'fast' ? `stride ${this.classification.result?.evidence.stride}` : map.level === 1 ? 'exact' : `refining (${map.level} px)`;
  }

  override render() {
    const state = this.classification.state;
    const error = this.error;
    const map = this.#map();
    const busy = state === 'loading' || state === 'running' || this.#rescoring.status === 'pending';
    const progress = this.classification.progress;
    const fraction = progress && progress.total > 0 ? progress.loaded / progress.total : undefined;
    const errorMessage = error ? html`<slot name="error"><p part="error" role="alert">${error.message}</p></slot>` : nothing;
    if (!map) {
      return html`<div part="base" aria-busy=${busy ? 'true' : 'false'}>${errorMessage}${busy ? html`<slot name="progress">
        <div part="progress" role="progressbar" aria-label="Loading the model"
          style=${fraction === undefined ? '' : `--progress: ${fraction}`}></div></slot>` : nothing}</div>`;
    }
    const image = this.classification.result!.input.pixels;
    const painted = this.#painted.get(map, this.sign, this.threshold, this.thresholdMode, this.percentile, this.scale,
      this.colormap, this.opacity, this.mode, image);
    this.#lastPainted = painted;
    const refining = this.resolution === 'exact' && this.#exact.status === 'pending' && map.level !== 1;
    const margin = this.#margin();
    return html`<div part="base" class="mode-${this.mode}" aria-busy=${busy || refining ? 'true' : 'false'}>
      ${busy ? html`<slot name="progress"><div part="progress" role="progressbar" aria-label="Classifying"
        style=${fraction === undefined ? '' : `--progress: ${fraction}`}></div></slot>` : nothing}
      <div part="figure" tabindex="0" role="group" @keydown=${this.#onKeyDown}
        aria-label="Evidence map: arrow keys move the patch, Enter pins it, Space selects it, Escape clears">
        ${this.mode === 'side-by-side' ? html`${this.#renderStack(map, painted, image, false)}${this.#renderStack(map, painted, null, true)}`
          : this.mode === 'edges' ? html`<div class="edges-source">${this.#renderStack(map, painted, image, false)}</div>${this.#renderStack(map, painted, null, true)}`
            : this.#renderStack(map, painted, image, true)}
      </div>
      <div part="legend">
        <span class="target">${this.#targetLabel()}</span>
        <span class="scale">${(-painted.scale).toPrecision(3)}</span>
        <span class="gradient" style="background: ${colormapGradient(this.colormap)}"></span>
        <span class="scale">+${painted.scale.toPrecision(3)}</span>
        <span class="resolution">${this.#resolutionLabel(map)}</span>
        ${margin === null ? nothing : html`<span class="margin">margin ${signed(margin)}</span>`}
      </div>
      ${errorMessage}
      ${this.#renderTooltip()}
      ${this.#renderWhatIf()}
      <div class="visually-hidden" aria-live="polite">Evidence for ${this.#targetLabel()}${this.#selectionSummary()}</div>
    </div>`;
  }
}

const signed = (value: number) => `${value >= 0 ? '+' : '−'}${Math.abs(value).toFixed(2)}`;

/** The selection drawn over the map: removed patches dimmed (or, when kept alone, every other one). */
function selectionImage(result: ClassificationResult, selection: readonly number[], ablation: AblationMode, width: number, height: number): ImageData {
  return new ImageData(selectionRgba(result.evidence, selection, ablation, width, height) as Uint8ClampedArray<ArrayBuffer>, width, height);
}

/** The map coloured as the element's properties say (recomputed only when one of them changes). */
function paint(map: MapState, sign: SignFilter, threshold: number, thresholdMode: ThresholdMode, percentile: number, scale: number,
               colormap: ColormapName, opacity: number, mode: HeatmapMode, image: ImageData): Painted {
  const overlay = mode === 'overlay';
  const painted = paintEvidence(map.values, {
    sign, threshold, thresholdMode, percentile, scale, colormap, opacity: overlay ? opacity : 1, alpha: overlay ? 'magnitude' : 'uniform',
  });
  if (mode === 'edges' && image.width === map.width && image.height === map.height) overlayEdges(painted.rgba, image.data, map.width, map.height);
  return { image: new ImageData(painted.rgba as Uint8ClampedArray<ArrayBuffer>, map.width, map.height), scale: painted.scale };
}
