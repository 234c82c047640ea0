/**
 * Faults (worker killed, WebGPU device lost, rapid changes, missing or full storage), load (500
 * requests from 20 elements) and hostile content (labels as markup, malformed worker messages,
 * disallowed URLs), at the level a page sees: elements, their events and the pool.
 */
import { expect } from '@esm-bundle/chai';
import { BagnetClassifier } from '../../src/elements/classifier/bagnet-classifier.component.js';
import type { BagnetEventMap } from '../../src/elements/shared/events.js';
import type { ClassificationResult } from '../../src/core/result.js';
import { configure, resolvePoolOptions } from '../../src/pool/config.js';
import { classify, disposePool, getPool } from '../../src/pool/pool.js';
import { defineFresh, DEFAULT_MODEL, loadSamples, nextEvent, NARROW_MODEL, noiseImage, relativeError, serverHits, settle, type Sample } from '../helpers.js';
import { freshFaultPool, injectFault, type FaultAction } from '../fixtures/faults.js';
import { guardPage } from './page-guard.js';

const BAD_MODELS = new URL('../../build/reliability/models/', import.meta.url);

function mount(attributes: Record<string, string>): BagnetClassifier {
  const element = document.createElement(defineFresh('faults-classifier', BagnetClassifier)) as BagnetClassifier;
  for (const [name, value] of Object.entries({ backend: 'wasm', ...attributes })) element.setAttribute(name, value);
  document.body.append(element);
  return element;
}

const next = <K extends keyof BagnetEventMap>(target: EventTarget, type: K) => nextEvent<BagnetEventMap[K]>(target, type);

function settled(element: BagnetClassifier): Promise<void> {
  return new Promise((resolve) => {
    const check = () => (element.state === 'result' || element.state === 'error' ? resolve() : setTimeout(check, 10));
    check();
  });
}

let samples: Sample[] = [];

function freshPool(options: Parameters<typeof configure>[0] = {}, startupFaults: FaultAction[] = []) {
  freshFaultPool({ cache: 'bagnet-test-cache', idleReleaseMs: 10_000, ...options }, startupFaults);
}

describe('faults', () => {
  before(async () => { samples = await loadSamples(); });
  beforeEach(() => freshPool());
  afterEach(() => document.body.replaceChildren());
  after(() => disposePool());
  guardPage();

  it('the worker killed in the middle of a run: a typed error on the element, then it works again', async () => {
    const busy = mount({ model: NARROW_MODEL });
    const error = next(busy, 'bagnet-error');
    let finished = false;
    busy.addEventListener('bagnet-result', () => { finished = true; }, { once: true });
    busy.image = noiseImage(1200, 1200, 4); // a BagNet-33 on 1.4 megapixels: seconds of runs
    while (getPool().snapshot().running === 0 && !finished) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(finished, 'still running when the worker dies').to.equal(false);
    await injectFault('crash');
    const { detail } = await error;
    expect(detail.type).to.equal('inference');
    expect(detail.message).to.match(/worker stopped unexpectedly/);
    await busy.updateComplete;
    expect(busy.state).to.equal('error');
    // A new request starts a new worker.
    const healthy = mount({ model: DEFAULT_MODEL, precision: 'fp32' });
    const result = next(healthy, 'bagnet-result');
    healthy.src = samples[2]!.url;
    expect((await result).detail.topk[0]!.index).to.equal(samples[2]!.predicted);
    const again = next(busy, 'bagnet-result');
    busy.image = noiseImage(48, 48, 4);
    expect((await again).detail.evidence.rows).to.equal(2);
  });

  it('the WebGPU device lost: the element goes on on a new device; when none comes, it says so and goes on on WASM', async function () {
    this.timeout(120_000);
    const element = mount({ model: DEFAULT_MODEL, precision: 'fp32', backend: 'auto' });
    const first = next(element, 'bagnet-result');
    element.src = samples[6]!.url;
    expect((await first).detail.backend).to.equal('webgpu');
    expect(await injectFault('lose-webgpu-device')).to.equal(true);
    const renewed = next(element, 'bagnet-result');
    element.src = samples[5]!.url;
    expect((await renewed).detail.backend, 'a new device').to.equal('webgpu');
    expect(relativeError((await renewed).detail.logits, samples[5]!.logits)).to.be.at.most(1e-4);
    expect(await injectFault('refuse-new-webgpu-devices')).to.equal(true);
    expect(await injectFault('lose-webgpu-device')).to.equal(true);
    const backend = next(element, 'bagnet-backend');
    const second = next(element, 'bagnet-result');
    element.src = samples[7]!.url;
    const { detail } = await second;
    expect(detail.backend).to.equal('wasm');
    expect(relativeError(detail.logits, samples[7]!.logits)).to.be.at.most(1e-4);
    expect((await backend).detail.reason).to.match(/device was lost/);
  });

  it('200 rapid src changes: only the last result is ever shown', async function () {
    this.timeout(120_000);
    const element = mount({ model: DEFAULT_MODEL, precision: 'fp32' });
    const shown: string[] = [];
    element.addEventListener('bagnet-result', (event) => {
      // Whatever is shown must be the classification of the src the element has now.
      expect(element.src).to.equal(samples.find((s) => s.predicted === event.detail.topk[0]!.index && s.url === element.src)?.url);
      shown.push(element.src);
    });
    for (let i = 0; i < 200; i++) {
      element.src = samples[i % 20]!.url;
      if (i % 3 === 0) await element.updateComplete; // some changes in one task, some across tasks
      if (i % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 1)); // some mid-run
    }
    await settled(element);
    await new Promise((resolve) => setTimeout(resolve, 300)); // nothing late arrives
    const last = samples[199 % 20]!;
    expect(shown).to.deep.equal([last.url]);
    expect(relativeError(element.result!.logits, last.logits)).to.be.at.most(1e-4);
    expect(getPool().snapshot().queued).to.equal(0);
  });

  it('without a Cache API at all, models still load', async () => {
    freshPool({}, ['remove-cache-api']);
    const result = await classify(samples[1]!.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' });
    expect(relativeError(result.logits, samples[1]!.logits)).to.be.at.most(1e-4);
  });

  it('storage quota exceeded: the model loads anyway, and is fetched again next time', async () => {
    const onnx = new URL('../../models/generated/bagnet33-narrow/model.onnx', import.meta.url).pathname;
    freshPool({ cache: `bagnet-quota-test-${Date.now()}` }, ['cache-quota-exceeded']);
    await serverHits(onnx, true);
    expect((await classify(noiseImage(48, 48, 1), { model: NARROW_MODEL, backend: 'wasm' })).evidence.rows).to.equal(2);
    expect(await serverHits(onnx)).to.equal(1);
    const cached = await (await caches.open(resolvePoolOptions().cacheName!)).keys();
    expect(cached, 'nothing was stored').to.have.length(0);
    getPool().terminateWorker(); // a fresh worker: the model must come from the network again
    expect((await classify(noiseImage(48, 48, 1), { model: NARROW_MODEL, backend: 'wasm' })).evidence.rows).to.equal(2);
    expect(await serverHits(onnx)).to.equal(2);
  });
});

describe('load', () => {
  before(async () => { samples = await loadSamples(); });
  beforeEach(() => freshPool());
  afterEach(() => document.body.replaceChildren());
  guardPage();

  it('500 requests from 20 elements: every result equals a single run', async function () {
    this.timeout(300_000);
    const single = new Map<string, ClassificationResult>();
    for (const sample of samples) single.set(sample.url, await classify(sample.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' }));
    const elements = Array.from({ length: 20 }, () => mount({ model: DEFAULT_MODEL, precision: 'fp32' }));
    let checked = 0;
    let worst = 0;
    await Promise.all(elements.map(async (element, e) => {
      for (let r = 0; r < 25; r++) {
        const url = samples[(e * 7 + r) % 20]!.url;
        const result = next(element, 'bagnet-result');
        element.src = url;
        const { detail } = await result;
        worst = Math.max(worst, relativeError(detail.logits, single.get(url)!.logits));
        expect(detail.topk[0]!.index).to.equal(single.get(url)!.topk[0]!.index);
        checked++;
      }
    }));
    expect(checked).to.equal(500);
    expect(worst, 'largest relative difference from a single run').to.be.at.most(1e-5);
    const stats = await getPool().stats();
    expect(stats.runs, 'requests were batched').to.be.below(500 + 20);
    expect(stats.worker!.sessions).to.equal(1);
  });
});

describe('hostile content', () => {
  before(async () => { samples = await loadSamples(); });
  beforeEach(() => freshPool());
  afterEach(() => document.body.replaceChildren());
  guardPage();

  it('labels and model names are rendered as text, never as markup', async () => {
    const model = new URL('xss-labels/bagnet.json', BAD_MODELS).href;
    const element = mount({ model, 'top-k': '2' });
    const result = next(element, 'bagnet-result');
    element.image = noiseImage(40, 40, 2);
    await result;
    await element.updateComplete;
    await new Promise((resolve) => setTimeout(resolve, 100)); // an injected onerror would have fired
    const root = element.shadowRoot!;
    const labels = [...root.querySelectorAll('[part="label"]')].map((node) => node.textContent);
    expect(labels).to.have.members(['<img src=x onerror="window.__xss=1">', '<b>bold</b>']);
    expect(root.querySelector('img[src="x"], b, script')).to.equal(null);
    expect((window as { __xss?: number }).__xss).to.equal(undefined);
  });

  it('model and image URLs other than http(s) and relative are refused', async () => {
    const image = noiseImage(40, 40, 3);
    for (const url of ['javascript:alert(1)', 'data:application/json,{}', 'blob:http://localhost/x', 'file:///etc/passwd']) {
      const asModel = await settle(classify(image, { model: url, backend: 'wasm' }));
      expect(asModel.ok, url).to.equal(false);
      expect((asModel as { error: { type: string } }).error.type, url).to.match(/^model-(load|invalid)$/);
      const asImage = await settle(classify(url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' }));
      expect((asImage as { error: { type: string; message: string } }).error.message, url).to.match(/must be http\(s\) or relative/);
    }
    const element = mount({ model: DEFAULT_MODEL, precision: 'fp32' });
    const error = next(element, 'bagnet-error');
    element.src = 'javascript:window.__xss=1';
    expect((await error).detail.type).to.equal('image-load');
    expect((window as { __xss?: number }).__xss).to.equal(undefined);
  });

  it('the worker rejects messages outside its protocol, acts on none, and keeps serving', async () => {
    const worker = new Worker(new URL('../../src/worker/inference-worker.js', import.meta.url), { type: 'module' });
    const replies: { id?: number; ok?: boolean; error?: { message: string } }[] = [];
    worker.addEventListener('message', (event) => replies.push(event.data));
    const malformed: unknown[] = [
      null, 'init', 42, [], { type: 'eval', id: 1, code: 'self.close()' }, { type: 'load', id: 2 },
      { type: 'run', id: 3, key: 7, requestIds: 'all' }, { type: 'prepare', id: 4, requestId: 1, source: { kind: 'file', path: '/etc/passwd' } },
      { type: 'test-hook', id: 5, action: 'crash' }, JSON.parse('{"__proto__": {"polluted": true}, "type": "stats", "id": -1}'),
      { type: 'exact', id: 6, key: 'k', requestId: 1, classes: new Array(100).fill(0) },
    ];
    for (const message of malformed) worker.postMessage(message);
    worker.postMessage({ type: 'init', settings: { ...resolvePoolOptions(), cacheName: null } });
    worker.postMessage({ type: 'stats', id: 99 });
    const deadline = Date.now() + 10_000;
    while (!replies.some((r) => r.id === 99) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    worker.terminate();
    const byId = new Map(replies.map((r) => [r.id, r]));
    for (const id of [1, 2, 3, 4, 6]) expect(byId.get(id)?.error?.message, `message ${id}`).to.match(/Malformed message rejected/);
    // The test hook is a valid message, but hooks are off: refused, and the worker did not crash.
    expect(byId.get(5)?.ok).to.equal(false);
    expect(byId.get(99)?.ok, 'still serving').to.equal(true);
    expect(({} as { polluted?: boolean }).polluted).to.equal(undefined);
  });

  it('a manifest with __proto__ keys loads no prototype pollution into the page', async () => {
    const response = await fetch(DEFAULT_MODEL);
    const manifest = await response.json() as Record<string, unknown>;
    const hostile = JSON.stringify({ ...manifest, constructor: { prototype: { polluted: true } } })
      .replace('"formatVersion"', '"__proto__": {"polluted": true}, "formatVersion"');
    const { validateManifest } = await import('../../src/core/manifest.js');
    const parsed = validateManifest(JSON.parse(hostile), DEFAULT_MODEL);
    expect(parsed.labels).to.have.length(10);
    expect(({} as { polluted?: boolean }).polluted).to.equal(undefined);
    expect(Object.getPrototypeOf(parsed)).to.not.have.property('polluted');
  });
});
