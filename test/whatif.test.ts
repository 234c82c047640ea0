/**
 * What-if, exactly. Bag ablation, the removal curve, contrast and the edit geometry against direct
 * computations; `rescore()` and the exact map after an edit against `classify()` / `exactMap()` of
 * the edited image itself, with the recomputed cells counted against the definition (cell (r, c)
 * sees the q×q window at (s·c + o, s·r + o)).
 */
import { expect } from '@esm-bundle/chai';
import fc from 'fast-check';
import { cellBox, type PixelBox } from '../src/core/geometry.js';
import { configure } from '../src/pool/config.js';
import { classify, disposePool, getPool, type RescoredResult } from '../src/pool/pool.js';
import type { BackendPreference } from '../src/core/protocol.js';
import type { ClassificationResult } from '../src/core/result.js';
import { editPlan, exactEditPlan, makeEdit, meanColour, type EditFill, type PixelEdit } from '../src/core/edits.js';
import { ablate, contrastCells, removalCurve } from '../src/core/whatif.js';
import { DEFAULT_MODEL, imageDataOf, loadSamples, NARROW_MODEL, noiseImage, relativeError } from './helpers.js';

/** A random `[rows, cols, classes]` map (mulberry32 through noiseImage's bytes). */
function randomGrid(rows: number, cols: number, classes: number, seed: number) {
  const bytes = noiseImage(rows * cols * classes, 1, seed).data;
  const data = new Float32Array(rows * cols * classes);
  for (let i = 0; i < data.length; i++) data[i] = (bytes[4 * i]! - 128) / 16 + bytes[4 * i + 1]! / 1024;
  return { rows, cols, classes, data };
}

/** The mean over `cells` of every class, the slow way. */
function meanOver(grid: ReturnType<typeof randomGrid>, cells: number[]): number[] {
  return Array.from({ length: grid.classes }, (_, k) => cells.reduce((sum, cell) => sum + grid.data[cell * grid.classes + k]!, 0) / cells.length);
}

const meets = (a: PixelBox, b: PixelBox) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

describe('what-if maths', () => {
  it('ablate: removing or keeping cells is the mean over the cells left, for any selection', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 5 }),
      fc.integer(), fc.array(fc.nat(), { maxLength: 40 }), (rows, cols, classes, seed, picks) => {
        const grid = randomGrid(rows, cols, classes, seed);
        const n = rows * cols;
        const selected = [...new Set(picks.map((p) => p % n))];
        const rest = Array.from({ length: n }, (_, i) => i).filter((i) => !selected.includes(i));
        const full = meanOver(grid, Array.from({ length: n }, (_, i) => i));
        for (const [mode, bag] of [['remove', rest], ['keep', selected]] as const) {
          if (bag.length === 0) {
            expect(() => ablate(grid, selected, mode)).to.throw(RangeError, /empty bag/);
            continue;
          }
          const result = ablate(grid, [...selected, ...selected], mode); // duplicates count once
          const expected = meanOver(grid, bag);
          expect(result.bagSize).to.equal(bag.length);
          expected.forEach((v, k) => {
            expect(result.logits[k]).to.be.closeTo(v, 1e-9);
            expect(result.delta[k]).to.be.closeTo(v - full[k]!, 1e-9);
          });
          const top = expected.indexOf(Math.max(...expected));
          const fullTop = full.indexOf(Math.max(...full));
          expect([result.top, result.fullTop, result.flipped]).to.deep.equal([top, fullTop, top !== fullTop]);
          expect(result.probabilities.reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-12);
        }
      }), { seed: 18, numRuns: 200 });
  });

  it('ablate refuses cells that are not the map\'s, and an empty bag, with a clear message', () => {
    const grid = randomGrid(2, 3, 4, 1);
    expect(() => ablate(grid, [6], 'remove')).to.throw(RangeError, /cell 6 is not one of the map's 2×3 cells/);
    expect(() => ablate(grid, [1.5], 'keep')).to.throw(RangeError);
    expect(() => ablate(grid, [], 'keep')).to.throw(RangeError, /Keeping no patch/);
    expect(() => ablate(grid, [0, 1, 2, 3, 4, 5], 'remove')).to.throw(RangeError, /Removing all 6 patches/);
    expect(ablate(grid, [], 'remove').flipped).to.equal(false);
  });

  it('the removal curve removes the most informative patches first and equals ablate() at every k', () => {
    const grid = randomGrid(5, 4, 7, 3);
    const curve = removalCurve(grid, 2);
    expect(curve.probability).to.have.length(20);
    const evidence = (cell: number) => grid.data[cell * 7 + 2]!;
    for (let k = 1; k < 20; k++) expect(evidence(curve.order[k - 1]!)).to.be.at.least(evidence(curve.order[k]!));
    for (let k = 0; k < 20; k++) {
      const direct = ablate(grid, Array.from(curve.order.subarray(0, k)), 'remove');
      expect(curve.probability[k]).to.be.closeTo(direct.probabilities[2]!, 1e-12);
      expect(curve.top[k]).to.equal(direct.top);
    }
    const flip = Array.from(curve.top).findIndex((t) => t !== curve.top[0]);
    expect(curve.flipsAt).to.equal(flip < 0 ? null : flip);
    expect(() => removalCurve(grid, 7)).to.throw(RangeError);
  });

  it('the contrast map\'s mean is the logit margin', () => {
    const grid = randomGrid(6, 6, 5, 9);
    const contrast = contrastCells(grid, 1, 4);
    const all = Array.from({ length: 36 }, (_, i) => i);
    const [l1, l4] = [meanOver(grid, all)[1]!, meanOver(grid, all)[4]!];
    expect(contrast.reduce((a, b) => a + b, 0) / 36).to.be.closeTo(l1 - l4, 1e-5);
  });

  it('editPlan: the cells are exactly those whose window meets the edit, and the crop holds their windows on the stride grid', () => {
    fc.assert(fc.property(fc.constantFrom([9, 4], [13, 2], [17, 8], [33, 8]), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 40 }),
      fc.integer({ min: 0, max: 70 }), fc.integer({ min: 0, max: 70 }), fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 50 }),
      ([q, s], extraW, extraH, x, y, w, h) => {
        const geometry = { patchSize: q!, stride: s!, offset: 0 };
        const image = { width: q! + extraW, height: q! + extraH };
        const grid = { rows: Math.floor((image.height - q!) / s!) + 1, cols: Math.floor((image.width - q!) / s!) + 1 };
        const edit = { x: x % image.width, y: y % image.height, width: w, height: h };
        const inside = { ...edit, width: Math.min(w, image.width - edit.x), height: Math.min(h, image.height - edit.y) };
        const hit: number[] = [];
        for (let r = 0; r < grid.rows; r++) for (let c = 0; c < grid.cols; c++) if (meets(cellBox(r, c, geometry), inside)) hit.push(r * grid.cols + c);
        const plan = editPlan(edit, grid, geometry, image);
        if (hit.length === 0) {
          expect(plan).to.equal(null);
          return;
        }
        const { cells, crop } = plan!;
        const planned: number[] = [];
        for (let r = cells.row; r < cells.row + cells.rows; r++) for (let c = cells.col; c < cells.col + cells.cols; c++) planned.push(r * grid.cols + c);
        expect(planned).to.deep.equal(hit);
        expect([crop.x % s!, crop.y % s!]).to.deep.equal([0, 0]);
        expect([crop.x, crop.y]).to.deep.equal([s! * cells.col, s! * cells.row]);
        expect(crop.x + crop.width).to.be.at.most(image.width);
        // The crop's own grid has the cells (and a whole window for its last one).
        expect(Math.floor((crop.width - q!) / s!) + 1).to.be.at.least(cells.cols);
        expect(Math.floor((crop.height - q!) / s!) + 1).to.be.at.least(cells.rows);
      }), { seed: 18, numRuns: 400 });
  });

  it('makeEdit fills with a colour, the mean, a blur or another image, only where a mask paints', () => {
    const image = noiseImage(10, 8, 4);
    const box = { x: 2, y: 3, width: 4, height: 2 };
    const at = (edit: PixelEdit, x: number, y: number) => Array.from(edit.data.subarray(((y - box.y) * box.width + x - box.x) * 4, ((y - box.y) * box.width + x - box.x) * 4 + 4));
    const pixel = (img: ImageData, x: number, y: number) => Array.from(img.data.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 4));
    expect(at(makeEdit(image, box, { kind: 'color', rgb: [1, 2, 3] }), 3, 4)).to.deep.equal([1, 2, 3, 255]);
    expect(at(makeEdit(image, box, { kind: 'mean' }), 5, 3)).to.deep.equal([...meanColour(image), 255]);
    const other = noiseImage(10, 8, 5);
    expect(at(makeEdit(image, box, { kind: 'image', pixels: other }), 4, 4)).to.deep.equal(pixel(other, 4, 4));
    const blurred = at(makeEdit(image, box, { kind: 'blur', radius: 1 }), 2, 3);
    for (let c = 0; c < 3; c++) {
      let sum = 0;
      for (let y = 2; y <= 4; y++) for (let x = 1; x <= 3; x++) sum += pixel(image, x, y)[c]!;
      expect(blurred[c]).to.equal(Math.round(sum / 9));
    }
    const masked = makeEdit(image, box, { kind: 'color', rgb: [0, 0, 0] }, [1, 0, 0, 0, 0, 0, 0, 1]);
    expect(at(masked, 2, 3)).to.deep.equal([0, 0, 0, 255]);
    expect(at(masked, 3, 3)).to.deep.equal(pixel(image, 3, 3));
    expect(() => makeEdit(image, { x: 20, y: 0, width: 2, height: 2 }, { kind: 'mean' })).to.throw(RangeError, /outside/);
  });
});

/** The edited image, built here independently of the library: the base input with the edit's pixels written in. */
function applied(base: ClassificationResult, edit: PixelEdit): ImageData {
  const { width, height } = base.input.plan;
  const data = new Uint8ClampedArray(base.input.pixels.data);
  for (let y = 0; y < edit.height; y++) {
    for (let x = 0; x < edit.width * 4; x++) data[((edit.y + y) * width + edit.x) * 4 + x] = edit.data[y * edit.width * 4 + x]!;
  }
  return new ImageData(data, width, height);
}

/** Cells whose window meets `box` (the definition), as flat indices. */
function cellsMeeting(result: ClassificationResult, box: PixelBox): number[] {
  const { rows, cols } = result.evidence;
  const out: number[] = [];
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) if (meets(cellBox(r, c, result.evidence), box)) out.push(r * cols + c);
  return out;
}

/** The re-scored result equals classify() of the edited image; exactly the cells that see the edit were recomputed. */
async function expectExactRescore(base: ClassificationResult, box: PixelBox, fill: EditFill, backend: BackendPreference): Promise<RescoredResult> {
  const edit = makeEdit(base.input.pixels, box, fill);
  const rescored = await getPool().rescore(base, edit);
  const reference = await classify(applied(base, edit), { model: base.model.url, backend });
  expect(relativeError(rescored.evidence.data, reference.evidence.data), `patch map after ${JSON.stringify(box)}`).to.be.at.most(1e-4);
  expect(relativeError(rescored.logits, reference.logits)).to.be.at.most(1e-4);
  expect(rescored.topk.map((t) => t.index)).to.deep.equal(reference.topk.map((t) => t.index));
  expect(Array.from(rescored.input.pixels.data)).to.deep.equal(Array.from(reference.input.pixels.data));
  const expected = cellsMeeting(base, box);
  expect(rescored.rescored.recomputed, `cells recomputed for ${JSON.stringify(box)}`).to.equal(expected.length);
  const { cols, classes } = base.evidence;
  const block = rescored.rescored.cells;
  const inBlock = (cell: number) => !!block && Math.floor(cell / cols) >= block.row && Math.floor(cell / cols) < block.row + block.rows
    && cell % cols >= block.col && cell % cols < block.col + block.cols;
  expect(Array.from({ length: base.evidence.rows * cols }, (_, i) => i).filter(inBlock)).to.deep.equal(expected);
  // Every other cell is the previous one, untouched.
  for (let cell = 0; cell < base.evidence.rows * cols; cell++) {
    if (inBlock(cell)) continue;
    for (let k = 0; k < classes; k++) expect(rescored.evidence.data[cell * classes + k]).to.equal(base.evidence.data[cell * classes + k]);
  }
  return rescored;
}

for (const backend of ['wasm', 'webgpu'] as const) {
  describe(`what-if re-scoring on ${backend}`, () => {
    beforeEach(() => {
      disposePool();
      configure({ cache: 'bagnet-test-cache', idleReleaseMs: 10_000 });
    });
    after(() => disposePool());

    it(`rescore() equals classify() of the edited image for the default model: border, stride boundaries, off-grid, one pixel, whole image (${backend})`, async function () {
      this.timeout(180_000);
      const [sample] = await loadSamples();
      const base = await classify(await imageDataOf(sample!.url), { model: DEFAULT_MODEL, backend });
      const other = noiseImage(28, 28, 7);
      const edits: [PixelBox, EditFill][] = [
        [{ x: 0, y: 0, width: 3, height: 2 }, { kind: 'color', rgb: [0, 0, 0] }], // the border
        [{ x: 9, y: 10, width: 6, height: 5 }, { kind: 'mean' }], // across stride boundaries
        [{ x: 5, y: 7, width: 3, height: 3 }, { kind: 'image', pixels: other }], // off the stride grid
        [{ x: 14, y: 20, width: 1, height: 1 }, { kind: 'color', rgb: [255, 255, 255] }], // one pixel
        [{ x: 27, y: 27, width: 1, height: 1 }, { kind: 'color', rgb: [255, 255, 255] }], // a pixel no cell sees
        [{ x: 0, y: 0, width: 28, height: 28 }, { kind: 'blur', radius: 2 }], // the whole image
      ];
      for (const [box, fill] of edits) {
        const rescored = await expectExactRescore(base, box, fill, backend);
        expect(rescored.rescored.sent).to.equal(box.x === 27 ? 'nothing' : 'reference');
        expect(rescored.backend).to.equal(backend);
      }
      // A chain: an edit of an edited result.
      const first = await expectExactRescore(base, { x: 3, y: 3, width: 8, height: 8 }, { kind: 'color', rgb: [0, 0, 0] }, backend);
      await expectExactRescore(first, { x: 15, y: 1, width: 4, height: 20 }, { kind: 'mean' }, backend);
    });

    it(`rescore() equals classify() of the edited image for the narrow BagNet-33, and sends only the crop when the worker let the image go (${backend})`, async function () {
      this.timeout(300_000);
      const base = await classify(noiseImage(80, 72, 3), { model: NARROW_MODEL, backend });
      expect([base.evidence.rows, base.evidence.cols]).to.deep.equal([5, 6]); // (72 − 33) / 8 + 1, (80 − 33) / 8 + 1
      for (const box of [
        { x: 0, y: 0, width: 33, height: 33 }, { x: 47, y: 39, width: 33, height: 33 }, // the corners' patches
        { x: 15, y: 17, width: 10, height: 9 }, // across stride boundaries, off the grid
        { x: 40, y: 8, width: 1, height: 1 },
        { x: 0, y: 0, width: 80, height: 72 },
      ]) {
        await expectExactRescore(base, box, { kind: 'color', rgb: [124, 116, 104] }, backend);
      }
      getPool().terminateWorker(); // the next worker has no image: the page sends the crop
      const rescored = await expectExactRescore(base, { x: 20, y: 30, width: 12, height: 5 }, { kind: 'mean' }, backend);
      expect(rescored.rescored.sent).to.equal('crop');
      expect(rescored.rescored.crop!.width * rescored.rescored.crop!.height).to.be.below(80 * 72);
    });
  });
}

describe('what-if: the exact map after an edit', () => {
  beforeEach(() => {
    disposePool();
    configure({ cache: 'bagnet-test-cache', idleReleaseMs: 10_000 });
  });
  after(() => disposePool());

  for (const [name, model, image, box] of [
    ['the default model', DEFAULT_MODEL, null, { x: 11, y: 3, width: 5, height: 7 }],
    ['the narrow BagNet-33', NARROW_MODEL, noiseImage(64, 56, 5), { x: 50, y: 20, width: 9, height: 13 }],
  ] as const) {
    it(`is computed on the changed pixels only and equals the edited image's own exact map (${name})`, async function () {
      this.timeout(300_000);
      const input = image ?? await imageDataOf((await loadSamples())[0]!.url);
      const base = await classify(input, { model, backend: 'wasm' });
      const classes = [base.topk[0]!.index, base.topk[1]!.index];
      const before = await getPool().exactMap(base, { classes });
      expect(before.backend, 'a result\'s map runs on its classification\'s backend').to.equal('wasm');
      const edit = makeEdit(base.input.pixels, box, { kind: 'color', rgb: [0, 0, 0] });
      const rescored = await getPool().rescore(base, edit);
      const after = await getPool().exactMap(rescored, { classes, from: before });
      const reference = await getPool().exactMap(applied(base, edit), { model, backend: 'wasm', classes });
      expect(relativeError(after.data, reference.data)).to.be.at.most(1e-4);
      // The pixels whose centred patch meets the edit, and no other, were computed.
      const half = (base.evidence.patchSize - 1) / 2;
      const { width, height } = base.input.plan;
      const x0 = Math.max(0, box.x - half);
      const y0 = Math.max(0, box.y - half);
      expect(after.recomputed).to.deep.equal({
        x: x0, y: y0, width: Math.min(width, box.x + box.width + half) - x0, height: Math.min(height, box.y + box.height + half) - y0,
      });
      expect(exactEditPlan(box, base.evidence.patchSize, { width, height })!.pixels).to.deep.equal(after.recomputed);
      expect(after.runs).to.be.at.most(reference.runs);
      // Once more after the worker let the image go: the page sends the crop, same map.
      getPool().terminateWorker();
      const again = await getPool().exactMap(rescored, { classes, from: before });
      expect(relativeError(again.data, reference.data)).to.be.at.most(1e-4);
      // A map of another result is not used as `from`: the whole map is computed.
      const whole = await getPool().exactMap(rescored, { classes, from: reference });
      expect(whole.recomputed).to.equal(undefined);
      expect(relativeError(whole.data, reference.data)).to.be.at.most(1e-4);
    });
  }

  it('an edited result of a resizing model: its exact map, sent again after a worker restart, is of the edited model input as it is', async function () {
    this.timeout(300_000);
    // The narrow BagNet-33 under a shorter-side + centre-crop manifest (ImageNet-style; bagnet_tools.fixtures).
    const model = NARROW_MODEL.replace('bagnet.json', 'shorter-side.json');
    const base = await classify(noiseImage(80, 72, 9), { model, backend: 'wasm' });
    expect([base.input.plan.width, base.input.plan.height]).to.deep.equal([64, 64]);
    const edit = makeEdit(base.input.pixels, { x: 20, y: 25, width: 10, height: 6 }, { kind: 'mean' });
    const rescored = await getPool().rescore(base, edit);
    // The reference: the same network on the edited 64×64 model input, with no resizing (its own manifest).
    const edited = applied(base, edit);
    const reference = await classify(edited, { model: NARROW_MODEL, backend: 'wasm' });
    expect(relativeError(rescored.evidence.data, reference.evidence.data)).to.be.at.most(1e-4);
    const classes = [rescored.topk[0]!.index];
    getPool().terminateWorker(); // the worker no longer has the edited image: the page sends it as it is
    const map = await getPool().exactMap(rescored, { classes });
    const expected = await getPool().exactMap(edited, { model: NARROW_MODEL, backend: 'wasm', classes });
    expect([map.width, map.height]).to.deep.equal([64, 64]);
    expect(relativeError(map.data, expected.data)).to.be.at.most(1e-4);
  });

  it('bad edits get a typed error and the pool goes on', async function () {
    this.timeout(60_000);
    const base = await classify(noiseImage(28, 28, 1), { model: DEFAULT_MODEL, backend: 'wasm' });
    const bad = [
      { x: 20, y: 20, width: 10, height: 2, data: new Uint8ClampedArray(80) },
      { x: 1.5, y: 0, width: 2, height: 2, data: new Uint8ClampedArray(16) },
      { x: 0, y: 0, width: 2, height: 2, data: new Uint8ClampedArray(3) },
    ];
    for (const edit of bad) {
      const error = await getPool().rescore(base, edit).then(() => null, (e: unknown) => e);
      expect(error, JSON.stringify({ ...edit, data: edit.data.length })).to.have.property('type', 'image-invalid');
    }
    const foreign = { ...base };
    expect(await getPool().rescore(foreign, makeEdit(base.input.pixels, { x: 0, y: 0, width: 2, height: 2 }, { kind: 'mean' }))
      .then(() => null, (e: unknown) => e)).to.have.property('message').that.matches(/not made by classify\(\)/);
    const fine = await getPool().rescore(base, makeEdit(base.input.pixels, { x: 0, y: 0, width: 2, height: 2 }, { kind: 'mean' }));
    expect(fine.rescored.recomputed).to.equal(1);
  });
});
