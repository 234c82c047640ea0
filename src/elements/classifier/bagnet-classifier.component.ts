import { html, nothing, type PropertyValues } from 'lit';
import { property, state } from 'lit/decorators.js';
import { DEFAULT_TOP_K, topKCount } from '../../core/settings.js';
import { BagnetElementBase } from '../shared/base.js';
import { ClassificationController } from '../shared/classification-controller.js';
import { drawOnce, ImageDisplayCache } from '../shared/image-view.js';
import { classifierStyles } from './bagnet-classifier.styles.js';

/**
 * An image and the classes a BagNet sees in it, with their probabilities.
 *
 * @summary Classify an image with a BagNet; show the top-k classes as bars.
 *
 * @fires bagnet-progress - Model download/compile progress: `{phase, loaded, total}`.
 * @fires bagnet-load - The model is ready: `{model, backend}`.
 * @fires bagnet-backend - Which backend runs and why: `{requested, actual, reason}`.
 * @fires bagnet-result - A classification: the result object (`topk`, `logits`, `evidence`, `backend`, `timings`).
 * @fires bagnet-error - Something failed: `{type, message, cause}`.
 *
 * @slot poster - Shown before an image is chosen.
 * @slot progress - Replaces the built-in progress bar while the model loads.
 * @slot error - Replaces the built-in error message.
 *
 * @csspart base - The wrapper.
 * @csspart media - The image area.
 * @csspart image - The image.
 * @csspart picker - The file chooser button and drop zone (with `picker`).
 * @csspart progress - The progress bar.
 * @csspart results - The list of classes.
 * @csspart class - One class row.
 * @csspart label - A class label.
 * @csspart bar - A probability bar.
 * @csspart probability - A probability as text.
 * @csspart error - The error message.
 *
 * @cssprop --bagnet-accent - Bars and progress colour.
 * @cssprop --bagnet-surface - Background of bars and drop zone.
 * @cssprop --bagnet-muted - Secondary text colour.
 * @cssprop --bagnet-radius - Corner radius.
 * @cssprop --bagnet-font - Font shorthand.
 * @cssprop --bagnet-error-color - Error text colour.
 * @cssprop --bagnet-image-max-height - Largest image height (default 320px).
 */
export class BagnetClassifier extends BagnetElementBase {
  static override styles = classifierStyles;

  /** How many classes to list. */
  @property({ attribute: 'top-k', type: Number, reflect: true, useDefault: true }) topK = DEFAULT_TOP_K;

  /** Offer a file chooser, drag-and-drop and paste. */
  @property({ type: Boolean, reflect: true, useDefault: true }) picker = false;

  /** Text alternative of the image. */
  @property() alt = '';

  @state() private dragging = false;

  protected readonly classification = new ClassificationController(this, { topK: () => topKCount(this.topK) });
  readonly #display = new ImageDisplayCache();

  override connectedCallback(): void {
    super.connectedCallback();
    this.addEventListener('dragover', this.#onDragOver);
    this.addEventListener('dragleave', this.#onDragLeave);
    this.addEventListener('drop', this.#onDrop);
    this.addEventListener('paste', this.#onPaste);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.removeEventListener('dragover', this.#onDragOver);
    this.removeEventListener('dragleave', this.#onDragLeave);
    this.removeEventListener('drop', this.#onDrop);
    this.removeEventListener('paste', this.#onPaste);
    this.#display.dispose();
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    super.willUpdate(changed);
    // Focusable with the picker, so paste works and keyboard users reach it.
    if (changed.has('picker')) {
      if (this.picker && !this.hasAttribute('tabindex')) this.tabIndex = 0;
      else if (!this.picker && this.getAttribute('tabindex') === '0') this.removeAttribute('tabindex');
    }
  }

  /** Choose a file (same as dropping it). */
  setFile(file: Blob): void {
    this.image = file;
  }

  #onDragOver = (event: DragEvent) => {
    if (!this.picker) return;
    event.preventDefault();
    this.dragging = true;
  };

  #onDragLeave = () => {
    this.dragging = false;
  };

  #onDrop = (event: DragEvent) => {
    if (!this.picker) return;
    event.preventDefault();
    this.dragging = false;
    const file = [...(event.dataTransfer?.files ?? [])].find((f) => f.type.startsWith('image/')) ?? event.dataTransfer?.files[0];
    if (file) this.setFile(file);
  };

  #onPaste = (event: ClipboardEvent) => {
    if (!this.picker) return;
    const file = [...(event.clipboardData?.files ?? [])].find((f) => f.type.startsWith('image/'));
    if (file) {
      event.preventDefault();
      this.setFile(file);
    }
  };

  #onFileChosen(event: Event) {
    const input = event.target as HTMLInputElement;
    const file = input.files?.[0];
    if (file) this.setFile(file);
    input.value = '';
  }

  #renderImage() {
    const display = this.#display.get(this.classification.input);
    const label = this.alt || 'Image to classify';
    if (display.kind === 'url') return html`<img part="image" src=${display.url} alt=${label} @load=${markTiny} />`;
    if (display.kind === 'pixels') {
      return html`<canvas part="image" role="img" aria-label=${label} ${drawOnce((canvas: HTMLCanvasElement) => {
        display.draw(canvas);
        canvas.classList.toggle('tiny', canvas.width <= TINY);
      })}></canvas>`;
    }
    return html`<slot name="poster"><div class="placeholder">${this.picker ? 'Drop, paste or choose an image' : 'No image'}</div></slot>`;
  }

  #renderProgress() {
    const { state: current, progress } = this.classification;
    if (current !== 'loading' && current !== 'running') return nothing;
    const fraction = progress && progress.total > 0 ? progress.loaded / progress.total : undefined;
    const text = current === 'loading' ? (progress?.phase === 'compile' ? 'Preparing the model…' : 'Loading the model…') : 'Classifying…';
    return html`<slot name="progress">
      <div part="progress" role="progressbar" aria-label=${text} aria-valuemin="0" aria-valuemax="100"
        aria-valuenow=${fraction === undefined ? nothing : Math.round(fraction * 100)}
        style=${fraction === undefined ? '' : `--progress: ${fraction}`}></div>
      <span class="status">${text}</span>
    </slot>`;
  }

  #renderResults() {
    const { state: current, result, error } = this.classification;
    if (current === 'error' && error) {
      return html`<slot name="error"><p part="error" role="alert">${error.message}</p></slot>`;
    }
    if (!result) return nothing;
    return html`<ol part="results">
      ${result.topk.map((entry) => html`<li part="class">
        <span part="label">${entry.label}</span>
        <span part="bar" style="--p: ${entry.probability}" aria-hidden="true"></span>
        <span part="probability">${formatProbability(entry.probability)}</span>
      </li>`)}
    </ol>`;
  }

  override render() {
    const { state: current, result } = this.classification;
    const top = result?.topk[0];
    const busy = current === 'loading' || current === 'running';
    return html`<figure part="base" class="state-${current}" aria-busy=${busy ? 'true' : 'false'}>
      <div part="media" class=${this.dragging ? 'dragging' : ''}>
        ${this.#renderImage()}
        ${this.picker ? html`<label part="picker">
          <input type="file" accept="image/*" @change=${this.#onFileChosen} />
          <span>Choose an image</span>
        </label>` : nothing}
      </div>
      ${this.#renderProgress()}
      <figcaption>${this.#renderResults()}</figcaption>
      <div class="visually-hidden" role="status" aria-live="polite">${top ? `${top.label}, ${formatProbability(top.probability)}` : ''}</div>
    </figure>`;
  }
}

/** Images this narrow are shown with crisp pixels when enlarged (small datasets such as Fashion-MNIST). */
const TINY = 96;

function markTiny(event: Event) {
  const img = event.target as HTMLImageElement;
  img.classList.toggle('tiny', img.naturalWidth <= TINY);
}

function formatProbability(p: number): string {
  return p >= 0.995 ? '>99%' : p < 0.005 ? '<1%' : `${Math.round(p * 100)}%`;
}
