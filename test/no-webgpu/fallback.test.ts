/** In a browser with no WebGPU adapter: `auto` runs on WASM and says why; `webgpu` fails clearly. */
import { expect } from '@esm-bundle/chai';
import { BagnetError } from '../../src/core/errors.js';
import { configure } from '../../src/pool/config.js';
import { classify, disposePool, getPool, type BackendEventDetail } from '../../src/pool/pool.js';
import { DEFAULT_MODEL, loadSamples, relativeError, settle } from '../helpers.js';

describe('without WebGPU', () => {
  after(() => disposePool());

  it('auto falls back to WASM at session creation and reports the reason', async () => {
    const adapter = await (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu?.requestAdapter();
    expect(adapter ?? null, 'this browser must have no WebGPU adapter').to.equal(null);
    configure({ cache: 'bagnet-test-no-webgpu' });
    const events: BackendEventDetail[] = [];
    getPool().addEventListener('backend', (event) => events.push((event as CustomEvent<BackendEventDetail>).detail));
    const [sample] = await loadSamples();
    const result = await classify(sample!.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'auto' });
    expect(result.backend).to.equal('wasm');
    expect(relativeError(result.logits, sample!.logits)).to.be.at.most(1e-4);
    expect(events).to.have.length(1);
    expect(events[0]).to.deep.include({ requested: 'auto', actual: 'wasm' });
    // Chromium without --enable-unsafe-webgpu has navigator.gpu but no adapter; Firefox ESR on Linux has
    // no navigator.gpu at all: the reason names which.
    expect(events[0]!.reason).to.match('gpu' in navigator ? /no WebGPU adapter/ : /navigator\.gpu is missing/);
  });

  it('an explicit webgpu request fails with a backend error, and WASM still works', async () => {
    const [sample] = await loadSamples();
    const outcome = await settle(classify(sample!.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'webgpu' }));
    expect(outcome.ok).to.equal(false);
    const error = (outcome as { error: unknown }).error as BagnetError;
    expect(error).to.be.instanceOf(BagnetError);
    expect(error.type).to.equal('backend');
    expect(error.message).to.match(/webgpu backend is not available/);
    expect((await classify(sample!.url, { model: DEFAULT_MODEL, precision: 'fp32', backend: 'wasm' })).backend).to.equal('wasm');
  });
});
