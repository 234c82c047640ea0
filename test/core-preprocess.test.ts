import { expect } from '@esm-bundle/chai';
import type { ManifestInput } from '../src/core/manifest.js';
import { pixelsToTensor, resizePlan } from '../src/core/preprocess.js';
import { cellBox, gridSize } from '../src/core/geometry.js';

describe('resize plans', () => {
  it('matches torchvision Resize(256) + CenterCrop(224) (sizes printed by torchvision 0.14)', () => {
    // [width, height] -> [scaledWidth, scaledHeight, cropX, cropY], computed with torchvision itself.
    const expected: Array<[number, number, number, number, number, number]> = [
      [500, 375, 341, 256, 58, 16],
      [375, 500, 256, 341, 16, 58],
      [640, 480, 341, 256, 58, 16],
      [300, 300, 256, 256, 16, 16],
      [1000, 257, 996, 256, 386, 16],
      [257, 1000, 256, 996, 16, 386],
      [333, 500, 256, 384, 16, 80],
    ];
    for (const [w, h, sw, sh, cx, cy] of expected) {
      const plan = resizePlan(w, h, { mode: 'shorter-side', size: 256, crop: 224 });
      expect([plan.scaledWidth, plan.scaledHeight, plan.cropX, plan.cropY, plan.width, plan.height], `${w}×${h}`)
        .to.deep.equal([sw, sh, cx, cy, 224, 224]);
    }
  });

  it('handles none and stretch, and rejects empty images', () => {
    expect(resizePlan(90, 40, { mode: 'none' })).to.deep.equal({ scaledWidth: 90, scaledHeight: 40, cropX: 0, cropY: 0, width: 90, height: 40 });
    expect(resizePlan(90, 40, { mode: 'stretch', width: 28, height: 28 }).width).to.equal(28);
    expect(() => resizePlan(0, 10, { mode: 'none' })).to.throw(RangeError);
  });
});

describe('pixels to tensor', () => {
  const rgba = new Uint8ClampedArray([
    255, 0, 0, 255, /**/ 0, 128, 0, 255,
    10, 10, 10, 255, /**/ 0, 0, 255, 0,
  ]);

  it('normalises RGB planes channel by channel', () => {
    const input: ManifestInput = { channels: 3, mean: [0.5, 0.25, 0], std: [0.5, 0.25, 2], resize: { mode: 'none' }, background: [255, 255, 255] };
    const t = pixelsToTensor(rgba, 2, 2, input);
    // Plane R, then G, then B; each value (p/255 - mean)/std written out by hand.
    const r = [255, 0, 10, 0].map((p) => (p / 255 - 0.5) / 0.5);
    const g = [0, 128, 10, 0].map((p) => (p / 255 - 0.25) / 0.25);
    const b = [0, 0, 10, 255].map((p) => p / 255 / 2);
    Array.from(t).forEach((v, i) => expect(v).to.be.closeTo([...r, ...g, ...b][i]!, 1e-6));
  });

  it('uses BT.601 luma for one channel, exactly the gray value for gray pixels', () => {
    const input: ManifestInput = { channels: 1, mean: [0], std: [1], resize: { mode: 'none' }, background: [255, 255, 255] };
    const t = pixelsToTensor(rgba, 2, 2, input);
    expect(t[0]).to.be.closeTo((0.299 * 255) / 255, 1e-6);
    expect(t[1]).to.be.closeTo((0.587 * 128) / 255, 1e-6);
    expect(t[2]).to.equal(Math.fround(10 / 255));
    expect(() => pixelsToTensor(rgba, 3, 2, input)).to.throw(RangeError);
  });
});

describe('patch geometry', () => {
  it('counts cells where a whole patch fits and maps cells to pixel boxes', () => {
    const geometry = { patchSize: 33, stride: 8, offset: 0 };
    expect(gridSize(224, 224, geometry)).to.deep.equal({ rows: 24, cols: 24 });
    expect(gridSize(200, 300, geometry)).to.deep.equal({ rows: 21, cols: 34 });
    expect(gridSize(32, 300, geometry)).to.deep.equal({ rows: 0, cols: 34 });
    expect(cellBox(2, 5, geometry)).to.deep.equal({ x: 40, y: 16, width: 33, height: 33 });
  });
});
