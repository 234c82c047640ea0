/**
 * The pool in its environment: the Cache API, the main thread's responsiveness, SharedWorker mode,
 * a strict CSP, and self-hosted asset locations.
 */
import { expect } from '@esm-bundle/chai';
import { executeServerCommand } from '@web/test-runner-commands';
import { configure } from '../src/pool/config.js';
import { classify, disposePool, getPool, type ProgressInfo } from '../src/pool/pool.js';
import { faultWorkerUrl } from './fixtures/faults.js';
import { DEFAULT_MODEL, loadSamples, NARROW_MODEL, noiseImage, RANDOM_BAGNET33, relativeError, serverHits, type Sample } from './helpers.js';

const BASE = { idleReleaseMs: 10_000, sharedWorker: false } as const;
const NARROW_ONNX = new URL(new URL('model.onnx', NARROW_MODEL)).pathname;

interface FrameReply { ok: boolean; top?: number; logits?: number[]; backend?: string; stats?: any; violations: string[]; error?: string }

/** Load `page` in an iframe, ask it to classify, and return its report. */
async function inFrame(page: string, job: Record<string, unknown>): Promise<FrameReply> {
  const frame = document.createElement('iframe');
  frame.src = page;
  const replies: FrameReply[] = [];
  let wake: () => void = () => undefined;
  const onMessage = (event: MessageEvent) => {
    if (event.source !== frame.contentWindow) return;
    if (event.data.ready) frame.contentWindow!.postMessage(job, location.origin);
    else {
      replies.push(event.data);
      wake();
    }
  };
  window.addEventListener('message', onMessage);
  document.body.append(frame);
  try {
    while (replies.length === 0) await new Promise<void>((resolve) => { wake = resolve; });
    return replies[0]!;
  } finally {
    window.removeEventListener('message', onMessage);
    frame.remove();
  }
}

describe('model bytes and the Cache API', () => {
  const image = noiseImage(48, 48, 4);
  after(() => disposePool());

  it('fetches once with progress; the next page load takes the model from the cache', async () => {
    await caches.delete('bagnet-cache-test-1');
    disposePool();
    configure({ ...BASE, cache: 'bagnet-cache-test-1' });
    await serverHits(NARROW_ONNX, true);
    const phases: ProgressInfo[] = [];
    const first = await classify(image, { model: NARROW_MODEL, backend: 'wasm', onProgress: (p) => phases.push(p) });
    expect(await serverHits(NARROW_ONNX)).to.equal(1);
    const downloads = phases.filter((p) => p.phase === 'download');
    expect(downloads.length).to.be.greaterThan(0);
    const { bytes } = (await (await fetch(NARROW_MODEL)).json()).files.fp32; // the manifest's size of model.onnx
    expect(downloads.at(-1)).to.deep.include({ loaded: bytes, total: bytes });
    expect(phases.map((p) => p.phase)).to.include('compile');

    disposePool(); // a fresh worker: nothing in memory, like a new page
    configure({ ...BASE, cache: 'bagnet-cache-test-1' });
    const again: string[] = [];
    const second = await classify(image, { model: NARROW_MODEL, backend: 'wasm', onProgress: (p) => again.push(p.phase) });
    expect(await serverHits(NARROW_ONNX), 'no second network fetch').to.equal(1);
    expect(again).to.include('cache');
    expect(again).not.to.include('download');
    expect(relativeError(second.evidence.data, first.evidence.data)).to.equal(0);
    const keys = (await (await caches.open('bagnet-cache-test-1')).keys()).map((r) => r.url);
    expect(keys.some((url) => url.includes('bagnet-cache='))).to.equal(true);
  });

  it('still loads when the cache is disabled or the Cache API throws', async () => {
    disposePool();
    configure({ ...BASE, cache: false });
    expect((await classify(image, { model: NARROW_MODEL, backend: 'wasm' })).evidence.rows).to.equal(2);
    disposePool();
    configure({ ...BASE, workerUrl: faultWorkerUrl(['break-cache-api']), cache: 'bagnet-cache-test-2' });
    const result = await classify(image, { model: NARROW_MODEL, backend: 'wasm' });
    expect(result.evidence.rows).to.equal(2); // floor((48-33)/8)+1
    disposePool();
    configure({ workerUrl: undefined }); // the package's own worker again
  });
});

describe('main thread', () => {
  after(() => disposePool());

  // How long the main thread is blocked meanwhile is a figure of the bench (main_thread_max_longtask_ms),
  // not a timed test: here, that the model's bytes, onnxruntime and its runs never touch the page.
  it('a full-size BagNet-33 loads and runs without onnxruntime or the model on the main thread', async function () {
    this.timeout(300_000);
    disposePool();
    configure({ ...BASE, cache: 'bagnet-cache-test-3' });
    await executeServerCommand('network-log-start');
    const result = await classify(noiseImage(224, 224, 5), { model: RANDOM_BAGNET33, backend: 'wasm' });
    expect([result.evidence.rows, result.evidence.cols, result.evidence.classes]).to.deep.equal([24, 24, 1000]);
    expect(result.timings.inferenceMs, 'the model really ran').to.be.greaterThan(100);
    const requests = await executeServerCommand<{ url: string; target: string }[], undefined>('network-log-read');
    const heavy = (url: string) => /onnxruntime-web|\.wasm$|\.onnx$/.test(new URL(url).pathname);
    expect(requests.filter((r) => heavy(r.url) && r.target === 'worker').length, 'the worker fetched them').to.be.greaterThan(0);
    expect(requests.filter((r) => heavy(r.url) && r.target !== 'worker').map((r) => r.url), 'fetched by the page').to.deep.equal([]);
    expect(Object.keys(globalThis).filter((name) => /^ort$|onnx/i.test(name)), 'onnxruntime globals on the page').to.deep.equal([]);
  });
});

describe('SharedWorker mode', () => {
  let samples: Sample[];
  before(async () => {
    samples = await loadSamples();
  });
  afterEach(() => disposePool());

  it('shares one model between this page and a same-origin iframe', async () => {
    disposePool();
    configure({ ...BASE, sharedWorker: true, cache: 'bagnet-cache-test-4', idleReleaseMs: 60_000 });
    const sample = samples[6]!;
    const mine = await classify(sample.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' });
    expect(getPool().snapshot().mode).to.equal('shared');
    const frame = await inFrame('/test/fixtures/pool-client.html', { model: DEFAULT_MODEL, precision: 'fp32', image: sample.url, backend: 'wasm', sharedWorker: true });
    expect(frame.ok, frame.error).to.equal(true);
    expect(frame.stats.mode).to.equal('shared');
    expect(frame.top).to.equal(mine.topk[0]!.index);
    // Both pages reached the same worker, which holds the model once, referenced by both.
    const model = frame.stats.worker.models.find((m: { key: string }) => m.key.startsWith(DEFAULT_MODEL));
    expect(frame.stats.worker.ports).to.be.at.least(2);
    expect(frame.stats.worker.sessionsCreated).to.equal(1);
    expect(model.refs).to.equal(2);
  });

  it('falls back to a dedicated worker where SharedWorker is missing', async () => {
    const original = globalThis.SharedWorker;
    // Browsers without SharedWorker (Chrome on Android, for one) have no such global.
    delete (globalThis as { SharedWorker?: unknown }).SharedWorker;
    try {
      disposePool();
      configure({ ...BASE, sharedWorker: true, cache: 'bagnet-cache-test-4' });
      const result = await classify(samples[0]!.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' });
      expect(result.topk[0]!.index).to.equal(samples[0]!.predicted);
      expect(getPool().snapshot().mode).to.equal('dedicated');
    } finally {
      globalThis.SharedWorker = original;
    }
  });
});

describe('self-hosting', () => {
  let samples: Sample[];
  before(async () => {
    samples = await loadSamples();
  });
  afterEach(() => disposePool());

  it('works under a CSP without unsafe-eval and without blob: workers', async function () {
    this.timeout(600_000); // 'auto' compiles WebGPU shaders on SwiftShader: slow
    const sample = samples[8]!;
    for (const backend of ['wasm', 'auto'] as const) {
      const reply = await inFrame('/test/fixtures/csp/index.html', { model: DEFAULT_MODEL, precision: 'fp32', image: sample.url, backend, sharedWorker: false });
      expect(reply.ok, reply.error).to.equal(true);
      expect(reply.violations, 'CSP violations').to.deep.equal([]);
      expect(reply.top).to.equal(sample.predicted);
      expect(relativeError(reply.logits!, sample.logits)).to.be.at.most(1e-4);
    }
  });

  it('takes the worker and the ORT wasm files from the URLs given to configure()', async () => {
    disposePool();
    const wasm = '/vendor/ort/ort-wasm-simd-threaded.wasm'; // the plain WASM build's binary
    await serverHits(wasm, true);
    await serverHits('/test/fixtures/custom-worker.js', true);
    configure({ ...BASE, cache: 'bagnet-cache-test-5', workerUrl: '/test/fixtures/custom-worker.js', wasmPaths: '/vendor/ort/' });
    const result = await classify(samples[1]!.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' });
    expect(result.topk[0]!.index).to.equal(samples[1]!.predicted);
    expect(await serverHits('/test/fixtures/custom-worker.js')).to.equal(1);
    expect(await serverHits(wasm)).to.equal(1);
    disposePool();
    configure({ workerUrl: undefined, wasmPaths: undefined });
  });
});

describe('configure() and when the worker starts', () => {
  const CUSTOM_PATH = '/test/fixtures/custom-worker.js';
  let CUSTOM = CUSTOM_PATH;
  let samples: Sample[];
  before(async () => { samples = await loadSamples(); });
  beforeEach(async () => {
    disposePool();
    configure({ ...BASE, cache: 'bagnet-cache-test-6', workerUrl: undefined, wasmPaths: undefined });
    await serverHits(CUSTOM_PATH, true);
    CUSTOM = `${CUSTOM_PATH}?test=${Math.random()}`; // a URL the browser has not cached
  });
  afterEach(() => {
    disposePool();
    configure({ workerUrl: undefined, wasmPaths: undefined });
    document.body.replaceChildren();
  });

  it('applies when it comes later in the task of the first request (ES imports run first)', async () => {
    const pending = classify(samples[2]!.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' });
    configure({ workerUrl: CUSTOM });
    expect((await pending).topk[0]!.index).to.equal(samples[2]!.predicted);
    expect(await serverHits(CUSTOM_PATH), 'the worker came from configure()\'s URL').to.equal(1);
  });

  it('applies to an element put on the page before it, in the same task', async () => {
    await import('../src/register.js');
    const element = document.createElement('bagnet-classifier') as HTMLElement & { src: string; backend: string };
    element.setAttribute('model', DEFAULT_MODEL);
    element.backend = 'wasm';
    element.src = samples[3]!.url;
    const result = new Promise<CustomEvent>((resolve) => element.addEventListener('bagnet-result', (e) => resolve(e as CustomEvent), { once: true }));
    document.body.append(element);
    configure({ workerUrl: CUSTOM }); // as `import 'bagnet-elements/register'; configure(...)` in one module
    expect((await result).detail.topk[0].index).to.equal(samples[3]!.predicted);
    expect(await serverHits(CUSTOM_PATH)).to.equal(1);
  });

  // What a bundler that copied the worker as a plain asset (or a wrong workerUrl) gives.
  for (const [what, workerUrl, reason] of [
    ['a worker URL that answers 404', '/test/fixtures/not-there-worker.js', /from http:\/\/[^ ]+\/test\/fixtures\/not-there-worker\.js: the server answered 404/],
    ['a worker URL that serves HTML', '/test/fixtures/pool-client.html', /pool-client\.html: it is served as "text\/html[^"]*", not JavaScript/],
    ['a worker whose import does not resolve', '/test/fixtures/broken-import-worker.js', /broken-import-worker\.js: the module or one of its imports failed to load/],
  ] as const) {
    it(`${what}: the error says which URL failed and why, and the next worker works`, async () => {
      // Firefox fires no error event for a module worker whose import failed: its silence is found
      // when the worker does not answer (the next test); 10 s (a new worker's least) instead of 30 s.
      configure({ workerUrl, workerTimeoutMs: 5000 });
      const outcome = await classify(samples[0]!.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' }).then(() => null, (e: unknown) => e);
      expect(outcome).to.have.property('type', 'inference');
      expect((outcome as Error).message).to.match(reason);
      expect((outcome as Error).message).to.match(/Using a bundler/);
      disposePool();
      configure({ workerUrl: undefined, workerTimeoutMs: undefined });
      expect((await classify(samples[0]!.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' })).topk[0]!.index).to.equal(samples[0]!.predicted);
    });
  }

  it('a worker that loads and never answers (Firefox, an import that did not resolve): the error says which URL and why', async () => {
    configure({ workerUrl: '/test/fixtures/silent-worker.js', workerTimeoutMs: 500 });
    const outcome = await classify(samples[0]!.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' }).then(() => null, (e: unknown) => e);
    expect(outcome).to.have.property('type', 'inference');
    // A new worker gets at least 10 s to load, whatever the (short) timeout for runs.
    expect((outcome as Error).message).to.match(/did not start from http:\/\/[^ ]+\/test\/fixtures\/silent-worker\.js: the module or one of its imports failed to load.*; it did not answer for 10\.0 s$/);
    expect((outcome as Error).message).to.match(/Using a bundler/);
    disposePool();
    configure({ workerUrl: undefined, workerTimeoutMs: undefined });
    expect((await classify(samples[0]!.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' })).topk[0]!.index).to.equal(samples[0]!.predicted);
  });

  // What a bundler that left onnxruntime-web's binary behind (or a wrong wasmPaths) gives.
  for (const [what, wasmPaths, reason] of [
    ['a wasm folder that answers 404', '/test/fixtures/no-such-folder/',
      /binary did not load from http:\/\/[^ ]+\/test\/fixtures\/no-such-folder\/ort-wasm-simd-threaded\.wasm: the server answered 404/],
    ['a wasm file that is an HTML page', '/test/fixtures/not-wasm/',
      /not-wasm\/ort-wasm-simd-threaded\.wasm: it is not WebAssembly \(served as "[^"]*", starting "<!doctype html> "\)/],
  ] as const) {
    it(`${what}: the error says which URL failed and why, and the next worker works`, async () => {
      configure({ wasmPaths });
      const outcome = await classify(samples[0]!.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' }).then(() => null, (e: unknown) => e);
      expect(outcome).to.have.property('type', 'backend');
      expect((outcome as Error).message).to.match(reason);
      expect((outcome as Error).message).to.match(/Using a bundler/);
      disposePool();
      configure({ wasmPaths: undefined });
      expect((await classify(samples[0]!.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' })).topk[0]!.index).to.equal(samples[0]!.predicted);
    });
  }

  it('throws, saying why, when asset locations change after the worker started; other options do not', async () => {
    await classify(samples[1]!.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' });
    let error: unknown;
    try {
      configure({ workerUrl: CUSTOM });
    } catch (thrown) {
      error = thrown;
    }
    expect(error, 'a BagnetError').to.have.property('type', 'backend');
    expect((error as Error).message).to.match(/came after the inference worker started.*disposePool\(\) first/s);
    expect(() => configure({ wasmPaths: '/vendor/ort/' })).to.throw(/wasmPaths/);
    // The same location, and options that are not asset locations, are fine.
    configure({ workerUrl: undefined, maxBatch: 8, idleReleaseMs: 10_000 });
    expect(getPool().options.workerUrl, "the package's own worker").to.equal(undefined);
    disposePool();
    configure({ workerUrl: CUSTOM }); // no worker: applies to the next one
    await classify(samples[1]!.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' });
    expect(await serverHits(CUSTOM_PATH)).to.equal(1);
  });
});
