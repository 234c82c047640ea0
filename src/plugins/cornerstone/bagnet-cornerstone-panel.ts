import { css, html, LitElement, nothing, type PropertyValues } from 'lit';
import { property, state } from 'lit/decorators.js';
import type { ClassificationResult } from '../../core/result.js';
import { baseStyles } from '../../elements/shared/styles.js';
import { resolveTarget } from '../../elements/shared/target.js';
import { ablate } from '../../core/whatif.js';
import type { BagnetOverlay, OverlayResultDetail } from './overlay.js';

/**
 * The classes a BagNet sees in the image a Cornerstone3D viewport shows, for a {@link BagnetOverlay}:
 * the top-k with probabilities, a choice of the class the overlay explains, and controls for the
 * overlay. It follows the stack: a new image, a new list.
 *
 * @summary Top-k and target class for the BagNet overlay of a Cornerstone3D viewport.
 *
 * @csspart base - The wrapper.
 * @csspart results - The list of classes.
 * @csspart class - One class (a radio button to make it the target).
 * @csspart error - The error message.
 *
 * @cssprop --bagnet-accent - Bars colour.
 */
export class BagnetCornerstonePanel extends LitElement {
  static override styles = [baseStyles, css`
    :host { display: block; min-width: 14rem; }
    fieldset { border: 0; margin: 0; padding: 0; }
    legend { font-weight: 600; margin-bottom: 0.3rem; }
    [part='class'] { display: grid; grid-template-columns: auto minmax(0, 1fr) 3.2em; gap: 0.4rem; align-items: center; }
    .bar { grid-column: 2 / 4; height: 0.35rem; border-radius: 0.2rem;
      background: linear-gradient(to right, var(--_accent) calc(var(--p) * 100%), var(--_surface) 0); }
    .probability { text-align: right; font-variant-numeric: tabular-nums; color: var(--_muted); }
    .controls { display: flex; flex-wrap: wrap; gap: 0.5rem 1rem; margin-top: 0.5rem; font-size: 0.9em; }
  `];

  /** The overlay this panel shows and controls. */
  @property({ attribute: false }) overlay: BagnetOverlay | null = null;

  /** `idle` (no overlay), `loading`, `result` or `error`: reflected, for styling and tests. */
  @property({ reflect: true, useDefault: true }) state: 'idle' | 'loading' | 'result' | 'error' = 'idle';

  @state() private result: ClassificationResult | null = null;
  @state() private error = '';

  #listening: BagnetOverlay | null = null;

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('overlay')) this.#listen(this.overlay);
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.#listen(this.overlay);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.#listen(null);
  }

  #listen(overlay: BagnetOverlay | null): void {
    if (this.#listening === overlay) return;
    this.#listening?.removeEventListener('bagnet-result', this.#onResult);
    this.#listening?.removeEventListener('bagnet-error', this.#onError);
    this.#listening = overlay;
    overlay?.addEventListener('bagnet-result', this.#onResult);
    overlay?.addEventListener('bagnet-error', this.#onError);
    this.result = overlay?.result ?? null;
    this.error = '';
    this.state = !overlay ? 'idle' : this.result ? 'result' : 'loading';
  }

  #onResult = (event: Event) => {
    this.result = (event as CustomEvent<OverlayResultDetail>).detail;
    this.error = '';
    this.state = 'result';
  };

  #onError = (event: Event) => {
    this.error = (event as CustomEvent<{ message: string }>).detail.message;
    this.state = 'error';
  };

  #targetIndex(): number | null {
    return this.result ? resolveTarget(this.overlay?.options.target ?? '', this.result) : null;
  }

  /** The k of "without the k most informative patches" (the exact bag ablation of the target's evidence). */
  @state() private removed = 5;

  #ablationText(result: ClassificationResult, target: number): string {
    const { evidence } = result;
    const n = evidence.rows * evidence.cols;
    const k = Math.max(1, Math.min(n, this.removed));
    const order = Array.from({ length: n }, (_, i) => i)
      .sort((a, b) => evidence.data[b * evidence.classes + target]! - evidence.data[a * evidence.classes + target]! || a - b);
    let a;
    try {
      a = ablate(evidence, order.slice(0, k), 'remove');
    } catch (error) {
      return (error as Error).message; // all of them: an empty bag
    }
    const label = (i: number) => result.model.labels[i] ?? String(i);
    return `${label(target)}: ${(a.fullProbabilities[target]! * 100).toFixed(1)}% → ${(a.probabilities[target]! * 100).toFixed(1)}%`
      + (a.flipped ? `; top-1 becomes ${label(a.top)}` : '; top-1 unchanged');
  }

  #choose(index: number) {
    this.overlay?.setOptions({ target: String(index) });
    this.requestUpdate();
  }

  override render() {
    const result = this.result;
    const target = this.#targetIndex();
    const options = this.overlay?.options;
    return html`<div part="base">
      ${this.error ? html`<p part="error" role="alert">${this.error}</p>` : nothing}
      ${result ? html`<fieldset part="results">
        <legend>Evidence shown for</legend>
        ${result.topk.map((entry) => html`<label part="class">
          <input type="radio" name="target" .checked=${entry.index === target} @change=${() => this.#choose(entry.index)} />
          <span>${entry.label}</span>
          <span class="probability">${Math.round(entry.probability * 100)}%</span>
          <span class="bar" style="--p: ${entry.probability}" aria-hidden="true"></span>
        </label>`)}
      </fieldset>` : html`<p class="status" role="status">Classifying the image…</p>`}
      ${result && target !== null ? html`<p part="whatif"><label>Without the <input type="number" min="1" .value=${String(this.removed)}
          @input=${(e: Event) => { this.removed = Math.round(Number((e.target as HTMLInputElement).value)) || 1; }} />
        most informative patches</label> <output>${this.#ablationText(result, target)}</output></p>` : nothing}
      ${options ? html`<div class="controls">
        <label><input type="checkbox" .checked=${options.enabled} @change=${(e: Event) => this.overlay?.setOptions({ enabled: (e.target as HTMLInputElement).checked })} /> Overlay</label>
        <label>Opacity <input type="range" min="0" max="1" step="0.05" .value=${String(options.opacity)}
          @input=${(e: Event) => this.overlay?.setOptions({ opacity: Number((e.target as HTMLInputElement).value) })} /></label>
        <label>Contrast with <select @change=${(e: Event) => {
          const value = (e.target as HTMLSelectElement).value;
          this.overlay?.setOptions({ contrast: value === 'none' ? null : value });
          this.requestUpdate();
        }}>
          <option value="none" ?selected=${options.contrast === null}>nothing</option>
          ${result ? result.topk.filter((t) => t.index !== target).map((t) => html`<option value=${String(t.index)}
            ?selected=${options.contrast === String(t.index)}>${t.label}</option>`) : nothing}
        </select></label>
        <label>Resolution <select @change=${(e: Event) => this.overlay?.setOptions({ resolution: (e.target as HTMLSelectElement).value as 'fast' | 'exact' })}>
          <option value="fast" ?selected=${options.resolution === 'fast'}>fast</option>
          <option value="exact" ?selected=${options.resolution === 'exact'}>exact</option>
        </select></label>
      </div>` : nothing}
    </div>`;
  }
}

if (!customElements.get('bagnet-cornerstone-panel')) customElements.define('bagnet-cornerstone-panel', BagnetCornerstonePanel);

declare global {
  interface HTMLElementTagNameMap {
    'bagnet-cornerstone-panel': BagnetCornerstonePanel;
  }
}
