import { html, nothing } from 'lit';
import { property } from 'lit/decorators.js';
import { directive, Directive, PartType, type ElementPart, type PartInfo } from 'lit/directive.js';
import { mergeTopPatches, topPatches, type Patch } from '../../core/patches.js';
import { runnerUp } from '../../core/whatif.js';
import type { ClassificationResult } from '../../core/result.js';
import type { ImageInput } from '../../pool/image-input.js';
import { BagnetElementBase } from '../shared/base.js';
import { ClassificationController, ownInputs } from '../shared/classification-controller.js';
import { resolveTarget } from '../shared/target.js';
import { BagnetHeatmap } from '../heatmap/bagnet-heatmap.component.js';
import { patchesStyles } from './bagnet-patches.styles.js';

/** One image of a set, optionally with its true label (index or label). */
export interface LabelledImage {
  readonly image: ImageInput;
  readonly label?: string | number;
}

interface SetEntry {
  readonly trueLabel: string | number | undefined;
  /** The image's classification; its `input.pixels` are what the patches are cut from. */
  readonly result: ClassificationResult;
}

interface ShownPatch extends Patch {
  readonly entry: SetEntry;
  /** The class the image belongs to (its true label, or its prediction when none is given). */
  readonly imageClass: number;
}

/**
 * The image patches with the most evidence for a class, as crops with their evidence (Figure 3 of
 * the paper); across a set, split into patches from images of that class and from other images
 * (the ones that push towards mistakes). `view="misclassification"` shows Figure 4: heatmaps for
 * the true and the predicted class side by side, each with its top patches.
 *
 * @summary The most informative patches for a class, from one image or a set.
 *
 * @fires bagnet-progress - Model download/compile progress.
 * @fires bagnet-load - The model is ready: `{model, backend}`.
 * @fires bagnet-backend - Which backend runs and why.
 * @fires bagnet-result - The classification of the single image (not fired for sets: see `results`).
 * @fires bagnet-error - Something failed: `{type, message, cause}`.
 *
 * @slot error - Replaces the built-in error message.
 *
 * @csspart base - The wrapper.
 * @csspart group - One group of patches (this class / other classes).
 * @csspart patch - One patch card.
 * @csspart crop - A patch's pixels.
 * @csspart value - A patch's evidence.
 * @csspart error - The error message.
 *
 * @cssprop --bagnet-patch-size - Displayed size of a patch (default 72px).
 * @cssprop --bagnet-accent - Accent colour.
 */
export class BagnetPatches extends BagnetElementBase {
  static override styles = patchesStyles;

  /** The class: an index or a label. Default: the single image's top-1 class, or the first label for a set. */
  @property({ reflect: true, useDefault: true }) target = '';

  /** How many patches per group. */
  @property({ type: Number, reflect: true, useDefault: true }) count = 8;

  /**
   * Contrast the target with this class (index or label): the patches that most separate the two
   * (evidence target − contrast). Empty: the most probable class other than the target (of the
   * first image). Absent: no contrast.
   */
  @property({ reflect: true }) contrast: string | null = null;

  /** A set of images (URLs, files, …, optionally with true labels): patches across all of them. */
  @property({ attribute: false }) images: readonly (ImageInput | LabelledImage)[] = [];

  /** Whitespace-separated image URLs: the same as `images`, from HTML. */
  @property({ attribute: 'srcset' }) srcset = '';

  /** `patches` or `misclassification` (true vs. predicted class, for a single image with `true-label`). */
  @property({ reflect: true, useDefault: true }) view: 'patches' | 'misclassification' = 'patches';

  /** The single image's true class (index or label), for the misclassification view. */
  @property({ attribute: 'true-label', reflect: true, useDefault: true }) trueLabel = '';

  /** Accept dropped image files into the set. */
  @property({ type: Boolean, reflect: true, useDefault: true }) picker = false;

  protected readonly classification = new ClassificationController(this, {
    inputs: () => {
      const set = this.set;
      return set.length > 0 ? set.map((item) => (isLabelled(item) ? item.image : item)) : ownInputs(this);
    },
    reportsResults: () => this.set.length === 0,
  });

  /** The set being shown: `images`, else the URLs of `srcset`. */
  get set(): (ImageInput | LabelledImage)[] {
    if (this.images.length > 0) return [...this.images];
    return this.srcset.split(/\s+/).filter(Boolean);
  }

  /** The classification of every image of the set (or of the single image), once all are done. */
  get results(): readonly ClassificationResult[] {
    return this.classification.state === 'result' ? this.classification.results : [];
  }

  override connectedCallback(): void {
    super.connectedCallback();
    // The misclassification view renders <bagnet-heatmap>: register it on first use (not at import).
    if (!customElements.get('bagnet-heatmap')) customElements.define('bagnet-heatmap', BagnetHeatmap);
    this.addEventListener('dragover', this.#onDragOver);
    this.addEventListener('drop', this.#onDrop);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.removeEventListener('dragover', this.#onDragOver);
    this.removeEventListener('drop', this.#onDrop);
  }

  #onDragOver = (event: DragEvent) => {
    if (this.picker) event.preventDefault();
  };

  #onDrop = (event: DragEvent) => {
    if (!this.picker) return;
    event.preventDefault();
    const files = [...(event.dataTransfer?.files ?? [])].filter((f) => f.type.startsWith('image/'));
    if (files.length > 0) this.images = [...this.set, ...files];
  };

  /** The images shown, with their true labels. */
  #entries(): SetEntry[] {
    const results = this.results;
    const set = this.set;
    if (set.length === 0) return results.length === 1 ? [{ trueLabel: this.trueLabel || undefined, result: results[0]! }] : [];
    if (results.length !== set.length) return [];
    return results.map((result, i) => {
      const item = set[i]!;
      return { trueLabel: isLabelled(item) ? item.label : undefined, result };
    });
  }

  /** Patches of the current view, in groups. */
  get groups(): { title: string; patches: ShownPatch[] }[] {
    const entries = this.#entries();
    if (entries.length === 0) return [];
    const reference = entries[0]!.result;
    const classIndex = this.set.length > 0 && !this.target ? 0 : resolveTarget(this.target, reference);
    if (classIndex === null) return [];
    const versus = this.contrast === null ? null
      : this.contrast.trim() === '' ? runnerUp(reference.logits, classIndex) : resolveTarget(this.contrast, reference);
    if (this.contrast !== null && versus === null) return [];
    const labels = reference.model.labels;
    const label = versus === null ? labels[classIndex] ?? String(classIndex) : `${labels[classIndex] ?? classIndex} over ${labels[versus] ?? versus}`;
    const perImage = entries.map((entry, image) => {
      const imageClass = classOf(entry);
      return topPatches(entry.result.evidence, classIndex, this.count, { image, ...(versus === null ? {} : { versus }) })
        .map((patch): ShownPatch => ({ ...patch, entry, imageClass }));
    });
    if (entries.length === 1) return [{ title: `Most evidence for ${label}`, patches: perImage[0]!.slice(0, this.count) }];
    const own = perImage.map((list) => list.filter((p) => p.imageClass === classIndex));
    const other = perImage.map((list) => list.filter((p) => p.imageClass !== classIndex));
    return [
      { title: `From images of ${label}`, patches: mergeTopPatches(own, this.count) as ShownPatch[] },
      { title: `From other images (evidence for ${label} that causes mistakes)`, patches: mergeTopPatches(other, this.count) as ShownPatch[] },
    ];
  }

  #renderPatch(patch: ShownPatch) {
    const labels = patch.entry.result.model.labels;
    return html`<figure part="patch">
      <canvas part="crop" width=${patch.box.width} height=${patch.box.height} ${cropOf(patch)}
        role="img" aria-label=${`Patch at (${patch.box.x}, ${patch.box.y}) of image ${patch.image + 1}`}></canvas>
      <figcaption><span part="value">${patch.value >= 0 ? '+' : ''}${patch.value.toFixed(2)}</span>
        ${this.set.length > 1 ? html`<span class="source">image ${patch.image + 1} · ${labels[patch.imageClass] ?? ''}</span>` : nothing}
      </figcaption>
    </figure>`;
  }

  /**
   * A PNG of the patches shown (the patches view), for papers and reports: each group's title, then
   * its patches at `scale` times their size (default 4) with their values. Null when none are shown.
   */
  toBlob(options: { scale?: number } = {}): Promise<Blob | null> {
    const canvas = this.#figure(options.scale ?? 4);
    return canvas ? new Promise((resolve) => canvas.toBlob(resolve, 'image/png')) : Promise.resolve(null);
  }

  /** The figure of `toBlob()` as a `data:image/png` URL ('' when no patch is shown). */
  toDataURL(options: { scale?: number } = {}): string {
    return this.#figure(options.scale ?? 4)?.toDataURL('image/png') ?? '';
  }

  #figure(requestedScale: number): HTMLCanvasElement | null {
    const groups = this.groups.filter((group) => group.patches.length > 0);
    if (groups.length === 0) return null;
    const scale = Math.max(1, Math.round(requestedScale));
    const gap = 8;
    const line = 16;
    const side = Math.max(...groups.flatMap((g) => g.patches.map((p) => p.box.width))) * scale;
    const width = gap + Math.max(...groups.map((g) => g.patches.length)) * (side + gap);
    const rowHeight = line + side + line + gap;
    const canvas = document.createElement('canvas');
    canvas.width = Math.max(width, 240);
    canvas.height = groups.length * rowHeight + gap;
    const context = canvas.getContext('2d')!;
    context.fillStyle = '#ffffff';
    context.fillRect(0, 0, canvas.width, canvas.height);
    context.imageSmoothingEnabled = false;
    context.font = '12px system-ui, sans-serif';
    context.textBaseline = 'top';
    groups.forEach((group, row) => {
      const top = gap + row * rowHeight;
      context.fillStyle = '#1d1d1f';
      context.fillText(group.title, gap, top, canvas.width - 2 * gap);
      group.patches.forEach((patch, i) => {
        const x = gap + i * (side + gap);
        const crop = document.createElement('canvas');
        crop.width = patch.box.width;
        crop.height = patch.box.height;
        const { x: bx, y: by, width: bw, height: bh } = patch.box;
        crop.getContext('2d')!.putImageData(patch.entry.result.input.pixels, -bx, -by, bx, by, bw, bh);
        context.drawImage(crop, x, top + line, bw * scale, bh * scale);
        context.fillStyle = '#1d1d1f';
        context.fillText(`${patch.value >= 0 ? '+' : ''}${patch.value.toFixed(2)}`, x, top + line + side + 2, side);
      });
    });
    return canvas;
  }

  #renderMisclassification() {
    const [entry] = this.#entries();
    if (!entry) return nothing;
    const { result } = entry;
    const predicted = result.topk[0]!.index;
    const truth = resolveTarget(this.trueLabel, result);
    if (truth === null) {
      return html`<p part="error" role="alert">Set true-label to a class index or label to compare it with the prediction</p>`;
    }
    const labels = result.model.labels;
    return html`<div class="comparison">
      ${[['True class', truth], ['Predicted', predicted]].map(([title, index]) => html`<section part="group"
          aria-label=${`${title}: ${labels[index as number]}`}>
        <p class="title">${title}: ${labels[index as number]}</p>
        <bagnet-heatmap .resultFrom=${this} target=${String(index)} mode="edges"></bagnet-heatmap>
        <div class="patches">${topPatches(result.evidence, index as number, Math.min(this.count, 4))
          .map((p) => this.#renderPatch({ ...p, entry, imageClass: truth }))}</div>
      </section>`)}
      ${truth === predicted ? html`<p class="note">The prediction is correct.</p>` : nothing}
    </div>`;
  }

  override render() {
    const { state, error } = this;
    if (error) return html`<div part="base"><slot name="error"><p part="error" role="alert">${error.message}</p></slot></div>`;
    const busy = state === 'loading' || state === 'running';
    if (this.view === 'misclassification' && this.set.length === 0) {
      return html`<div part="base" aria-busy=${busy ? 'true' : 'false'}>${this.#renderMisclassification()}</div>`;
    }
    return html`<div part="base" aria-busy=${busy ? 'true' : 'false'}>
      ${busy ? html`<div part="progress" role="progressbar" aria-label="Classifying"></div>` : nothing}
      ${this.groups.map((group) => html`<section part="group" aria-label=${group.title}>
        <p class="title">${group.title}</p>
        ${group.patches.length ? html`<div class="patches">${group.patches.map((p) => this.#renderPatch(p))}</div>`
          : html`<p class="note">None in this set.</p>`}
      </section>`)}
      ${this.picker ? html`<p class="note">Drop images here to add them to the set.</p>` : nothing}
    </div>`;
  }
}

function isLabelled(item: ImageInput | LabelledImage): item is LabelledImage {
  return typeof item === 'object' && item !== null && 'image' in item && !(item instanceof Blob) && !(item instanceof URL);
}

function classOf(entry: SetEntry): number {
  if (entry.trueLabel !== undefined && entry.trueLabel !== '') {
    const index = resolveTarget(String(entry.trueLabel), entry.result);
    if (index !== null) return index;
  }
  return entry.result.topk[0]!.index;
}


/** Copies a patch's pixels into the canvas it is attached to. */
class CropDirective extends Directive {
  constructor(part: PartInfo) {
    super(part);
    if (part.type !== PartType.ELEMENT) throw new Error('cropOf must be used on a canvas');
  }
  override update(part: ElementPart, [patch]: [ShownPatch]) {
    const canvas = part.element as HTMLCanvasElement;
    const { x, y, width, height } = patch.box;
    // Only the patch's rectangle of the model input, moved to the canvas's origin.
    canvas.getContext('2d')!.putImageData(patch.entry.result.input.pixels, -x, -y, x, y, width, height);
    return nothing;
  }
  render(_patch: ShownPatch) {
    return nothing;
  }
}

const cropOf = directive(CropDirective);
