/**
 * A BagNet evidence overlay for Cornerstone3D stack viewports. It classifies the displayed image
 * through the page's inference pool (never on the main thread) and draws the heatmap over the
 * viewport in image coordinates, so it stays aligned under zoom, pan, rotation, flip and non-square
 * pixel spacing: each redraw maps the image's corners through Cornerstone's own image → world →
 * canvas transforms.
 *
 * The model sees the image as the viewer shows it: stored values → modality LUT → VOI window →
 * MONOCHROME1 inversion → 8-bit gray (see ./pixels.ts). `voi: 'viewport'` (the default) uses the
 * viewport's current window, so the model sees what the reader sees; `voi: 'dataset'` uses the
 * dataset's Window Center/Width (or the full value range when it has none).
 *
 * Privacy: the only requests are the ones the viewport makes for its images and the model's assets
 * (manifest, ONNX file, onnxruntime-web's binaries). Pixels stay in the page and its worker.
 */
import { Enums, eventTarget, getShouldUseCPURendering, metaData, type Types } from '@cornerstonejs/core';
import type { ColormapName } from '../../core/colormap.js';
import { BagnetError, toBagnetError } from '../../core/errors.js';
import type { DicomInput } from '../../core/manifest.js';
import { cellsMeeting, fastMap, HEATMAP_DEFAULTS, paintEvidence, selectionRgba, spreadCells } from '../../core/heatmap.js';
import { ablate, contrastCells, runnerUp, type Ablation, type AblationMode } from '../../core/whatif.js';
import type { EditFill } from '../../core/edits.js';
import type { PixelBox } from '../../core/geometry.js';
import type { BackendPreference } from '../../core/protocol.js';
import type { ClassificationResult } from '../../core/result.js';
import { DEFAULT_TOP_K } from '../../core/settings.js';
import { connectToPool, getPool } from '../../pool/pool.js';
import { AsyncRun, Memo, sameArgs } from '../../elements/shared/async-run.js';
import { errorDetail } from '../../elements/shared/events.js';
import { EditChain, type HeatmapEdit, type HeatmapFill } from '../../elements/shared/edit-chain.js';
import { ExactMapJob } from '../../elements/shared/exact-map-job.js';
import { resolveTarget, unknownContrast, unknownTarget } from '../../elements/shared/target.js';
import { frameToRgba, fullRangeWindow, PixelPipelineError, windowForRange, type DicomFrame, type VoiWindow } from './pixels.js';

export interface OverlayOptions {
  /** The model's manifest URL. */
  readonly model: string;
  readonly backend?: BackendPreference;
  /** Which of the model's files runs: `auto` (default; see the elements' `precision`), `fp32`, `fp16`, `int8`. */
  readonly precision?: string;
  /** Show the overlay (classification keeps following the stack while hidden). */
  readonly enabled?: boolean;
  readonly opacity?: number;
  /** Index or label; default: the top-1 class. */
  readonly target?: string;
  /**
   * Contrast the target with this class (index or label): the map of evidence target − contrast,
   * whose mean is the logit margin. '' = the most probable other class; null (default) = none.
   */
  readonly contrast?: string | null;
  readonly resolution?: 'fast' | 'exact';
  /**
   * The window the model's image is made with: the viewport's (what the reader sees; default) or the
   * dataset's own. A model whose manifest has `input.dicom` (made by the trainer from DICOM) always
   * gets its images as it was trained: that window, and its MONOCHROME1 choice.
   */
  readonly voi?: 'viewport' | 'dataset';
  readonly colormap?: ColormapName;
  readonly percentile?: number;
  readonly topK?: number;
  /**
   * Selected evidence cells (`row * cols + col`): removed from the bag, or kept alone (`ablation`);
   * `whatIf` is the exact answer. A new classification (another slice, say) clears the selection.
   */
  readonly selection?: readonly number[];
  readonly ablation?: AblationMode;
  /**
   * What a drag on the viewport does: `navigate` (default: the viewer's own tools get the pointer),
   * `select` (a box of patches; with Shift, out of the selection) or `edit` (a box of pixels, filled with `fill`).
   */
  readonly tool?: OverlayTool;
  /** The fill of an edit made with the `edit` tool: `background` (the manifest's, default), `mean`, `blur`, or a fill object. */
  readonly fill?: HeatmapFill | EditFill;
  /**
   * Pixel edits of the model input (the 8-bit image at model resolution the result was computed from),
   * applied in order and re-scored exactly (`InferencePool.rescore`): the result shown is the edited
   * image's. A new classification clears them.
   */
  readonly edits?: readonly HeatmapEdit[];
  /** The pixels an `image` fill pastes in (an ImageData at the model input's size). */
  readonly fillImage?: ImageData | null;
}

export type OverlayTool = 'navigate' | 'select' | 'edit';
export type { HeatmapEdit };

type Resolved = Required<OverlayOptions>;

/** Classifications kept for going back through a stack: at most 8, holding at most 64 MB of model inputs. */
const RECENT_SLICES = 8;
const RECENT_BYTES = 64 * 1024 * 1024;

const DEFAULTS: Omit<Resolved, 'model'> = {
  backend: 'auto', precision: 'auto', enabled: true, opacity: 0.6, target: '', contrast: null, resolution: 'fast', voi: 'viewport', topK: DEFAULT_TOP_K, ...HEATMAP_DEFAULTS,
  selection: [], ablation: 'remove', tool: 'navigate', fill: 'background', edits: [], fillImage: null,
};

interface Painted {
  readonly canvas: HTMLCanvasElement | OffscreenCanvas;
  readonly width: number;
  readonly height: number;
  /** The selection's hatching, and the edited pixels (drawn under the map), when there are. */
  readonly selection: HTMLCanvasElement | null;
  readonly edited: HTMLCanvasElement | null;
}

/** A drag with the `select` or `edit` tool, in model-input pixels. */
interface Drag {
  readonly x0: number;
  readonly y0: number;
  x1: number;
  y1: number;
  readonly mode: 'add' | 'remove';
}

/** The overlay's `bagnet-result` detail: the classification, as the elements report it, and the image it is of. */
export type OverlayResultDetail = ClassificationResult & { readonly imageId: string };

/** What one classification run worked on. */
interface Classified {
  readonly result: OverlayResultDetail;
  readonly imageId: string;
  readonly input: ImageData;
}

/**
 * model, backend, precision, top-k, VOI choice, the image shown, whether its pixels are there yet, and its
 * window: a change to any classifies again.
 */
type RunArgs = readonly [string, BackendPreference, string, number, 'viewport' | 'dataset', string, boolean, string];

/**
 * Attach with `new BagnetOverlay(viewport, { model })`; `destroy()` detaches. Fires `bagnet-result`
 * (the result, with the `imageId` it is of), `bagnet-refine` (the exact map got sharper: `{level,
 * final}`) and `bagnet-error` (`{type, message, cause}`) on itself and on the viewport element: the
 * elements' event shapes, and `bagnet-whatif` (`{selection, ablation, result}`) when the selection changes.
 *
 * What-if, on the viewport: `selection` (or a drag with `tool: 'select'`) removes patches from the bag
 * (or keeps them alone) and `whatIf` gives every class's exact logits without them; `edits` (or a drag
 * with `tool: 'edit'`) change pixels of the model input, re-scored on the patches they reach only; the
 * edited pixels are drawn over the image, the map and the result are the edited image's.
 */
export class BagnetOverlay extends EventTarget {
  readonly viewport: Types.IStackViewport;
  #options: Resolved;
  readonly #canvas: HTMLCanvasElement;
  readonly #run = new AsyncRun<RunArgs, Classified>((args, signal) => this.#classify(args, signal), () => this.#runChanged());
  readonly #exact = new ExactMapJob(() => this.#exactChanged());
  /** The exact level last announced with `bagnet-refine`. */
  #refinedTo: unknown = null;
  #painted: Painted | null = null;
  #destroyed = false;
  readonly #disconnectPool: () => void;
  /** Why images failed to load (Cornerstone's IMAGE_LOAD_FAILED), by imageId. */
  readonly #loadErrors = new Map<string, string>();
  /** The last classifications, by their arguments: scrolling back to a slice shows it at once. */
  readonly #recent = new Map<string, Classified>();
  /** The next run classifies again even if it has the answer (refresh()). */
  #fresh = false;
  /** Each model's `input.dicom` (null: it has none), once its manifest is known (read before its first run). */
  readonly #dicomOf = new Map<string, DicomInput | null>();
  /** Manifests being read, by model URL: settled once the run they start has begun. */
  readonly #readingManifest = new Map<string, Promise<void>>();
  /** The classification the selection, and the edits, were set for ('next': set while one ran). */
  #selectionFor: Classified | 'next' | null = null;
  #editsFor: Classified | 'next' | null = null;
  readonly #editChain = new EditChain();
  readonly #rescoring = new AsyncRun(async ([base, ...edits]: readonly [OverlayResultDetail, ...HeatmapEdit[]], signal: AbortSignal) =>
    Object.assign(await this.#editChain.apply(base, edits, this.#options.fillImage, signal), { imageId: base.imageId }) as OverlayResultDetail,
  () => this.#rescoringChanged());
  /**
   * The edited result shown (announced with `bagnet-result`), and the classification it was edited from;
   * it stays shown while the next list of edits is re-scored. Null: the classification's own result.
   */
  #edited: { readonly from: OverlayResultDetail; readonly edits: readonly HeatmapEdit[]; readonly result: OverlayResultDetail } | null = null;
  #drag: Drag | null = null;

  constructor(viewport: Types.IStackViewport, options: OverlayOptions) {
    super();
    this.viewport = viewport;
    this.#options = { ...DEFAULTS, ...options } as Resolved;
    this.#canvas = document.createElement('canvas');
    this.#canvas.className = 'bagnet-overlay';
    this.#canvas.setAttribute('aria-hidden', 'true');
    Object.assign(this.#canvas.style, { position: 'absolute', inset: '0', width: '100%', height: '100%', pointerEvents: 'none', zIndex: '2' });
    const element = viewport.element;
    if (getComputedStyle(element).position === 'static') element.style.position = 'relative';
    element.appendChild(this.#canvas);
    // (dblclick: OHIF maps a double click on a viewport to a layout change.)
    for (const type of ['pointerdown', 'pointermove', 'pointerup', 'pointercancel', 'lostpointercapture', 'mousedown', 'touchstart', 'dblclick'] as const) {
      this.#canvas.addEventListener(type, this.#onPointer);
    }
    this.#setTool();
    element.addEventListener(Enums.Events.STACK_NEW_IMAGE, this.#onNewImage);
    element.addEventListener(Enums.Events.IMAGE_RENDERED, this.#onRendered);
    element.addEventListener(Enums.Events.VOI_MODIFIED, this.#onNewImage);
    eventTarget.addEventListener(Enums.Events.IMAGE_LOAD_FAILED, this.#onLoadFailed);
    // A pool disposed mid-run takes the run with it: run again on the next pool.
    this.#disconnectPool = connectToPool({ onDispose: () => this.#run.status === 'pending' && this.#run.rerun() });
    // The model's manifest says how it takes DICOM images: read it now (refresh() and editsSettled() wait for it).
    this.#readManifest(this.#options.model);
    // After the constructor returns, so listeners added right after `new` hear the first result.
    queueMicrotask(() => this.#sync());
  }

  /** The classification of the displayed image (null until it arrives): of the edited image when there are `edits`. */
  get result(): OverlayResultDetail | null {
    const base = this.#run.value?.result ?? null;
    return this.#edited && this.#edited.from === base ? this.#edited.result : base;
  }

  /**
   * The exact ablation of `selection` on the result shown (null without a selection, or when it would
   * leave an empty bag): every class's logit and probability with those patches removed or kept alone.
   */
  get whatIf(): Ablation | null {
    const result = this.result;
    const { selection, ablation } = this.#options;
    if (!result || selection.length === 0) return null;
    try {
      return ablate(result.evidence, selection, ablation);
    } catch {
      return null;
    }
  }

  /** Apply a pixel edit (appended to `edits`). */
  edit(edit: HeatmapEdit): void {
    this.setOptions({ edits: [...this.#options.edits, edit] });
  }

  /** Settles once the current edits are re-scored: the result shown then, or null (no edits, or they failed). */
  async editsSettled(): Promise<OverlayResultDetail | null> {
    // Edits set before the classification is there are re-scored once it is.
    await this.#runSettled();
    await this.#rescoring.settled();
    return this.#rescoring.status === 'complete' ? this.#edited?.result ?? null : null;
  }

  /** What the model received: the displayed frame after the pixel pipeline (for checks and tests). */
  get modelInput(): ImageData | null {
    return this.#run.value?.input ?? null;
  }

  get options(): Readonly<Resolved> {
    return this.#options;
  }

  /** The overlay's canvas (over the viewport, same size). */
  get canvas(): HTMLCanvasElement {
    return this.#canvas;
  }

  setOptions(options: Partial<OverlayOptions>): void {
    const before = this.#options;
    this.#options = { ...this.#options, ...options } as Resolved;
    const owner = this.#run.status === 'complete' ? this.#run.value ?? null : 'next';
    if ('selection' in options) this.#selectionFor = owner;
    if ('edits' in options) this.#editsFor = owner;
    this.#sync();
    this.#syncEdits();
    if (before.selection !== this.#options.selection || before.ablation !== this.#options.ablation) this.#announceSelection();
    if (before.tool !== this.#options.tool) this.#setTool();
    this.#repaint();
  }

  /** Classify the displayed image again now; resolves once that run has settled. */
  refresh(): Promise<void> {
    if (this.#destroyed) return Promise.resolve();
    this.#fresh = true;
    this.#sync(true);
    this.#fresh = false;
    return this.#runSettled();
  }

  /** The current run settled; before the model's manifest is known, the run that starts once it is. */
  async #runSettled(): Promise<void> {
    await this.#readingManifest.get(this.#options.model);
    await this.#run.settled();
  }

  destroy(): void {
    this.#destroyed = true;
    this.#recent.clear();
    this.#run.clear();
    this.#rescoring.clear();
    this.#exact.update(null);
    this.#disconnectPool();
    const element = this.viewport.element;
    element.removeEventListener(Enums.Events.STACK_NEW_IMAGE, this.#onNewImage);
    element.removeEventListener(Enums.Events.IMAGE_RENDERED, this.#onRendered);
    element.removeEventListener(Enums.Events.VOI_MODIFIED, this.#onNewImage);
    eventTarget.removeEventListener(Enums.Events.IMAGE_LOAD_FAILED, this.#onLoadFailed);
    this.#canvas.remove();
  }

  /** Classify when what the model should see changed (`again`: even if it did not). */
  #sync(again = false): void {
    if (this.#destroyed) return;
    const { model, backend, precision, topK, voi } = this.#options;
    if (!this.#dicomOf.has(model)) {
      // How the model wants its DICOM images decides what a run depends on: learn it first.
      this.#readManifest(model);
      return;
    }
    // The viewer's window matters only when the model takes the displayed image.
    const fixed = this.#dicomOf.get(model) != null;
    const range = voi === 'viewport' && !fixed ? this.viewport.getProperties().voiRange : undefined;
    const imageId = this.viewport.getCurrentImageId() ?? '';
    const loaded = imageId !== '' && this.viewport.getCornerstoneImage()?.imageId === imageId;
    // An image still loading is waited for (STACK_NEW_IMAGE syncs again); one that failed is reported.
    if (!loaded && !this.#loadErrors.has(imageId)) {
      this.#run.update(null);
      return;
    }
    const args: RunArgs = [model, backend, precision, topK, voi, imageId, loaded, JSON.stringify(range ?? null)];
    if (again && sameArgs(args, this.#run.args)) this.#run.rerun();
    else this.#run.update(args);
  }

  #readManifest(model: string): void {
    if (this.#readingManifest.has(model)) return;
    this.#readingManifest.set(model, getPool().manifest(model).then((manifest) => manifest.input.dicom ?? null, () => null).then((dicom) => {
      // (A manifest that cannot be read: the run reports why.)
      this.#readingManifest.delete(model);
      this.#dicomOf.set(model, dicom);
      this.#sync();
    }));
  }

  #onNewImage = () => {
    // A new image of the stack that loaded: an old failure to load it no longer stands.
    const shown = this.viewport.getCornerstoneImage()?.imageId;
    if (shown) this.#loadErrors.delete(shown);
    // Cornerstone's CPU rendering sets a new image's window just after STACK_NEW_IMAGE (and without a
    // VOI_MODIFIED): read what the viewport shows once it has.
    queueMicrotask(() => this.#sync());
  };

  #onRendered = () => {
    // A window set without an event (the CPU path, tools that suppress events) shows up here: the
    // arguments are compared, so a render that changed nothing the model sees starts nothing.
    this.#sync();
    this.#draw();
  };

  /** An image of this viewport's stack failed to load (e.g. an unsupported transfer syntax): say so. */
  #onLoadFailed = (event: Event) => {
    const detail = (event as CustomEvent<{ imageId?: string; error?: unknown }>).detail;
    if (!detail?.imageId) return;
    const error = detail.error as { message?: string } | string | undefined;
    const message = typeof error === 'string' ? error : error?.message ?? 'the loader failed';
    this.#loadErrors.set(detail.imageId, message);
    // The run for this image reads the failure (see #currentFrame) and reports it.
    if (detail.imageId === this.viewport.getCurrentImageId()) this.#sync(true);
  };

  /** The displayed frame as the pipeline's input (by the model's `input.dicom` when it has one), or a clear error. */
  #currentFrame(dicom: DicomInput | null): { imageId: string; frame: DicomFrame; voi: VoiWindow } {
    const imageId = this.viewport.getCurrentImageId();
    const image = this.viewport.getCornerstoneImage();
    if (!imageId || !image) throw new BagnetError('image-load', 'The viewport shows no image yet');
    if (image.imageId !== imageId) {
      throw new BagnetError('image-load', `The viewport could not show ${imageId}${this.#loadErrors.get(imageId) ? `: ${this.#loadErrors.get(imageId)}` : ''}`);
    }
    const pixel = metaData.get('imagePixelModule', imageId) as { photometricInterpretation?: string; samplesPerPixel?: number } | undefined;
    // The loader usually "pre-scales": its pixel data already are modality values. Apply the
    // modality LUT only when it has not.
    const preScaled = image.preScale?.scaled === true || image.isPreScaled === true;
    const frame: DicomFrame = {
      rows: image.rows,
      columns: image.columns,
      pixelData: image.getPixelData(),
      samplesPerPixel: image.color ? image.numberOfComponents || 3 : pixel?.samplesPerPixel ?? 1,
      photometricInterpretation: image.color ? 'RGB' : image.photometricInterpretation ?? pixel?.photometricInterpretation ?? 'MONOCHROME2',
      rescaleSlope: preScaled ? 1 : image.slope ?? 1,
      rescaleIntercept: preScaled ? 0 : image.intercept ?? 0,
    };
    let voi: VoiWindow;
    const range = this.viewport.getProperties().voiRange;
    if (dicom && dicom.window !== 'file') {
      voi = { center: dicom.window[0], width: dicom.window[1] };
    } else if (!dicom && this.#options.voi === 'viewport' && range && Number.isFinite(range.lower) && Number.isFinite(range.upper)) {
      voi = windowForRange(range.lower, range.upper);
    } else {
      // The dataset's own Window Center/Width (not one the viewer computed), else the full range.
      const lut = metaData.get('voiLutModule', imageId) as { windowCenter?: number | number[]; windowWidth?: number | number[] } | undefined;
      const center = first(lut?.windowCenter);
      const width = first(lut?.windowWidth);
      voi = center !== undefined && width !== undefined && width >= 1 ? { center, width } : fullRangeWindow(frame);
    }
    return { imageId, frame, voi };
  }

  async #classify(args: RunArgs, signal: AbortSignal): Promise<Classified> {
    const key = JSON.stringify(args);
    const known = this.#fresh ? undefined : this.#recent.get(key);
    if (known) {
      this.#remember(key, known);
      return known;
    }
    const classified = await this.#classifyNow(args, signal);
    this.#remember(key, classified);
    return classified;
  }

  #remember(key: string, classified: Classified): void {
    this.#recent.delete(key);
    this.#recent.set(key, classified);
    // At most RECENT_SLICES, and at most RECENT_BYTES of model inputs (big radiographs: fewer).
    let bytes = 0;
    for (const entry of this.#recent.values()) bytes += entry.input.data.length;
    while (this.#recent.size > 1 && (this.#recent.size > RECENT_SLICES || bytes > RECENT_BYTES)) {
      const oldest = this.#recent.keys().next().value!;
      bytes -= this.#recent.get(oldest)!.input.data.length;
      this.#recent.delete(oldest);
    }
  }

  async #classifyNow([model, backend, precision, topK]: RunArgs, signal: AbortSignal): Promise<Classified> {
    let imageId: string;
    let input: ImageData;
    const dicom = this.#dicomOf.get(model) ?? null;
    try {
      const current = this.#currentFrame(dicom);
      const rgba = frameToRgba(current.frame, current.voi, { invertMonochrome1: dicom?.invertMonochrome1 ?? true });
      imageId = current.imageId;
      input = new ImageData(rgba.data as Uint8ClampedArray<ArrayBuffer>, rgba.width, rgba.height);
    } catch (cause) {
      throw cause instanceof PixelPipelineError ? new BagnetError('image-invalid', cause.message, { cause }) : toBagnetError(cause);
    }
    // The result itself, with the image it is of: the `bagnet-result` detail (exactMap() takes it as a result).
    const result = Object.assign(await getPool().classify(input, { model, backend, precision, signal, topK }), { imageId });
    return { result, imageId, input };
  }

  #runChanged(): void {
    const { status, value, error } = this.#run;
    if (status === 'complete' && value) {
      // The selection and the edits belong to the classification they were set for: another one clears them.
      const stale = (owner: Classified | 'next' | null) => owner !== value && owner !== 'next' && owner !== null;
      const clearSelection = stale(this.#selectionFor) && this.#options.selection.length > 0;
      if (stale(this.#editsFor) && this.#options.edits.length > 0) this.#options = { ...this.#options, edits: [] };
      if (clearSelection) this.#options = { ...this.#options, selection: [] };
      this.#selectionFor = value;
      this.#editsFor = value;
      if (this.#edited && this.#edited.from !== value.result) this.#edited = null;
      this.#drag = null; // a drag begun over another classification is dropped
      this.#emit('bagnet-result', value.result);
      if (clearSelection) this.#announceSelection();
    } else if (status === 'error' && error) {
      this.#emit('bagnet-error', errorDetail(error));
    }
    this.#syncEdits();
    this.#repaint();
  }

  /** Re-score the edits on the classification shown (none: its own result). */
  #syncEdits(): void {
    const base = this.#run.status === 'complete' ? this.#run.value : undefined;
    this.#editChain.keepOnly(base?.result ?? null);
    const { edits } = this.#options;
    this.#rescoring.update(base && edits.length > 0 && !this.#destroyed ? [base.result, ...edits] : null);
  }

  #rescoringChanged(): void {
    if (this.#destroyed) return; // (destroy() clears it: nothing more to say)
    const { status, value, error, args } = this.#rescoring;
    if (status === 'complete' && value && args) {
      this.#edited = { from: args[0], edits: args.slice(1) as HeatmapEdit[], result: value };
      this.#emit('bagnet-result', value);
    } else if (status === 'error' || status === 'idle') {
      if (status === 'error' && error) this.#emit('bagnet-error', errorDetail(error));
      // The edits were taken back, or failed: the classification's own result is shown again.
      const shown = this.#edited;
      this.#edited = null;
      const base = this.#run.status === 'complete' ? this.#run.value : undefined;
      if (shown && base && shown.from === base.result) this.#emit('bagnet-result', base.result);
    }
    this.#repaint();
  }

  #announceSelection(): void {
    const { selection, ablation } = this.#options;
    this.#emit('bagnet-whatif', { selection, ablation, result: this.whatIf });
  }

  /** The viewer's tools get the pointer unless a what-if tool is chosen. */
  #setTool(): void {
    const active = this.#options.tool !== 'navigate';
    Object.assign(this.#canvas.style, { pointerEvents: active ? 'auto' : 'none', cursor: active ? 'crosshair' : '', touchAction: active ? 'none' : '' });
    this.#drag = null;
  }

  #onPointer = (event: Event) => {
    // The viewer's own tools listen on the viewport element: a drag for a what-if tool is not theirs.
    event.stopPropagation();
    if (!(event instanceof PointerEvent) || this.#options.tool === 'navigate') return;
    const drag = this.#drag;
    if (event.type === 'pointermove' && !drag) return; // hovering: nothing to draw
    // Only over the finished classification of the image shown (not the last slice's while the next one runs).
    const result = this.#run.status === 'complete' && this.#run.value?.imageId === this.viewport.getCurrentImageId() ? this.result : null;
    const rect = this.#canvas.getBoundingClientRect();
    const point = result && this.#canvasToInput(event.clientX - rect.left, event.clientY - rect.top, result);
    if (event.type === 'pointerdown') {
      const { width = 0, height = 0 } = result?.input.plan ?? {};
      if (!point || event.button !== 0 || point.x < 0 || point.y < 0 || point.x >= width || point.y >= height) return;
      event.preventDefault();
      try {
        this.#canvas.setPointerCapture(event.pointerId); // the drag goes on outside the viewport
      } catch {
        // a pointer the browser does not track (Firefox throws): the drag still works over the viewport
      }
      this.#drag = { x0: point.x, y0: point.y, x1: point.x, y1: point.y, mode: event.shiftKey ? 'remove' : 'add' };
    } else if (event.type === 'pointermove' && drag && point) {
      [drag.x1, drag.y1] = [point.x, point.y]; // beyond the image too: the box is clamped to it
    } else if (event.type === 'pointerup' || event.type === 'pointercancel' || event.type === 'lostpointercapture') {
      this.#drag = null;
      if (event.type === 'pointerup' && drag && result && point) {
        [drag.x1, drag.y1] = [point.x, point.y];
        this.#applyDrag(this.#dragBox(drag, result), drag.mode, result);
      }
    }
    this.#draw();
  };

  /** A drag's box in whole model-input pixels, clamped to the model input. */
  #dragBox(drag: Drag, result: ClassificationResult): PixelBox {
    const { width, height } = result.input.plan;
    const clamp = (v: number, size: number) => Math.max(0, Math.min(size - 1, Math.floor(v)));
    const x = clamp(Math.min(drag.x0, drag.x1), width);
    const y = clamp(Math.min(drag.y0, drag.y1), height);
    return { x, y, width: clamp(Math.max(drag.x0, drag.x1), width) - x + 1, height: clamp(Math.max(drag.y0, drag.y1), height) - y + 1 };
  }

  #applyDrag(box: PixelBox, mode: 'add' | 'remove', result: ClassificationResult): void {
    if (this.#options.tool === 'edit') {
      this.edit({ ...box, fill: this.#options.fill });
      return;
    }
    const selected = new Set(this.#options.selection);
    for (const cell of cellsMeeting(box, result.evidence)) {
      if (mode === 'add') selected.add(cell);
      else selected.delete(cell);
    }
    this.setOptions({ selection: [...selected].sort((a, b) => a - b) });
  }

  #exactChanged(): void {
    this.#repaint();
    const level = this.#exact.level;
    if (level && level !== this.#refinedTo) this.#emit('bagnet-refine', { level: level.level, final: level.level === 1 });
    this.#refinedTo = level;
  }

  #targetIndex(): number | null {
    const result = this.result;
    return result ? resolveTarget(this.#options.target, result) : null;
  }

  /** The class the target is contrasted with (null: none, or unknown). */
  contrastIndex(): number | null {
    const result = this.result;
    const index = this.#targetIndex();
    const contrast = this.#options.contrast;
    if (!result || index === null || contrast === null) return null;
    return contrast.trim() === '' ? runnerUp(result.logits, index) : resolveTarget(contrast, result);
  }

  /** Colour the map for the target (in model-input pixels) into an offscreen canvas. */
  #repaint(): void {
    // Only the finished classification of the shown image: not the previous one while the next one runs.
    const result = this.#run.status === 'complete' ? this.result : null;
    const index = this.#targetIndex();
    const versus = this.contrastIndex();
    const { contrast } = this.#options;
    this.#exact.update(result && index !== null && this.#options.resolution === 'exact' && !this.#destroyed
      ? { result, classes: versus === null ? [index] : [index, versus], backend: this.#options.backend } : null);
    this.#report(result ? this.#unknownTargets.get(result, this.#options.target)
      ?? this.#unknownContrasts.get(result, contrast)
      ?? (this.#options.resolution === 'exact' ? this.#exact.error : null) : null);
    if (!result || index === null || (contrast !== null && versus === null)) {
      this.#painted = null;
      this.#draw();
      return;
    }
    const map = this.#mapOf(result, index, versus);
    const { rgba } = paintEvidence(map.values, {
      sign: 'all', threshold: 0, thresholdMode: 'clip', percentile: this.#options.percentile, scale: 0,
      colormap: this.#options.colormap, opacity: 1, alpha: 'magnitude',
    });
    const { selection, ablation } = this.#options;
    const edited = this.#edited?.result === result ? this.#edited : null;
    this.#painted = {
      canvas: canvasOf(rgba, map.width, map.height),
      width: map.width,
      height: map.height,
      // (Made again only when they change: an opacity or colormap change repaints the map alone.)
      selection: selection.length > 0 ? this.#selectionLayer.get(result, selection, ablation, map.width, map.height) : null,
      edited: edited ? this.#editedLayer.get(edited.result.input.pixels, edited.edits) : null,
    };
    this.#draw();
  }

  /** The target's map (or target − contrast), exact when it is there, else the stride map. */
  #mapOf(result: ClassificationResult, index: number, versus: number | null): { values: Float32Array; width: number; height: number } {
    if (this.#options.resolution === 'exact') {
      const a = this.#exact.view(index);
      const b = versus === null ? null : this.#exact.view(versus);
      if (a && !b && versus === null) return a;
      if (a && b && a.level === b.level) return { ...a, values: a.values.map((v, i) => v - b.values[i]!) };
    }
    return versus === null ? fastMap(result, index) : spreadCells(result, contrastCells(result.evidence, index, versus));
  }

  readonly #selectionLayer = new Memo((result: ClassificationResult, selection: readonly number[], ablation: AblationMode, width: number, height: number) =>
    canvasOf(selectionRgba(result.evidence, selection, ablation, width, height), width, height));
  readonly #editedLayer = new Memo(editedPixels);
  readonly #unknownTargets = new Memo(unknownTarget);
  readonly #unknownContrasts = new Memo(unknownContrast);
  /** The last error of the overlay's own work (an unknown target, a failed exact map) reported: each once. */
  #reported: BagnetError | null = null;

  #report(error: BagnetError | null): void {
    if (error && error !== this.#reported) this.#emit('bagnet-error', errorDetail(error));
    this.#reported = error;
  }

  /** Map the painted map onto the viewport with Cornerstone's transforms (runs on every render). */
  #draw(): void {
    const canvas = this.#canvas;
    const element = this.viewport.element;
    const ratio = globalThis.devicePixelRatio || 1;
    const width = Math.round(element.clientWidth * ratio);
    const height = Math.round(element.clientHeight * ratio);
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const context = canvas.getContext('2d')!;
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.clearRect(0, 0, width, height);
    const painted = this.#painted;
    const shown = this.#run.value;
    if (!this.#options.enabled || !painted || !shown || this.viewport.getCurrentImageId() !== shown.imageId) return;
    const [a, b, c, d, e, f] = this.#inputToCanvas(shown.result);
    context.setTransform(a * ratio, b * ratio, c * ratio, d * ratio, e * ratio, f * ratio);
    context.imageSmoothingEnabled = false; // cells are cells: no blur across them
    if (painted.edited) context.drawImage(painted.edited, 0, 0); // the what-if image where it differs
    context.globalAlpha = this.#options.opacity;
    context.drawImage(painted.canvas, 0, 0);
    context.globalAlpha = 1;
    if (painted.selection) context.drawImage(painted.selection, 0, 0);
    if (this.#drag) {
      const box = this.#dragBox(this.#drag, shown.result);
      context.strokeStyle = this.#options.tool === 'edit' ? '#ffcc00' : '#ffffff';
      context.lineWidth = 1 / Math.max(1e-6, Math.hypot(a, b)); // one CSS pixel
      context.strokeRect(box.x, box.y, box.width, box.height);
    }
  }

  /**
   * Model-input pixels → canvas CSS pixels, as an affine transform [a, b, c, d, e, f] (canvas
   * `setTransform` order). Model-input pixel (u, v) is image pixel ((u + cropX)·W/scaledW, (v + cropY)·H/scaledH).
   */
  #inputToCanvas(result: ClassificationResult): readonly [number, number, number, number, number, number] {
    const toCanvas = this.#imageToCanvas();
    const { plan, imageWidth, imageHeight } = result.input;
    const sx = imageWidth / plan.scaledWidth;
    const sy = imageHeight / plan.scaledHeight;
    const origin = toCanvas(plan.cropX * sx, plan.cropY * sy);
    const alongX = toCanvas((plan.cropX + 1) * sx, plan.cropY * sy);
    const alongY = toCanvas(plan.cropX * sx, (plan.cropY + 1) * sy);
    return [alongX[0] - origin[0], alongX[1] - origin[1], alongY[0] - origin[0], alongY[1] - origin[1], origin[0], origin[1]];
  }

  /** A point on the viewport (CSS px from its top-left) in model-input pixels (outside the input too); null for a degenerate view. */
  #canvasToInput(x: number, y: number, result: ClassificationResult): { x: number; y: number } | null {
    const [a, b, c, d, e, f] = this.#inputToCanvas(result);
    const det = a * d - b * c;
    if (!det) return null;
    return { x: (d * (x - e) - c * (y - f)) / det, y: (a * (y - f) - b * (x - e)) / det };
  }

  /**
   * Image pixel coordinates (top-left corner of pixel (0, 0) at (0, 0)) → canvas CSS pixels, through
   * the same geometry the viewport renders with: its image data's origin (the centre of the first
   * pixel), spacing and direction. Cornerstone's CPU fallback counts from the origin as a corner.
   */
  #imageToCanvas(): (x: number, y: number) => Types.Point2 {
    const { origin, spacing, direction } = this.viewport.getImageData();
    const half = getShouldUseCPURendering() ? 0 : 0.5;
    return (x, y) => {
      const world: Types.Point3 = [0, 0, 0];
      for (let k = 0; k < 3; k++) {
        world[k] = origin[k]! + direction[k]! * spacing[0]! * (x - half) + direction[3 + k]! * spacing[1]! * (y - half);
      }
      return this.viewport.worldToCanvas(world);
    };
  }

  #emit(type: 'bagnet-result' | 'bagnet-refine' | 'bagnet-error' | 'bagnet-whatif', detail: object): void {
    if (this.#destroyed) return; // a destroyed overlay says nothing more
    this.dispatchEvent(new CustomEvent(type, { detail }));
    this.viewport.element.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }
}

function canvasOf(rgba: Uint8ClampedArray, width: number, height: number): HTMLCanvasElement {
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  canvas.getContext('2d')!.putImageData(new ImageData(rgba as Uint8ClampedArray<ArrayBuffer>, width, height), 0, 0);
  return canvas;
}

/** The edited image's pixels inside the edits' boxes (transparent elsewhere). */
function editedPixels(pixels: ImageData, edits: readonly HeatmapEdit[]): HTMLCanvasElement {
  const canvas = document.createElement('canvas');
  canvas.width = pixels.width;
  canvas.height = pixels.height;
  const context = canvas.getContext('2d')!;
  for (const edit of edits) context.putImageData(pixels, 0, 0, edit.x, edit.y, edit.width, edit.height);
  return canvas;
}

function first(value: number | number[] | undefined): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}
