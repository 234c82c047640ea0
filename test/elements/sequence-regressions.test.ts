/**
 * Sequences of changes that once went wrong (issue: "The elements hold under any sequence of
 * changes"): each test is one defect, written to fail on the code before the redesign. Elements
 * live through sequences (a second image, a mode switch, `for` set and removed, input changed while
 * off screen, moved in the DOM), not one set-up.
 */
import { expect } from '@esm-bundle/chai';
import { topPatches } from '../../src/core/patches.js';
import type { ClassificationResult } from '../../src/core/result.js';
import { BagnetClassifier } from '../../src/elements/classifier/bagnet-classifier.component.js';
import { BagnetHeatmap } from '../../src/elements/heatmap/bagnet-heatmap.component.js';
import { BagnetPatches } from '../../src/elements/patches/bagnet-patches.component.js';
import { configure } from '../../src/pool/config.js';
import { classify, disposePool, getPool } from '../../src/pool/pool.js';
import { faultWorkerUrl, injectFault } from '../fixtures/faults.js';
import { DEFAULT_MODEL, defineFresh, imageDataOf, loadSamples, NARROW_MODEL, nextEvent, noiseImage, serverHits, type Sample } from '../helpers.js';
import { guardPage } from '../reliability/page-guard.js';

const classifierTag = defineFresh('regression-classifier', BagnetClassifier);
const heatmapTag = defineFresh('regression-heatmap', BagnetHeatmap);
const patchesTag = defineFresh('regression-patches', BagnetPatches);

function mount<T extends HTMLElement>(tag: string, properties: Record<string, unknown>, parent: Element = document.body): T {
  const element = document.createElement(tag) as T;
  Object.assign(element, properties);
  parent.append(element);
  return element;
}

async function until(check: () => boolean, what: string, ms = 30_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Until the pool has nothing queued or running. */
async function poolIdle(): Promise<void> {
  await until(() => getPool().snapshot().running === 0 && getPool().snapshot().queued === 0, 'the pool to be idle');
}

function canvasOf(element: HTMLElement, part: 'image' | 'heatmap'): HTMLCanvasElement | null {
  return element.shadowRoot!.querySelector(`canvas[part="${part}"]`);
}

function pixelsOf(canvas: HTMLCanvasElement): number[] {
  return Array.from(canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data);
}

/** `url` served `ms` late, uncached (scripts/server-options.mjs). */
function slowly(url: string, ms: number): string {
  return `/__slow?path=${encodeURIComponent(new URL(url).pathname)}&delay=${ms}`;
}

/** Identity, without printing two results (big typed arrays) when it fails. */
function expectSame(actual: unknown, expected: unknown, what: string): void {
  expect(actual === expected, what).to.equal(true);
}

let samples: Sample[] = [];

describe('sequences that once failed', () => {
  before(async () => {
    samples = await loadSamples();
  });
  beforeEach(() => {
    disposePool();
    configure({ cache: 'bagnet-test-cache', idleReleaseMs: 10_000, workerUrl: faultWorkerUrl() });
  });
  afterEach(() => document.body.replaceChildren());
  after(() => disposePool());
  guardPage();

  it('a for= heatmap switched to side-by-side, edges and back draws its image every time', async () => {
    const sample = samples[3]!;
    const classifier = mount<BagnetClassifier>(classifierTag, { id: 'c', model: DEFAULT_MODEL, backend: 'wasm', src: sample.url });
    const heatmap = mount<BagnetHeatmap>(heatmapTag, { htmlFor: 'c' });
    await nextEvent(heatmap, 'bagnet-result');
    expectSame(heatmap.result, classifier.result, 'the mirrored result');
    const expected = Array.from((await imageDataOf(sample.url)).data); // the 28×28 sample is the model input itself
    for (const mode of ['overlay', 'side-by-side', 'edges', 'overlay', 'side-by-side'] as const) {
      heatmap.mode = mode;
      await heatmap.updateComplete;
      const canvas = canvasOf(heatmap, 'image')!;
      expect([canvas.width, canvas.height], mode).to.deep.equal([28, 28]);
      expect(pixelsOf(canvas), mode).to.deep.equal(expected);
      expect(canvasOf(heatmap, 'heatmap')!.width, mode).to.equal(28);
    }
  });

  it('the misclassification view shows each new image\'s own patches, without errors', async () => {
    const element = mount<BagnetPatches>(patchesTag, { model: DEFAULT_MODEL, backend: 'wasm', view: 'misclassification', trueLabel: '0', count: 4 });
    for (const sample of [samples[4]!, samples[14]!, samples[8]!]) {
      const result = nextEvent<CustomEvent<ClassificationResult>>(element, 'bagnet-result');
      element.src = sample.url;
      const { detail } = await result;
      await until(() => [...element.shadowRoot!.querySelectorAll('bagnet-heatmap')].every((h) => (h as BagnetHeatmap).result === detail)
        && element.shadowRoot!.querySelectorAll('[part="value"]').length > 0, `the views of ${sample.file}`, 10_000);
      const shown = [...element.shadowRoot!.querySelectorAll('section[part="group"]')[0]!.querySelectorAll('[part="value"]')]
        .map((node) => Number(node.textContent));
      expect(shown, sample.file).to.deep.equal(topPatches(detail.evidence, 0, 4).map((p) => Number(p.value.toFixed(2))));
    }
  });

  it('an unknown target shows an error until it is corrected, then the map', async () => {
    const heatmap = mount<BagnetHeatmap>(heatmapTag, { model: DEFAULT_MODEL, backend: 'wasm', target: 'Unicorn', src: samples[0]!.url });
    const error = await nextEvent<CustomEvent<{ type: string; message: string }>>(heatmap, 'bagnet-error');
    expect(error.detail.message).to.match(/Unknown target "Unicorn"/);
    await heatmap.updateComplete;
    expect(heatmap.state).to.equal('error');
    const label = heatmap.result!.model.labels[3]!;
    heatmap.target = label;
    await heatmap.updateComplete;
    expect(heatmap.state).to.equal('result');
    expect(heatmap.targetIndex).to.equal(3);
    expect(canvasOf(heatmap, 'heatmap')).to.exist;
    expect(heatmap.shadowRoot!.querySelector('[part="error"]')).to.equal(null);
    heatmap.target = 'Unicorn';
    expect((await nextEvent<CustomEvent<{ message: string }>>(heatmap, 'bagnet-error')).detail.message).to.match(/Unicorn/);
  });

  it('a failed exact map keeps the fast map, reports the failure, and a later exact map works', async function () {
    this.timeout(120_000);
    const heatmap = mount<BagnetHeatmap>(heatmapTag, { model: DEFAULT_MODEL, backend: 'wasm', src: samples[5]!.url });
    await nextEvent(heatmap, 'bagnet-result');
    expect(await injectFault('fail-next-wasm-run')).to.equal(true);
    const error = nextEvent<CustomEvent<{ type: string; message: string }>>(heatmap, 'bagnet-error');
    heatmap.resolution = 'exact';
    expect((await error).detail.message).to.match(/injected WASM run failure/);
    await heatmap.updateComplete;
    expect(heatmap.state).to.equal('error');
    expect(canvasOf(heatmap, 'heatmap'), 'the fast map is still shown').to.exist;
    expect(heatmap.shadowRoot!.querySelector('[part="legend"] .resolution')!.textContent).to.equal('stride 2');
    expect(heatmap.shadowRoot!.querySelector('[part="error"]')!.textContent).to.match(/injected WASM run failure/);
    heatmap.resolution = 'fast';
    await heatmap.updateComplete;
    expect(heatmap.state).to.equal('result');
    const final = new Promise<void>((resolve) => heatmap.addEventListener('bagnet-refine', (event) => event.detail.final && resolve()));
    heatmap.resolution = 'exact';
    await final;
    await heatmap.updateComplete;
    expect(heatmap.state).to.equal('result');
    expect(heatmap.shadowRoot!.querySelector('[part="legend"] .resolution')!.textContent).to.equal('exact');
  });

  it('a heatmap that follows another element and then stops shows its own image\'s result again', async () => {
    const own = samples[10]!;
    const other = samples[2]!;
    const classifier = mount<BagnetClassifier>(classifierTag, { id: 'c', model: DEFAULT_MODEL, backend: 'wasm', src: other.url });
    const heatmap = mount<BagnetHeatmap>(heatmapTag, { model: DEFAULT_MODEL, backend: 'wasm', src: own.url });
    await until(() => classifier.state === 'result' && heatmap.state === 'result', 'both results');
    expect(heatmap.result!.topk[0]!.index).to.equal(own.predicted);
    heatmap.htmlFor = 'c';
    await heatmap.updateComplete;
    expectSame(heatmap.result, classifier.result, 'the mirrored result');
    const back = nextEvent<CustomEvent<ClassificationResult>>(heatmap, 'bagnet-result');
    heatmap.htmlFor = '';
    const { detail } = await back;
    await heatmap.updateComplete;
    expect(detail.topk[0]!.index).to.equal(own.predicted);
    expect(heatmap.result === detail).to.equal(true);
    expect(pixelsOf(canvasOf(heatmap, 'image')!)).to.deep.equal(Array.from((await imageDataOf(own.url)).data));
  });

  it('a follower goes back to nothing when its source\'s src is cleared', async () => {
    const classifier = mount<BagnetClassifier>(classifierTag, { id: 'c', model: DEFAULT_MODEL, backend: 'wasm', src: samples[1]!.url });
    const heatmap = mount<BagnetHeatmap>(heatmapTag, { htmlFor: 'c' });
    await nextEvent(heatmap, 'bagnet-result');
    classifier.src = '';
    await classifier.updateComplete;
    await heatmap.updateComplete;
    expect(classifier.state).to.equal('idle');
    expect(heatmap.result).to.equal(null);
    expect(heatmap.state).to.equal('idle');
    expect(canvasOf(heatmap, 'heatmap')).to.equal(null);
  });

  it('for= set while the element\'s own run is in flight: the late result never shows, and its model is let go', async function () {
    this.timeout(120_000);
    disposePool();
    configure({ idleReleaseMs: 50 });
    const classifier = mount<BagnetClassifier>(classifierTag, { id: 'c', model: DEFAULT_MODEL, backend: 'wasm', src: samples[6]!.url });
    await until(() => classifier.state === 'result', 'the source\'s result');
    const heatmap = mount<BagnetHeatmap>(heatmapTag, { model: NARROW_MODEL, backend: 'wasm', image: noiseImage(700, 700, 3) });
    const shown: ClassificationResult[] = [];
    heatmap.addEventListener('bagnet-result', (event) => shown.push(event.detail));
    await until(() => heatmap.state === 'running' && getPool().snapshot().running > 0, 'the heatmap\'s own run');
    heatmap.htmlFor = 'c';
    await heatmap.updateComplete;
    expectSame(heatmap.result, classifier.result, 'the mirrored result');
    await poolIdle();
    await new Promise((resolve) => setTimeout(resolve, 200)); // the idle release of the narrow model
    expectSame(heatmap.result, classifier.result, 'the mirrored result');
    expect(shown).to.deep.equal([classifier.result]);
    expect(getPool().snapshot().models, 'only the source\'s model is held').to.equal(1);
  });

  it('a follower of a failing source fires its own bagnet-error', async () => {
    const classifier = mount<BagnetClassifier>(classifierTag, { id: 'c', model: DEFAULT_MODEL, backend: 'wasm' });
    const heatmap = mount<BagnetHeatmap>(heatmapTag, { htmlFor: 'c' });
    // Heard on the heatmap and sent by it (not the source's event: that does not pass through the heatmap).
    const heard = new Promise<{ type: string; fromHeatmap: boolean }>((resolve) => heatmap.addEventListener('bagnet-error',
      (event) => resolve({ type: event.detail.type, fromHeatmap: event.composedPath()[0] === heatmap }), { once: true }));
    classifier.src = new URL('../../models/default/samples/not-there.png', import.meta.url).href;
    const { type, fromHeatmap } = await heard;
    expect(fromHeatmap).to.equal(true);
    expect(type).to.equal('image-load');
    await heatmap.updateComplete;
    expect(heatmap.state).to.equal('error');
  });

  it('for pointed at an element without a result shows nothing', async () => {
    mount<BagnetClassifier>(classifierTag, { id: 'c', model: DEFAULT_MODEL, backend: 'wasm', src: samples[7]!.url });
    mount<BagnetClassifier>(classifierTag, { id: 'd', model: DEFAULT_MODEL, backend: 'wasm' });
    const heatmap = mount<BagnetHeatmap>(heatmapTag, { htmlFor: 'c' });
    await nextEvent(heatmap, 'bagnet-result');
    heatmap.htmlFor = 'd';
    await heatmap.updateComplete;
    expect(heatmap.result).to.equal(null);
    expect(heatmap.state).to.equal('idle');
    expect(canvasOf(heatmap, 'heatmap')).to.equal(null);
  });

  it('a lazy element whose input changes off screen stops its run, shows nothing old, and classifies the new input in view', async function () {
    this.timeout(120_000);
    const spacer = document.createElement('div');
    document.body.append(spacer);
    const element = mount<BagnetClassifier>(classifierTag, { model: NARROW_MODEL, backend: 'wasm', loading: 'lazy' });
    const results: ClassificationResult[] = [];
    element.addEventListener('bagnet-result', (event) => results.push(event.detail));
    element.image = noiseImage(1600, 1600, 8); // seconds of runs
    await until(() => element.state === 'running' && getPool().snapshot().running > 0, 'the run');
    spacer.style.height = '20000px'; // now far below the viewport
    await new Promise((resolve) => setTimeout(resolve, 300)); // the IntersectionObserver reports it
    const small = noiseImage(48, 48, 2);
    element.image = small;
    await element.updateComplete;
    expect(element.state).to.equal('idle');
    await poolIdle();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(results, 'no result for the old input').to.deep.equal([]);
    expect(element.result).to.equal(null);
    const result = nextEvent<CustomEvent<ClassificationResult>>(element, 'bagnet-result');
    spacer.style.height = '0';
    const { detail } = await result;
    expect(detail.evidence.rows).to.equal(2); // the 48×48 image: floor((48 - 33) / 8) + 1
  });

  it('draws the image the result is of, even when an earlier image arrives late; the image is fetched once', async function () {
    this.timeout(60_000);
    const slow = samples[12]!;
    const fast = samples[13]!;
    await serverHits('/__slow', true);
    const heatmap = mount<BagnetHeatmap>(heatmapTag, { model: DEFAULT_MODEL, backend: 'wasm', src: slowly(slow.url, 600) });
    await nextEvent(heatmap, 'bagnet-result');
    await heatmap.updateComplete; // the first image is shown (and, before the redesign, fetched again to be drawn)
    const second = nextEvent<CustomEvent<ClassificationResult>>(heatmap, 'bagnet-result');
    heatmap.src = fast.url;
    await second;
    await new Promise((resolve) => setTimeout(resolve, 1500)); // whatever was still loading has arrived
    expect(pixelsOf(canvasOf(heatmap, 'image')!)).to.deep.equal(Array.from((await imageDataOf(fast.url)).data));
    expect(await serverHits('/__slow'), 'the slow image was fetched once').to.equal(1);
  });

  it('hovering neither recomputes nor redraws the map', async () => {
    const heatmap = mount<BagnetHeatmap>(heatmapTag, { model: DEFAULT_MODEL, backend: 'wasm', src: samples[9]!.url });
    await nextEvent(heatmap, 'bagnet-result');
    await heatmap.updateComplete;
    const canvas = canvasOf(heatmap, 'heatmap')!;
    const put = CanvasRenderingContext2D.prototype.putImageData;
    let redraws = 0;
    CanvasRenderingContext2D.prototype.putImageData = function (this: CanvasRenderingContext2D, ...args: Parameters<typeof put>) {
      if (this.canvas === canvas) redraws++;
      return put.apply(this, args);
    } as typeof put;
    try {
      const stack = heatmap.shadowRoot!.querySelector('.stack') as HTMLElement;
      const rect = stack.getBoundingClientRect();
      for (let i = 0; i < 30; i++) {
        stack.dispatchEvent(new PointerEvent('pointermove', { clientX: rect.left + (9 + (i % 10) + 0.5) * rect.width / 28, clientY: rect.top + rect.height / 2, bubbles: true }));
        await heatmap.updateComplete;
      }
      expect(heatmap.shadowRoot!.querySelector('[part="tooltip"]')).to.exist;
      expect(redraws).to.equal(0);
    } finally {
      CanvasRenderingContext2D.prototype.putImageData = put;
    }
  });

  it('a top-k that is not a number lists the default five classes', async () => {
    const element = mount<BagnetClassifier>(classifierTag, { model: DEFAULT_MODEL, backend: 'wasm' });
    element.setAttribute('top-k', 'three');
    element.src = samples[11]!.url;
    const { detail } = await nextEvent<CustomEvent<ClassificationResult>>(element, 'bagnet-result');
    expect(detail.topk).to.have.length(5);
    expect((await classify(samples[11]!.url, { model: DEFAULT_MODEL, backend: 'wasm', topK: Number.NaN })).topk).to.have.length(5);
  });

  it('a set taken out of the page while it is classified, and put back later, finishes', async () => {
    const element = mount<BagnetPatches>(patchesTag, { model: DEFAULT_MODEL, backend: 'wasm', count: 2 });
    element.srcset = samples.slice(0, 6).map((s) => slowly(s.url, 500)).join(' '); // half a second of loading at least
    await until(() => element.state === 'running' || element.state === 'loading', 'the set to start');
    const elsewhere = document.createElement('section');
    document.body.append(elsewhere);
    element.remove();
    await new Promise((resolve) => setTimeout(resolve, 1500)); // what it had asked for has arrived (and was dropped)
    elsewhere.append(element);
    await until(() => element.state === 'result', 'the set to finish', 20_000);
    expect(element.results).to.have.length(6);
    await element.updateComplete;
    expect(element.shadowRoot!.querySelectorAll('section[part="group"]')).to.have.length(2);
  });

  // Found in review of the redesign (not defects of the code before it, which had no such paths).

  it('resultFrom follows a source connected later, and one moved in the page', async () => {
    const classifier = document.createElement(classifierTag) as BagnetClassifier;
    Object.assign(classifier, { model: DEFAULT_MODEL, backend: 'wasm', src: samples[15]!.url });
    const heatmap = mount<BagnetHeatmap>(heatmapTag, { resultFrom: classifier });
    await heatmap.updateComplete;
    expect(heatmap.state).to.equal('idle');
    const mirrored = nextEvent(heatmap, 'bagnet-result');
    document.body.append(classifier);
    await mirrored;
    expectSame(heatmap.result, classifier.result, 'the source that came later');
    const elsewhere = document.createElement('section');
    document.body.append(elsewhere);
    elsewhere.append(classifier);
    await classifier.updateComplete;
    await heatmap.updateComplete;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expectSame(heatmap.result, classifier.result, 'the moved source');
    expect(heatmap.state).to.equal('result');
    expect(canvasOf(heatmap, 'heatmap'), 'the map is drawn').to.exist;
  });

  it('for= chains follow through; a cycle mirrors nothing and breaks nothing', async () => {
    const a = mount<BagnetHeatmap>(heatmapTag, { id: 'a', htmlFor: 'b' });
    const b = mount<BagnetHeatmap>(heatmapTag, { id: 'b', htmlFor: 'a' });
    await a.updateComplete;
    await b.updateComplete;
    expect([a.state, b.state]).to.deep.equal(['idle', 'idle']);
    // B runs on its own: A mirrors it; C, following A, too.
    const c = mount<BagnetHeatmap>(heatmapTag, { htmlFor: 'a' });
    const mirrored = nextEvent(c, 'bagnet-result');
    Object.assign(b, { htmlFor: '', model: DEFAULT_MODEL, backend: 'wasm', src: samples[16]!.url });
    await mirrored;
    expectSame(a.result, b.result, 'A mirrors B');
    expectSame(c.result, b.result, 'C mirrors A mirroring B');
    // A stops mirroring (and has no input of its own): C goes idle with it.
    a.htmlFor = '';
    await a.updateComplete;
    await c.updateComplete;
    expect([a.state, c.state, c.result]).to.deep.equal(['idle', 'idle', null]);
  });

  it('a follower of a set shows nothing', async () => {
    const set = mount<BagnetPatches>(patchesTag, { id: 's', model: DEFAULT_MODEL, backend: 'wasm', srcset: `${samples[0]!.url} ${samples[1]!.url}` });
    const heatmap = mount<BagnetHeatmap>(heatmapTag, { htmlFor: 's' });
    await until(() => set.state === 'result', 'the set');
    await heatmap.updateComplete;
    expect([heatmap.state, heatmap.result]).to.deep.equal(['idle', null]);
  });

  it('a finished exact map survives a move: nothing is computed again', async () => {
    const heatmap = mount<BagnetHeatmap>(heatmapTag, { model: DEFAULT_MODEL, backend: 'wasm', resolution: 'exact', src: samples[17]!.url });
    const levels: number[] = [];
    heatmap.addEventListener('bagnet-refine', (event) => levels.push(event.detail.level));
    await until(() => levels.at(-1) === 1, 'the exact map');
    const runs = (await getPool().stats()).worker!.models.reduce((sum, m) => sum + m.runs, 0);
    const elsewhere = document.createElement('section');
    document.body.append(elsewhere);
    elsewhere.append(heatmap);
    await heatmap.updateComplete;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(levels).to.deep.equal([2, 1]);
    expect((await getPool().stats()).worker!.models.reduce((sum, m) => sum + m.runs, 0)).to.equal(runs);
    expect(heatmap.shadowRoot!.querySelector('[part="legend"] .resolution')!.textContent).to.equal('exact');
  });
});
