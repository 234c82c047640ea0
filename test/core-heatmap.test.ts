import { expect } from '@esm-bundle/chai';
import { colormapLut, COLORMAPS } from '../src/core/colormap.js';
import { absPercentile, applyThreshold, cellDrawBox, classMap, colorize, edgeMap, evidenceScale, filterSign } from '../src/core/heatmap.js';
import { cellAt, patchAround } from '../src/core/geometry.js';
import { batchSizes, cropPhase, levelView, shiftCropSize, shiftLevels, stitchShift, writeShiftCrop, type ShiftGeometry } from '../src/core/stitch.js';

describe('heatmap maths', () => {
  it('extracts one class of a [rows, cols, classes] map', () => {
    const evidence = { rows: 1, cols: 2, classes: 3, data: new Float32Array([1, 2, 3, 4, 5, 6]) };
    expect(Array.from(classMap(evidence, 1))).to.deep.equal([2, 5]);
    expect(() => classMap(evidence, 3)).to.throw(RangeError);
  });

  it('percentiles interpolate like numpy (np.percentile(np.abs(x), p))', () => {
    // np.percentile([1, 2, 3, 4], 99) == 3.97, np.percentile(abs([-5, 1, 2]), 50) == 2
    expect(absPercentile([1, -2, 3, 4], 99)).to.be.closeTo(3.97, 1e-12);
    expect(absPercentile([-5, 1, 2], 50)).to.equal(2);
    expect(evidenceScale([0, 0, 0])).to.equal(1);
    expect(evidenceScale([1, 2, 3], { scale: 10 })).to.equal(10);
  });

  it('filters by sign and thresholds (clip and binary)', () => {
    expect(Array.from(filterSign([-2, 1, 0, 3], 'positive'))).to.deep.equal([0, 1, 0, 3]);
    expect(Array.from(filterSign([-2, 1, 0, 3], 'negative'))).to.deep.equal([-2, 0, 0, 0]);
    expect(Array.from(applyThreshold([-2, 0.5, 1, -0.2], 1, 'clip'))).to.deep.equal([-2, 0, 1, 0]);
    expect(Array.from(applyThreshold([-2, 0.5, 1, -0.2], 1, 'binary'))).to.deep.equal([-1, 0, 1, 0]);
  });

  it('colours a diverging map with white at zero, blue below and red above', () => {
    const rgba = colorize([-1, 0, 1], { scale: 1, colormap: 'rdbu', opacity: 1, alpha: 'uniform' });
    expect(Array.from(rgba.slice(0, 4))).to.deep.equal([5, 48, 97, 255]); // #053061
    expect(Array.from(rgba.slice(4, 8))).to.deep.equal([247, 247, 247, 255]); // #f7f7f7
    expect(Array.from(rgba.slice(8, 12))).to.deep.equal([103, 0, 31, 255]); // #67001f
    const faded = colorize([0, 0.5, -1], { scale: 1, colormap: 'rdbu', opacity: 0.8, alpha: 'magnitude' });
    expect([faded[3], faded[7], faded[11]]).to.deep.equal([0, 102, 204]);
    for (const name of COLORMAPS) expect(colormapLut(name)).to.have.length(765);
  });

  it('finds edges where the image changes', () => {
    // A 6×6 image: left half black, right half white → edges only in the middle columns.
    const rgba = new Uint8ClampedArray(6 * 6 * 4);
    for (let i = 0; i < 36; i++) rgba.fill(i % 6 >= 3 ? 255 : 0, i * 4, i * 4 + 3);
    const edges = edgeMap(rgba, 6, 6);
    expect(edges[2 * 6 + 0]).to.equal(0);
    expect(edges[2 * 6 + 2]).to.equal(1);
    expect(edges[2 * 6 + 3]).to.equal(1);
    expect(edges[2 * 6 + 5]).to.equal(0);
  });

  it('draws a cell as a stride-sized block from its patch centre, and finds it again', () => {
    expect(cellDrawBox(0, 0, { patchSize: 13, stride: 2, offset: 0 })).to.deep.equal({ x: 6, y: 6, width: 2, height: 2 });
    expect(cellDrawBox(1, 2, { patchSize: 33, stride: 8, offset: 0 })).to.deep.equal({ x: 32, y: 24, width: 8, height: 8 });
    const g = { patchSize: 33, stride: 8, offset: 0 };
    expect(cellAt(39, 31, g, { rows: 24, cols: 24 })).to.deep.equal({ row: 1, col: 2 });
    expect(cellAt(15, 40, g, { rows: 24, cols: 24 })).to.equal(null);
    expect(patchAround(20, 3, 13)).to.deep.equal({ x: 14, y: -3, width: 13, height: 13 });
  });
});

describe('shift-and-stitch', () => {
  it('orders shifts coarse to fine, each once', () => {
    const levels = shiftLevels(8);
    expect(levels.map((l) => [l.level, l.shifts.length])).to.deep.equal([[8, 1], [4, 3], [2, 12], [1, 48]]);
    expect(levels[1]!.shifts).to.deep.equal([[0, 4], [4, 0], [4, 4]]);
    expect(() => shiftLevels(3)).to.throw(RangeError);
  });

  it('equals a brute-force patch-by-patch computation for a linear patch model', () => {
    // A "BagNet" whose patch logit is a fixed q×q filter: stride-s valid correlation. Its exact map
    // is that filter centred on every pixel of the zero-padded image, computed directly below.
    const g: ShiftGeometry = { channels: 2, height: 11, width: 9, patchSize: 5, stride: 4 };
    const q = g.patchSize;
    const p = 2;
    const image = Float32Array.from({ length: g.channels * g.height * g.width }, (_, i) => Math.sin(i * 1.7) + (i % 5));
    const weights = Float32Array.from({ length: g.channels * q * q }, (_, i) => Math.cos(i * 0.9));
    const patchLogit = (source: Float32Array, h: number, w: number, top: number, left: number) => {
      let sum = 0;
      for (let c = 0; c < g.channels; c++) {
        for (let y = 0; y < q; y++) {
          for (let x = 0; x < q; x++) sum += weights[(c * q + y) * q + x]! * source[(c * h + top + y) * w + left + x]!;
        }
      }
      return sum;
    };
    const network = (crop: Float32Array, h: number, w: number) => {
      const rows = Math.floor((h - q) / g.stride) + 1;
      const cols = Math.floor((w - q) / g.stride) + 1;
      const out = new Float32Array(rows * cols);
      for (let u = 0; u < rows; u++) for (let v = 0; v < cols; v++) out[u * cols + v] = patchLogit(crop, h, w, g.stride * u, g.stride * v);
      return { out, rows, cols };
    };
    const { height: ch, width: cw } = shiftCropSize(g);
    expect([ch, cw]).to.deep.equal([13, 13]); // 4·⌊10/4⌋+5, 4·⌊8/4⌋+5
    const dense = new Float32Array(g.height * g.width).fill(Number.NaN);
    const crop = new Float32Array(g.channels * ch * cw);
    for (const { shifts } of shiftLevels(g.stride)) {
      for (const [dy, dx] of shifts) {
        writeShiftCrop(image, g, dy, dx, crop);
        const { out, rows, cols } = network(crop, ch, cw);
        stitchShift(dense, g, dy, dx, out, rows, cols, 1, [0]);
      }
    }
    // Brute force: pad with p zeros and evaluate the patch centred on every pixel.
    const ph = g.height + 2 * p;
    const pw = g.width + 2 * p;
    const padded = new Float32Array(g.channels * ph * pw);
    for (let c = 0; c < g.channels; c++) {
      for (let y = 0; y < g.height; y++) {
        for (let x = 0; x < g.width; x++) padded[(c * ph + y + p) * pw + x + p] = image[(c * g.height + y) * g.width + x]!;
      }
    }
    for (let y = 0; y < g.height; y++) {
      for (let x = 0; x < g.width; x++) expect(dense[y * g.width + x]).to.be.closeTo(patchLogit(padded, ph, pw, y, x), 1e-4);
    }
    // A coarse level shows the known samples in blocks.
    const view = levelView(dense, g.width, g.height, 1, 0, 4);
    expect(view[5 * g.width + 6]).to.equal(dense[4 * g.width + 4]);
  });
});

describe('exact-map stages', () => {
  it('plans batches in multiples of the threads, each at most the limit, all inputs once', () => {
    expect(batchSizes(3, 4, 2)).to.deep.equal([2, 1]); // not 3: one of the 2 threads would idle a third of the run
    expect(batchSizes(12, 4, 2)).to.deep.equal([4, 4, 4]);
    expect(batchSizes(1, 4, 2)).to.deep.equal([1]);
    expect(batchSizes(7, 3, 2)).to.deep.equal([2, 2, 2, 1]); // a limit that is not a multiple rounds down
    expect(batchSizes(13, 16, 1)).to.deep.equal([13]);
    expect(batchSizes(3, 16, 4)).to.deep.equal([3]); // fewer than the threads: one run
    expect(batchSizes(0, 4, 2)).to.deep.equal([]);
    for (const [count, most, threads] of [[48, 4, 2], [50, 6, 4], [5, 1, 2], [9, 16, 3]] as const) {
      const sizes = batchSizes(count, most, threads);
      expect(sizes.reduce((a, b) => a + b, 0)).to.equal(count);
      for (const size of sizes) {
        expect(size).to.be.within(1, most);
        if (size >= threads) expect(size % threads).to.equal(0);
      }
    }
  });

  it('crops a phase into a given slot of a batch', () => {
    const data = Float32Array.from({ length: 2 * 3 * 3 }, (_, i) => i);
    const batch = new Float32Array(2 * 2 * 2 * 2).fill(-1);
    cropPhase(data, [1, 2, 3, 3], 1, 0, batch.subarray(8, 16));
    expect([...batch.subarray(0, 8)]).to.deep.equal(new Array(8).fill(-1));
    expect([...batch.subarray(8)]).to.deep.equal([3, 4, 6, 7, 12, 13, 15, 16]);
  });

  it('crops a phase one row and column shorter, from row dy and column dx, channel by channel', () => {
    const [channels, height, width] = [2, 3, 4];
    const data = Float32Array.from({ length: channels * height * width }, (_, i) => i);
    for (const [dy, dx] of [[0, 0], [0, 1], [1, 0], [1, 1]] as const) {
      const { data: out, dims } = cropPhase(data, [1, channels, height, width], dy, dx);
      expect(dims).to.deep.equal([1, channels, height - 1, width - 1]);
      for (let c = 0; c < channels; c++) {
        for (let y = 0; y < height - 1; y++) {
          for (let x = 0; x < width - 1; x++) {
            expect(out[(c * (height - 1) + y) * (width - 1) + x]).to.equal(data[(c * height + y + dy) * width + x + dx]);
          }
        }
      }
    }
  });
});

describe('top patches', () => {
  it('picks the largest evidence, keeps patches apart, merges across images', async () => {
    const { topPatches, mergeTopPatches } = await import('../src/core/patches.js');
    // 3×3 cells, 1 class, patch 9, stride 4: values laid out by hand.
    const evidence = { rows: 3, cols: 3, classes: 1, stride: 4, patchSize: 9, offset: 0,
      data: new Float32Array([9, 8, 1, 7, 2, 3, 0, 6, 5]) };
    // 9 at (0,0); 8 at (0,1) and 7 at (1,0) are 4 px away (< 4.5): skipped; 6 at (2,1);
    // 5 at (2,2) is 4 px from (2,1): skipped; 3 at (1,2) is 5.7 px from (2,1): kept.
    const top = topPatches(evidence, 0, 3, { image: 2 });
    expect(top.map((p) => [p.row, p.col, p.value])).to.deep.equal([[0, 0, 9], [2, 1, 6], [1, 2, 3]]);
    expect(top[1]!.box).to.deep.equal({ x: 4, y: 8, width: 9, height: 9 });
    expect(topPatches(evidence, 0, 2, { minDistance: 0 }).map((p) => p.value)).to.deep.equal([9, 8]);
    const merged = mergeTopPatches([top, topPatches(evidence, 0, 1, { image: 0, minDistance: 0 })], 2);
    expect(merged.map((p) => [p.image, p.value])).to.deep.equal([[0, 9], [2, 9]]);
  });
});
