/**
 * The staged exact map (core/staged-plan.ts): the graph cut where the stride doubles, the stages
 * composed equal to the whole network, and the exact map that uses them equal to the reference.
 */
import { expect } from '@esm-bundle/chai';
import { loadManifest } from '../src/core/manifest.js';
import { pixelsToTensor } from '../src/core/preprocess.js';
import { linearHeadCells, planStages, type StagePlan } from '../src/core/staged-plan.js';
import { configure } from '../src/pool/config.js';
import { disposePool, getPool } from '../src/pool/pool.js';
import { createSession } from '../src/runtime/onnx.js';
import { bruteForceMap } from './reference.js';
import { shiftCropSize, stitchShift, writeShiftCrop } from '../src/core/stitch.js';
import { DEFAULT_MODEL, NARROW_MODEL, noiseImage, relativeError, SYNTHETIC_MODEL } from './helpers.js';

const SAME_PADDED_MODEL = new URL('../models/generated/same-padded/bagnet.json', import.meta.url).href;

async function modelBytes(manifestUrl: string): Promise<Uint8Array> {
  const manifest = await loadManifest(manifestUrl);
  return new Uint8Array(await (await fetch(manifest.files.fp32!.url)).arrayBuffer());
}

function planOf(bytes: Uint8Array, stride: number): StagePlan {
  const result = planStages(bytes, stride);
  if (!('plan' in result)) throw new Error(`not staged: ${result.reason}`);
  return result.plan;
}

describe('staged plan', () => {
  it('cuts a BagNet-33 where the stride doubles, and the stages composed equal the whole network', async function () {
    this.timeout(120_000);
    const manifest = await loadManifest(NARROW_MODEL);
    const bytes = await modelBytes(NARROW_MODEL);
    const plan = planOf(bytes, 8);
    expect(plan.stem).to.not.equal(null);
    expect(plan.strided).to.have.length(3);
    expect(plan.head!.classes).to.equal(manifest.labels.length);
    const image = noiseImage(70, 57, 4);
    const input = pixelsToTensor(image.data, 70, 57, manifest.input);
    const whole = await createSession(bytes, 'wasm');
    const expected = await whole.run(input, [1, 3, 57, 70]);
    await whole.release();
    let x: { data: Float32Array; dims: readonly [number, number, number, number] } = { data: input, dims: [1, 3, 57, 70] };
    for (const stage of [plan.stem!, ...plan.strided]) {
      const session = await createSession(stage, 'wasm');
      x = await session.run(x.data, x.dims);
      await session.release();
    }
    const [, , rows, cols] = x.dims;
    expect([rows, cols]).to.deep.equal(expected.dims.slice(1, 3)); // (57-33)/8+1 = 4, (70-33)/8+1 = 5
    const all = manifest.labels.map((_, k) => k);
    expect(relativeError(linearHeadCells(x, plan.head!, all), expected.data)).to.be.at.most(1e-5);
  });

  it('stages the default model (stride 2: a stem and one strided stage)', async () => {
    const plan = planOf(await modelBytes(DEFAULT_MODEL), 2);
    expect([plan.stem !== null, plan.strided.length, plan.head!.classes]).to.deep.equal([true, 1, 10]);
  });

  it('says why it will not stage a graph', async () => {
    const synthetic = planStages(await modelBytes(SYNTHETIC_MODEL), 4);
    expect(synthetic).to.have.property('reason').that.matches(/Conv has strides 4×4/);
    const narrow = await modelBytes(NARROW_MODEL);
    expect(planStages(narrow, 16)).to.have.property('reason').that.matches(/output's stride is 8/);
    expect(planStages(narrow.subarray(0, 5000), 8)).to.have.property('reason').that.matches(/unreadable graph/);
  });
});

describe('exact map, staged', () => {
  beforeEach(() => {
    disposePool();
    configure({ cache: 'bagnet-test-cache', idleReleaseMs: 10_000 });
  });
  after(() => {
    disposePool();
    configure({ maxRunPixels: undefined });
  });

  it('runs the stem once and each strided stage once per phase, and equals the reference', async function () {
    this.timeout(300_000);
    const image = noiseImage(41, 35, 8);
    const levels: { level: number; runs: number }[] = [];
    const exact = await getPool().exactEvidence(image, {
      model: NARROW_MODEL, backend: 'wasm', classes: [2, 0], onLevel: (l) => levels.push({ level: l.level, runs: l.runs }),
    });
    expect(exact.method).to.equal('staged');
    // stem 1, stage 1: 4, stage 2: 16, stage 3: 64 (the plain method: 64 runs of the whole network).
    expect(exact.runs).to.equal(1 + 4 + 16 + 64);
    expect(levels).to.deep.equal([{ level: 8, runs: 4 }, { level: 4, runs: 7 }, { level: 2, runs: 22 }, { level: 1, runs: 85 }]);
    const reference = await bruteForceMap(await loadManifest(NARROW_MODEL), image, [2, 0]);
    expect(relativeError(exact.data, reference)).to.be.at.most(1e-4);
  });

  it('does not share layers the probe finds different (a padded layer the plan cannot see)', async function () {
    this.timeout(60_000);
    const bytes = await modelBytes(SAME_PADDED_MODEL);
    expect(planStages(bytes, 4)).to.have.property('plan'); // auto_pad is not in the plan's view…
    const manifest = await loadManifest(SAME_PADDED_MODEL);
    const image = noiseImage(23, 19, 6);
    const exact = await getPool().exactEvidence(image, { model: SAME_PADDED_MODEL, backend: 'wasm', classes: [0, 2] });
    expect(exact.method).to.equal('shifts'); // …but the worker's probe is
    // Shift by shift, here: the whole network on each shifted crop of the padded image.
    const geometry = { channels: 3, height: 19, width: 23, patchSize: 7, stride: 4 };
    const crop = shiftCropSize(geometry);
    const session = await createSession(bytes, 'wasm');
    const expected = new Float32Array(19 * 23 * 2);
    const tensor = pixelsToTensor(image.data, 23, 19, manifest.input);
    for (let dy = 0; dy < 4; dy++) {
      for (let dx = 0; dx < 4; dx++) {
        const input = new Float32Array(3 * crop.height * crop.width);
        writeShiftCrop(tensor, geometry, dy, dx, input);
        const out = await session.run(input, [1, 3, crop.height, crop.width]);
        stitchShift(expected, geometry, dy, dx, out.data, out.dims[1], out.dims[2], out.dims[3], [0, 2]);
      }
    }
    await session.release();
    expect(relativeError(exact.data, expected)).to.be.at.most(1e-5);
  });

  it('starts over shift by shift when a stage fails mid-way, and forgets the stages', async function () {
    this.timeout(120_000);
    disposePool();
    configure({ testHooks: true });
    const image = noiseImage(37, 34, 2);
    await getPool().exactEvidence(noiseImage(33, 33, 1), { model: NARROW_MODEL, backend: 'wasm', classes: [0] }); // stages made
    await getPool().testHook('fail-next-stage-run');
    const levels: number[] = [];
    const exact = await getPool().exactEvidence(image, { model: NARROW_MODEL, backend: 'wasm', classes: [3], onLevel: (l) => levels.push(l.level) });
    expect(exact.method).to.equal('shifts');
    expect(levels).to.deep.equal([8, 4, 2, 1]); // the failed stage run was the first: nothing sent before it
    expect(relativeError(exact.data, await bruteForceMap(await loadManifest(NARROW_MODEL), image, [3]))).to.be.at.most(1e-4);
    expect((await getPool().exactEvidence(image, { model: NARROW_MODEL, backend: 'wasm', classes: [3] })).method).to.equal('shifts');
    configure({ testHooks: false });
  });

  it('runs the whole network per shift when configured not to share stages, with the same map', async function () {
    this.timeout(120_000);
    const image = noiseImage(35, 38, 9);
    const staged = await getPool().exactEvidence(image, { model: NARROW_MODEL, backend: 'wasm', classes: [4] });
    disposePool();
    configure({ exactStages: false });
    const shifts = await getPool().exactEvidence(image, { model: NARROW_MODEL, backend: 'wasm', classes: [4] });
    configure({ exactStages: undefined });
    expect([staged.method, shifts.method]).to.deep.equal(['staged', 'shifts']);
    expect(relativeError(staged.data, shifts.data)).to.be.at.most(1e-5);
  });

  it('falls back to batched shifts when the padded image is larger than one run may be', async () => {
    configure({ maxRunPixels: 4500 }); // the padded 36×40 image is 68×72 = 4896 pixels; a 65×65 shift crop fits
    const image = noiseImage(36, 40, 3);
    const exact = await getPool().exactEvidence(image, { model: NARROW_MODEL, backend: 'wasm', classes: [1] });
    expect(exact.method).to.equal('shifts');
    expect(exact.runs).to.be.below(64);
    expect([exact.height, exact.width]).to.deep.equal([40, 36]);
    expect(relativeError(exact.data, await bruteForceMap(await loadManifest(NARROW_MODEL), image, [1]))).to.be.at.most(1e-4);
  });
});
