import { html, nothing, type PropertyValues } from 'lit';
import { property, state } from 'lit/decorators.js';
import { colormapGradient, COLORMAPS, type ColormapName } from '../../core/colormap.js';
import { BagnetError } from '../../core/errors.js';
import { cellAt, cellBox, patchAround, type PixelBox } from '../../core/geometry.js';
import { fastMap, HEATMAP_DEFAULTS, overlayEdges, paintEvidence, type SignFilter, type ThresholdMode } from '../../core/heatmap.js';
import type { ClassificationResult } from '../../core/result.js';
import { Memo } from '../shared/async-run.js';
import { BagnetElementBase } from '../shared/base.js';
import { ClassificationController, type ElementState } from '../shared/classification-controller.js';
import { emit, emitError, type BagnetPatchDetail } from '../shared/events.js';
import { ExactMapJob } from '../shared/exact-map-job.js';
import { drawOnce } from '../shared/image-view.js';
import { resolveTarget, unknownTarget } from '../shared/target.js';
import { heatmapStyles } from './bagnet-heatmap.styles.js';

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

  @state() private hovered: BagnetPatchDetail | null = null;
  @state() private pinned: BagnetPatchDetail | null = null;

  protected readonly classification = new ClassificationController(this);
  readonly #exact = new ExactMapJob(() => this.#exactChanged());
  readonly #targets = new Memo((result: ClassificationResult, target: string) => resolveTarget(target, result));
  readonly #targetErrors = new Memo(unknownTarget);
  readonly #fastMaps = new Memo((result: ClassificationResult, index: number): MapState => ({ ...fastMap(result, index), level: 'fast' }));
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
    return this.#targetErrors.get(result, this.target) ?? (this.resolution === 'exact' ? this.#exact.error : null);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.#exact.stop(); // a finished map stays: moving the element computes nothing again
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    super.willUpdate(changed);
    if (!COLORMAPS.includes(this.colormap)) this.colormap = HEATMAP_DEFAULTS.colormap;
    const result = this.classification.result;
    const index = this.targetIndex;
    // Only for the result shown as final (not while a new image is classified), and only on the page.
    this.#exact.update(result && index !== null && this.resolution === 'exact' && this.classification.state === 'result' && this.isConnected
      ? { result, classes: [index, ...result.topk.slice(0, HOVER_CLASSES).map((t) => t.index)], backend: this.classification.backendPreference }
      : null);
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
    return (this.resolution === 'exact' ? this.#exact.view(index) : null) ?? this.#fastMaps.get(result, index);
  }

  /** The patch at model-input pixel (x, y) with its evidence, or null outside the map. */
  #patchAt(x: number, y: number, pinned: boolean): BagnetPatchDetail | null {
    const result = this.classification.result;
    const index = this.targetIndex;
    const map = this.#map();
    if (!result || index === null || !map) return null;
    const { evidence } = result;
    const classes = [index, ...result.topk.slice(0, HOVER_CLASSES).map((t) => t.index).filter((k) => k !== index)];
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
    const patch = point && this.#patchAt(point.x, point.y, false);
    this.hovered = patch;
    if (patch && !this.pinned) emit(this, 'bagnet-patch', patch);
  }

  #onPointerLeave() {
    this.hovered = null;
  }

  #onClick(event: MouseEvent) {
    const point = this.#pointerToInput(event);
    const patch = point && this.#patchAt(point.x, point.y, true);
    // A click pins the patch; a click on the pinned one (or outside the map) unpins.
    this.pinned = patch && !(this.pinned && this.pinned.box.x === patch.box.x && this.pinned.box.y === patch.box.y) ? patch : null;
    if (this.pinned) emit(this, 'bagnet-patch', this.pinned);
  }

  #renderStack(map: MapState, painted: Painted, image: ImageData | null, withMap: boolean) {
    const shown = this.pinned ?? this.hovered;
    const box = shown?.box;
    const percent = (value: number, total: number) => `${(value / total) * 100}%`;
    const label = this.alt || `Evidence for ${this.#targetLabel()}`;
    return html`<div class="stack ${map.width <= 96 ? 'tiny' : ''}" style="aspect-ratio: ${map.width} / ${map.height}"
        @pointermove=${this.#onPointerMove} @pointerleave=${this.#onPointerLeave} @click=${this.#onClick}>
      ${image ? html`<canvas part="image" aria-hidden="true" ${drawOnce(image)}></canvas>` : nothing}
      ${withMap ? html`<canvas part="heatmap" role="img" aria-label=${label} ${drawOnce(painted.image)}
        class=${map.level === 'fast' || map.level > 1 ? 'coarse' : ''}></canvas>` : nothing}
      ${box ? html`<div part="patch" class=${this.pinned ? 'pinned' : ''} style="left: ${percent(box.x, map.width)};
        top: ${percent(box.y, map.height)}; width: ${percent(box.width, map.width)}; height: ${percent(box.height, map.height)}"></div>` : nothing}
    </div>`;
  }

  #targetLabel(): string {
    const result = this.classification.result;
    const index = this.targetIndex;
    return result && index !== null ? result.model.labels[index] ?? String(index) : '';
  }

  #renderTooltip() {
    const shown = this.pinned ?? this.hovered;
    if (!shown) return nothing;
    return html`<div part="tooltip" role="status">
      <div class="where">Patch at (${shown.box.x}, ${shown.box.y}), ${shown.box.width}×${shown.box.height}${shown.pinned ? ' (pinned)' : ''}</div>
      <table>${shown.evidence.map((entry, i) => html`<tr class=${i === 0 ? 'target' : ''}>
        <th scope="row">${entry.label}</th><td>${entry.value >= 0 ? '+' : ''}${entry.value.toFixed(2)}</td></tr>`)}</table>
    </div>`;
  }

  override render() {
    const state = this.classification.state;
    const error = this.error;
    const map = this.#map();
    const busy = state === 'loading' || state === 'running';
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
    return html`<div part="base" class="mode-${this.mode}" aria-busy=${busy || refining ? 'true' : 'false'}>
      ${busy ? html`<slot name="progress"><div part="progress" role="progressbar" aria-label="Classifying"
        style=${fraction === undefined ? '' : `--progress: ${fraction}`}></div></slot>` : nothing}
      <div part="figure">
        ${this.mode === 'side-by-side' ? html`${this.#renderStack(map, painted, image, false)}${this.#renderStack(map, painted, null, true)}`
          : this.mode === 'edges' ? html`<div class="edges-source">${this.#renderStack(map, painted, image, false)}</div>${this.#renderStack(map, painted, null, true)}`
            : this.#renderStack(map, painted, image, true)}
      </div>
      <div part="legend">
        <span class="target">${this.#targetLabel()}</span>
        <span class="scale">${(-painted.scale).toPrecision(3)}</span>
        <span class="gradient" style="background: ${colormapGradient(this.colormap)}"></span>
        <span class="scale">+${painted.scale.toPrecision(3)}</span>
        <span class="resolution">${map.level === 'fast' ? `stride ${this.classification.result?.evidence.stride}`
          : map.level === 1 ? 'exact' : `refining (${map.level} px)`}</span>
      </div>
      ${errorMessage}
      ${this.#renderTooltip()}
      <div class="visually-hidden" aria-live="polite">Evidence for ${this.#targetLabel()}</div>
    </div>`;
  }
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
