/**
 * Bad and unusual inputs: each gets a typed `bagnet-error` (and the element's error state) or is
 * handled correctly (checked against an independent computation); a healthy element beside it keeps
 * working, and the page never sees an unhandled rejection or a console error.
 */
import { expect } from '@esm-bundle/chai';
import { BagnetClassifier } from '../../src/elements/classifier/bagnet-classifier.component.js';
import type { BagnetEventMap } from '../../src/elements/shared/events.js';
import type { ClassificationResult } from '../../src/core/result.js';
import { configure } from '../../src/pool/config.js';
import { classify, disposePool, getPool } from '../../src/pool/pool.js';
import { DEFAULT_MODEL, defineFresh, imageDataOf, relativeError, serverHits, SYNTHETIC_MODEL, usePagePool } from '../helpers.js';
import { guardPage } from './page-guard.js';

const FIXTURES = new URL('../../build/reliability/', import.meta.url);
const fixture = (name: string) => new URL(name, FIXTURES).href;
const badModel = (name: string) => new URL(`models/${name}/bagnet.json`, FIXTURES).href;

function mount(attributes: Record<string, string>): BagnetClassifier {
  const element = document.createElement(defineFresh('reliability-classifier', BagnetClassifier)) as BagnetClassifier;
  for (const [name, value] of Object.entries({ backend: 'wasm', ...attributes })) element.setAttribute(name, value);
  document.body.append(element);
  return element;
}

/** The element's outcome: its result, or its error (after the error state is rendered). */
function outcome(element: BagnetClassifier): Promise<{ result?: ClassificationResult; error?: BagnetEventMap['bagnet-error']['detail'] }> {
  return new Promise((resolve) => {
    element.addEventListener('bagnet-result', (e) => resolve({ result: e.detail }), { once: true });
    element.addEventListener('bagnet-error', async (e) => {
      await element.updateComplete;
      expect(element.state).to.equal('error');
      expect(element.shadowRoot!.querySelector('[part="error"][role="alert"]')!.textContent).to.contain(e.detail.message);
      resolve({ error: e.detail });
    }, { once: true });
  });
}

describe('bad and unusual images', () => {
  const samples = usePagePool();
  guardPage();
  const sneaker = () => samples[14]!;

  /** A healthy element beside the broken one still classifies correctly. */
  async function healthyNeighbour() {
    const healthy = mount({ model: DEFAULT_MODEL, precision: 'fp32' });
    const done = outcome(healthy);
    healthy.src = samples[3]!.url;
    const { result } = await done;
    expect(result!.topk[0]!.index).to.equal(samples[3]!.predicted);
  }

  const refused: [string, string, string, RegExp][] = [
    ['bytes that are not an image', 'not-an-image.png', DEFAULT_MODEL, /Could not decode .*not-an-image\.png as an image/],
    ['a truncated PNG', 'truncated.png', DEFAULT_MODEL, /Could not decode .*truncated\.png/],
    ['a 0×0 PNG', 'empty-0x0.png', DEFAULT_MODEL, /empty \(0×0\)/],
    ['a 1×1 PNG, smaller than the patch', 'tiny-1x1.png', SYNTHETIC_MODEL, /1×1 pixels after resizing, smaller than the model's 9×9 patch/],
    ['a 20000×20000 PNG (refused from its header, never decoded)', 'huge-20000.png', DEFAULT_MODEL,
      /20000×20000 \(400\.0 megapixels\), over the 67\.1 megapixels limit/],
    ['an SVG with a script', 'script.svg', DEFAULT_MODEL, /is an SVG image: rasterise it/],
  ];
  for (const [what, file, model, message] of refused) {
    it(`${what}: image-invalid, and the page carries on`, async () => {
      const element = mount({ model });
      const done = outcome(element);
      element.src = fixture(file);
      const { error } = await done;
      expect(error, 'an error, not a result').to.not.equal(undefined);
      expect(error!.type).to.equal('image-invalid');
      expect(error!.message).to.match(message);
      await healthyNeighbour();
    });
  }

  it('the SVG\'s script never runs and its references are never loaded', async () => {
    await serverHits('/__svg-script-ran', true);
    await serverHits('/__svg-image-ran.png', true);
    const title = document.title;
    await classify(fixture('script.svg'), { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' }).catch(() => undefined);
    const element = mount({ model: DEFAULT_MODEL, precision: 'fp32' });
    const done = outcome(element);
    element.image = await (await fetch(fixture('script.svg'))).blob();
    expect((await done).error!.type).to.equal('image-invalid');
    expect(await serverHits('/__svg-script-ran')).to.equal(0);
    expect(await serverHits('/__svg-image-ran.png')).to.equal(0);
    expect(document.title).to.equal(title);
  });

  it('a truncated JPEG: refused, whatever the browser would make of the rows it has', async () => {
    const element = mount({ model: DEFAULT_MODEL, precision: 'fp32' });
    const done = outcome(element);
    element.src = fixture('truncated.jpg');
    const { result, error } = await done;
    expect(result, 'no result from partly decoded pixels').to.equal(undefined);
    expect(error!.type).to.equal('image-invalid');
    expect(error!.message).to.match(/truncated\.jpg as an image: the JPEG file is truncated or damaged \(its scan data stops without an end \(EOI\)\)/);
    await healthyNeighbour();
  });

  for (const [format, file] of [['GIF', 'animated.gif'], ['WebP', 'sneaker.webp'], ['BMP', 'sneaker.bmp'], ['progressive JPEG', 'progressive.jpg']] as const) {
    it(`a truncated ${format} (a Blob cut in half): image-invalid; the whole file classifies`, async () => {
      const bytes = await (await fetch(fixture(file))).arrayBuffer();
      const whole = await classify(new Blob([bytes]), { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' });
      expect(whole.topk).to.have.length.greaterThan(0);
      const cut = await classify(new Blob([bytes.slice(0, bytes.byteLength >> 1)]), { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' })
        .then(() => null, (e: unknown) => e);
      expect(cut).to.have.property('type', 'image-invalid');
      expect((cut as Error).message).to.match(/file is truncated or damaged/);
    });
  }

  it('a 16-bit PNG: the same classification as its 8-bit original', async () => {
    const result = await classify(fixture('sixteen-bit.png'), { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' });
    expect(relativeError(result.logits, sneaker().logits)).to.be.at.most(1e-4);
  });

  it('an animated GIF: its first frame', async () => {
    const result = await classify(fixture('animated.gif'), { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' });
    expect(relativeError(result.logits, sneaker().logits)).to.be.at.most(1e-4);
  });

  it('a CMYK JPEG: decoded to RGB like PIL does', async () => {
    const cmyk = await classify(fixture('cmyk.jpg'), { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' });
    const pil = await classify(fixture('cmyk-as-rgb.png'), { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' });
    expect(cmyk.topk[0]!.index).to.equal(pil.topk[0]!.index);
    expect(relativeError(cmyk.logits, pil.logits)).to.be.at.most(0.02);
  });

  it('a transparent PNG: composited on the manifest\'s background (black for the default model)', async () => {
    const stored = await imageDataOf(fixture('transparent.png'));
    // Independent compositing: out = a·c + (1 - a)·background, background [0, 0, 0].
    const composited = new ImageData(stored.width, stored.height);
    for (let i = 0; i < stored.data.length; i += 4) {
      const alpha = stored.data[i + 3]! / 255;
      for (let c = 0; c < 3; c++) composited.data[i + c] = Math.round(stored.data[i + c]! * alpha);
      composited.data[i + 3] = 255;
    }
    const expected = await classify(composited, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' });
    const actual = await classify(fixture('transparent.png'), { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' });
    expect(relativeError(actual.logits, expected.logits)).to.be.at.most(1e-3);
    // Not what ignoring alpha would give (the transparent half is magenta).
    const opaque = new ImageData(Uint8ClampedArray.from(stored.data, (v, i) => (i % 4 === 3 ? 255 : v)), stored.width, stored.height);
    const ignored = await classify(opaque, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' });
    expect(relativeError(actual.logits, ignored.logits)).to.be.above(1e-2);
  });

  for (const format of ['jpg', 'png']) it(`EXIF orientation is honoured: a sideways ${format.toUpperCase()} tagged "rotate 90°" is classified upright`, async () => {
    const sideways = await imageDataOf(fixture(`exif-none.${format}`));
    // Rotate 90° clockwise, by index: (x, y) of the upright image is (y, W - 1 - x) of the stored one.
    const { width: w, height: h } = sideways;
    const upright = new ImageData(h, w);
    for (let y = 0; y < w; y++) {
      for (let x = 0; x < h; x++) {
        const from = ((h - 1 - x) * w + y) * 4;
        upright.data.set(sideways.data.subarray(from, from + 4), (y * h + x) * 4);
      }
    }
    const expected = await classify(upright, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' });
    const actual = await classify(fixture(`exif-rotated.${format}`), { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' });
    expect(relativeError(actual.logits, expected.logits)).to.be.at.most(1e-4);
    expect(actual.topk[0]!.label).to.equal('Ankle boot');
  });

  it('an image over maxImagePixels is decoded scaled down, aspect kept', async () => {
    disposePool();
    configure({ maxImagePixels: 100 * 100 });
    try {
      const result = await classify(fixture('truncated.jpg').replace('truncated.jpg', 'exif-none.jpg'), { model: SYNTHETIC_MODEL, backend: 'wasm' });
      expect(result.input.downscale).to.equal(1); // 56×56 is under the limit
      const big = new ImageData(300, 200);
      const scaled = await getPool().classify(big, { model: SYNTHETIC_MODEL, backend: 'wasm' });
      expect(scaled.input.downscale).to.be.closeTo(Math.sqrt(300 * 200 / 10000), 1e-9);
      expect([scaled.input.plan.width, scaled.input.plan.height]).to.deep.equal([122, 82]);
    } finally {
      disposePool();
      configure({ maxImagePixels: 4096 * 4096 });
    }
  });
});

describe('bad models', () => {
  const samples = usePagePool();
  guardPage();

  const cases: [string, string, string, RegExp][] = [
    ['a 404', badModel('missing'), 'model-load', /404/],
    ['HTML served instead of ONNX', badModel('html-instead'), 'model-invalid', /onnxruntime could not load the model/],
    ['a truncated ONNX file', badModel('truncated'), 'model-invalid', /onnxruntime could not load the model/],
    ['a truncated ONNX file whose manifest has its hash', badModel('truncated-with-hash'), 'model-invalid', /sha256|SHA-256|hash/i],
    ['an ONNX with the wrong input name', badModel('wrong-input-name'), 'model-invalid', /input.*"data"|"input"/],
    ['an ONNX whose output has the wrong rank', badModel('wrong-output-rank'), 'model-invalid', /rank|patch_logits|\[N, rows, cols, classes\]/],
    ['a manifest with missing fields', badModel('missing-fields'), 'model-invalid', /patchSize|labels/],
    ['labels that do not match the classes', badModel('labels-mismatch'), 'model-invalid', /3 labels.*2 classes|2 classes.*3 labels/],
    ['NaN in the manifest\'s mean (not JSON)', badModel('nan-mean'), 'model-load', /JSON/],
    ['a string "NaN" as std', badModel('string-std'), 'model-invalid', /input\.std\[0\] must be a positive number/],
    ['a cross-origin model without CORS', DEFAULT_MODEL.replace('localhost', '127.0.0.1'), 'model-load', /CORS|network/],
  ];
  for (const [what, model, type, message] of cases) {
    it(`${what}: ${type}, and other elements keep working`, async () => {
      const element = mount({ model });
      const done = outcome(element);
      element.src = samples[0]!.url;
      const { error } = await done;
      expect(error, 'an error, not a result').to.not.equal(undefined);
      expect(error!.type).to.equal(type);
      expect(error!.message).to.match(message);
      const healthy = mount({ model: DEFAULT_MODEL, precision: 'fp32' });
      const ok = outcome(healthy);
      healthy.src = samples[5]!.url;
      expect((await ok).result!.topk[0]!.index).to.equal(samples[5]!.predicted);
    });
  }

  it('the cross-origin case really is cross-origin', () => {
    expect(new URL(DEFAULT_MODEL).hostname).to.equal('localhost');
  });
});
