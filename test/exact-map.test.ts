/**
 * The exact full-resolution map equals the authors' patch-by-patch reference: every q×q patch of
 * the zero-padded normalised image run alone (computed here independently, with onnxruntime-web).
 */
import { expect } from '@esm-bundle/chai';
import { loadManifest } from '../src/core/manifest.js';
import { configure } from '../src/pool/config.js';
import { classify, disposePool, getPool, type ExactMapLevel } from '../src/pool/pool.js';
import { bruteForceMap as bruteForce } from './reference.js';
import {
  DEFAULT_MODEL, imageDataOf, loadSamples, NARROW_BAD_STAGE, NARROW_MODEL, NARROW_WHOLE, noiseImage, RANDOM_BAGNET33, relativeError, serverHits,
} from './helpers.js';

/** Session runs of the narrow BagNet-33 in the worker (whole network, tiles and stages). */
async function narrowRuns(): Promise<number> {
  const stats = await getPool().stats();
  return stats.worker?.models.find((m) => m.key.startsWith(NARROW_MODEL))?.runs ?? 0;
}

describe('exact full-resolution evidence', () => {
  beforeEach(() => {
    disposePool();
    configure({ cache: 'bagnet-test-cache', idleReleaseMs: 10_000 });
  });
  after(() => disposePool());

  it('equals the patch-by-patch reference for the default model, level by level', async function () {
    this.timeout(300_000);
    const manifest = await loadManifest(DEFAULT_MODEL);
    const [sample] = await loadSamples();
    const image = await imageDataOf(sample!.url);
    const classes = [sample!.labelIndex, 3, 7];
    const levels: ExactMapLevel[] = [];
    const exact = await getPool().exactMap(image, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm', classes, onLevel: (l) => levels.push(l) });
    expect([exact.height, exact.width]).to.deep.equal([28, 28]);
    expect(levels.map((l) => l.level)).to.deep.equal([2, 1]);
    const reference = await bruteForce(manifest, image, classes);
    expect(relativeError(exact.data, reference)).to.be.at.most(1e-4);
    expect(relativeError(levels.at(-1)!.data, reference)).to.be.at.most(1e-4);
    // The classification's own cells are the exact map at their patch centres (offset 0, centre at 6 + 2u).
    const result = await classify(image, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' });
    const { rows, cols, classes: n, data } = result.evidence;
    for (let u = 0; u < rows; u++) {
      for (let v = 0; v < cols; v++) {
        const centre = ((6 + 2 * u) * 28 + 6 + 2 * v) * classes.length;
        expect(data[(u * cols + v) * n + classes[0]!]).to.be.closeTo(exact.data[centre]!, 1e-3);
      }
    }
  });

  it('equals the patch-by-patch reference for the full BagNet-33 (random weights) on a small image', async function () {
    this.timeout(900_000);
    const manifest = await loadManifest(RANDOM_BAGNET33);
    const image = noiseImage(34, 36, 11);
    const classes = [0, 999];
    const levels: number[] = [];
    const exact = await getPool().exactMap(image, { model: RANDOM_BAGNET33, backend: 'wasm', classes, onLevel: (l) => levels.push(l.level) });
    expect(levels).to.deep.equal([8, 4, 2, 1]);
    expect(relativeError(exact.data, await bruteForce(manifest, image, classes))).to.be.at.most(1e-4);
  });

  it('is the same map from the stages, shift by shift, and when a stage fails to load (narrow BagNet-33)', async function () {
    this.timeout(300_000);
    const image = noiseImage(38, 35, 5);
    const classes = [1, 7];
    const reference = await bruteForce(await loadManifest(NARROW_MODEL), image, classes);
    const created: number[] = [];
    for (const model of [NARROW_MODEL, NARROW_WHOLE, NARROW_BAD_STAGE]) {
      disposePool();
      const levels: number[] = [];
      const exact = await getPool().exactMap(image, { model, backend: 'wasm', classes, onLevel: (l) => levels.push(l.level) });
      expect(relativeError(exact.data, reference), model).to.be.at.most(1e-4);
      expect(levels, model).to.deep.equal([8, 4, 2, 1]);
      const { worker } = await getPool().stats();
      created.push(worker!.sessionsCreated);
      expect(worker!.sessionsCreated - worker!.sessionsReleased, `${model}: stage sessions of a failed load are released`)
        .to.equal(model === NARROW_BAD_STAGE ? 1 : created.at(-1));
    }
    // The model's session and its four stages; the model alone; the stages before the bad one, released.
    expect(created).to.deep.equal([5, 1, 4]);
    // The stages are graphs only: their weights are read from the model's own file (ONNX external data).
    const manifest = await loadManifest(NARROW_MODEL);
    expect(manifest.stages!.map((stage) => stage.externalData)).to.deep.equal(new Array(4).fill({ path: 'model.onnx', precision: 'fp32' }));
    expect(manifest.stages!.reduce((sum, stage) => sum + stage.bytes!, 0)).to.be.below(manifest.files.fp32.bytes! / 4);
  });

  it('batches the shifts without stages, and runs the last stage once per shift on WASM (narrow BagNet-33)', async () => {
    const image = noiseImage(36, 40, 3);
    const batched = await getPool().exactMap(image, { model: NARROW_WHOLE, backend: 'wasm', classes: [1] });
    expect(batched.runs).to.be.below(64);
    const staged = await getPool().exactMap(image, { model: NARROW_MODEL, backend: 'wasm', classes: [1] });
    expect(staged.runs).to.equal(64);
    expect(relativeError(staged.data, batched.data)).to.be.at.most(1e-5);
    expect([staged.height, staged.width]).to.deep.equal([40, 36]); // noiseImage(width 36, height 40)
  });

  it('of a result, uses the image the worker prepared for it: no second fetch or decode, the same map', async () => {
    const [sample] = await loadSamples();
    // Served uncached (scripts/server-options.mjs), so that every fetch reaches the server.
    const url = `/__slow?path=${encodeURIComponent(new URL(sample!.url).pathname)}&delay=0`;
    await serverHits('/__slow', true);
    const result = await classify(url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' });
    const decoded = (await getPool().stats()).worker!.decoded;
    const levels: number[] = [];
    const fromResult = await getPool().exactMap(result, { backend: 'wasm', classes: [3, 1], onLevel: (l) => levels.push(l.level) });
    expect(levels).to.deep.equal([2, 1]);
    expect((await getPool().stats()).worker!.decoded, 'decoded again').to.equal(decoded);
    expect(await serverHits('/__slow'), 'fetched again').to.equal(1);
    expect(fromResult.input).to.equal(result.input);
    const fromImage = await getPool().exactMap(await imageDataOf(sample!.url), { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm', classes: [3, 1] });
    expect(relativeError(fromResult.data, fromImage.data)).to.equal(0);
    // The name it had before the exact map had one name: kept for a release, the same method.
    const alias = await getPool().exactEvidence(result, { backend: 'wasm', classes: [3, 1] });
    expect(relativeError(alias.data, fromResult.data)).to.equal(0);
  });

  it('of a result whose image the worker let go (newer images, a new worker), sends the image again', async () => {
    const samples = await loadSamples();
    const result = await classify(samples[0]!.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' });
    const reference = await getPool().exactMap(result, { backend: 'wasm', classes: [0] });
    // More recent images push it out: the worker keeps a bounded few.
    await Promise.all(Array.from({ length: 20 }, (_, i) => classify(noiseImage(30 + i, 30, i), { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' })));
    let stats = await getPool().stats();
    expect(stats.worker!.retained).to.be.at.most(16);
    const decoded = stats.worker!.decoded;
    const again = await getPool().exactMap(result, { backend: 'wasm', classes: [0] });
    stats = await getPool().stats();
    expect(stats.worker!.decoded, 'sent and decoded once more').to.equal(decoded + 1);
    expect(relativeError(again.data, reference.data)).to.equal(0);
    getPool().terminateWorker();
    const fresh = await getPool().exactMap(result, { backend: 'wasm', classes: [0] });
    expect((await getPool().stats()).worker!.decoded, 'a new worker').to.equal(1);
    expect(relativeError(fresh.data, reference.data)).to.equal(0);
  });

  it('two maps of one image: cancelling one leaves the other', async () => {
    const result = await classify(noiseImage(300, 300, 4), { model: NARROW_MODEL, backend: 'wasm' });
    const controller = new AbortController();
    const cancelled = getPool().exactMap(result, { backend: 'wasm', classes: [1], signal: controller.signal, onLevel: () => controller.abort() });
    const kept = getPool().exactMap(result, { backend: 'wasm', classes: [1] });
    expect(await cancelled.then(() => 'done', (e: { type?: string }) => e.type)).to.equal('aborted');
    const map = await kept;
    expect([map.width, map.height]).to.deep.equal([300, 300]);
  });

  it('cancelled between batches, it stops running in the worker', async () => {
    const image = noiseImage(300, 300, 2);
    const full = await getPool().exactMap(image, { model: NARROW_MODEL, backend: 'wasm', classes: [1] });
    const before = await narrowRuns();
    const controller = new AbortController();
    const pending = getPool().exactMap(image, {
      model: NARROW_MODEL, backend: 'wasm', classes: [1], signal: controller.signal,
      onLevel: () => controller.abort(), // after the first level
    });
    const error = await pending.then(() => null, (e: unknown) => e);
    expect((error as { type?: string }).type).to.equal('aborted');
    const atRejection = await narrowRuns();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const settled = await narrowRuns();
    expect(settled - atRejection, 'runs after the rejection (the one in flight)').to.be.at.most(1);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await narrowRuns(), 'the worker stopped').to.equal(settled);
    expect(settled - before, 'runs of the cancelled map').to.be.below(full.runs / 4);
    // The session is free again.
    expect((await classify(noiseImage(40, 40, 1), { model: NARROW_MODEL, backend: 'wasm' })).evidence.rows).to.equal(1);
  });

  it('cancelled in the middle of a large input\'s tiles, it stops within one tile', async function () {
    this.timeout(120_000);
    // Inputs over maxRunPixels run in tiles: one shift's run of this image is about a hundred of them.
    configure({ maxRunPixels: 64 * 64 });
    try {
      await classify(noiseImage(40, 40, 1), { model: NARROW_MODEL, backend: 'wasm' }); // loaded
      const before = await narrowRuns();
      const controller = new AbortController();
      const pending = getPool().exactMap(noiseImage(300, 300, 3), { model: NARROW_MODEL, backend: 'wasm', classes: [1], signal: controller.signal })
        .then(() => null, (e: unknown) => e);
      let atAbort = before;
      while ((atAbort = await narrowRuns()) < before + 3) await new Promise((resolve) => setTimeout(resolve, 5));
      controller.abort();
      expect(((await pending) as { type?: string }).type).to.equal('aborted');
      await new Promise((resolve) => setTimeout(resolve, 500));
      const after = await narrowRuns();
      // The abort reaches the worker while a tile runs (each a few ms): a few more may start before the
      // message arrives; without the check between tiles the rest of the shift's ~100 tiles ran.
      expect(after - atAbort, 'tiles run after the abort').to.be.at.most(10);
    } finally {
      configure({ maxRunPixels: undefined });
    }
  });
});
