import { css, html, LitElement, nothing, type PropertyValues } from 'lit';
import { property, state } from 'lit/decorators.js';
import type { ClassificationResult } from '../../core/result.js';
import { baseStyles } from '../../elements/shared/styles.js';
import { resolveTarget } from '../../elements/shared/target.js';
import { ablate } from '../../core/whatif.js';
import type { BagnetOverlay, OverlayResultDetail, OverlayTool } from './overlay.js';

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
 * @csspart whatif - The exact effect of removing the target's k most informative patches.
 * @csspart tools - The what-if tools: what a drag on the viewport does, the selection's exact ablation, the edits.
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
    this.#listening?.removeEventListener('bagnet-whatif', this.#onWhatIf);
    this.#listening = overlay;
    overlay?.addEventListener('bagnet-result', this.#onResult);
    overlay?.addEventListener('bagnet-error', this.#onError);
    overlay?.addEventListener('bagnet-whatif', this.#onWhatIf);
    this.result = overlay?.result ?? null;
    this.error = '';
    this.state = !overlay ? 'idle' : this.result ? 'result' : 'loading';
  }

  #onResult = (event: Event) => {
    this.result = (event as CustomEvent<OverlayResultDetail>).detail;
    this.error = '';
    this.state = 'result';
  };

  #onWhatIf = () => this.requestUpdate();

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

  /** What the selection does to the target and the top-1 (exact), or why it cannot. */
  #selectionText(result: ClassificationResult, target: number): string {
    const overlay = this.overlay!;
    const { selection, ablation } = overlay.options;
    const n = selection.length;
    const patches = `${n} patch${n > 1 ? 'es' : ''} ${ablation === 'remove' ? 'removed' : 'kept alone'}`;
    const a = overlay.whatIf;
    if (!a) return `${patches}: that leaves an empty bag`;
    const label = (i: number) => result.model.labels[i] ?? String(i);
    return `${patches}: ${label(target)} ${(a.fullProbabilities[target]! * 100).toFixed(1)}% → ${(a.probabilities[target]! * 100).toFixed(1)}%`
      + (a.flipped ? `; top-1 becomes ${label(a.top)}` : '; top-1 unchanged');
  }

  #set(change: Parameters<BagnetOverlay['setOptions']>[0]) {
    this.overlay?.setOptions(change);
    this.requestUpdate();
  }

  #whatIfTools(result: ClassificationResult, target: number) {
    const options = this.overlay!.options;
    const tools: [OverlayTool, string][] = [['navigate', 'Navigate'], ['select', 'Select patches'], ['edit', 'Edit pixels']];
    return html`<fieldset part="tools">
      <legend>What if</legend>
      <div class="controls" role="radiogroup" aria-label="Drag on the image to">
        ${tools.map(([tool, label]) => html`<label><input type="radio" name="tool" value=${tool} .checked=${options.tool === tool}
          @change=${() => this.#set({ tool })} /> ${label}</label>`)}
      </div>
      <div class="controls">
        <label>Selected patches <select @change=${(e: Event) => this.#set({ ablation: (e.target as HTMLSelectElement).value as 'remove' | 'keep' })}>
          <option value="remove" ?selected=${options.ablation === 'remove'}>removed</option>
          <option value="keep" ?selected=${options.ablation === 'keep'}>kept alone</option>
        </select></label>
        <label>Fill <select @change=${(e: Event) => this.#set({ fill: (e.target as HTMLSelectElement).value as 'background' | 'mean' | 'blur' })}>
          ${(['background', 'mean', 'blur'] as const).map((fill) => html`<option value=${fill} ?selected=${options.fill === fill}>${fill}</option>`)}
        </select></label>
      </div>
      ${options.selection.length > 0 ? html`<p><output part="ablation">${this.#selectionText(result, target)}</output>
        <button type="button" @click=${() => this.#set({ selection: [] })}>Clear selection</button></p>` : nothing}
      ${options.edits.length > 0 ? html`<p>${options.edits.length} edit${options.edits.length > 1 ? 's' : ''}
        ${'rescored' in result ? html`(re-scored ${(result as { rescored: { recomputed: number } }).rescored.recomputed} of
          ${result.evidence.rows * result.evidence.cols} patches)` : html`(re-scoring…)`}
        <button type="button" @click=${() => this.#set({ edits: options.edits.slice(0, -1) })}>Undo edit</button>
        <button type="button" @click=${() => this.#set({ edits: [] })}>Clear edits</button></p>` : nothing}
    </fieldset>`;
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
      ${result && target !== null && this.overlay ? this.#whatIfTools(result, target) : nothing}
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
