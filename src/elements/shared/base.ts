/**
 * The common surface of the three elements (contract attributes and the `image` property). Thin:
 * the work is in ClassificationController; this only declares the reactive inputs once and keeps
 * the controller in step with them at the start of every update.
 */
import { LitElement, type PropertyValues } from 'lit';
import { property } from 'lit/decorators.js';
import type { BagnetError } from '../../core/errors.js';
import type { PrecisionPreference } from '../../core/precision.js';
import type { BackendPreference } from '../../core/protocol.js';
import type { ClassificationResult } from '../../core/result.js';
import type { ImageInput } from '../../pool/image-input.js';
import type { ClassificationController, ClassificationSource, ElementState } from './classification-controller.js';

export abstract class BagnetElementBase extends LitElement implements ClassificationSource {
  /** URL of the model's manifest (`bagnet.json`). */
  @property({ reflect: true, useDefault: true }) model = '';

  /** URL of the image to classify (http(s) or relative). The `image` property takes precedence. */
  @property({ reflect: true, useDefault: true }) src = '';

  /** An image object: HTMLImageElement, ImageBitmap, Blob/File, canvas, OffscreenCanvas or ImageData. */
  @property({ attribute: false }) image: ImageInput | null = null;

  /** `auto` (WebGPU, falling back to WASM), `webgpu` or `wasm`. */
  @property({ reflect: true, useDefault: true }) backend: BackendPreference = 'auto';

  /**
   * Which of the model's files runs: `auto` (int8 on WASM when its recorded top-1 agreement with fp32
   * is ≥ 99.5%, else fp16, else fp32; on WebGPU the smallest file computed in fp32), or `fp32`,
   * `fp16`, `int8`. `result.precision` and `bagnet-load` say which ran.
   */
  @property({ reflect: true, useDefault: true }) precision: PrecisionPreference | (string & {}) = 'auto';

  /** `eager` starts at once; `lazy` waits until the element is near the viewport. */
  @property({ reflect: true, useDefault: true }) loading: 'lazy' | 'eager' = 'eager';

  /** The id of another bagnet element whose result to reuse instead of running the model. */
  @property({ attribute: 'for', reflect: true, useDefault: true }) htmlFor = '';

  /** Like `for`, by reference: the element whose result to reuse (also across shadow roots). */
  @property({ attribute: false }) resultFrom: Element | null = null;

  protected abstract readonly classification: ClassificationController;

  /** The latest result (also the detail of `bagnet-result`), or null. */
  get result(): ClassificationResult | null {
    return this.classification.result;
  }

  /** `idle`, `loading`, `running`, `result` or `error`. */
  get state(): ElementState {
    return this.classification.state;
  }

  /** What went wrong when `state` is `error` (the detail of the last `bagnet-error`), else null. */
  get error(): BagnetError | null {
    return this.state === 'error' ? this.classification.error : null;
  }

  /** Classify again with the same inputs (after an error, say). */
  retry(): void {
    this.classification.retry();
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    super.willUpdate(changed);
    this.classification.sync();
  }
}
