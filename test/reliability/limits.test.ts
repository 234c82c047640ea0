/**
 * The image limits hold for every way an image arrives, and each failure has the type a page can act
 * on: `maxDecodePixels` refuses, `maxImagePixels` scales down on the way (never a full-size copy
 * first), whatever the format hides its size behind (AVIF boxes, JPEG XL bits, 320 KB of JPEG
 * metadata, a GIF frame larger than its screen), and for images already in memory (ImageData,
 * ImageBitmap, canvas). A model whose inputs cannot fit is refused when it loads. Unreadable images
 * (tainted, broken downloads, unreadable files) are `image-load`, not `inference`.
 */
import { expect } from '@esm-bundle/chai';
import { BagnetError, classify, configure, disposePool, getPool, type PoolOptions } from '../../src/index.js';
import * as manifest from '../../src/core/manifest.js';
import { DEFAULT_WORKER_SETTINGS } from '../../src/core/settings.js';
import { DEFAULT_MODEL, relativeError, serverHits, settle, squareImage, SYNTHETIC_MODEL, usePagePool } from '../helpers.js';
import { guardPage } from './page-guard.js';

const FIXTURES = new URL('../../build/reliability/', import.meta.url);
const fixture = (name: string) => new URL(name, FIXTURES).href;
const badModel = (name: string) => new URL(`models/${name}/bagnet.json`, FIXTURES).href;

/** Run `work` on a pool made with `limits`, then go back to the defaults. */
async function withLimits<T>(limits: PoolOptions, work: () => Promise<T>): Promise<T> {
  disposePool();
  configure(limits);
  try {
    return await work();
  } finally {
    disposePool();
    configure({ maxImagePixels: DEFAULT_WORKER_SETTINGS.maxImagePixels, maxDecodePixels: DEFAULT_WORKER_SETTINGS.maxDecodePixels });
  }
}

async function expectError(promise: Promise<unknown>, type: BagnetError['type'], message: RegExp): Promise<BagnetError> {
  const outcome = await settle(promise);
  expect(outcome.ok, 'expected a rejection').to.equal(false);
  const error = (outcome as { error: unknown }).error;
  expect(error).to.be.instanceOf(BagnetError);
  expect((error as BagnetError).type, (error as BagnetError).message).to.equal(type);
  expect((error as BagnetError).message).to.match(message);
  return error as BagnetError;
}

/** The page's own `createImageBitmap` calls (the main thread's copies of an image), with their options. */
function watchPageBitmaps(): { calls: (ImageBitmapOptions | undefined)[]; restore: () => void } {
  const calls: (ImageBitmapOptions | undefined)[] = [];
  const original = window.createImageBitmap;
  window.createImageBitmap = ((source: ImageBitmapSource, ...rest: unknown[]) => {
    calls.push((rest.length === 1 ? rest[0] : rest[4]) as ImageBitmapOptions | undefined);
    return (original as (...args: unknown[]) => Promise<ImageBitmap>).call(window, source, ...rest);
  }) as typeof window.createImageBitmap;
  return { calls, restore: () => { window.createImageBitmap = original; } };
}

function canvasOf(image: ImageData): HTMLCanvasElement {
  const canvas = document.createElement('canvas');
  canvas.width = image.width;
  canvas.height = image.height;
  canvas.getContext('2d')!.putImageData(image, 0, 0);
  return canvas;
}

/** Whether this browser's own decoder (on the page, not ours) takes the fixture: Firefox has no JPEG XL. */
async function browserDecodes(file: string): Promise<boolean> {
  const blob = await (await fetch(fixture(file))).blob();
  return createImageBitmap(blob).then((bitmap) => (bitmap.close(), true), () => false);
}

const OVER_ONE_MEGAPIXEL = /2000×2000 \(4\.0 megapixels\), over the 1\.0 megapixels limit for decoding \(configure maxDecodePixels\)/;

describe('limits that cannot be bypassed', () => {
  const samples = usePagePool();
  guardPage();
  const options = { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' as const };

  // Each 2000×2000, each a file of a few KB whose size only a full header read finds.
  const hidden: [string, string][] = [
    ['an AVIF (its size in ispe, inside meta → iprp → ipco)', 'uniform-2000.avif'],
    ['a JPEG XL (its size in the codestream\'s bit-packed header)', 'uniform-2000.jxl'],
    ['a JPEG with 320 KB of metadata before its frame header', 'app-segments-2000.jpg'],
    ['a GIF whose 10×10 screen holds a 2000×2000 frame', 'small-screen-2000.gif'],
  ];
  for (const [what, file] of hidden) {
    it(`${what} over maxDecodePixels: image-invalid naming the limit, by URL and as a Blob`, async () => {
      const blob = await (await fetch(fixture(file))).blob();
      await withLimits({ maxDecodePixels: 1000 * 1000 }, async () => {
        await expectError(classify(fixture(file), options), 'image-invalid', OVER_ONE_MEGAPIXEL);
        await expectError(getPool().classify(blob, options), 'image-invalid', OVER_ONE_MEGAPIXEL);
      });
    });

    it(`${what} over maxImagePixels: decoded scaled down, its own size reported (or refused, naming the format, where the browser cannot decode it)`, async () => {
      await withLimits({ maxImagePixels: 500 * 500 }, async () => {
        if (!await browserDecodes(file)) {
          expect(file, 'only JPEG XL may be missing (Firefox)').to.match(/\.jxl$/);
          await expectError(classify(fixture(file), options), 'image-invalid', /this browser may not decode JPEG XL, or the file is damaged/);
          return;
        }
        const result = await classify(fixture(file), options);
        expect([result.input.imageWidth, result.input.imageHeight]).to.deep.equal([2000, 2000]);
        expect(result.input.downscale).to.be.closeTo(4, 1e-9);
      });
    });
  }

  for (const format of ['jpg', 'png']) {
    it(`a ${format.toUpperCase()} turned a quarter by its EXIF is scaled down at the size shown, not the size stored`, async () => {
      await withLimits({ maxImagePixels: 100 * 100 }, async () => {
        const result = await classify(fixture(`exif-rotated-400x100.${format}`), { model: SYNTHETIC_MODEL, backend: 'wasm' });
        expect([result.input.imageWidth, result.input.imageHeight], 'the size shown').to.deep.equal([100, 400]);
        expect(result.input.downscale).to.be.closeTo(2, 1e-9);
        expect([result.input.plan.width, result.input.plan.height]).to.deep.equal([50, 200]);
      });
    });
  }

  it('an AVIF, a JPEG XL and a JPEG with 320 KB of metadata that fit are classified (no false refusal; JPEG XL where the browser decodes it)', async () => {
    const sneaker = samples[14]!;
    const avif = await classify(fixture('sneaker.avif'), options); // lossless
    expect(relativeError(avif.logits, sneaker.logits)).to.be.at.most(1e-4);
    for (const file of ['sneaker.jxl', 'app-segments-sneaker.jpg']) {
      if (!await browserDecodes(file)) {
        expect(file, 'only JPEG XL may be missing (Firefox)').to.equal('sneaker.jxl');
        await expectError(classify(fixture(file), options), 'image-invalid', /this browser may not decode JPEG XL, or the file is damaged/);
        continue;
      }
      const result = await classify(fixture(file), options);
      expect(result.topk[0]!.index, file).to.equal(sneaker.predicted);
      expect([result.input.imageWidth, result.input.imageHeight, result.input.downscale], file).to.deep.equal([28, 28, 1]);
    }
  });

  it('ImageData, ImageBitmap and canvas over maxDecodePixels: image-invalid, refused before the page copies them', async () => {
    const big = new ImageData(2000, 2000);
    const bitmap = await createImageBitmap(big);
    const canvas = canvasOf(big);
    const page = watchPageBitmaps();
    try {
      await withLimits({ maxDecodePixels: 1000 * 1000 }, async () => {
        for (const image of [big, bitmap, canvas]) await expectError(getPool().classify(image, options), 'image-invalid', OVER_ONE_MEGAPIXEL);
      });
    } finally {
      page.restore();
      bitmap.close();
    }
    expect(page.calls, 'createImageBitmap calls on the page').to.deep.equal([]);
  });

  it('a canvas, an ImageBitmap and ImageData over maxImagePixels are scaled down on the page, and report their own size', async () => {
    const image = squareImage(3000, 2000, { x: 900, y: 600, size: 1200 });
    const bitmap = await createImageBitmap(image);
    const page = watchPageBitmaps();
    try {
      await withLimits({ maxImagePixels: 300 * 200 }, async () => {
        // The same pixels as a PNG file: decoded scaled down by the worker, from its header.
        const file = await new Promise<Blob>((resolve) => canvasOf(image).toBlob((blob) => resolve(blob!), 'image/png'));
        const reference = await classify(file, options);
        for (const source of [canvasOf(image), bitmap, image]) {
          page.calls.length = 0;
          const result = await classify(source, options);
          expect(page.calls, 'one copy, made scaled down').to.have.length(1);
          expect(page.calls[0] ?? {}, 'the copy\'s options').to.include({ resizeWidth: 300, resizeHeight: 200 });
          expect([result.input.imageWidth, result.input.imageHeight]).to.deep.equal([3000, 2000]);
          expect(result.input.downscale).to.be.closeTo(10, 1e-9);
          // The same picture: the page's and the worker's scaled copies differ by a rounding at most.
          const largest = result.input.pixels.data.reduce((max, v, i) => Math.max(max, Math.abs(v - reference.input.pixels.data[i]!)), 0);
          expect(largest, 'largest pixel difference from the PNG\'s').to.be.at.most(2);
        }
      });
    } finally {
      page.restore();
      bitmap.close();
    }
  });
});

describe('images that cannot be read are image-load errors', () => {
  usePagePool();
  guardPage();
  const options = { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' as const };

  /**
   * A tainted `<img>`: the sample from the other host name (same server and port), without
   * `crossorigin`. The page is cross-origin isolated (COEP require-corp) and the server's files say
   * `Cross-Origin-Resource-Policy: same-origin`, which blocks such an `<img>` outright, so it comes
   * through `/__no-cors` (scripts/server-options.mjs): CORP cross-origin, no CORS headers.
   */
  async function taintedImage(): Promise<HTMLImageElement> {
    const otherHost = location.hostname === 'localhost' ? '127.0.0.1' : 'localhost';
    const sample = '/models/default/samples/14-sneaker.png';
    const blocked = new Image();
    blocked.src = `${location.protocol}//${otherHost}:${location.port}${sample}?blocked`;
    expect(await blocked.decode().then(() => 'loaded', () => 'blocked'), 'COEP blocks the plain cross-origin file').to.equal('blocked');
    const img = new Image();
    img.src = `${location.protocol}//${otherHost}:${location.port}/__no-cors?path=${encodeURIComponent(sample)}`;
    await img.decode();
    return img;
  }

  const isTainted = (source: CanvasImageSource) => {
    const context = new OffscreenCanvas(1, 1).getContext('2d')!;
    context.drawImage(source, 0, 0);
    try {
      context.getImageData(0, 0, 1, 1);
      return false;
    } catch (error) {
      return (error as DOMException).name === 'SecurityError';
    }
  };

  it('a cross-origin <img> without CORS, and a canvas it was drawn on', async () => {
    const img = await taintedImage();
    expect(isTainted(img), 'the <img> is tainted').to.equal(true);
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    canvas.getContext('2d')!.drawImage(img, 0, 0);
    for (const source of [img, canvas]) {
      await expectError(classify(source, options), 'image-load', /another origin without CORS \(a tainted <img> or canvas\).*crossorigin="anonymous"/);
    }
  });

  it('a download that breaks off after the headers', async () => {
    await expectError(classify('/__broken-body', options), 'image-load', /Could not fetch the image .*__broken-body: the download broke off/);
  });

  it('a file that cannot be read any more (changed on disk since it was picked)', async () => {
    // An origin-private file: the File taken before it is written again is a stale snapshot.
    const root = await navigator.storage.getDirectory();
    const name = `limits-unreadable-${Date.now()}.png`;
    const handle = await root.getFileHandle(name, { create: true });
    const write = async (bytes: BufferSource) => {
      const writable = await handle.createWritable();
      await writable.write(bytes);
      await writable.close();
    };
    try {
      const png = await (await fetch('/models/default/samples/14-sneaker.png')).arrayBuffer();
      await write(png);
      const file = await handle.getFile();
      await new Promise((resolve) => setTimeout(resolve, 20)); // a later modification time
      await write(new Uint8Array(png).reverse());
      // Chromium says NotReadableError, Firefox AbortError: the error names the browser's own.
      const refusal = await file.arrayBuffer().then(() => 'read', (error: DOMException) => error.name);
      expect(refusal, 'the stale File').to.be.oneOf(['NotReadableError', 'AbortError']);
      await expectError(classify(file, options), 'image-load', new RegExp(`Could not read the image/png blob .*${refusal}`));
    } finally {
      await root.removeEntry(name);
    }
  });
});

describe('a model whose inputs cannot fit', () => {
  usePagePool();
  guardPage();

  it('the smallest model input a resize policy allows, checked against the limit', () => {
    expect(manifest.minimumInputPixels({ resize: { mode: 'stretch', width: 100000, height: 100000 } })).to.equal(1e10);
    expect(manifest.minimumInputPixels({ resize: { mode: 'shorter-side', size: 256, crop: 224 } })).to.equal(224 * 224);
    expect(manifest.minimumInputPixels({ resize: { mode: 'shorter-side', size: 9000 } })).to.equal(9000 * 9000);
    expect(manifest.minimumInputPixels({ resize: { mode: 'none' } })).to.equal(0);
    expect(() => manifest.checkInputSize({ resize: { mode: 'stretch', width: 28, height: 28 } }, 8192 * 8192)).not.to.throw();
    expect(() => manifest.checkInputSize({ resize: { mode: 'shorter-side', size: 9000 } }, 8192 * 8192)).to.throw(manifest.ManifestError,
      'Invalid model manifest: input.resize asks for at least 9000×9000 model inputs (81.0 megapixels), over the 67.1 megapixel limit');
  });

  it('a manifest that stretches every image to 100000×100000: model-invalid when it loads, before its file is fetched', async () => {
    const model = badModel('stretch-huge');
    const file = new URL('../../build/reliability/models/stretch-huge/model.onnx', import.meta.url).pathname;
    await serverHits(file, true);
    await expectError(getPool().acquire(model, 'wasm'), 'model-invalid',
      /Invalid model manifest: input\.resize asks for 100000×100000 model inputs \(10000\.0 megapixels\), over the 67\.1 megapixel limit/);
    await expectError(classify(fixture('exif-none.png'), { model, backend: 'wasm' }), 'model-invalid', /100000×100000/);
    expect(await serverHits(file), 'model file requests').to.equal(0);
  });
});
