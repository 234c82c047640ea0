import { expect } from '@esm-bundle/chai';
import { cellBox } from '../../src/core/geometry.js';
import { classMap } from '../../src/core/heatmap.js';
import type { ClassificationResult } from '../../src/core/result.js';
import { BagnetClassifier } from '../../src/elements/classifier/bagnet-classifier.component.js';
import { BagnetHeatmap } from '../../src/elements/heatmap/bagnet-heatmap.component.js';

import { DEFAULT_MODEL, defineFresh, nextEvent, squareImage, SYNTHETIC_MODEL, usePagePool } from '../helpers.js';

function heatmapPixels(element: BagnetHeatmap): ImageData {
  const canvas = element.shadowRoot!.querySelector('canvas[part="heatmap"]') as HTMLCanvasElement;
  return canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
}

/** Pixel with the largest red channel (with the gray colormap: the largest evidence). */
function hottest(image: ImageData): { x: number; y: number } {
  let best = -1;
  let at = { x: -1, y: -1 };
  for (let i = 0; i < image.width * image.height; i++) {
    if (image.data[i * 4 + 3]! > 0 && image.data[i * 4]! > best) {
      best = image.data[i * 4]!;
      at = { x: i % image.width, y: Math.floor(i / image.width) };
    }
  }
  return at;
}

describe('<bagnet-heatmap>', () => {
  const samples = usePagePool();

  // The synthetic model's evidence is a mean brightness in [0, 1]: scale 1 never saturates the colours.
  it('draws the hottest pixel inside the patch with the most evidence (synthetic model)', async () => {
    const element = document.createElement(defineFresh('test-heatmap', BagnetHeatmap)) as BagnetHeatmap;
    Object.assign(element, { model: SYNTHETIC_MODEL, backend: 'wasm', colormap: 'gray', mode: 'side-by-side', target: 'bright', scale: 1 });
    element.image = squareImage(64, 48, { x: 37, y: 21, size: 9 });
    const result = nextEvent<CustomEvent<ClassificationResult>>(element, 'bagnet-result');
    document.body.append(element);
    const { detail } = await result;
    await element.updateComplete;
    // Independent answer: the cell with the largest "bright" evidence, and the patch it sees.
    const bright = classMap(detail.evidence, 0);
    const best = bright.indexOf(Math.max(...bright));
    const box = cellBox(Math.floor(best / detail.evidence.cols), best % detail.evidence.cols, detail.evidence);
    const { x, y } = hottest(heatmapPixels(element));
    expect(x).to.be.within(box.x, box.x + box.width - 1);
    expect(y).to.be.within(box.y, box.y + box.height - 1);
  });

  it('exact resolution refines 4 → 2 → 1 and ends on the square\'s centre', async () => {
    const element = document.createElement(defineFresh('test-heatmap', BagnetHeatmap)) as BagnetHeatmap;
    Object.assign(element, { model: SYNTHETIC_MODEL, backend: 'wasm', colormap: 'gray', mode: 'side-by-side', resolution: 'exact', target: '0', scale: 1 });
    element.image = squareImage(64, 48, { x: 37, y: 21, size: 9 });
    const levels: number[] = [];
    const done = new Promise<void>((resolve) => element.addEventListener('bagnet-refine', (event) => {
      levels.push(event.detail.level);
      if (event.detail.final) resolve();
    }));
    document.body.append(element);
    await done;
    await element.updateComplete;
    expect(levels).to.deep.equal([4, 2, 1]);
    // Only the patch centred on the square's centre (41, 25) covers all of it.
    expect(hottest(heatmapPixels(element))).to.deep.equal({ x: 41, y: 25 });
  });

  it('reuses another element\'s result with for="id" (no second run) and follows target changes', async () => {
    const classifier = document.createElement(defineFresh('test-classifier', BagnetClassifier)) as BagnetClassifier;
    classifier.id = 'source';
    Object.assign(classifier, { model: DEFAULT_MODEL, backend: 'wasm' });
    const heatmap = document.createElement(defineFresh('test-heatmap', BagnetHeatmap)) as BagnetHeatmap;
    heatmap.htmlFor = 'source';
    const mirrored = nextEvent<CustomEvent<ClassificationResult>>(heatmap, 'bagnet-result');
    let loads = 0;
    document.addEventListener('bagnet-load', () => loads++);
    document.body.append(classifier, heatmap);
    classifier.src = samples[11]!.url;
    const { detail } = await mirrored;
    expect(detail).to.equal(classifier.result);
    expect(loads).to.equal(1);
    await heatmap.updateComplete;
    expect(heatmap.targetIndex).to.equal(samples[11]!.predicted);
    heatmap.target = detail.model.labels[3]!;
    await heatmap.updateComplete;
    expect(heatmap.targetIndex).to.equal(3);
    expect(heatmap.shadowRoot!.querySelector('[part="legend"] .target')!.textContent).to.equal(detail.model.labels[3]);
  });

  it('an unknown target label shows the error state and fires bagnet-error', async () => {
    const element = document.createElement(defineFresh('test-heatmap', BagnetHeatmap)) as BagnetHeatmap;
    Object.assign(element, { model: DEFAULT_MODEL, backend: 'wasm', target: 'Unicorn', src: samples[0]!.url });
    const error = nextEvent<CustomEvent<{ type: string; message: string }>>(element, 'bagnet-error');
    document.body.append(element);
    const { detail } = await error;
    expect(detail.message).to.match(/Unknown target "Unicorn"/);
    await element.updateComplete;
    expect(element.state).to.equal('error');
    expect(element.shadowRoot!.querySelector('[role="alert"]')!.textContent).to.contain('Unicorn');
  });

  it('hover shows the patch and its evidence; a click pins it', async () => {
    const element = document.createElement(defineFresh('test-heatmap', BagnetHeatmap)) as BagnetHeatmap;
    Object.assign(element, { model: SYNTHETIC_MODEL, backend: 'wasm', target: 'bright' });
    element.image = squareImage(64, 48, { x: 37, y: 21, size: 9 });
    const result = nextEvent<CustomEvent<ClassificationResult>>(element, 'bagnet-result');
    document.body.append(element);
    const { detail } = await result;
    await element.updateComplete;
    const stack = element.shadowRoot!.querySelector('.stack') as HTMLElement;
    const rect = stack.getBoundingClientRect();
    // Input pixel (41, 25): the cell drawn there is the one whose patch centre is (40, 24): cell (5, 9).
    const at = { clientX: rect.left + (41.5 / 64) * rect.width, clientY: rect.top + (25.5 / 48) * rect.height, bubbles: true };
    const patch = nextEvent<CustomEvent<{ box: { x: number; y: number }; evidence: { label: string; value: number }[]; pinned: boolean }>>(element, 'bagnet-patch');
    stack.dispatchEvent(new PointerEvent('pointermove', at));
    const hovered = (await patch).detail;
    expect(hovered.box).to.deep.include({ x: 36, y: 20 });
    const expected = detail.evidence.data[(5 * detail.evidence.cols + 9) * 2]!;
    expect(hovered.evidence[0]!.label).to.equal('bright');
    expect(hovered.evidence[0]!.value).to.be.closeTo(expected, 1e-6);
    await element.updateComplete;
    expect(element.shadowRoot!.querySelector('[part="patch"]')).to.exist;
    const pinned = nextEvent<CustomEvent<{ pinned: boolean }>>(element, 'bagnet-patch');
    stack.dispatchEvent(new MouseEvent('click', at));
    expect((await pinned).detail.pinned).to.equal(true);
  });
});
