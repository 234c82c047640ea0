import { expect } from '@esm-bundle/chai';
import { topPatches } from '../../src/core/patches.js';
import type { ClassificationResult } from '../../src/core/result.js';
import { BagnetPatches } from '../../src/elements/patches/bagnet-patches.component.js';
import { getPool } from '../../src/pool/pool.js';
import { DEFAULT_MODEL, defineFresh, nextEvent, usePagePool } from '../helpers.js';

async function until(check: () => boolean, what: string): Promise<void> {
  const started = performance.now();
  while (!check()) {
    if (performance.now() - started > 30_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('<bagnet-patches>', () => {
  const samples = usePagePool();

  it('shows the patches with the most evidence of one image, with their values', async () => {
    const element = document.createElement(defineFresh('test-patches', BagnetPatches)) as BagnetPatches;
    Object.assign(element, { model: DEFAULT_MODEL, backend: 'wasm', count: 4, src: samples[14]!.url });
    const result = nextEvent<CustomEvent<ClassificationResult>>(element, 'bagnet-result');
    document.body.append(element);
    const { detail } = await result;
    await until(() => element.shadowRoot!.querySelectorAll('[part="patch"]').length > 0, 'patches');
    const expected = topPatches(detail.evidence, detail.topk[0]!.index, 4);
    const values = [...element.shadowRoot!.querySelectorAll('[part="value"]')].map((n) => Number(n.textContent));
    expect(values).to.deep.equal(expected.map((p) => Number(p.value.toFixed(2))));
    const crop = element.shadowRoot!.querySelector('canvas[part="crop"]') as HTMLCanvasElement;
    expect([crop.width, crop.height]).to.deep.equal([13, 13]);
  });

  it('with contrast, shows the patches that most separate the target from the other class (evidence A − B)', async () => {
    const element = document.createElement(defineFresh('test-patches', BagnetPatches)) as BagnetPatches;
    Object.assign(element, { model: DEFAULT_MODEL, backend: 'wasm', count: 3, contrast: '', src: samples[6]!.url });
    const result = nextEvent<CustomEvent<ClassificationResult>>(element, 'bagnet-result');
    document.body.append(element);
    const { detail } = await result;
    await until(() => element.shadowRoot!.querySelectorAll('[part="patch"]').length > 0, 'patches');
    const [a, b] = [detail.topk[0]!.index, detail.topk[1]!.index];
    const { classes, data, rows, cols } = detail.evidence;
    // Independently: cells by E[a] − E[b], best first; the first shown is the best of all cells.
    const scores = Array.from({ length: rows * cols }, (_, cell) => data[cell * classes + a]! - data[cell * classes + b]!);
    const values = [...element.shadowRoot!.querySelectorAll('[part="value"]')].map((n) => Number(n.textContent));
    expect(values[0]).to.equal(Number(Math.max(...scores).toFixed(2)));
    for (const value of values) expect(scores.some((s) => Number(s.toFixed(2)) === value)).to.equal(true);
    const labels = detail.model.labels;
    expect(element.groups[0]!.title).to.equal(`Most evidence for ${labels[a]} over ${labels[b]}`);
  });

  it('toBlob() draws the patches shown, at 4× with their values', async () => {
    const element = document.createElement(defineFresh('test-patches', BagnetPatches)) as BagnetPatches;
    Object.assign(element, { model: DEFAULT_MODEL, backend: 'wasm', count: 3, src: samples[9]!.url });
    document.body.append(element);
    await until(() => element.shadowRoot!.querySelectorAll('[part="patch"]').length === 3, 'patches');
    const bitmap = await createImageBitmap((await element.toBlob())!);
    const figure = new OffscreenCanvas(bitmap.width, bitmap.height).getContext('2d')!;
    figure.drawImage(bitmap, 0, 0);
    const crops = [...element.shadowRoot!.querySelectorAll<HTMLCanvasElement>('canvas[part="crop"]')];
    crops.forEach((crop, k) => {
      const shown = crop.getContext('2d')!.getImageData(0, 0, 13, 13).data;
      // Patch k at x = 8 + k·(52 + 8), below the 16-pixel title line: each pixel a 4×4 block.
      const drawn = figure.getImageData(8 + k * 60, 8 + 16, 52, 52).data;
      for (let y = 0; y < 13; y++) {
        for (let x = 0; x < 13; x++) {
          for (let c = 0; c < 3; c++) expect(drawn[((4 * y + 2) * 52 + 4 * x + 2) * 4 + c]).to.equal(shown[(y * 13 + x) * 4 + c]);
        }
      }
    });
    expect(element.toDataURL()).to.match(/^data:image\/png;base64,/);
  });

  it('splits patches across a labelled set into this class and other classes, in one batch', async () => {
    const element = document.createElement(defineFresh('test-patches', BagnetPatches)) as BagnetPatches;
    const set = samples.slice(10, 18);
    const target = set[0]!.label;
    const runsBefore = getPool().snapshot().runs;
    Object.assign(element, { model: DEFAULT_MODEL, backend: 'wasm', count: 3, target,
      images: set.map((s) => ({ image: s.url, label: s.label })) });
    document.body.append(element);
    await until(() => element.groups.length === 2 && element.groups[0]!.patches.length > 0, 'groups');
    const [own, other] = element.groups;
    const labelOf = (image: number) => set[image]!.label;
    expect(own!.patches.every((p) => labelOf(p.image) === target)).to.equal(true);
    expect(other!.patches.every((p) => labelOf(p.image) !== target)).to.equal(true);
    // Sorted by evidence, best first.
    const values = own!.patches.map((p) => p.value);
    expect(values).to.deep.equal([...values].sort((a, b) => b - a));
    expect(getPool().snapshot().runs - runsBefore, 'eight images, batched').to.be.below(8);
    expect(element.shadowRoot!.querySelectorAll('section[part="group"]')).to.have.length(2);
  });

  it('the misclassification view shows heatmaps for the true and the predicted class', async () => {
    const element = document.createElement(defineFresh('test-patches', BagnetPatches)) as BagnetPatches;
    const sample = samples[4]!;
    const wrongTruth = (sample.predicted + 1) % 10;
    Object.assign(element, { model: DEFAULT_MODEL, backend: 'wasm', view: 'misclassification', src: sample.url, trueLabel: String(wrongTruth) });
    document.body.append(element);
    await until(() => element.shadowRoot!.querySelectorAll('bagnet-heatmap').length === 2, 'two heatmaps');
    const heatmaps = [...element.shadowRoot!.querySelectorAll('bagnet-heatmap')];
    await until(() => heatmaps.every((h) => h.targetIndex !== null), 'heatmap results');
    expect(heatmaps.map((h) => h.targetIndex)).to.deep.equal([wrongTruth, sample.predicted]);
    expect(heatmaps[0]!.result).to.equal(element.result); // reused, not run again
  });
});
