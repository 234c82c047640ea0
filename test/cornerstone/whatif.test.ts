/**
 * What-if on a Cornerstone3D viewport: the overlay's selection against the mean over the patches left
 * (computed here from the evidence), a drag with the select tool against where Cornerstone itself drew
 * the bright square (under zoom and rotation), and pixel edits against classify() of the edited model
 * input; the next slice clears them, and the viewer's own tools never see a what-if drag.
 */
import { expect } from '@esm-bundle/chai';
import type { Types } from '@cornerstonejs/core';
import { BagnetOverlay, type BagnetCornerstonePanel, type OverlayResultDetail } from '../../src/plugins/cornerstone/index.js';
import { getPool, type RescoredResult } from '../../src/pool/pool.js';
import type { ClassificationResult } from '../../src/core/result.js';
import { DEFAULT_MODEL, SYNTHETIC_MODEL, usePagePool } from '../helpers.js';
import { nextResult, rendered, useViewports, wadouri } from './viewport.js';

/** Every class's logit with `cells` removed from the bag (or kept alone): the mean over the cells left, computed here. */
function meanOver(result: ClassificationResult, cells: readonly number[], mode: 'remove' | 'keep'): number[] {
  const { rows, cols, classes, data } = result.evidence;
  const chosen = new Set(cells);
  const logits = new Array<number>(classes).fill(0);
  let n = 0;
  for (let cell = 0; cell < rows * cols; cell++) {
    if (chosen.has(cell) !== (mode === 'keep')) continue;
    n++;
    for (let c = 0; c < classes; c++) logits[c]! += data[cell * classes + c]!;
  }
  return logits.map((sum) => sum / n);
}

/** Centre (CSS px, relative to the viewport) of the pixels `pick` chooses on a canvas. */
function centreOf(canvas: HTMLCanvasElement, pick: (r: number, g: number, b: number, a: number) => boolean): { x: number; y: number; n: number } {
  const { width, height } = canvas;
  const data = canvas.getContext('2d')!.getImageData(0, 0, width, height).data;
  let [sx, sy, n] = [0, 0, 0];
  for (let i = 0; i < width * height; i++) {
    if (!pick(data[4 * i]!, data[4 * i + 1]!, data[4 * i + 2]!, data[4 * i + 3]!)) continue;
    sx += (i % width) + 0.5;
    sy += Math.floor(i / width) + 0.5;
    n++;
  }
  const scale = canvas.getBoundingClientRect().width / width;
  return { x: (sx / n) * scale, y: (sy / n) * scale, n };
}

/** A drag on the overlay (CSS px relative to the viewport), as a pointer makes it. */
function drag(overlay: BagnetOverlay, from: { x: number; y: number }, to: { x: number; y: number }, init: PointerEventInit = {}) {
  const rect = overlay.canvas.getBoundingClientRect();
  const at = (p: { x: number; y: number }) => ({ clientX: rect.left + p.x, clientY: rect.top + p.y, bubbles: true, pointerId: 1, button: 0, ...init });
  overlay.canvas.dispatchEvent(new PointerEvent('pointerdown', at(from)));
  overlay.canvas.dispatchEvent(new MouseEvent('mousedown', at(from)));
  overlay.canvas.dispatchEvent(new PointerEvent('pointermove', at(to)));
  overlay.canvas.dispatchEvent(new PointerEvent('pointerup', at(to)));
}

describe('Cornerstone3D plugin: what-if on the viewport', () => {
  usePagePool();
  const { open, cleanups, panelFor } = useViewports();

  it('a selection is removed from the bag (or kept alone) exactly, and a drag selects the patch under the pointer under zoom and rotation', async () => {
    const viewport = await open([wadouri('square'), wadouri('sneaker-window')]);
    const overlay = new BagnetOverlay(viewport, { model: SYNTHETIC_MODEL, backend: 'wasm', target: 'bright', opacity: 0 });
    cleanups.push(() => overlay.destroy());
    const result = await nextResult(overlay);
    const announced: { selection: readonly number[]; ablation: string; result: { logits: Float32Array } | null }[] = [];
    overlay.addEventListener('bagnet-whatif', (e) => announced.push((e as CustomEvent).detail));

    const cells = [0, 3, 17, 40];
    overlay.setOptions({ selection: cells });
    for (const mode of ['remove', 'keep'] as const) {
      overlay.setOptions({ ablation: mode });
      const expected = meanOver(result, cells, mode);
      Array.from(overlay.whatIf!.logits).forEach((logit, c) => expect(logit, `${mode}, class ${c}`).to.be.closeTo(expected[c]!, 1e-5));
    }
    expect(announced.map((a) => [a.selection, a.ablation])).to.deep.equal([[cells, 'remove'], [cells, 'keep']]);

    // Where Cornerstone drew the square (its own canvas), zoomed and rotated: the drag starts there.
    overlay.setOptions({ selection: [], ablation: 'remove', tool: 'select' });
    const done = rendered(viewport);
    viewport.setZoom(1.6);
    viewport.setViewPresentation({ rotation: 90 });
    viewport.render();
    await done;
    const drawn = viewport.element.querySelector('canvas:not(.bagnet-overlay)') as HTMLCanvasElement;
    const onScreen = centreOf(drawn, (r, g, b) => r + g + b > 600);
    // The square's centre in model-input pixels, and the cell drawn there (a stride block from the patch centre).
    const input = overlay.modelInput!;
    let [sx, sy, n] = [0, 0, 0];
    for (let i = 0; i < input.width * input.height; i++) {
      if (input.data[4 * i]! < 200) continue;
      sx += i % input.width;
      sy += Math.floor(i / input.width);
      n++;
    }
    const [u, v] = [sx / n, sy / n];
    const { patchSize, stride, offset, cols } = result.evidence;
    const centre = offset + (patchSize - 1) / 2;
    const expectedCell = Math.floor((v - centre) / stride) * cols + Math.floor((u - centre) / stride);

    const seenByViewer: string[] = [];
    for (const type of ['pointerdown', 'mousedown']) viewport.element.addEventListener(type, () => seenByViewer.push(type));
    const camera = JSON.stringify(viewport.getCamera());
    drag(overlay, onScreen, onScreen);
    const selected = overlay.options.selection;
    expect(selected, `square at (${u.toFixed(1)}, ${v.toFixed(1)}) in the model input`).to.include(expectedCell);
    expect(selected.length).to.be.at.most(4);
    expect(seenByViewer, 'the viewer\'s tools do not see a what-if drag').to.deep.equal([]);
    expect(JSON.stringify(viewport.getCamera())).to.equal(camera);
    // The hatching is drawn on the selected patch.
    const hatched = centreOf(overlay.canvas, (_r, _g, _b, a) => a > 100);
    expect(Math.hypot(hatched.x - onScreen.x, hatched.y - onScreen.y), 'hatching where the square is').to.be.below(stride * 1.6 * 1.5);
    // The bright square removed: "bright" loses.
    expect(overlay.whatIf!.logits[0]!).to.be.below(result.logits[0]!);

    // With Shift, the same drag takes the cells out again.
    drag(overlay, onScreen, onScreen, { shiftKey: true });
    expect(overlay.options.selection).to.deep.equal([]);

    // A drag that ends beyond the image's corner reaches the last row and column.
    const last = result.evidence.rows * cols - 1;
    const { origin, spacing, direction } = viewport.getImageData();
    const beyond = [input.width + 3, input.height + 3]; // past the image's bottom-right corner, in image pixels
    const world = [0, 1, 2].map((k) => origin[k]! + direction[k]! * spacing[0]! * beyond[0]! + direction[3 + k]! * spacing[1]! * beyond[1]!);
    const [bx, by] = viewport.worldToCanvas(world as Types.Point3);
    drag(overlay, onScreen, { x: bx, y: by });
    expect(overlay.options.selection, 'the drag reached the image\'s last cell').to.include(last);
    expect(overlay.options.selection).to.include(expectedCell);
    overlay.setOptions({ selection: [] });

    // The next slice: a new classification clears the selection.
    overlay.setOptions({ selection: [expectedCell] });
    const next = nextResult(overlay);
    await viewport.setImageIdIndex(1);
    await next;
    expect(overlay.options.selection).to.deep.equal([]);
    expect(overlay.whatIf).to.equal(null);
  });

  it('pixel edits are re-scored exactly (= classify() of the edited model input), drawn over the image, undone, and cleared by the next slice', async () => {
    const viewport = await open([wadouri('sneaker-window'), wadouri('square')]);
    const overlay = new BagnetOverlay(viewport, { model: DEFAULT_MODEL, backend: 'wasm', precision: 'fp32', opacity: 0 });
    cleanups.push(() => overlay.destroy());
    const base = await nextResult(overlay);
    const input = overlay.modelInput!;
    const red = (r: number, g: number, b: number, a: number) => r > 200 && g < 50 && b < 50 && a > 200;
    expect(centreOf(overlay.canvas, red).n).to.equal(0);

    const box = { x: 9, y: 5, width: 7, height: 6 };
    const results: OverlayResultDetail[] = [];
    overlay.addEventListener('bagnet-result', (e) => results.push((e as CustomEvent<OverlayResultDetail>).detail));
    overlay.edit({ ...box, fill: { kind: 'color', rgb: [255, 0, 0] } });
    const edited = (await overlay.editsSettled()) as OverlayResultDetail & RescoredResult;
    expect(edited).to.not.equal(null);
    expect(overlay.result).to.equal(edited);
    expect(results).to.deep.equal([edited]);
    expect(edited.imageId).to.equal(wadouri('sneaker-window'));

    // The reference: the edited RGBA classified from scratch.
    const pixels = new Uint8ClampedArray(input.data);
    for (let y = box.y; y < box.y + box.height; y++) {
      for (let x = box.x; x < box.x + box.width; x++) pixels.set([255, 0, 0, 255], (y * input.width + x) * 4);
    }
    const reference = await getPool().classify(new ImageData(pixels, input.width, input.height), { model: DEFAULT_MODEL, backend: 'wasm', precision: 'fp32' });
    Array.from(edited.logits).forEach((logit, c) => expect(logit).to.be.closeTo(reference.logits[c]!, 1e-4));
    edited.evidence.data.forEach((value, i) => {
      if (Math.abs(value - reference.evidence.data[i]!) > 1e-4) expect.fail(`patch logit ${i}: ${value} vs ${reference.evidence.data[i]}`);
    });
    // Recomputed: the cells whose window (q × q from stride·cell + offset) meets the box.
    const { rows, cols, patchSize, stride, offset } = base.evidence;
    let meets = 0;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const [x0, y0] = [stride * c + offset, stride * r + offset];
        if (x0 < box.x + box.width && box.x < x0 + patchSize && y0 < box.y + box.height && box.y < y0 + patchSize) meets++;
      }
    }
    expect(edited.rescored.recomputed).to.equal(meets);
    // The edited pixels are drawn over the image.
    await new Promise((resolve) => requestAnimationFrame(resolve));
    expect(centreOf(overlay.canvas, red).n).to.be.greaterThan(0);

    // A second edit made with the edit tool, by a drag: a box of model-input pixels, then undone.
    overlay.setOptions({ tool: 'edit', fill: 'mean' });
    const rect = overlay.canvas.getBoundingClientRect();
    drag(overlay, { x: rect.width * 0.7, y: rect.height * 0.7 }, { x: rect.width * 0.8, y: rect.height * 0.85 });
    expect(overlay.options.edits).to.have.length(2);
    const second = overlay.options.edits[1]!;
    expect(second.fill).to.equal('mean');
    expect(second.x).to.be.within(input.width * 0.6, input.width * 0.8);
    expect(second.x + second.width).to.be.within(input.width * 0.75, input.width * 0.9);
    const twice = (await overlay.editsSettled()) as OverlayResultDetail & RescoredResult;
    expect(twice.rescored.edit).to.deep.equal({ x: second.x, y: second.y, width: second.width, height: second.height });
    overlay.setOptions({ edits: overlay.options.edits.slice(0, 1) });
    expect(Array.from((await overlay.editsSettled())!.logits)).to.deep.equal(Array.from(edited.logits));

    // Taken back: the classification's own result again, announced.
    overlay.setOptions({ edits: [] });
    await overlay.editsSettled();
    expect(overlay.result).to.equal(base);
    expect(results.at(-1)).to.equal(base);

    // The next slice clears the edits.
    overlay.edit({ ...box, fill: 'background' });
    await overlay.editsSettled();
    const next = nextResult(overlay);
    await viewport.setImageIdIndex(1);
    const other = await next;
    expect(overlay.options.edits).to.deep.equal([]);
    expect(overlay.result).to.equal(other);

    // A failed edit (a box outside the model input, through the API) is reported, and the
    // classification's own result is shown and announced again.
    overlay.edit({ ...box, fill: 'mean' });
    const shown = await overlay.editsSettled();
    const failed = new Promise<string>((resolve) => overlay.addEventListener('bagnet-error', (e) => resolve((e as CustomEvent).detail.message), { once: true }));
    overlay.edit({ x: input.width - 2, y: 0, width: 5, height: 5, fill: 'mean' });
    expect(overlay.result, 'the last edited result stays shown while the next edit is re-scored').to.equal(shown);
    expect(await failed).to.match(/not whole pixels inside/);
    await overlay.editsSettled();
    expect(overlay.result).to.equal(other);
    expect(results.at(-1)).to.equal(other);

    // Destroyed: nothing more is announced, whatever is asked of it.
    const heard: string[] = [];
    for (const type of ['bagnet-result', 'bagnet-whatif', 'bagnet-error']) {
      overlay.addEventListener(type, () => heard.push(type));
      viewport.element.addEventListener(type, () => heard.push(`element ${type}`));
    }
    overlay.destroy();
    overlay.setOptions({ selection: [0, 1], edits: [] });
    overlay.edit({ ...box, fill: 'mean' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(heard).to.deep.equal([]);
  });

  it('takes its tool and edits from the constructor: a drag works at once, and edits set before the first result are re-scored on it', async () => {
    const viewport = await open([wadouri('sneaker-window')]);
    const box = { x: 2, y: 3, width: 5, height: 5, fill: 'mean' as const };
    const overlay = new BagnetOverlay(viewport, { model: DEFAULT_MODEL, backend: 'wasm', tool: 'select', edits: [box] });
    cleanups.push(() => overlay.destroy());
    const edited = await overlay.editsSettled();
    expect(edited, 'the edits were re-scored on the first classification').to.not.equal(null);
    expect((edited as unknown as RescoredResult).rescored.edit).to.deep.equal({ x: 2, y: 3, width: 5, height: 5 });
    expect(getComputedStyle(overlay.canvas).pointerEvents).to.equal('auto');
    const rect = overlay.canvas.getBoundingClientRect();
    drag(overlay, { x: rect.width / 2, y: rect.height / 2 }, { x: rect.width / 2, y: rect.height / 2 });
    expect(overlay.options.selection.length).to.be.within(1, 4);
  });

  it('panel: the tools, the selection\'s exact effect, and the edits', async () => {
    const viewport = await open([wadouri('square')]);
    const overlay = new BagnetOverlay(viewport, { model: SYNTHETIC_MODEL, backend: 'wasm', target: 'bright' });
    const panel = panelFor(overlay);
    const result = await nextResult(overlay);
    await panel.updateComplete;
    const root = panel.shadowRoot!;
    const tool = (value: string) => root.querySelector<HTMLInputElement>(`[part="tools"] input[value="${value}"]`)!;
    expect(tool('navigate').checked).to.equal(true);
    tool('select').click();
    await panel.updateComplete;
    expect(overlay.options.tool).to.equal('select');
    expect(getComputedStyle(overlay.canvas).pointerEvents).to.equal('auto');

    // The patches with the most evidence for "bright": removed, the panel gives the exact probability.
    const { rows, cols, classes, data } = result.evidence;
    const order = Array.from({ length: rows * cols }, (_, i) => i).sort((a, b) => data[b * classes]! - data[a * classes]!);
    const cells = order.slice(0, 6);
    overlay.setOptions({ selection: cells });
    await panel.updateComplete;
    const logits = meanOver(result, cells, 'remove');
    const p = Math.exp(logits[0]!) / logits.reduce((sum, l) => sum + Math.exp(l), 0);
    const text = root.querySelector('[part="ablation"]')!.textContent!;
    expect(text).to.contain('6 patches removed');
    expect(text).to.contain(`→ ${(p * 100).toFixed(1)}%`);
    root.querySelector<HTMLButtonElement>('[part="tools"] button')!.click();
    await panel.updateComplete;
    expect(overlay.options.selection).to.deep.equal([]);

    tool('navigate').click();
    await panel.updateComplete;
    expect(getComputedStyle(overlay.canvas).pointerEvents).to.equal('none');
    overlay.edit({ x: 0, y: 0, width: 8, height: 8, fill: 'background' });
    await overlay.editsSettled();
    await panel.updateComplete;
    expect(root.querySelector('[part="tools"]')!.textContent).to.match(/1 edit\s+\(re-scored \d+ of\s+\d+ patches\)/);
  });
});
