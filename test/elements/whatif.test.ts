/**
 * <bagnet-heatmap>'s what-if: selection by box, brush and keyboard, the exact ablation it shows,
 * the remove-k-most-informative action and its curve, pixel edits re-scored (and followed by a
 * classifier), class contrast, and figures. Every number is checked against a computation done here
 * from the result's evidence, or against classify()/exactMap() of the edited image.
 */
import { expect } from '@esm-bundle/chai';
import { cellDrawBox } from '../../src/core/heatmap.js';
import { colormapLut, COLORMAP_LEVELS } from '../../src/core/colormap.js';
import type { ClassificationResult } from '../../src/core/result.js';
import { BagnetClassifier } from '../../src/elements/classifier/bagnet-classifier.component.js';
import { BagnetHeatmap } from '../../src/elements/heatmap/bagnet-heatmap.component.js';
import type { BagnetPatchDetail } from '../../src/elements/shared/events.js';
import { classify, getPool } from '../../src/pool/pool.js';
import { DEFAULT_MODEL, defineFresh, imageDataOf, loadAxe, nextEvent, relativeError, usePagePool } from '../helpers.js';

async function heatmapWithResult(props: Partial<BagnetHeatmap>, src: string): Promise<{ element: BagnetHeatmap; result: ClassificationResult }> {
  const element = document.createElement(defineFresh('test-whatif', BagnetHeatmap)) as BagnetHeatmap;
  Object.assign(element, { model: DEFAULT_MODEL, backend: 'wasm', ...props, src });
  const result = nextEvent<CustomEvent<ClassificationResult>>(element, 'bagnet-result');
  document.body.append(element);
  const { detail } = await result;
  await element.updateComplete;
  return { element, result: detail };
}

const shadow = (element: BagnetHeatmap, selector: string) => element.shadowRoot!.querySelector(selector) as HTMLElement | null;

/** Pointer events at model-input pixel (x, y) of the element's first stack. */
function pointer(element: BagnetHeatmap, type: string, x: number, y: number, init: PointerEventInit = {}) {
  const stack = shadow(element, '.stack')!;
  const rect = stack.getBoundingClientRect();
  const width = element.result!.input.plan.width;
  const height = element.result!.input.plan.height;
  stack.dispatchEvent(new PointerEvent(type, {
    clientX: rect.left + ((x + 0.5) / width) * rect.width, clientY: rect.top + ((y + 0.5) / height) * rect.height,
    bubbles: true, composed: true, button: 0, pointerId: 1, ...init,
  }));
}

/** The mean over `cells` of class k, computed here from the evidence. */
function meanOf(result: ClassificationResult, cells: number[], k: number): number {
  const { classes, data } = result.evidence;
  return cells.reduce((sum, cell) => sum + data[cell * classes + k]!, 0) / cells.length;
}

function softmaxOf(logits: number[]): number[] {
  const max = Math.max(...logits);
  const e = logits.map((l) => Math.exp(l - max));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
}

const untilPanel = async (element: BagnetHeatmap) => {
  for (let i = 0; i < 200 && !shadow(element, '[part="whatif"]'); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    await element.updateComplete;
  }
  return shadow(element, '[part="whatif"]')!;
};

describe('<bagnet-heatmap> what-if', () => {
  const samples = usePagePool();

  it('a dragged box selects the patches drawn under it; the panel shows their exact removal and keeping', async function () {
    this.timeout(60_000);
    const { element, result } = await heatmapWithResult({ tool: 'select' }, samples[0]!.url);
    const whatIf = nextEvent<CustomEvent<{ selection: number[] }>>(element, 'bagnet-whatif');
    pointer(element, 'pointerdown', 6, 6);
    pointer(element, 'pointermove', 9, 10);
    await element.updateComplete;
    expect(shadow(element, '[part="marquee"]')).to.exist;
    pointer(element, 'pointerup', 9, 10);
    // Cells are drawn as 2×2 blocks from (6 + 2c, 6 + 2r): the box x 6…9, y 6…10 meets columns 0-1, rows 0-2.
    const expected = [0, 1, 8, 9, 16, 17];
    expect((await whatIf).detail.selection).to.deep.equal(expected);
    expect(element.selection).to.deep.equal(expected);
    const panel = await untilPanel(element);
    await element.updateComplete;
    const n = 64;
    const rest = Array.from({ length: n }, (_, i) => i).filter((i) => !expected.includes(i));
    const logits = Array.from({ length: 10 }, (_, k) => meanOf(result, rest, k));
    const probabilities = softmaxOf(logits);
    const top = probabilities.indexOf(Math.max(...probabilities));
    const ablation = element.whatIf!;
    logits.forEach((l, k) => expect(ablation.logits[k]).to.be.closeTo(l, 1e-9));
    expect(ablation.bagSize).to.equal(58);
    const firstRow = panel.querySelector('tbody tr')!;
    expect(firstRow.querySelector('th')!.textContent).to.equal(result.model.labels[top]);
    expect(firstRow.textContent).to.contain(`${(probabilities[top]! * 100).toFixed(1)}%`);
    expect(panel.querySelector('caption')!.textContent).to.contain('6 of 64 patches removed from the bag');
    // The selection is hatched over the removed cells' drawn blocks and nowhere else.
    const layer = shadow(element, 'canvas[part="selection"]') as HTMLCanvasElement;
    const pixels = layer.getContext('2d')!.getImageData(0, 0, 28, 28).data;
    const box = cellDrawBox(2, 1, result.evidence);
    expect(pixels[(box.y * 28 + box.x) * 4 + 3]).to.be.above(0);
    const outside = cellDrawBox(2, 2, result.evidence);
    expect(pixels[(outside.y * 28 + outside.x) * 4 + 3]).to.equal(0);
    // Keep only them: the mean over the 6.
    element.ablation = 'keep';
    await element.updateComplete;
    Array.from({ length: 10 }, (_, k) => meanOf(result, expected, k)).forEach((l, k) => expect(element.whatIf!.logits[k]).to.be.closeTo(l, 1e-9));
    expect(shadow(element, '[part="whatif"] caption')!.textContent).to.contain('Only the 6 selected of 64 patches kept');
    // Brush with Shift takes cells out; everything removed is refused with a clear message.
    element.tool = 'brush';
    await element.updateComplete;
    pointer(element, 'pointerdown', 6, 6, { shiftKey: true });
    pointer(element, 'pointerup', 6, 6);
    await element.updateComplete;
    expect(element.selection).to.deep.equal([1, 8, 9, 16, 17]);
    element.ablation = 'remove';
    element.selection = Array.from({ length: n }, (_, i) => i);
    await element.updateComplete;
    expect(shadow(element, '[part="whatif"] [role="alert"]')!.textContent).to.match(/Removing all 64 patches leaves an empty bag/);
    expect(element.whatIf).to.equal(null);
    expect(element.state).to.equal('result'); // refused, not broken
  });

  it('"remove the k most informative" selects them by target evidence and draws the curve of the target\'s probability', async function () {
    this.timeout(60_000);
    const { element, result } = await heatmapWithResult({ whatif: true }, samples[3]!.url);
    const panel = await untilPanel(element);
    const target = result.topk[0]!.index;
    const { classes, data } = result.evidence;
    const order = Array.from({ length: 64 }, (_, i) => i).sort((a, b) => data[b * classes + target]! - data[a * classes + target]! || a - b);
    (panel.querySelector('input[name="k"]') as HTMLInputElement).value = '12';
    (panel.querySelector('.remove-top button[type="submit"]') as HTMLButtonElement).click();
    await element.updateComplete;
    expect(element.selection).to.deep.equal(order.slice(0, 12).sort((a, b) => a - b));
    expect(element.ablation).to.equal('remove');
    const curve = shadow(element, '[part="curve"] polyline')!.getAttribute('points')!.split(' ');
    expect(curve).to.have.length(64);
    // The curve's point k is the target's probability with the first k removed (y = 60 − 60·p).
    for (const k of [0, 12, 40, 63]) {
      const rest = order.slice(k);
      const p = softmaxOf(Array.from({ length: 10 }, (_, c) => meanOf(result, rest, c)))[target]!;
      expect(Number(curve[k]!.split(',')[1])).to.be.closeTo(60 - 60 * p, 0.06);
    }
    expect(shadow(element, '[part="curve"] circle')).to.exist;
    expect(shadow(element, '[part="whatif"] figcaption')!.textContent).to.match(/as its most informative patches are removed/);
    // Live: the selection's effect is announced.
    expect(shadow(element, '[aria-live="polite"]')!.textContent).to.match(/12 patches removed: top-1 /);
  });

  it('the keyboard moves, pins, selects and clears; the tooltip announces the patch; axe finds no violation with the panel open', async function () {
    this.timeout(60_000);
    const { element, result } = await heatmapWithResult({ whatif: true }, samples[5]!.url);
    await untilPanel(element);
    const figure = shadow(element, '[part="figure"]')!;
    expect(figure.tabIndex).to.equal(0);
    figure.focus();
    const key = (k: string) => figure.dispatchEvent(new KeyboardEvent('keydown', { key: k, bubbles: true, composed: true, cancelable: true }));
    key('ArrowRight'); // the first patch
    await element.updateComplete;
    expect(shadow(element, '[part="tooltip"]')!.getAttribute('role')).to.equal('status');
    expect(shadow(element, '[part="tooltip"] .where')!.textContent).to.contain('Patch at (0, 0)');
    const patches: BagnetPatchDetail[] = [];
    element.addEventListener('bagnet-patch', (e) => patches.push(e.detail));
    key('ArrowRight');
    key('ArrowDown');
    await element.updateComplete;
    // One cell right and one down: cell (1, 1), whose window starts at (2, 2).
    expect(shadow(element, '[part="tooltip"] .where')!.textContent).to.contain('Patch at (2, 2)');
    const value = result.evidence.data[(1 * 8 + 1) * 10 + result.topk[0]!.index]!;
    expect(patches.at(-1)!.evidence[0]!.value).to.be.closeTo(value, 1e-6);
    key('Enter');
    await element.updateComplete;
    expect(shadow(element, '[part="patch"]')!.classList.contains('pinned')).to.equal(true);
    key(' ');
    await element.updateComplete;
    expect(element.selection).to.deep.equal([9]);
    key('ArrowLeft'); // moves the pinned patch
    key(' ');
    await element.updateComplete;
    expect(element.selection).to.deep.equal([8, 9]);
    key(' ');
    await element.updateComplete;
    expect(element.selection).to.deep.equal([9]);
    const axe = await loadAxe();
    const { violations } = await axe.run(element, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'best-practice'] } });
    expect(violations.map((v) => v.id)).to.deep.equal([]);
    key('Escape');
    await element.updateComplete;
    expect(element.selection).to.deep.equal([]);
    expect(shadow(element, '[part="patch"]')).to.equal(null);
  });

  it('an edited box re-scores exactly; a classifier following the heatmap shows the edit; a new image clears it', async function () {
    this.timeout(120_000);
    const { element, result } = await heatmapWithResult({ tool: 'edit', fill: 'mean', id: 'edited-map' } as Partial<BagnetHeatmap>, samples[2]!.url);
    const follower = document.createElement(defineFresh('test-whatif-classifier', BagnetClassifier)) as BagnetClassifier;
    follower.htmlFor = 'edited-map';
    document.body.append(follower);
    await follower.updateComplete;
    expect(follower.result).to.equal(result);
    const followed = nextEvent<CustomEvent<ClassificationResult>>(follower, 'bagnet-result');
    pointer(element, 'pointerdown', 4, 5);
    pointer(element, 'pointermove', 20, 22);
    pointer(element, 'pointerup', 20, 22);
    const edited = (await element.editsComplete)!;
    expect(element.edits).to.have.length(1);
    expect(element.edits[0]).to.deep.include({ x: 4, y: 5, width: 17, height: 18, fill: 'mean' });
    expect(edited).to.not.equal(result);
    expect(element.result).to.equal(edited);
    // Independently: the image with that box filled by its mean colour, classified from scratch.
    const pixels = new Uint8ClampedArray(result.input.pixels.data);
    const mean = [0, 1, 2].map((c) => Math.round(Array.from({ length: 28 * 28 }, (_, i) => pixels[4 * i + c]!).reduce((a, b) => a + b, 0) / (28 * 28)));
    for (let y = 5; y < 23; y++) for (let x = 4; x < 21; x++) pixels.set([...mean, 255], (y * 28 + x) * 4);
    const reference = await classify(new ImageData(pixels, 28, 28), { model: DEFAULT_MODEL, backend: 'wasm' });
    expect(relativeError(edited.evidence.data, reference.evidence.data)).to.be.at.most(1e-4);
    expect((edited as { rescored?: { recomputed: number } }).rescored!.recomputed).to.be.above(0);
    expect((await followed).detail).to.equal(edited);
    await follower.updateComplete;
    expect(follower.result).to.equal(edited);
    // Undo: the classification again, for both.
    element.edits = [];
    await element.updateComplete;
    expect(element.result).to.equal(result);
    await follower.updateComplete;
    expect(follower.result).to.equal(result);
    // Edit again, then a second image: its result, with no edit and no selection.
    element.edit({ x: 0, y: 0, width: 10, height: 10, fill: 'background' });
    await element.editsComplete;
    element.selection = [3];
    await element.updateComplete; // set for this image: a new image clears it
    const second = nextEvent<CustomEvent<ClassificationResult>>(element, 'bagnet-result');
    element.src = samples[7]!.url;
    const next = (await second).detail;
    await element.updateComplete;
    expect(element.result).to.equal(next);
    expect(element.edits).to.deep.equal([]);
    expect(element.selection).to.deep.equal([]);
    // A bad edit: a typed error, and the element keeps showing the classification.
    const error = nextEvent<CustomEvent<{ type: string; message: string }>>(element, 'bagnet-error');
    element.edit({ x: 20, y: 20, width: 20, height: 2, fill: 'mean' });
    expect((await error).detail).to.deep.include({ type: 'image-invalid' });
    await element.updateComplete;
    expect(element.result).to.equal(next);
    element.edits = [];
    await element.updateComplete;
    expect(element.state).to.equal('result');
  });

  it('edits set with a new image in one go apply to it; a cancelled drag applies nothing', async function () {
    this.timeout(60_000);
    const { element, result } = await heatmapWithResult({ tool: 'edit' }, samples[2]!.url);
    pointer(element, 'pointerdown', 3, 3);
    pointer(element, 'pointermove', 12, 12);
    pointer(element, 'pointercancel', 12, 12);
    await element.updateComplete;
    expect(element.edits).to.deep.equal([]);
    expect(element.result).to.equal(result);
    const classified = nextEvent<CustomEvent<ClassificationResult>>(element, 'bagnet-result');
    element.src = samples[3]!.url;
    element.edits = [{ x: 0, y: 0, width: 5, height: 5, fill: { kind: 'color', rgb: [255, 255, 255] } }];
    const base = (await classified).detail;
    const edited = (await element.editsComplete)!;
    expect(element.edits).to.have.length(1);
    expect(edited).to.not.equal(base);
    expect((edited as { rescored?: unknown }).rescored).to.exist;
    expect(Array.from(edited.input.pixels.data.subarray(0, 4))).to.deep.equal([255, 255, 255, 255]);
  });

  it('the paint tool fills the painted pixels only (a brush of pixels), re-scored exactly', async function () {
    this.timeout(60_000);
    const { element, result } = await heatmapWithResult({ tool: 'paint', fill: 'background' }, samples[12]!.url);
    const path = [[10, 10], [12, 10], [14, 11]] as const;
    pointer(element, 'pointerdown', ...path[0]);
    for (const [x, y] of path.slice(1)) pointer(element, 'pointermove', x, y);
    pointer(element, 'pointerup', ...path[2]);
    const edited = (await element.editsComplete)!;
    // Independently: discs of radius 1 (28 / 28) around the points, painted black (the background).
    const painted = new Set<number>();
    for (const [px, py] of path) for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) if (dx * dx + dy * dy <= 1) painted.add((py + dy) * 28 + px + dx);
    const pixels = new Uint8ClampedArray(result.input.pixels.data);
    for (const i of painted) pixels.set([0, 0, 0, 255], i * 4);
    expect(Array.from(edited.input.pixels.data)).to.deep.equal(Array.from(pixels));
    const reference = await classify(new ImageData(pixels, 28, 28), { model: DEFAULT_MODEL, backend: 'wasm' });
    expect(relativeError(edited.evidence.data, reference.evidence.data)).to.be.at.most(1e-4);
  });

  it('in exact resolution an edit updates the exact map, which equals the edited image\'s own', async function () {
    this.timeout(120_000);
    const { element, result } = await heatmapWithResult({ resolution: 'exact', scale: 3 }, samples[4]!.url);
    const refined = () => new Promise<void>((resolve) => {
      const listener = (e: Event) => {
        if (!(e as CustomEvent<{ final: boolean }>).detail.final) return;
        element.removeEventListener('bagnet-refine', listener);
        resolve();
      };
      element.addEventListener('bagnet-refine', listener);
    });
    if (shadow(element, '[part="legend"] .resolution')!.textContent !== 'exact') await refined();
    const done = refined();
    element.edit({ x: 8, y: 8, width: 6, height: 5, fill: 'background' });
    await done;
    await element.updateComplete;
    const edited = element.result!;
    const target = result.topk[0]!.index;
    // Independently: the exact map of the edited image, through the pool.
    const reference = await getPool().exactMap(new ImageData(new Uint8ClampedArray(edited.input.pixels.data), 28, 28),
      { model: DEFAULT_MODEL, backend: 'wasm', classes: [target] });
    const patches: BagnetPatchDetail[] = [];
    element.addEventListener('bagnet-patch', (e) => patches.push(e.detail));
    for (const [x, y] of [[10, 10], [2, 25], [20, 14]] as const) {
      pointer(element, 'pointermove', x, y);
      expect(patches.at(-1)!.evidence[0]!.index).to.equal(target);
      expect(patches.at(-1)!.evidence[0]!.value).to.be.closeTo(reference.data[y * 28 + x]!, 1e-3);
    }
  });

  it('contrast: the map of target − contrast, the margin in the legend, and the difference in the tooltip (fast and exact)', async function () {
    this.timeout(120_000);
    const { element, result } = await heatmapWithResult({ contrast: '' }, samples[6]!.url);
    const [a, b] = [result.topk[0]!.index, result.topk[1]!.index];
    const { labels } = result.model;
    expect(element.contrastIndex).to.equal(b);
    expect(shadow(element, '[part="legend"] .target')!.textContent).to.equal(`${labels[a]} − ${labels[b]}`);
    const margin = result.logits[a]! - result.logits[b]!;
    expect(shadow(element, '[part="legend"] .margin')!.textContent).to.equal(`margin ${margin >= 0 ? '+' : '−'}${Math.abs(margin).toFixed(2)}`);
    pointer(element, 'pointermove', 12, 16); // the cell drawn there: (5, 3)
    await element.updateComplete;
    const cell = (5 * 8 + 3) * 10;
    const difference = result.evidence.data[cell + a]! - result.evidence.data[cell + b]!;
    expect(shadow(element, '[part="tooltip"] tr.contrast td')!.textContent).to.equal(`${difference >= 0 ? '+' : '−'}${Math.abs(difference).toFixed(2)}`);
    // A named contrast class, and an unknown one.
    element.contrast = labels[(a + 1) % 10]!;
    await element.updateComplete;
    expect(element.contrastIndex).to.equal((a + 1) % 10);
    element.contrast = 'Unicorn';
    await element.updateComplete;
    expect(element.state).to.equal('error');
    expect(element.error!.message).to.match(/Unknown contrast class "Unicorn"/);
    // Exact: the difference of the two exact maps.
    element.contrast = String(b);
    element.resolution = 'exact';
    await new Promise<void>((resolve) => element.addEventListener('bagnet-refine', (e) => e.detail.final && resolve()));
    await element.updateComplete;
    const exact = await getPool().exactMap(result, { classes: [a, b] });
    pointer(element, 'pointermove', 13, 9);
    await element.updateComplete;
    const expected = exact.data[(9 * 28 + 13) * 2]! - exact.data[(9 * 28 + 13) * 2 + 1]!;
    expect(Number(shadow(element, '[part="tooltip"] tr.contrast td')!.textContent!.replace('−', '-'))).to.be.closeTo(expected, 0.006);
  });

  it('toBlob() draws the image, the map and the legend as shown, at the model input size or a chosen scale', async function () {
    this.timeout(60_000);
    const { element } = await heatmapWithResult({ selection: [10, 11] } as Partial<BagnetHeatmap>, samples[8]!.url);
    await element.updateComplete;
    const blob = (await element.toBlob())!;
    expect(blob.type).to.equal('image/png');
    const bitmap = await createImageBitmap(blob);
    expect([bitmap.width, bitmap.height]).to.deep.equal([28, 28 + 28]);
    const figure = new OffscreenCanvas(bitmap.width, bitmap.height).getContext('2d')!;
    figure.drawImage(bitmap, 0, 0);
    // What the screen shows: the image canvas, the map canvas and the selection canvas, in that order.
    const screen = new OffscreenCanvas(28, 28).getContext('2d')!;
    for (const part of ['image', 'heatmap', 'selection']) screen.drawImage(shadow(element, `canvas[part="${part}"]`) as HTMLCanvasElement, 0, 0);
    const shown = screen.getImageData(0, 0, 28, 28).data;
    const drawn = figure.getImageData(0, 0, 28, 28).data;
    let worst = 0;
    for (let i = 0; i < shown.length; i++) worst = Math.max(worst, Math.abs(shown[i]! - drawn[i]!));
    expect(worst).to.be.at.most(1);
    // The legend: the colormap from its first to its last colour across the bar.
    const lut = colormapLut('rdbu');
    const left = figure.getImageData(4, 32, 1, 1).data;
    const right = figure.getImageData(23, 32, 1, 1).data;
    expect(Array.from(left.subarray(0, 3))).to.deep.equal(Array.from(lut.subarray(0, 3)));
    expect(Array.from(right.subarray(0, 3))).to.deep.equal(Array.from(lut.subarray((COLORMAP_LEVELS - 1) * 3, COLORMAP_LEVELS * 3)));
    const text = figure.getImageData(0, 40, 28, 16).data;
    expect(Array.from(text).some((v, i) => i % 4 === 0 && v < 128)).to.equal(true); // dark legend text
    const big = await createImageBitmap((await element.toBlob({ scale: 4, legend: false }))!);
    expect([big.width, big.height]).to.deep.equal([112, 112]);
    expect(element.toDataURL()).to.match(/^data:image\/png;base64,/);
  });

  it('without what-if the element shows no panel; `whatif` brings it (its chunk loads on first use)', async function () {
    this.timeout(60_000);
    const { element } = await heatmapWithResult({}, samples[1]!.url);
    expect(shadow(element, '[part="whatif"]')).to.equal(null);
    element.whatif = true;
    const panel = await untilPanel(element);
    expect(panel.querySelector('.tools select')).to.exist;
    element.whatif = false;
    await element.updateComplete;
    expect(shadow(element, '[part="whatif"]')).to.equal(null);
  });
});
