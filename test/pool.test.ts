/**
 * The inference pool and classify(), in Chromium: backends, batching, cancellation, faults, cache.
 */
import { expect } from '@esm-bundle/chai';
import { BagnetError } from '../src/core/errors.js';
import { meanLogits, softmax } from '../src/core/evidence.js';
import { configure, type PoolOptions } from '../src/pool/config.js';
import { WorkerConnection } from '../src/pool/connection.js';
import { loadManifest } from '../src/core/manifest.js';
import type { WorkerStats } from '../src/core/protocol.js';
import { classify, disposePool, getPool, type BackendEventDetail } from '../src/pool/pool.js';
import type { ClassificationResult } from '../src/core/result.js';
import { injectFault, faultWorkerUrl } from './fixtures/faults.js';
import { DEFAULT_MODEL, loadSamples, NARROW_MODEL, noiseImage, relativeError, settle, SYNTHETIC_MODEL, type Sample } from './helpers.js';

/** Each test gets a fresh pool with `options`; returns the samples (filled in `before`). */
function freshPoolPerTest(options: PoolOptions): Sample[] {
  const samples: Sample[] = [];
  before(async () => {
    samples.push(...await loadSamples());
  });
  beforeEach(() => {
    disposePool();
    configure({ workerUrl: faultWorkerUrl(), sharedWorker: false, cache: 'bagnet-test-cache', ...options });
  });
  after(() => disposePool());
  return samples;
}

function expectBagnetError(outcome: { ok: boolean; error?: unknown }, type: BagnetError['type']): BagnetError {
  expect(outcome.ok, 'expected a rejection').to.equal(false);
  expect(outcome.error).to.be.instanceOf(BagnetError);
  expect((outcome.error as BagnetError).type).to.equal(type);
  return outcome.error as BagnetError;
}

describe('classify() through the pool', () => {
  const samples = freshPoolPerTest({ idleReleaseMs: 10_000 });

  it('returns the contract result, equal to the Python evaluation', async () => {
    const sample = samples[3]!;
    const result = await classify(sample.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm', topK: 3 });
    expect(result.topk).to.have.length(3);
    expect(result.topk[0]).to.include({ index: sample.predicted });
    expect(result.topk[0]!.label).to.equal(result.model.labels[sample.predicted]);
    expect(relativeError(result.logits, sample.logits)).to.be.at.most(1e-4);
    // The result is self-consistent: logits = mean of the evidence map, probabilities = softmax(logits).
    const { rows, cols, classes, data, stride, patchSize, offset } = result.evidence;
    expect([stride, patchSize, offset]).to.deep.equal([2, 13, 0]);
    expect(data.length).to.equal(rows * cols * classes);
    expect(relativeError(result.logits, meanLogits(data, rows * cols, classes))).to.be.below(1e-6);
    expect(result.topk[0]!.probability).to.be.closeTo(softmax(result.logits)[sample.predicted]!, 1e-9);
    expect(result.backend).to.equal('wasm');
    expect(result.timings.totalMs).to.be.greaterThan(0);
    expect(result.input).to.deep.include({ imageWidth: 28, imageHeight: 28, downscale: 1 });
  });

  it('accepts every image type: URL, Blob, ImageBitmap, ImageData, <img>, canvas', async () => {
    const sample = samples[5]!;
    const blob = await (await fetch(sample.url)).blob();
    const bitmap = await createImageBitmap(blob);
    const img = new Image();
    img.src = sample.url;
    const canvas = document.createElement('canvas');
    canvas.width = 28;
    canvas.height = 28;
    canvas.getContext('2d')!.drawImage(bitmap, 0, 0);
    const imageData = canvas.getContext('2d')!.getImageData(0, 0, 28, 28);
    const offscreen = new OffscreenCanvas(28, 28);
    offscreen.getContext('2d')!.drawImage(bitmap, 0, 0);
    const inputs = { url: sample.url, blob, bitmap, imageData, img, canvas, offscreen };
    for (const [kind, image] of Object.entries(inputs)) {
      const result = await classify(image, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' });
      expect(relativeError(result.logits, sample.logits), kind).to.be.at.most(1e-4);
    }
    // The caller keeps what it passed.
    expect(bitmap.width).to.equal(28);
    expect(imageData.data.length).to.equal(28 * 28 * 4);
  });

  it('gives the same outputs on WebGPU and WASM', async function () {
    // WebGPU here is SwiftShader (a CPU emulation): every new input shape compiles shaders for seconds.
    this.timeout(300_000);
    const image = noiseImage(72, 56, 7);
    const [gpu, cpu] = [
      await classify(image, { model: NARROW_MODEL, backend: 'webgpu' }),
      await classify(image, { model: NARROW_MODEL, backend: 'wasm' }),
    ];
    expect(gpu.backend).to.equal('webgpu');
    expect(cpu.backend).to.equal('wasm');
    expect([gpu.evidence.rows, gpu.evidence.cols]).to.deep.equal([3, 5]); // floor((56-33)/8)+1, floor((72-33)/8)+1
    expect(relativeError(gpu.evidence.data, cpu.evidence.data)).to.be.at.most(1e-4);
    for (const sample of samples.slice(0, 6)) {
      const [g, c] = [await classify(sample.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'webgpu' }),
        await classify(sample.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' })];
      expect(relativeError(g.evidence.data, c.evidence.data), sample.file).to.be.at.most(1e-4);
    }
  });

  it('64 concurrent requests from 8 clients equal the sequential results, and are batched', async () => {
    const sequential: ClassificationResult[] = [];
    for (const sample of samples.slice(0, 8)) sequential.push(await classify(sample.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' }));
    const runsBefore = (await getPool().stats()).runs;
    const clients = Array.from({ length: 8 }, (_, client) =>
      Promise.all(Array.from({ length: 8 }, (_, i) => {
        const index = (client + i) % 8;
        return classify(samples[index]!.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm', priority: client % 2 })
          .then((result) => ({ index, result }));
      })));
    const results = (await Promise.all(clients)).flat();
    expect(results).to.have.length(64);
    for (const { index, result } of results) {
      expect(result.topk[0]!.index).to.equal(sequential[index]!.topk[0]!.index);
      expect(relativeError(result.evidence.data, sequential[index]!.evidence.data)).to.be.at.most(1e-5);
    }
    const runs = (await getPool().stats()).runs - runsBefore;
    expect(runs, 'session runs for 64 requests').to.be.below(64);
    expect(Math.max(...results.map((r) => r.result.timings.batchSize))).to.be.greaterThan(1);
    const worker = (await getPool().stats()).worker!;
    expect(worker.models.find((m) => m.key.startsWith(DEFAULT_MODEL))!.runs, 'runs counted by the worker').to.equal(runs + 8);
  });

  it('blobs sent together (read by the worker in one go) are each decoded from their own bytes', async () => {
    const blobs = await Promise.all(samples.map(async (s) => (await fetch(s.url)).blob()));
    const garbage = new Blob([new Uint8Array(300).fill(7)], { type: 'image/png' });
    const outcomes = await Promise.all([...blobs, garbage].map((blob) => settle(classify(blob, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' }))));
    samples.forEach((sample, i) => {
      const outcome = outcomes[i]!;
      expect(outcome.ok, sample.file).to.equal(true);
      // The Python evaluation of the same PNG (models/default/samples.json).
      expect(relativeError((outcome as { value: ClassificationResult }).value.logits, sample.logits), sample.file).to.be.at.most(1e-4);
    });
    expectBagnetError(outcomes.at(-1)!, 'image-invalid');
  });
});

describe('cancellation', () => {
  let samples: Sample[];
  before(async () => {
    samples = await loadSamples();
    disposePool();
    configure({ workerUrl: faultWorkerUrl(), idleReleaseMs: 10_000, sharedWorker: false, cache: 'bagnet-test-cache' });
  });
  after(() => {
    disposePool();
    configure({ maxBatch: undefined }); // back to the default for the suites that follow
  });

  it('rejects at once when the signal is already aborted, and runs nothing', async () => {
    await classify(samples[0]!.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' }); // warm
    const before = (await getPool().stats()).runs;
    const controller = new AbortController();
    controller.abort();
    expectBagnetError(await settle(classify(samples[0]!.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm', signal: controller.signal })), 'aborted');
    expect((await getPool().stats()).runs).to.equal(before);
  });

  it('drops a queued request and rejects a running one at once; the others complete', async () => {
    // One image per run: otherwise the three requests, prepared within the batch window, may leave as one batch.
    disposePool();
    configure({ maxBatch: 1 }); // the suite's other options stay (configure merges)
    const image = noiseImage(800, 800, 3);
    // A big image keeps the session busy, so the next requests wait in the queue.
    const running = new AbortController();
    const queued = new AbortController();
    const first = settle(classify(image, { model: NARROW_MODEL, backend: 'wasm', signal: running.signal }));
    const second = settle(classify(image, { model: NARROW_MODEL, backend: 'wasm', signal: queued.signal }));
    const third = classify(image, { model: NARROW_MODEL, backend: 'wasm' });
    // Wait until the first batch is on its way to the session, then abort both.
    const deadline = performance.now() + 30_000;
    while (getPool().snapshot().running === 0 || getPool().snapshot().queued < 2) {
      expect(performance.now(), `never saw one running and two queued: ${JSON.stringify(getPool().snapshot())}`).to.be.below(deadline);
      await new Promise((r) => setTimeout(r, 5));
    }
    const abortedAt = performance.now();
    running.abort();
    queued.abort();
    expectBagnetError(await first, 'aborted');
    expect(performance.now() - abortedAt, 'a running request rejects without waiting for its run').to.be.below(1000);
    expectBagnetError(await second, 'aborted');
    const result = await third;
    expect(result.evidence.rows).to.equal(96); // floor((800-33)/8)+1
    const stats = (await getPool().stats());
    expect(stats.queued).to.equal(0);
    expect(stats.worker!.prepared, 'aborted tensors are freed in the worker').to.equal(0);
  });

  it('leaves no listener on a long-lived signal: 100 requests, then none of them is reachable from it', async () => {
    // One signal for a component's lifetime (a React effect): a listener left per request would keep
    // every result (its patch logits) reachable for as long as the signal lives.
    const lifetime = new AbortController();
    const listening = countAbortListeners(lifetime.signal);
    const sample = samples[1]!;
    const results = await Promise.all(Array.from({ length: 100 }, () =>
      classify(sample.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm', signal: lifetime.signal })));
    expect(results.every((r) => r.topk[0]!.index === sample.predicted)).to.equal(true);
    expect(listening.added, 'the requests did listen to the signal').to.be.at.least(100);
    expect(listening.active(), 'abort listeners still on the signal').to.equal(0);
    const snapshot = getPool().snapshot();
    expect([snapshot.queued, snapshot.running], 'the pool holds no request').to.deep.equal([0, 0]);
  });

  it('frees the tensor of a request aborted after its image was prepared, before it was queued', async () => {
    await classify(samples[0]!.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' }); // warm
    const controller = new AbortController();
    // The pool listens to the signal while it holds the model, reads the image, and waits for the
    // worker to prepare it, and stops listening at the end of each. Abort as it stops the third time:
    // the image is prepared in the worker, and the request meets an aborted signal where it is queued.
    const listening = countAbortListeners(controller.signal, { onRemove: (removed) => removed === 3 && controller.abort() });
    const before = await getPool().stats();
    expectBagnetError(await settle(classify(samples[0]!.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm', signal: controller.signal })), 'aborted');
    expect(listening.removed).to.be.at.least(3);
    const stats = await getPool().stats();
    expect(stats.worker!.decoded - before.worker!.decoded, 'the image was prepared before the abort').to.equal(1);
    expect(stats.runs, 'nothing ran').to.equal(before.runs);
    expect(stats.worker!.prepared, 'the prepared tensor was freed in the worker').to.equal(0);
  });
});

/** Counts the `abort` listeners added to and removed from `signal` (test instrumentation of one object). */
function countAbortListeners(signal: AbortSignal, hooks: { onRemove?: (removed: number) => void } = {}) {
  const live = new Set<unknown>();
  const counts = { added: 0, removed: 0, active: () => live.size };
  const add = EventTarget.prototype.addEventListener.bind(signal);
  const remove = EventTarget.prototype.removeEventListener.bind(signal);
  signal.addEventListener = (type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions) => {
    if (type === 'abort' && listener) {
      counts.added++;
      live.add(listener);
    }
    add(type, listener, options);
  };
  signal.removeEventListener = (type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions) => {
    remove(type, listener, options);
    if (type === 'abort' && live.delete(listener)) {
      counts.removed++;
      hooks.onRemove?.(counts.removed);
    }
  };
  return counts;
}

describe('backend fallback', () => {
  const samples = freshPoolPerTest({ idleReleaseMs: 10_000 });

  it('auto falls back to WASM when a WebGPU run fails, retries the request and says so', async function () {
    this.timeout(300_000);
    const events: BackendEventDetail[] = [];
    getPool().addEventListener('backend', (event) => events.push((event as CustomEvent<BackendEventDetail>).detail));
    const sample = samples[2]!;
    const first = await classify(sample.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'auto' });
    expect(first.backend).to.equal('webgpu');
    await injectFault('fail-next-webgpu-run');
    const second = await classify(sample.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'auto' });
    expect(second.backend).to.equal('wasm');
    expect(relativeError(second.logits, sample.logits)).to.be.at.most(1e-4);
    expect(events.at(-1)).to.deep.include({ requested: 'auto', actual: 'wasm' });
    expect(events.at(-1)!.reason).to.match(/WebGPU run failed/);
    // A fixed backend does not fall back: it reports the failure.
    await classify(sample.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'webgpu' });
    await injectFault('fail-next-webgpu-run');
    expectBagnetError(await settle(classify(sample.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'webgpu' })), 'inference');
  });

  it('after a WebGPU device loss the next request runs on a new device, explicit webgpu included, again and again', async function () {
    this.timeout(300_000);
    const sample = samples[4]!;
    const events: BackendEventDetail[] = [];
    getPool().addEventListener('backend', (event) => events.push((event as CustomEvent<BackendEventDetail>).detail));
    for (const backend of ['webgpu', 'auto', 'webgpu'] as const) {
      expect((await classify(sample.url, { model: DEFAULT_MODEL, precision: 'fp32', backend })).backend).to.equal('webgpu');
      expect(await injectFault('lose-webgpu-device')).to.equal(true);
      // The model that was on the lost device, and one loaded after the loss.
      const again = await classify(sample.url, { model: DEFAULT_MODEL, precision: 'fp32', backend });
      expect(again.backend, `${backend} after a loss`).to.equal('webgpu');
      expect(relativeError(again.logits, sample.logits)).to.be.at.most(1e-4);
      expect((await classify(noiseImage(40, 40, 1), { model: SYNTHETIC_MODEL, backend })).backend).to.equal('webgpu');
    }
    expect(events.filter((e) => e.actual === 'wasm'), 'never fell back').to.deep.equal([]);
  });

  it('when no new device comes after a loss: explicit webgpu gets a backend error, auto goes on on WASM', async function () {
    this.timeout(300_000);
    const sample = samples[4]!;
    expect((await classify(sample.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'webgpu' })).backend).to.equal('webgpu');
    expect((await classify(sample.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'auto' })).backend).to.equal('webgpu');
    expect(await injectFault('refuse-new-webgpu-devices')).to.equal(true);
    expect(await injectFault('lose-webgpu-device')).to.equal(true);
    const fixed = expectBagnetError(await settle(classify(sample.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'webgpu' })), 'backend');
    expect(fixed.message).to.match(/device was lost/);
    const after = await classify(sample.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'auto' });
    expect(after.backend).to.equal('wasm');
    expect(relativeError(after.logits, sample.logits)).to.be.at.most(1e-4);
    // New auto sessions go straight to WASM, with the reason.
    const events: BackendEventDetail[] = [];
    getPool().addEventListener('backend', (event) => events.push((event as CustomEvent<BackendEventDetail>).detail));
    const other = await classify(noiseImage(40, 40, 1), { model: NARROW_MODEL, backend: 'auto' });
    expect(other.backend).to.equal('wasm');
    expect(events[0]!.reason).to.match(/device was lost/);
  });
});

describe('WebGPU with several models', () => {
  const samples = freshPoolPerTest({ idleReleaseMs: 0 });

  // Found by the model-based sequences: onnxruntime's WebGPU backend is one per worker, and a run of
  // one session during the creation or release of another broke it for good (setPipeline errors,
  // then "another WebGPU EP inference session is being created" and runs that never ended).
  it('one model keeps running while another is created and released, again and again: all of it completes', async function () {
    this.timeout(300_000);
    const within = <T>(promise: Promise<T>, what: string) => Promise.race([promise,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} never finished`)), 60_000))]);
    await classify(samples[0]!.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'webgpu' });
    let stop = false;
    const runs = (async () => {
      let n = 0;
      for (; !stop; n++) {
        const result = await classify(samples[n % 20]!.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'webgpu' });
        expect(relativeError(result.logits, samples[n % 20]!.logits)).to.be.at.most(1e-4);
      }
      return n;
    })();
    try {
      for (let i = 0; i < 4; i++) {
        // idleReleaseMs 0: each of these creates the synthetic model's session and releases it after.
        const result = await within(classify(noiseImage(40, 32, i), { model: SYNTHETIC_MODEL, backend: 'webgpu' }), `load ${i}`);
        expect(result.backend).to.equal('webgpu');
      }
    } finally {
      stop = true;
    }
    expect(await within(runs, 'the other model\'s runs')).to.be.greaterThan(0);
  });
});

describe('faults', () => {
  const samples = freshPoolPerTest({ idleReleaseMs: 0 });
  afterEach(() => configure({ maxRunPixels: undefined, workerTimeoutMs: undefined, sharedWorker: false }));

  it('a crashed worker rejects its pending requests with a typed error and is recreated', async () => {
    const sample = samples[1]!;
    await classify(sample.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' });
    // Mid-batch, not while the model loads: big inputs run in tiles, and the worker reads messages between them.
    configure({ maxRunPixels: 128 * 128 });
    const big = noiseImage(700, 700, 9);
    const pending = [1, 2, 3].map(() => settle(classify(big, { model: NARROW_MODEL, backend: 'wasm' })));
    while (getPool().snapshot().running === 0) await new Promise((r) => setTimeout(r, 5));
    await injectFault('crash');
    for (const outcome of await Promise.all(pending)) {
      const error = expectBagnetError(outcome, 'inference');
      expect(error.message).to.match(/worker stopped unexpectedly/);
    }
    expect((await getPool().stats()).workers).to.equal(0);
    const again = await classify(sample.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' });
    expect(relativeError(again.logits, sample.logits)).to.be.at.most(1e-4);
    expect((await getPool().stats()).workers).to.equal(1);
  });

  for (const sharedWorker of [true, false]) {
    it(`a ${sharedWorker ? 'shared' : 'dedicated'} worker that dies without a word mid-batch: its requests reject, a new worker starts`, async function () {
      this.timeout(120_000);
      // Browsers report such a death (out of memory, killed) to nobody: only the unanswered ping tells.
      disposePool();
      configure({ sharedWorker, workerTimeoutMs: 2000, maxRunPixels: 128 * 128 });
      const sample = samples[4]!;
      await classify(sample.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' });
      expect(getPool().snapshot().mode).to.equal(sharedWorker ? 'shared' : 'dedicated');
      // Many tiles of a BagNet-33: seconds of runs, with the worker reading messages between them.
      const pending = [1, 2].map((i) => settle(classify(noiseImage(700, 700, i), { model: NARROW_MODEL, backend: 'wasm' })));
      while (getPool().snapshot().running === 0) await new Promise((r) => setTimeout(r, 5));
      expect(await injectFault('exit')).to.equal(true);
      const timeout = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 20_000));
      const outcomes = await Promise.race([Promise.all(pending), timeout]);
      expect(outcomes, 'the requests still wait for a dead worker').to.not.equal('hung');
      for (const outcome of outcomes as Awaited<typeof pending[number]>[]) {
        expect(expectBagnetError(outcome, 'inference').message).to.match(/stopped unexpectedly: it did not answer/);
      }
      const again = await classify(sample.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' });
      expect(relativeError(again.logits, sample.logits)).to.be.at.most(1e-4);
      const stats = await getPool().stats();
      expect([stats.workers, stats.worker!.decoded], 'a new worker, which decoded only this image').to.deep.equal([1, 1]);
    });
  }

  it('a live worker busy with one run longer than workerTimeoutMs is not taken for dead', async function () {
    this.timeout(120_000);
    // A WASM run blocks the worker (no answer to pings): the worker announces each run and how long it may take.
    configure({ workerTimeoutMs: 200, maxRunPixels: 4096 * 4096 });
    await classify(noiseImage(40, 40, 1), { model: NARROW_MODEL, backend: 'wasm' });
    const result = await classify(noiseImage(1200, 1200, 2), { model: NARROW_MODEL, backend: 'wasm' });
    expect(result.timings.inferenceMs, 'one run, well over the timeout').to.be.greaterThan(2 * 200);
    expect(result.timings.batchSize).to.equal(1);
    expect((await getPool().stats()).worker!.models[0]!.runs, 'one run (no tiles)').to.equal(2); // the small image, this one
  });

  it('terminating the worker mid-run rejects with "aborted" and the pool carries on', async () => {
    const pending = settle(classify(noiseImage(800, 800, 2), { model: NARROW_MODEL, backend: 'wasm' }));
    while (getPool().snapshot().running === 0) await new Promise((r) => setTimeout(r, 5));
    getPool().terminateWorker();
    expectBagnetError(await pending, 'aborted');
    const sample = samples[9]!;
    expect((await classify(sample.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' })).topk[0]!.index).to.equal(sample.predicted);
  });

  it('a failed model load is not cached: the next request retries', async () => {
    const missing = new URL('../models/generated/not-there/bagnet.json', import.meta.url).href;
    expectBagnetError(await settle(classify(samples[0]!.url, { model: missing })), 'model-load');
    expectBagnetError(await settle(classify(samples[0]!.url, { model: missing })), 'model-load');
    expect((await getPool().stats()).models).to.equal(0);
  });

  it('100 create/release cycles leak no session', async function () {
    this.timeout(300_000);
    const pool = getPool();
    for (let i = 0; i < 100; i++) {
      const lease = await pool.acquire(DEFAULT_MODEL, 'wasm');
      lease.release();
      // idleReleaseMs is 0: the session goes on the next timer tick; wait until the worker has none.
      for (;;) {
        await new Promise((r) => setTimeout(r, 1));
        const stats = await pool.stats();
        if (stats.worker!.sessions === 0 && stats.models === 0) break;
      }
    }
    const worker = (await pool.stats()).worker!;
    expect(worker.sessionsCreated).to.equal(100);
    expect(worker.sessionsReleased).to.equal(100);
  });
});

describe('the worker connection', () => {
  it('a shared worker client that leaves while its model loads or its image decodes leaves nothing behind', async function () {
    this.timeout(60_000);
    // Its own shared worker instance (another URL), so other clients' models do not count.
    const url = new URL(`../src/worker/inference-worker.js?instance=${Math.random()}`, import.meta.url).href;
    const settings = { cacheName: null, maxImagePixels: 1e6, maxDecodePixels: 1e7, maxRunPixels: 1e6 };
    const events = { onBackend: () => undefined, onCrash: () => undefined };
    const leaving = new WorkerConnection(url, true, settings, events);
    const staying = new WorkerConnection(url, true, settings, events);
    try {
      const manifest = await loadManifest(DEFAULT_MODEL);
      const key = `${manifest.url}|wasm|fp32`;
      void leaving.request({ type: 'load', key, manifest: { ...manifest, provenance: undefined }, backend: 'wasm', precision: 'fp32' }).catch(() => undefined);
      const samples = await loadSamples();
      void leaving.request({ type: 'prepare', requestId: 1, source: { kind: 'url', url: samples[0]!.url }, input: manifest.input, patchSize: manifest.patchSize })
        .catch(() => undefined);
      await new Promise((r) => setTimeout(r)); // sent
      leaving.terminate(); // says bye: the worker is still loading and decoding for it
      let stats: WorkerStats;
      const deadline = performance.now() + 30_000;
      do {
        await new Promise((r) => setTimeout(r, 50));
        stats = await staying.request<WorkerStats>({ type: 'stats' });
        expect(performance.now(), 'the load and the decode never finished').to.be.below(deadline);
      } while (stats.sessionsCreated < 1 || stats.decoded < 1);
      await new Promise((r) => setTimeout(r, 200));
      stats = await staying.request<WorkerStats>({ type: 'stats' });
      expect(stats.ports, 'only the staying client').to.equal(1);
      expect(stats.sessions, 'the departed client holds no model').to.equal(0);
      expect(stats.sessionsReleased).to.equal(stats.sessionsCreated);
      expect([stats.prepared, stats.retained], 'nor an image').to.deep.equal([0, 0]);
    } finally {
      leaving.terminate();
      staying.terminate();
    }
  });

  it('sends the messages of one task as one; a message that cannot be sent fails alone', async () => {
    const posts: unknown[] = [];
    const post = Worker.prototype.postMessage;
    Worker.prototype.postMessage = function (this: Worker, ...args: Parameters<Worker['postMessage']>) {
      (post as (...a: unknown[]) => void).apply(this, args);
      posts.push(args[0]); // only what was sent
    } as Worker['postMessage'];
    const connection = new WorkerConnection(new URL('../src/worker/inference-worker.js', import.meta.url).href, false,
      { cacheName: null, maxImagePixels: 1e6, maxDecodePixels: 1e7, maxRunPixels: 1e6 },
      { onBackend: () => undefined, onCrash: () => undefined });
    try {
      const requests = [connection.request({ type: 'stats' }), connection.request({ type: 'stats' })];
      const stats = await Promise.all(requests);
      // init and both requests in one message, answered one by one.
      expect(posts).to.have.length(1);
      expect((posts[0] as { type: string }[]).map((m) => m.type)).to.deep.equal(['init', 'stats', 'stats']);
      expect(stats.map((s) => (s as { ports: number }).ports)).to.deep.equal([1, 1]);

      posts.length = 0;
      const unsendable = connection.request({ type: 'stats', extra: () => 'a function cannot be cloned' } as never);
      const fine = connection.request({ type: 'stats' });
      const [bad, good] = await Promise.allSettled([unsendable, fine]);
      expect(bad.status).to.equal('rejected');
      expect(String((bad as PromiseRejectedResult).reason)).to.match(/Could not send the request to the worker/);
      expect(good.status).to.equal('fulfilled');
      expect(posts).to.have.length(1); // not as one message: the good one went alone
      expect(posts[0]).to.include({ type: 'stats' });
    } finally {
      Worker.prototype.postMessage = post;
      connection.terminate();
    }
  });
});
