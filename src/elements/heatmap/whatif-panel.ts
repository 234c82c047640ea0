/**
 * The heatmap's what-if panel: loaded as its own chunk the first time what-if is used (a selection,
 * an edit, or the `whatif` attribute). It shows the bag ablation of the selected patches (exact:
 * core/whatif.ts), the patch-removal curve for the target, and the tools and edits; the element
 * keeps the state, this module only renders it and turns clicks into the element's property changes.
 */
import { html, nothing, svg } from 'lit';
import { ablate, removalCurve, type Ablation, type AblationMode, type RemovalCurve } from '../../core/whatif.js';
import type { ClassificationResult } from '../../core/result.js';
import { Memo } from '../shared/async-run.js';
import type { HeatmapFill } from '../shared/edit-chain.js';

export type HeatmapTool = 'inspect' | 'select' | 'brush' | 'edit' | 'paint';
export type { HeatmapFill };

/** What the panel reads from the element, and how it changes it. */
export interface WhatIfHost {
  readonly result: ClassificationResult;
  readonly target: number;
  readonly selection: readonly number[];
  readonly ablation: AblationMode;
  readonly tool: HeatmapTool;
  readonly fill: HeatmapFill;
  readonly edits: number;
  /** The k of the last "remove the k most informative" (null: none). */
  readonly removedTop: number | null;
  set(change: Partial<{ selection: readonly number[]; ablation: AblationMode; tool: HeatmapTool; fill: HeatmapFill }>): void;
  removeMostInformative(k: number): void;
  undoEdit(): void;
  clearEdits(): void;
}

/** The ablation table lists every class of a model with up to this many, else the most probable this many. */
const TABLE_CLASSES = 20;

const ablations = new Memo((result: ClassificationResult, selection: readonly number[], mode: AblationMode): Ablation | Error => {
  try {
    return ablate(result.evidence, selection, mode);
  } catch (error) {
    return error as Error;
  }
});
const curves = new Memo((result: ClassificationResult, target: number): RemovalCurve => removalCurve(result.evidence, target));

/** The exact ablation of `selection` (an Error when the bag would be empty): what the panel and `whatIf` show. */
export function ablationOf(result: ClassificationResult, selection: readonly number[], mode: AblationMode): Ablation | Error {
  return ablations.get(result, selection, mode);
}

export function curveOf(result: ClassificationResult, target: number): RemovalCurve {
  return curves.get(result, target);
}

const percent = (p: number) => `${(p * 100).toFixed(1)}%`;
const signed = (v: number) => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(3)}`;

export function renderWhatIfPanel(host: WhatIfHost) {
  const { result, target, selection } = host;
  const labels = result.model.labels;
  const label = (k: number) => labels[k] ?? String(k);
  const n = result.evidence.rows * result.evidence.cols;
  const ablation = selection.length > 0 ? ablationOf(result, selection, host.ablation) : null;
  const curve = curveOf(result, target);
  return html`<section part="whatif" aria-label="What if">
    <div class="tools" role="group" aria-label="What-if tools">
      <label>Tool <select @change=${(e: Event) => host.set({ tool: (e.target as HTMLSelectElement).value as HeatmapTool })}>
        ${(['inspect', 'select', 'brush', 'edit', 'paint'] as const).map((t) => html`<option ?selected=${host.tool === t} value=${t}>${t}</option>`)}
      </select></label>
      <label>Patches <select @change=${(e: Event) => host.set({ ablation: (e.target as HTMLSelectElement).value as AblationMode })}>
        <option value="remove" ?selected=${host.ablation === 'remove'}>removed from the bag</option>
        <option value="keep" ?selected=${host.ablation === 'keep'}>kept alone</option>
      </select></label>
      <label>Fill <select @change=${(e: Event) => host.set({ fill: (e.target as HTMLSelectElement).value as HeatmapFill })}>
        ${(['background', 'mean', 'blur', 'image'] as const).map((f) => html`<option ?selected=${host.fill === f} value=${f}>${f}</option>`)}
      </select></label>
    </div>
    <form class="remove-top" @submit=${(e: Event) => {
      e.preventDefault();
      const k = Number(new FormData(e.target as HTMLFormElement).get('k'));
      host.removeMostInformative(k);
    }}>
      <label>Remove the <input name="k" type="number" min="1" max=${n - 1} .value=${String(host.removedTop ?? Math.min(10, n - 1))}>
        most informative patches</label>
      <button type="submit">Remove</button>
      ${selection.length ? html`<button type="button" @click=${() => host.set({ selection: [] })}>Clear selection</button>` : nothing}
      ${host.edits ? html`<button type="button" @click=${() => host.undoEdit()}>Undo edit</button>
        <button type="button" @click=${() => host.clearEdits()}>Clear ${host.edits} edit${host.edits > 1 ? 's' : ''}</button>` : nothing}
    </form>
    ${ablation instanceof Error ? html`<p class="refused" role="alert">${ablation.message}</p>` : nothing}
    ${ablation && !(ablation instanceof Error) ? renderAblation(ablation, label, n) : nothing}
    ${renderCurve(curve, label(target), host.removedTop)}
  </section>`;
}

function renderAblation(a: Ablation, label: (k: number) => string, n: number) {
  const order = Array.from(a.probabilities.keys()).sort((x, y) => a.probabilities[y]! - a.probabilities[x]! || x - y).slice(0, TABLE_CLASSES);
  const more = a.probabilities.length - order.length;
  const caption = a.mode === 'remove'
    ? `${a.selected.length} of ${n} patches removed from the bag: the mean over the other ${a.bagSize}`
    : `Only the ${a.bagSize} selected of ${n} patches kept: the mean over them`;
  return html`<table class="ablation">
    <caption>${caption}. ${a.flipped ? html`<strong>Top-1 flips: ${label(a.fullTop)} → ${label(a.top)}.</strong>` : `Top-1 stays ${label(a.top)}.`}</caption>
    <thead><tr><th scope="col">Class</th><th scope="col">Probability</th><th scope="col">Logit</th><th scope="col">Change</th></tr></thead>
    <tbody>${order.map((k) => html`<tr class=${k === a.top ? 'top' : ''}>
      <th scope="row">${label(k)}</th>
      <td>${percent(a.fullProbabilities[k]!)} → ${percent(a.probabilities[k]!)}</td>
      <td>${a.logits[k]!.toFixed(3)}</td>
      <td>${signed(a.delta[k]!)}</td></tr>`)}</tbody>
    ${more > 0 ? html`<tfoot><tr><td colspan="4">and ${more} less probable classes (every class: the element's <code>whatIf</code>)</td></tr></tfoot>` : nothing}
  </table>`;
}

/** The target's probability as the k most informative patches are removed, k = 0 … n − 1. */
function renderCurve(curve: RemovalCurve, target: string, k: number | null) {
  const n = curve.probability.length;
  const w = 200;
  const h = 60;
  const x = (i: number) => (n > 1 ? (i / (n - 1)) * w : 0);
  const y = (p: number) => h - p * h;
  const points = Array.from(curve.probability, (p, i) => `${x(i).toFixed(1)},${y(p).toFixed(1)}`).join(' ');
  const description = `Probability of ${target} as its most informative patches are removed: ${percent(curve.probability[0]!)} with all `
    + `${n}, ${percent(curve.probability[n - 1]!)} with one left; ${curve.flipsAt === null ? 'the top-1 class never changes'
      : `the top-1 class changes after ${curve.flipsAt} removed`}.`;
  return html`<figure class="curve">
    <svg part="curve" viewBox="-4 -4 ${w + 8} ${h + 8}" aria-hidden="true">
      ${svg`<rect x="0" y="0" width=${w} height=${h} fill="none" stroke="currentColor" stroke-opacity="0.2"></rect>
        <polyline points=${points} fill="none" stroke="var(--_accent)" stroke-width="1.5"></polyline>
        ${curve.flipsAt !== null ? svg`<line x1=${x(curve.flipsAt)} x2=${x(curve.flipsAt)} y1="0" y2=${h} stroke="currentColor" stroke-dasharray="2 2"></line>` : nothing}
        ${k !== null && k < n ? svg`<circle cx=${x(k)} cy=${y(curve.probability[k]!)} r="3" fill="var(--_accent)"></circle>` : nothing}`}
    </svg>
    <figcaption>${description}</figcaption>
  </figure>`;
}
