/**
 * The same file gives the same model input in every browser: the pixels the library decodes (before
 * any resize) equal Python's decode (PIL) within 1/255, whatever the file's colour metadata (gAMA, an
 * iCCP or JPEG ICC profile with linear curves, which a colour-managed decode would change), its EXIF
 * orientation, bit depth, palette, transparency or format; and a resize is the library's own filter
 * (src/core/resample.ts), PIL's BILINEAR, not the browser's. The references are written by
 * test/reliability/make_fixtures.py (parity_images).
 */
import { expect } from '@esm-bundle/chai';
import { resizeBilinear } from '../../src/core/resample.js';
import { classify } from '../../src/index.js';
import { relativeError, SYNTHETIC_MODEL, usePagePool } from '../helpers.js';
import { guardPage } from './page-guard.js';

const PARITY = new URL('../../build/reliability/parity/', import.meta.url);
const STRETCH_32X24 = new URL('../../build/reliability/models/stretch-32x24/bagnet.json', import.meta.url).href;
const browser = /Firefox\/(\d+)/.exec(navigator.userAgent)?.[0] ?? /Chrom(e|ium)\/(\d+)/.exec(navigator.userAgent)?.[0] ?? navigator.userAgent;

async function bytesOf(name: string): Promise<Uint8Array> {
  return new Uint8Array(await (await fetch(new URL(name, PARITY))).arrayBuffer());
}

/** Largest and mean absolute difference, in 1/255 steps, between the model input's RGB and `rgb`. */
function difference(pixels: ImageData, rgb: Uint8Array): { max: number; mean: number } {
  expect(pixels.data.length / 4, 'pixel count').to.equal(rgb.length / 3);
  let max = 0;
  let sum = 0;
  for (let i = 0, j = 0; j < rgb.length; i += 4, j += 3) {
    for (let c = 0; c < 3; c++) {
      const d = Math.abs(pixels.data[i + c]! - rgb[j + c]!);
      max = Math.max(max, d);
      sum += d;
    }
  }
  return { max, mean: sum / rgb.length };
}

describe('decoding parity with PIL', () => {
  usePagePool();
  guardPage();
  let index: Record<string, { width: number; height: number }> = {};
  before(async () => {
    index = await (await fetch(new URL('index.json', PARITY))).json();
  });

  it('every file decodes to PIL\'s pixels within 1/255 (colour metadata ignored, orientation applied, alpha on the background)', async function () {
    this.timeout(120_000);
    const names = Object.keys(index).filter((name) => name !== 'big-128x96.png');
    expect(names.length).to.be.at.least(19);
    const rows: string[] = [];
    for (const name of names) {
      // The synthetic model takes images as they are (resize "none"): its input is the decoded image.
      const result = await classify(new URL(name, PARITY).href, { model: SYNTHETIC_MODEL, backend: 'wasm' });
      const { width, height } = index[name]!;
      expect([result.input.pixels.width, result.input.pixels.height], name).to.deep.equal([width, height]);
      const { max, mean } = difference(result.input.pixels, await bytesOf(`${name}.rgb`));
      rows.push(`${name}: max ${max}, mean ${mean.toFixed(3)}`);
      expect(max, `${name}: largest difference from PIL in 1/255 steps (${rows.at(-1)})`).to.be.at.most(1);
    }
    console.log(`parity with PIL in ${browser}:\n  ${rows.join('\n  ')}`);
  });

  it('a 4× reduction (128×96 → 32×24) is PIL\'s BILINEAR within 1/255, and so are the logits (the library\'s filter, not the browser\'s)', async function () {
    this.timeout(120_000);
    const reduced = await classify(new URL('big-128x96.png', PARITY).href, { model: STRETCH_32X24, backend: 'wasm' });
    const rgb = await bytesOf('big-128x96.png.bilinear-32x24.rgb');
    const { max, mean } = difference(reduced.input.pixels, rgb);
    // PIL's reduction through the same model: the logits the browser should give.
    const rgba = new Uint8ClampedArray(32 * 24 * 4);
    for (let i = 0, j = 0; j < rgb.length; i += 4, j += 3) rgba.set([rgb[j]!, rgb[j + 1]!, rgb[j + 2]!, 255], i);
    const pil = await classify(new ImageData(rgba, 32, 24), { model: SYNTHETIC_MODEL, backend: 'wasm' });
    const logits = relativeError(reduced.logits, pil.logits);
    console.log(`resize 128×96 → 32×24 in ${browser} vs PIL BILINEAR: max ${max}, mean ${mean.toFixed(3)} (1/255 steps); logits relative error ${logits.toExponential(2)}`);
    expect(max).to.be.at.most(1);
    expect(logits).to.be.at.most(1e-4);
  });

  for (const [name, box, size] of [
    ['a fractional crop box reduced', { x: 10.5, y: 7.25, width: 80.3, height: 60.2 }, [32, 24]],
    ['an enlargement', { x: 3, y: 1.5, width: 120, height: 90 }, [200, 150]],
  ] as const) {
    it(`resizeBilinear: ${name} equals PIL's resize(BILINEAR, box) exactly`, async () => {
      const source = await bytesOf('big-128x96.png.rgb');
      const rgba = new Uint8ClampedArray(128 * 96 * 4);
      for (let i = 0, j = 0; j < source.length; i += 4, j += 3) rgba.set([source[j]!, source[j + 1]!, source[j + 2]!, 255], i);
      const out = resizeBilinear(rgba, 128, 96, box, size[0], size[1]);
      const expected = await bytesOf(`big-128x96.png.bilinear-box-${size[0]}x${size[1]}.rgb`);
      expect(difference(new ImageData(out, size[0], size[1]), expected)).to.deep.equal({ max: 0, mean: 0 });
    });
  }
});
