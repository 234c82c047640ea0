/**
 * The common surface of the three elements (contract attributes and the `image` property). Thin:
 * the work is in ClassificationController; this only declares the reactive inputs once.
 */
import { LitElement } from 'lit';
import { property } from 'lit/decorators.js';
import type { BackendPreference } from '../../core/protocol.js';
import type { ImageInput } from '../../pool/image-input.js';
import { ClassificationController, type ClassificationSource, type ResultProvider } from './classification-controller.js';

export abstract class BagnetElementBase extends LitElement implements ClassificationSource {
  /** URL of the model's manifest (`bagnet.json`). */
  @property({ reflect: true }) model = '';

  /** URL of the image to classify (http(s) or relative). The `image` property takes precedence. */
  @property({ reflect: true }) src = '';

  /** An image object: HTMLImageElement, ImageBitmap, Blob/File, canvas, OffscreenCanvas or ImageData. */
  @property({ attribute: false }) image: ImageInput | null = null;

  /** `auto` (WebGPU, falling back to WASM), `webgpu` or `wasm`. */
  @property({ reflect: true }) backend: BackendPreference = 'auto';

  /** `eager` starts at once; `lazy` waits until the element is near the viewport. */
  @property({ reflect: true }) loading: 'lazy' | 'eager' = 'eager';

  /** The id of another bagnet element whose result to reuse instead of running the model. */
  @property({ attribute: 'for', reflect: true }) htmlFor = '';

  /** Like `for`, by reference: the element whose result to reuse (also across shadow roots). */
  @property({ attribute: false }) resultFrom: ResultProvider | null = null;

  protected abstract readonly classification: ClassificationController;

  /** The latest result (also the detail of `bagnet-result`), or null. */
  get result() {
    return this.classification.result;
  }

  /** The image that produced `result`. */
  get resultInput() {
    return this.classification.resultInput;
  }

  /** `idle`, `loading`, `running`, `result` or `error`. */
  get state() {
    return this.classification.state;
  }
}
