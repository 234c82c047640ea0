/**
 * The Cornerstone3D plugin in a real stack viewport: the model's input against the training tool's
 * DICOM pipeline (models/bagnet_tools/dicom_pixels.py, itself checked against pydicom), pixel for
 * pixel; the overlay's alignment under zoom/pan/rotation/flip and non-square pixels, bad inputs, the
 * panel, and the requests it makes.
 */
import { expect } from '@esm-bundle/chai';
import type { Types } from '@cornerstonejs/core';
import { BagnetOverlay } from '../../src/plugins/cornerstone/index.js';
import { configure } from '../../src/pool/config.js';
import { disposePool, getPool } from '../../src/pool/pool.js';
import { faultWorkerUrl, injectFault } from '../fixtures/faults.js';
import { DEFAULT_MODEL, SYNTHETIC_MODEL, usePagePool } from '../helpers.js';
import { disableViewport, exactMapDone, nextResult, rendered, stackViewport, wadouri } from './viewport.js';
import type { OverlayResultDetail } from '../../src/plugins/cornerstone/index.js';

interface Expected { rows: number; columns: number; frames: number[][] }
let expected: Record<string, Expected>;

function nextError(overlay: BagnetOverlay): Promise<{ type: string; message: string }> {
  return new Promise((resolve) => overlay.addEventListener('bagnet-error', (e) => resolve((e as CustomEvent).detail), { once: true }));
}

/** Weighted centre (CSS px) of the brightest pixels of a canvas: `score` picks what counts. */
function brightest(canvas: HTMLCanvasElement, score: (r: number, g: number, b: number, a: number) => number): { x: number; y: number } {
  const { width, height } = canvas;
  const data = canvas.getContext('2d')!.getImageData(0, 0, width, height).data;
  let best = -Infinity;
  for (let i = 0; i < width * height; i++) best = Math.max(best, score(data[4 * i]!, data[4 * i + 1]!, data[4 * i + 2]!, data[4 * i + 3]!));
  let sx = 0;
  let sy = 0;
  let n = 0;
  for (let i = 0; i < width * height; i++) {
    if (score(data[4 * i]!, data[4 * i + 1]!, data[4 * i + 2]!, data[4 * i + 3]!) >= best - 1e-9) {
      sx += (i % width) + 0.5;
      sy += Math.floor(i / width) + 0.5;
      n++;
    }
  }
  const scale = canvas.getBoundingClientRect().width / width; // backing pixels → CSS px
  return { x: (sx / n) * scale, y: (sy / n) * scale };
}

/** The bright square as Cornerstone drew it (its own rendering: independent of the overlay's maths). */
function squareOnScreen(viewport: Types.IStackViewport) {
  const canvas = viewport.element.querySelector('canvas:not(.bagnet-overlay)') as HTMLCanvasElement;
  return brightest(canvas, (r, g, b) => (r + g + b > 600 ? 1 : 0));
}

/** The hottest point of the overlay (gray colormap: brightness and alpha grow with the evidence). */
function hottestOnScreen(overlay: BagnetOverlay) {
  return brightest(overlay.canvas, (r, _g, _b, a) => a * 1000 + r);
}

describe('Cornerstone3D plugin', () => {
  usePagePool();
  const viewports: Types.IStackViewport[] = [];
  before(async () => {
    expected = await (await fetch(new URL('../../build/dicom/expected.json', import.meta.url))).json();
  });
  afterEach(() => {
    viewports.splice(0).forEach(disableViewport);
  });

  async function open(imageIds: string[]) {
    const viewport = await stackViewport(imageIds);
    viewports.push(viewport);
    return viewport;
  }

  for (const name of ['square', 'square-mono1', 'sneaker-window', 'ct16-signed', 'mr16-unsigned']) {
    it(`feeds the model pydicom's modality → VOI → MONOCHROME1 pipeline: ${name}`, async () => {
      const viewport = await open([wadouri(name)]);
      const overlay = new BagnetOverlay(viewport, { model: DEFAULT_MODEL, backend: 'wasm', voi: 'dataset' });
      await nextResult(overlay);
      const input = overlay.modelInput!;
      const want = expected[name]!;
      expect([input.height, input.width]).to.deep.equal([want.rows, want.columns]);
      let diff = 0;
      want.frames[0]!.forEach((gray, i) => { diff = Math.max(diff, Math.abs(input.data[4 * i]! - gray)); });
      expect(diff, 'largest gray-level difference from bagnet_tools.dicom_pixels').to.equal(0);
      overlay.destroy();
    });
  }

  it('handles a multi-frame image frame by frame, and the viewport VOI when asked', async () => {
    const viewport = await open([wadouri('multiframe', 1), wadouri('multiframe', 2)]);
    const overlay = new BagnetOverlay(viewport, { model: DEFAULT_MODEL, backend: 'wasm', voi: 'dataset' });
    await nextResult(overlay);
    const first = Array.from(overlay.modelInput!.data.filter((_, i) => i % 4 === 0));
    expect(first).to.deep.equal(expected['multiframe']!.frames[0]);
    const second = nextResult(overlay);
    await viewport.setImageIdIndex(1);
    await second;
    expect(Array.from(overlay.modelInput!.data.filter((_, i) => i % 4 === 0))).to.deep.equal(expected['multiframe']!.frames[1]);
    // voi: 'viewport' follows the window the reader sets.
    overlay.setOptions({ voi: 'viewport' });
    const narrowed = nextResult(overlay);
    viewport.setProperties({ voiRange: { lower: 0, upper: 200 } });
    viewport.render();
    await narrowed;
    const stored = overlay.modelInput!.data;
    expect(stored.some((v, i) => i % 4 === 0 && v === 255)).to.equal(true); // 200 and above saturate
    overlay.destroy();
  });

  it('classifies the next image of the stack in its own window (voi: viewport), not the one before it', async () => {
    // Cornerstone's CPU rendering sets the new image's window just after STACK_NEW_IMAGE, without a VOI_MODIFIED.
    const viewport = await open([wadouri('square'), wadouri('sneaker-window')]);
    const overlay = new BagnetOverlay(viewport, { model: DEFAULT_MODEL, backend: 'wasm' });
    await nextResult(overlay);
    const results: string[] = [];
    overlay.addEventListener('bagnet-result', (e) => results.push((e as CustomEvent<{ imageId: string }>).detail.imageId));
    const next = nextResult(overlay);
    await viewport.setImageIdIndex(1);
    await next;
    let diff = 0;
    expected['sneaker-window']!.frames[0]!.forEach((gray, i) => { diff = Math.max(diff, Math.abs(overlay.modelInput!.data[4 * i]! - gray)); });
    expect(diff, 'largest gray-level difference from the dataset window (the viewport\'s for a new image)').to.equal(0);
    // Nothing left to classify again: an option that changes no input starts no run.
    overlay.setOptions({ opacity: 0.5 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(results).to.deep.equal([wadouri('sneaker-window')]);
    overlay.destroy();
  });

  it('preprocesses by the model\'s input.dicom (a fixed window, MONOCHROME1 kept), whatever the viewer\'s window', async () => {
    const windowed: Record<string, Expected> = await (await fetch(new URL('../../build/dicom/expected-40-400-uninverted.json', import.meta.url))).json();
    const model = new URL('../../build/dicom/window-model/bagnet.json', import.meta.url).href;
    const viewport = await open([wadouri('square-mono1'), wadouri('ct16-signed')]);
    const overlay = new BagnetOverlay(viewport, { model, backend: 'wasm' });
    const results: string[] = [];
    overlay.addEventListener('bagnet-result', (e) => results.push((e as CustomEvent<{ imageId: string }>).detail.imageId));
    const sameAs = (name: string) => {
      let diff = 0;
      windowed[name]!.frames[0]!.forEach((gray, i) => { diff = Math.max(diff, Math.abs(overlay.modelInput!.data[4 * i]! - gray)); });
      return diff;
    };
    await nextResult(overlay);
    expect(sameAs('square-mono1'), 'square-mono1: largest gray-level difference').to.equal(0);
    const next = nextResult(overlay);
    await viewport.setImageIdIndex(1);
    await next;
    expect(sameAs('ct16-signed'), 'ct16-signed: largest gray-level difference').to.equal(0);
    // The reader's window is not the model's: changing it classifies nothing again.
    const count = results.length;
    const drawn = rendered(viewport);
    viewport.setProperties({ voiRange: { lower: -500, upper: 500 } });
    viewport.render();
    await drawn;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(results.length).to.equal(count);
    overlay.destroy();
  });

  it('follows a stack scrolled fast: only the slice it stops on is reported, and going back reuses the answer', async () => {
    const viewport = await open([wadouri('square'), wadouri('sneaker-window'), wadouri('ct16-signed')]);
    const overlay = new BagnetOverlay(viewport, { model: DEFAULT_MODEL, backend: 'wasm' });
    const first = await nextResult(overlay);
    const seen: string[] = [];
    overlay.addEventListener('bagnet-result', (e) => seen.push((e as CustomEvent<{ imageId: string }>).detail.imageId));
    // 0 → 1 → 2 without waiting: the run for slice 1 is cancelled before it reports.
    const last = new Promise<OverlayResultDetail>((resolve) => overlay.addEventListener('bagnet-result', (e) => {
      const detail = (e as CustomEvent<OverlayResultDetail>).detail;
      if (detail.imageId === wadouri('ct16-signed')) resolve(detail);
    }));
    void viewport.setImageIdIndex(1);
    await viewport.setImageIdIndex(2);
    await last;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(seen).to.deep.equal([wadouri('ct16-signed')]);
    // Back to slice 0: the same result object, at once (no new classification).
    const again = nextResult(overlay);
    await viewport.setImageIdIndex(0);
    expect(await again).to.equal(first);
    // refresh() classifies again all the same.
    const fresh = nextResult(overlay);
    await overlay.refresh();
    const refreshed = await fresh;
    expect(refreshed).to.not.equal(first);
    expect(Array.from(refreshed.logits)).to.deep.equal(Array.from(first.logits));
    overlay.destroy();
  });

  it('refresh() right after the overlay is made waits for the first classification (the model\'s manifest is read first)', async () => {
    const viewport = await open([wadouri('square')]);
    const overlay = new BagnetOverlay(viewport, { model: `${DEFAULT_MODEL}?fresh=${Date.now()}`, backend: 'wasm' });
    await overlay.refresh();
    expect(overlay.result?.imageId).to.equal(wadouri('square'));
    overlay.destroy();
  });

  it('keeps the hottest point on the patch with the most evidence under zoom, pan, rotation and flip', async () => {
    const viewport = await open([wadouri('square')]);
    const overlay = new BagnetOverlay(viewport, { model: SYNTHETIC_MODEL, backend: 'wasm', resolution: 'exact', colormap: 'gray', opacity: 1, target: 'bright' });
    await Promise.all([nextResult(overlay), exactMapDone(overlay)]);
    const check = async (what: string, change: () => void) => {
      const done = rendered(viewport);
      change();
      viewport.render();
      await done;
      const square = squareOnScreen(viewport);
      const hot = hottestOnScreen(overlay);
      expect(Math.hypot(square.x - hot.x, square.y - hot.y), `${what}: square at ${JSON.stringify(square)}, hottest at ${JSON.stringify(hot)}`)
        .to.be.at.most(2);
    };
    await check('as loaded', () => undefined);
    await check('zoomed ×1.8', () => viewport.setZoom(1.8)); // the square stays inside the viewport
    await check('panned', () => viewport.setPan([-40, 25]));
    await check('rotated 90°', () => viewport.setViewPresentation({ rotation: 90 }));
    await check('flipped', () => viewport.setCamera({ flipHorizontal: true }));
    overlay.destroy();
  });

  for (const name of ['square-aniso', 'square-nospacing']) {
    it(`stays aligned with ${name === 'square-aniso' ? 'non-square pixels (1 × 0.5 mm)' : 'no pixel spacing (1 mm assumed)'}`, async () => {
      const viewport = await open([wadouri(name)]);
      const overlay = new BagnetOverlay(viewport, { model: SYNTHETIC_MODEL, backend: 'wasm', resolution: 'exact', colormap: 'gray', opacity: 1, target: 'bright' });
      await Promise.all([nextResult(overlay), exactMapDone(overlay)]);
      const done = rendered(viewport);
      viewport.setZoom(1.7);
      viewport.render();
      await done;
      const square = squareOnScreen(viewport);
      const hot = hottestOnScreen(overlay);
      expect(Math.hypot(square.x - hot.x, square.y - hot.y)).to.be.at.most(2);
      overlay.destroy();
    });
  }

  it('reports an unsupported photometric interpretation, and the viewport carries on', async () => {
    const viewport = await open([wadouri('bad-photometric'), wadouri('square')]);
    const overlay = new BagnetOverlay(viewport, { model: DEFAULT_MODEL, backend: 'wasm' });
    const error = await nextError(overlay);
    expect(error.type).to.equal('image-invalid');
    expect(error.message).to.match(/Unsupported photometric interpretation "HSV"/);
    const next = nextResult(overlay);
    await viewport.setImageIdIndex(1);
    expect((await next).topk).to.have.length(5);
    overlay.destroy();
  });

  it('sends the elements\' event shapes: a result with its imageId, an error with its cause, heard on document', async () => {
    const viewport = await open([wadouri('bad-photometric'), wadouri('square')]);
    const heard: CustomEvent[] = [];
    const listen = (event: Event) => heard.push(event as CustomEvent);
    document.addEventListener('bagnet-result', listen);
    document.addEventListener('bagnet-error', listen);
    try {
      const overlay = new BagnetOverlay(viewport, { model: DEFAULT_MODEL, backend: 'wasm' });
      await nextError(overlay);
      const next = nextResult(overlay);
      await viewport.setImageIdIndex(1);
      const result = await next;
      const shownResult = overlay.result;
      overlay.destroy();
      expect(heard.map((event) => event.type)).to.deep.equal(['bagnet-error', 'bagnet-result']);
      const error = heard[0]!.detail as { type: string; message: string; cause: unknown };
      expect(Object.keys(error).sort()).to.deep.equal(['cause', 'message', 'type']);
      expect(error.type).to.equal('image-invalid');
      expect(error.cause).to.be.instanceOf(Error);
      const detail = heard[1]!.detail as typeof result;
      expect(detail.imageId).to.equal(wadouri('square'));
      expect(detail.topk).to.have.length(5);
      expect(detail.evidence.data).to.be.instanceOf(Float32Array);
      expect(detail.logits === shownResult!.logits && result.logits === detail.logits, 'the result itself').to.equal(true);
    } finally {
      document.removeEventListener('bagnet-result', listen);
      document.removeEventListener('bagnet-error', listen);
    }
  });

  it('reports an unknown target for each image and a failed exact map; exactMap() takes its result; refresh() after destroy()', async function () {
    this.timeout(180_000);
    disposePool();
    configure({ workerUrl: faultWorkerUrl() });
    try {
      const viewport = await open([wadouri('square'), wadouri('sneaker-window')]);
      const overlay = new BagnetOverlay(viewport, { model: DEFAULT_MODEL, backend: 'wasm', target: 'Unicorn' });
      const events: string[] = [];
      overlay.addEventListener('bagnet-result', () => events.push('result'));
      overlay.addEventListener('bagnet-error', (e) => events.push(`error: ${(e as CustomEvent<{ message: string }>).detail.message}`));
      const first = await nextResult(overlay);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const next = nextResult(overlay);
      await viewport.setImageIdIndex(1);
      await next;
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(events.map((e) => e.replace(/:.*/, ''))).to.deep.equal(['result', 'error', 'result', 'error']);
      expect(events[1]).to.match(/Unknown target "Unicorn"/);
      // The event's detail is the result: an exact map of it needs no image.
      const exact = await getPool().exactMap(first, { backend: 'wasm', classes: [0] });
      expect([exact.width, exact.height]).to.deep.equal([first.input.plan.width, first.input.plan.height]);
      overlay.setOptions({ target: '' });
      expect(await injectFault('fail-next-wasm-run')).to.equal(true);
      const failed = nextError(overlay);
      overlay.setOptions({ resolution: 'exact' });
      expect((await failed).message).to.match(/injected WASM run failure/);
      overlay.destroy();
      await overlay.refresh(); // resolves at once
    } finally {
      disposePool();
      configure({ workerUrl: undefined });
    }
  });

  it('reports an image the viewport cannot decode (unknown transfer syntax), and carries on', async () => {
    const viewport = await open([wadouri('square')]);
    const overlay = new BagnetOverlay(viewport, { model: DEFAULT_MODEL, backend: 'wasm' });
    await nextResult(overlay);
    const error = nextError(overlay);
    await viewport.setStack([wadouri('bad-syntax')]).catch(() => undefined);
    const { type, message } = await error;
    expect(type).to.equal('image-load');
    expect(message).to.match(/No decoder for transfer syntax 1\.2\.840\.10008\.9\.9\.9/);
    const next = nextResult(overlay);
    await viewport.setStack([wadouri('sneaker-window')]);
    viewport.render();
    expect((await next).topk[0]!.label).to.equal('Sneaker');
    overlay.destroy();
  });
});
