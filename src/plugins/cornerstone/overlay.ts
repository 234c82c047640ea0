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
import { BagnetError } from '../../core/errors.js';
import { fastMap, paintEvidence } from '../../core/heatmap.js';
import type { BackendPreference } from '../../core/protocol.js';
import type { ClassificationResult } from '../../core/result.js';
import { levelView } from '../../core/stitch.js';
import { getPool } from '../../pool/pool.js';
import { resolveTarget } from '../../elements/shared/target.js';
import { frameToRgba, fullRangeWindow, PixelPipelineError, windowForRange, type DicomFrame, type VoiWindow } from './pixels.js';

export interface OverlayOptions {
  /** The model's manifest URL. */
  readonly model: string;
  readonly backend?: BackendPreference;
  /** Show the overlay (classification keeps following the stack while hidden). */
  readonly enabled?: boolean;
  readonly opacity?: number;
  /** Index or label; default: the top-1 class. */
  readonly target?: string;
  readonly resolution?: 'fast' | 'exact';
  readonly voi?: 'viewport' | 'dataset';
  readonly colormap?: ColormapName;
  readonly percentile?: number;
  readonly topK?: number;
}

type Resolved = Required<OverlayOptions>;

const DEFAULTS: Omit<Resolved, 'model'> = {
  backend: 'auto', enabled: true, opacity: 0.6, target: '', resolution: 'fast', voi: 'viewport', colormap: 'rdbu',
  percentile: 99, topK: 5,
};

interface Painted {
  readonly canvas: HTMLCanvasElement | OffscreenCanvas;
  readonly width: number;
  readonly height: number;
}

export interface OverlayResultDetail {
  readonly result: ClassificationResult;
  readonly imageId: string;
}

/**
 * Attach with `new BagnetOverlay(viewport, { model })`; `destroy()` detaches. Fires `bagnet-result`
 * (`{result, imageId}`) and `bagnet-error` (`{type, message}`) on itself and on the viewport element.
 */
export class BagnetOverlay extends EventTarget {
  readonly viewport: Types.IStackViewport;
  #options: Resolved;
  readonly #canvas: HTMLCanvasElement;
  #result: ClassificationResult | null = null;
  #resultImageId = '';
  #modelInput: ImageData | null = null;
  #painted: Painted | null = null;
  #exact: { level: number; data: Float32Array; classes: readonly number[]; width: number; height: number } | null = null;
  #abort: AbortController | null = null;
  #exactAbort: AbortController | null = null;
  #voiKey = '';
  #destroyed = false;
  /** Why images failed to load (Cornerstone's IMAGE_LOAD_FAILED), by imageId. */
  readonly #loadErrors = new Map<string, string>();

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
    element.addEventListener(Enums.Events.STACK_NEW_IMAGE, this.#onNewImage);
    element.addEventListener(Enums.Events.IMAGE_RENDERED, this.#onRendered);
    element.addEventListener(Enums.Events.VOI_MODIFIED, this.#onVoi);
    eventTarget.addEventListener(Enums.Events.IMAGE_LOAD_FAILED, this.#onLoadFailed);
    // After the constructor returns, so listeners added right after `new` hear the first result.
    queueMicrotask(() => void this.#classify());
  }

  /** The classification of the displayed image (null until it arrives). */
  get result(): ClassificationResult | null {
    return this.#result;
  }

  /** What the model received: the displayed frame after the pixel pipeline (for checks and tests). */
  get modelInput(): ImageData | null {
    return this.#modelInput;
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
    this.#options = { ...before, ...options } as Resolved;
    if (this.#options.model !== before.model || this.#options.backend !== before.backend || this.#options.voi !== before.voi) {
      void this.#classify();
      return;
    }
    if (this.#options.target !== before.target || this.#options.resolution !== before.resolution) this.#startExact();
    this.#repaint();
  }

  /** Recompute for the displayed image now. */
  refresh(): Promise<void> {
    return this.#classify();
  }

  destroy(): void {
    this.#destroyed = true;
    this.#abort?.abort();
    this.#exactAbort?.abort();
    const element = this.viewport.element;
    element.removeEventListener(Enums.Events.STACK_NEW_IMAGE, this.#onNewImage);
    element.removeEventListener(Enums.Events.IMAGE_RENDERED, this.#onRendered);
    element.removeEventListener(Enums.Events.VOI_MODIFIED, this.#onVoi);
    eventTarget.removeEventListener(Enums.Events.IMAGE_LOAD_FAILED, this.#onLoadFailed);
    this.#canvas.remove();
  }

  #onNewImage = () => {
    void this.#classify();
  };

  #onRendered = () => {
    this.#draw();
  };

  /** An image of this viewport's stack failed to load (e.g. an unsupported transfer syntax): say so. */
  #onLoadFailed = (event: Event) => {
    const detail = (event as CustomEvent<{ imageId?: string; error?: unknown }>).detail;
    if (!detail?.imageId) return;
    const error = detail.error as { message?: string } | string | undefined;
    const message = typeof error === 'string' ? error : error?.message ?? 'the loader failed';
    this.#loadErrors.set(detail.imageId, message);
    if (detail.imageId === this.viewport.getCurrentImageId()) {
      this.#result = null;
      this.#painted = null;
      this.#draw();
      this.#emit('bagnet-error', { type: 'image-load', message: `The viewport could not load ${detail.imageId}: ${message}` });
    }
  };

  #onVoi = () => {
    if (this.#options.voi !== 'viewport') return;
    const key = JSON.stringify(this.viewport.getProperties().voiRange ?? null);
    if (key !== this.#voiKey) void this.#classify();
  };

  /** The displayed frame as the pipeline's input, or a clear error. */
  #currentFrame(): { imageId: string; frame: DicomFrame; voi: VoiWindow } {
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
    if (this.#options.voi === 'viewport' && range && Number.isFinite(range.lower) && Number.isFinite(range.upper)) {
      voi = windowForRange(range.lower, range.upper);
      this.#voiKey = JSON.stringify(range);
    } else {
      // The dataset's own Window Center/Width (not one the viewer computed), else the full range.
      const lut = metaData.get('voiLutModule', imageId) as { windowCenter?: number | number[]; windowWidth?: number | number[] } | undefined;
      const center = first(lut?.windowCenter);
      const width = first(lut?.windowWidth);
      voi = center !== undefined && width !== undefined && width >= 1 ? { center, width } : fullRangeWindow(frame);
    }
    return { imageId, frame, voi };
  }

  async #classify(): Promise<void> {
    if (this.#destroyed) return;
    this.#abort?.abort();
    this.#exactAbort?.abort();
    const abort = new AbortController();
    this.#abort = abort;
    try {
      const { imageId, frame, voi } = this.#currentFrame();
      const rgba = frameToRgba(frame, voi);
      const input = new ImageData(rgba.data as Uint8ClampedArray<ArrayBuffer>, rgba.width, rgba.height);
      const result = await getPool().classify(input, {
        model: this.#options.model, backend: this.#options.backend, signal: abort.signal, topK: this.#options.topK,
      });
      if (abort.signal.aborted) return;
      this.#modelInput = input;
      this.#result = result;
      this.#resultImageId = imageId;
      this.#exact = null;
      this.#startExact();
      this.#repaint();
      this.#emit('bagnet-result', { result, imageId } satisfies OverlayResultDetail);
    } catch (cause) {
      if (abort.signal.aborted) return;
      const error = cause instanceof BagnetError ? cause
        : cause instanceof PixelPipelineError ? new BagnetError('image-invalid', cause.message, { cause })
          : new BagnetError('inference', cause instanceof Error ? cause.message : String(cause), { cause });
      this.#result = null;
      this.#painted = null;
      this.#draw();
      this.#emit('bagnet-error', { type: error.type, message: error.message });
    }
  }

  #targetIndex(): number | null {
    return this.#result ? resolveTarget(this.#options.target, this.#result) : null;
  }

  #startExact(): void {
    this.#exactAbort?.abort();
    const result = this.#result;
    const index = this.#targetIndex();
    if (this.#options.resolution !== 'exact' || !result || index === null || !this.#modelInput) return;
    const abort = new AbortController();
    this.#exactAbort = abort;
    const classes = [index];
    getPool().exactEvidence(this.#modelInput, {
      model: this.#options.model, backend: this.#options.backend, classes, signal: abort.signal,
      onLevel: (level) => {
        if (abort.signal.aborted) return;
        this.#exact = { level: level.level, data: level.data, classes, width: level.width, height: level.height };
        this.#repaint();
      },
    }).catch((error: unknown) => {
      if (!abort.signal.aborted) this.#emit('bagnet-error', { type: (error as BagnetError).type ?? 'inference', message: String((error as Error).message ?? error) });
    });
  }

  /** Colour the map for the target (in model-input pixels) into an offscreen canvas. */
  #repaint(): void {
    const result = this.#result;
    const index = this.#targetIndex();
    if (!result || index === null) {
      this.#painted = null;
      if (result && this.#options.target) {
        this.#emit('bagnet-error', { type: 'inference', message: `Unknown target "${this.#options.target}"` });
      }
      this.#draw();
      return;
    }
    const exact = this.#exact && this.#exact.classes[0] === index ? this.#exact : null;
    const map = exact
      ? { values: levelView(exact.data, exact.width, exact.height, exact.classes.length, 0, exact.level), width: exact.width, height: exact.height }
      : fastMap(result, index);
    const { rgba } = paintEvidence(map.values, {
      sign: 'all', threshold: 0, thresholdMode: 'clip', percentile: this.#options.percentile, scale: 0,
      colormap: this.#options.colormap, opacity: 1, alpha: 'magnitude',
    });
    const canvas = document.createElement('canvas');
    canvas.width = map.width;
    canvas.height = map.height;
    canvas.getContext('2d')!.putImageData(new ImageData(rgba as Uint8ClampedArray<ArrayBuffer>, map.width, map.height), 0, 0);
    this.#painted = { canvas, width: map.width, height: map.height };
    this.#draw();
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
    const result = this.#result;
    if (!this.#options.enabled || !painted || !result || this.viewport.getCurrentImageId() !== this.#resultImageId) return;
    const toCanvas = this.#imageToCanvas();
    const { plan, imageWidth, imageHeight } = result.input;
    // Model-input pixel (u, v) is image pixel ((u + cropX)·W/scaledW, (v + cropY)·H/scaledH).
    const sx = imageWidth / plan.scaledWidth;
    const sy = imageHeight / plan.scaledHeight;
    const origin = toCanvas(plan.cropX * sx, plan.cropY * sy);
    const alongX = toCanvas((plan.cropX + 1) * sx, plan.cropY * sy);
    const alongY = toCanvas(plan.cropX * sx, (plan.cropY + 1) * sy);
    context.setTransform(
      (alongX[0] - origin[0]) * ratio, (alongX[1] - origin[1]) * ratio,
      (alongY[0] - origin[0]) * ratio, (alongY[1] - origin[1]) * ratio,
      origin[0] * ratio, origin[1] * ratio,
    );
    context.globalAlpha = this.#options.opacity;
    context.imageSmoothingEnabled = false; // cells are cells: no blur across them
    context.drawImage(painted.canvas, 0, 0);
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

  #emit(type: 'bagnet-result' | 'bagnet-error', detail: unknown): void {
    this.dispatchEvent(new CustomEvent(type, { detail }));
    this.viewport.element.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }
}

function first(value: number | number[] | undefined): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}
