/**
 * core/image-integrity: whole files pass, every truncation of them is found, data after the end
 * (motion photos) is fine, and a JPEG's EXIF thumbnail (with its own end marker) fools nothing. The
 * files are the real encoders' (PIL, test/reliability/make_fixtures.py) and the default model's samples.
 */
import { expect } from '@esm-bundle/chai';
import type { ImageFormat } from '../src/core/image-header.js';
import { findDamage } from '../src/core/image-integrity.js';

const FIXTURES = new URL('../build/reliability/', import.meta.url);
const SAMPLE = new URL('../models/default/samples/14-sneaker.png', import.meta.url);

const bytesOf = async (url: URL) => new Uint8Array(await (await fetch(url)).arrayBuffer());

/** Cuts to try: every length for small files, else 1,500 spread evenly plus the last 64. */
function cuts(length: number): number[] {
  if (length <= 6000) return Array.from({ length: length - 1 }, (_, i) => i + 1);
  const spread = Array.from({ length: 1500 }, (_, i) => 1 + Math.floor((i * (length - 2)) / 1500));
  return [...new Set([...spread, ...Array.from({ length: 64 }, (_, i) => length - 1 - i)])];
}

const FILES: [string, URL, ImageFormat][] = [
  ['a PNG', SAMPLE, 'png'],
  ['a 16-bit PNG', new URL('sixteen-bit.png', FIXTURES), 'png'],
  ['a baseline JPEG', new URL('exif-none.jpg', FIXTURES), 'jpeg'],
  ['a JPEG with EXIF and APP segments', new URL('app-segments-sneaker.jpg', FIXTURES), 'jpeg'],
  ['a progressive JPEG (6 scans)', new URL('progressive.jpg', FIXTURES), 'jpeg'],
  ['a CMYK JPEG', new URL('cmyk.jpg', FIXTURES), 'jpeg'],
  ['an animated GIF', new URL('animated.gif', FIXTURES), 'gif'],
  ['a lossless WebP', new URL('sneaker.webp', FIXTURES), 'webp'],
  ['a BMP', new URL('sneaker.bmp', FIXTURES), 'bmp'],
];

describe('image integrity', () => {
  for (const [what, url, format] of FILES) {
    it(`${what}: whole as written, and with data after its end; damaged wherever it is cut`, async () => {
      const file = await bytesOf(url);
      expect(findDamage(file, format)).to.equal(null);
      const trailing = Uint8Array.from([...file, ...Array.from({ length: 5000 }, (_, i) => (i * 7919) & 255)]);
      expect(findDamage(trailing, format), 'data after the end').to.equal(null);
      for (const cut of cuts(file.length)) {
        expect(findDamage(file.subarray(0, cut), format), `cut to ${cut} of ${file.length} bytes`).to.be.a('string');
      }
    });
  }

  it('a JPEG whose EXIF thumbnail has its own end marker: the main image cut short is still damaged', async () => {
    const main = await bytesOf(new URL('progressive.jpg', FIXTURES));
    const thumbnail = await bytesOf(new URL('exif-none.jpg', FIXTURES)); // a whole JPEG, FF D9 at its end
    const payload = [...new TextEncoder().encode('Exif\0\0'), ...thumbnail];
    const app1 = [0xff, 0xe1, (payload.length + 2) >> 8, (payload.length + 2) & 255, ...payload];
    const withThumbnail = Uint8Array.from([...main.subarray(0, 2), ...app1, ...main.subarray(2)]);
    expect(findDamage(withThumbnail, 'jpeg')).to.equal(null);
    const cut = withThumbnail.subarray(0, 2 + app1.length + Math.floor(main.length / 2));
    const endMarkers = cut.findIndex((byte, i) => byte === 0xff && cut[i + 1] === 0xd9);
    expect(endMarkers, 'the cut file still holds the thumbnail\'s FF D9').to.be.greaterThan(0);
    expect(findDamage(cut, 'jpeg')).to.match(/end/);
  });

  it('says what is wrong', async () => {
    const png = await bytesOf(SAMPLE);
    expect(findDamage(png.subarray(0, png.length - 12), 'png')).to.equal('it ends before its IEND chunk');
    expect(findDamage(png.subarray(0, 100), 'png')).to.match(/^its IDAT chunk ends \d+ bytes past the end of the file$/);
    const jpeg = await bytesOf(new URL('exif-none.jpg', FIXTURES));
    expect(findDamage(jpeg.subarray(0, jpeg.length - 2), 'jpeg')).to.equal('its scan data stops without an end (EOI)');
    const bmp = await bytesOf(new URL('sneaker.bmp', FIXTURES));
    expect(findDamage(bmp.subarray(0, 1000), 'bmp')).to.match(/^its pixel data needs 235254 bytes, the file has 1000$/);
  });
});
