import { html, nothing, type PropertyValues } from 'lit';
import { property, query, state } from 'lit/decorators.js';
import { colormapGradient, COLORMAPS, type ColormapName } from '../../core/colormap.js';
import { BagnetError } from '../../core/errors.js';
import { cellAt, cellBox, patchAround, type PixelBox } from '../../core/geometry.js';
import { edgeMap, fastMap, paintEvidence, type SignFilter, type ThresholdMode } from '../../core/heatmap.js';
import type { ClassificationResult } from '../../core/result.js';
import { levelView } from '../../core/stitch.js';
import { getPool, type ExactEvidenceLevel } from '../../pool/pool.js';
import { BagnetElementBase } from '../shared/base.js';
import { ClassificationController } from '../shared/classification-controller.js';
import { emit, type BagnetPatchDetail } from '../shared/events.js';
import { drawModelInput } from '../shared/model-input.js';
import { resolveTarget } from '../shared/target.js';
import { heatmapStyles } from './bagnet-heatmap.styles.js';

export type HeatmapMode = 'overlay' | 'side-by-side' | 'edges';
export type HeatmapResolution = 'fast' | 'exact';

/** How many classes the hover card lists besides the target. */
const HOVER_CLASSES = 3;

interface MapState {
  /** Values over the model input's pixels (`width`×`height`); NaN where no cell is drawn. */
  readonly values: Float32Array;
  readonly width: number;
  readonly height: number;
  /** 'fast': the stride map; otherwise the refinement level of the exact map (1 = final). */
  readonly level: number | 'fast';
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
  @property({ reflect: true }) target = '';

  /** `rdbu` (the authors' RdBu_r), `coolwarm`, `bwr`, `viridis`, `magma` or `gray`. */
  @property({ reflect: true }) colormap: ColormapName = 'rdbu';

  /** The colour scale is ±(this percentile of |evidence|). */
  @property({ type: Number, reflect: true }) percentile = 99;

  /** A fixed colour scale ±scale (to compare images); overrides `percentile` when > 0. */
  @property({ type: Number, reflect: true }) scale = 0;

  /** Heatmap opacity in `overlay` mode. */
  @property({ type: Number, reflect: true }) opacity = 0.75;

  /** `overlay` (map over the image), `side-by-side`, or `edges` (the image's edges over the map, as in the paper). */
  @property({ reflect: true }) mode: HeatmapMode = 'overlay';

  /** Show `all` evidence, only `positive` or only `negative`. */
  @property({ reflect: true }) sign: SignFilter = 'all';

  /** Evidence magnitude below which the map is blank (appendix A.1); 0 = off. */
  @property({ type: Number, reflect: true }) threshold = 0;

  /** `clip` (keep values above the threshold) or `binary` (±1 above, 0 below). */
  @property({ attribute: 'threshold-mode', reflect: true }) thresholdMode: ThresholdMode = 'clip';

  /** `fast`: the stride map of the classification itself; `exact`: the full-resolution map, refined progressively. */
  @property({ reflect: true }) resolution: HeatmapResolution = 'fast';

  /** The image's accessible description. */
  @property() alt = '';

  @state() private map: MapState | null = null;
  @state() private hovered: BagnetPatchDetail | null = null;
  @state() private pinned: BagnetPatchDetail | null = null;
  @state() private exactError: BagnetError | null = null;

  @query('canvas[part="image"]') private imageCanvas!: HTMLCanvasElement | null;
  @query('canvas[part="heatmap"]') private heatmapCanvas!: HTMLCanvasElement | null;

  protected readonly classification = new ClassificationController(this, { topK: () => 5 });
  #exactAbort: AbortController | null = null;
  #exactKey = '';
  #exactClasses: number[] = [];
  #exactLevel: ExactEvidenceLevel | null = null;
  #drawnInput: ClassificationResult | null = null;

  /** The index of the class shown, or null (no result, or an unknown target). */
  get targetIndex(): number | null {
    const result = this.classification.result;
    if (!result) return null;
    return resolveTarget(this.target, result);
  }

  /** The scale the colours use (±scale), as last drawn. */
  get colorScale(): number {
    return this.#scale;
  }

  #scale = 1;

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.#cancelExact();
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    const result = this.classification.result;
    if (!result) {
      this.map = null;
      this.#cancelExact();
      return;
    }
    const index = resolveTarget(this.target, result);
    if (index === null) {
      if (this.classification.state !== 'error' && this.target) {
        this.classification.reportError(new BagnetError('inference',
          `Unknown target "${this.target}": use a class index (0-${result.evidence.classes - 1}) or one of the model's labels`));
      }
      this.map = null;
      return;
    }
    if (!COLORMAPS.includes(this.colormap)) this.colormap = 'rdbu';
    if (this.resolution === 'exact') this.#ensureExact(result, index);
    else this.#cancelExact();
    if (this.resolution === 'exact' && this.#exactLevel && this.#exactKey === exactKey(result, index)) {
      const slot = this.#exactClasses.indexOf(index);
      const level = this.#exactLevel;
      this.map = { values: levelView(level.data, level.width, level.height, level.classes.length, slot, level.level),
        width: level.width, height: level.height, level: level.level };
    } else {
      this.map = { ...fastMap(result, index), level: 'fast' };
    }
    if (changed.size > 0 && this.pinned && this.map) this.pinned = this.#patchAt(this.pinned.x, this.pinned.y, true);
  }

  #ensureExact(result: ClassificationResult, index: number): void {
    const key = exactKey(result, index);
    if (key === this.#exactKey) return;
    this.#cancelExact();
    this.#exactKey = key;
    this.#exactLevel = null;
    this.exactError = null;
    const input = this.classification.resultInput;
    if (input === null) return;
    const classes = [...new Set([index, ...result.topk.slice(0, HOVER_CLASSES).map((t) => t.index)])];
    this.#exactClasses = classes;
    const abort = new AbortController();
    this.#exactAbort = abort;
    getPool().exactEvidence(input, {
      model: result.model.url, backend: this.#sourceBackend(), classes, signal: abort.signal,
      onLevel: (level) => {
        if (abort.signal.aborted) return;
        this.#exactLevel = level;
        this.requestUpdate();
        emit(this, 'bagnet-refine', { level: level.level, final: level.level === 1 });
      },
    }).catch((error: unknown) => {
      if (abort.signal.aborted) return;
      const failure = error instanceof BagnetError ? error : new BagnetError('inference', String(error), { cause: error });
      this.exactError = failure;
      this.classification.reportError(failure);
    });
  }

  #sourceBackend() {
    if (!this.htmlFor) return this.backend;
    const root = this.getRootNode() as Document | ShadowRoot;
    const source = root.getElementById?.(this.htmlFor) as { backend?: BagnetElementBase['backend'] } | null;
    return source?.backend ?? this.backend;
  }

  #cancelExact(): void {
    this.#exactAbort?.abort();
    this.#exactAbort = null;
    this.#exactKey = '';
    this.#exactLevel = null;
  }

  protected override updated(): void {
    const result = this.classification.result;
    if (!result || !this.map) return;
    if (this.imageCanvas && this.#drawnInput !== result) {
      this.#drawnInput = result;
      const input = this.classification.resultInput;
      if (input !== null) {
        drawModelInput(input, result.input, this.imageCanvas).then(() => {
          if (this.mode === 'edges') this.requestUpdate();
        }).catch(() => undefined);
      }
    }
    this.#drawHeatmap();
  }

  #drawHeatmap(): void {
    const canvas = this.heatmapCanvas;
    const map = this.map;
    if (!canvas || !map) return;
    const overlay = this.mode === 'overlay';
    const { rgba, scale } = paintEvidence(map.values, {
      sign: this.sign, threshold: this.threshold, thresholdMode: this.thresholdMode, percentile: this.percentile,
      scale: this.scale, colormap: this.colormap, opacity: overlay ? this.opacity : 1, alpha: overlay ? 'magnitude' : 'uniform',
    });
    this.#scale = scale;
    if (this.mode === 'edges' && this.imageCanvas && this.imageCanvas.width === map.width) {
      const pixels = this.imageCanvas.getContext('2d', { willReadFrequently: true })!.getImageData(0, 0, map.width, map.height).data;
      const edges = edgeMap(pixels, map.width, map.height);
      // The authors overlay the image's edges at alpha 0.25: blend black in proportion.
      for (let i = 0; i < edges.length; i++) {
        const k = 1 - 0.25 * Math.min(1, edges[i]! * 2);
        rgba[i * 4] = rgba[i * 4]! * k;
        rgba[i * 4 + 1] = rgba[i * 4 + 1]! * k;
        rgba[i * 4 + 2] = rgba[i * 4 + 2]! * k;
      }
    }
    canvas.width = map.width;
    canvas.height = map.height;
    canvas.getContext('2d')!.putImageData(new ImageData(rgba as Uint8ClampedArray<ArrayBuffer>, map.width, map.height), 0, 0);
  }

  /** The patch at model-input pixel (x, y) with its evidence, or null outside the map. */
  #patchAt(x: number, y: number, pinned: boolean): BagnetPatchDetail | null {
    const result = this.classification.result;
    const index = this.targetIndex;
    if (!result || index === null || !this.map) return null;
    const { evidence } = result;
    const classes = [index, ...result.topk.slice(0, HOVER_CLASSES).map((t) => t.index).filter((k) => k !== index)];
    let box: PixelBox;
    let valueOf: (k: number) => number;
    if (this.map.level === 'fast') {
      const cell = cellAt(x, y, evidence, evidence);
      if (!cell) return null;
      box = cellBox(cell.row, cell.col, evidence);
      valueOf = (k) => evidence.data[(cell.row * evidence.cols + cell.col) * evidence.classes + k]!;
    } else {
      const level = this.#exactLevel;
      if (!level || x < 0 || y < 0 || x >= level.width || y >= level.height) return null;
      box = patchAround(x, y, evidence.patchSize);
      const sx = x - (x % level.level);
      const sy = y - (y % level.level);
      valueOf = (k) => {
        const slot = this.#exactClasses.indexOf(k);
        return slot < 0 ? Number.NaN : level.data[(sy * level.width + sx) * level.classes.length + slot]!;
      };
    }
    const values = classes.map((k) => ({ index: k, label: result.model.labels[k] ?? String(k), value: valueOf(k) }))
      .filter((entry) => !Number.isNaN(entry.value));
    return { x, y, box, evidence: values, pinned };
  }

  #pointerToInput(event: PointerEvent | MouseEvent): { x: number; y: number } | null {
    const canvas = event.currentTarget as HTMLElement;
    const rect = canvas.getBoundingClientRect();
    if (!this.map || rect.width === 0) return null;
    const x = Math.floor(((event.clientX - rect.left) / rect.width) * this.map.width);
    const y = Math.floor(((event.clientY - rect.top) / rect.height) * this.map.height);
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

  #renderStack(withImage: boolean, withMap: boolean) {
    const map = this.map!;
    const shown = this.pinned ?? this.hovered;
    const box = shown?.box;
    const percent = (value: number, total: number) => `${(value / total) * 100}%`;
    const label = this.alt || `Evidence for ${this.#targetLabel()}`;
    return html`<div class="stack ${map.width <= 96 ? 'tiny' : ''}" style="aspect-ratio: ${map.width} / ${map.height}"
        @pointermove=${this.#onPointerMove} @pointerleave=${this.#onPointerLeave} @click=${this.#onClick}>
      ${withImage ? html`<canvas part="image" aria-hidden="true"></canvas>` : nothing}
      ${withMap ? html`<canvas part="heatmap" role="img" aria-label=${label}
        class=${map.level === 'fast' || (typeof map.level === 'number' && map.level > 1) ? 'coarse' : ''}></canvas>` : nothing}
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
    const { state: current, error, progress } = this.classification;
    const busy = current === 'loading' || current === 'running';
    const refining = this.resolution === 'exact' && this.map && this.map.level !== 1;
    if (current === 'error' && error) {
      return html`<div part="base"><slot name="error"><p part="error" role="alert">${error.message}</p></slot></div>`;
    }
    const fraction = progress && progress.total > 0 ? progress.loaded / progress.total : undefined;
    return html`<div part="base" class="mode-${this.mode}" aria-busy=${busy || refining ? 'true' : 'false'}>
      ${busy ? html`<slot name="progress"><div part="progress" role="progressbar" aria-label="Loading the model"
        style=${fraction === undefined ? '' : `--progress: ${fraction}`}></div></slot>` : nothing}
      ${this.map ? html`<div part="figure">
          ${this.mode === 'side-by-side'
            ? html`${this.#renderStack(true, false)}${this.#renderStack(false, true)}`
            : this.mode === 'edges' ? html`<div class="edges-source">${this.#renderStack(true, false)}</div>${this.#renderStack(false, true)}`
              : this.#renderStack(true, true)}
        </div>
        <div part="legend">
          <span class="target">${this.#targetLabel()}</span>
          <span class="scale">${(-this.#scale).toPrecision(3)}</span>
          <span class="gradient" style="background: ${colormapGradient(this.colormap)}"></span>
          <span class="scale">+${this.#scale.toPrecision(3)}</span>
          <span class="resolution">${this.map.level === 'fast' ? `stride ${this.classification.result?.evidence.stride}`
            : this.map.level === 1 ? 'exact' : `refining (${this.map.level} px)`}</span>
        </div>
        ${this.#renderTooltip()}` : nothing}
      <div class="visually-hidden" aria-live="polite">${this.map ? `Evidence for ${this.#targetLabel()}` : ''}</div>
    </div>`;
  }
}

function exactKey(result: ClassificationResult, index: number): string {
  return `${result.model.url}|${result.timings.totalMs}|${result.logits.length}|${index}|${result.logits[0]}`;
}
