/**
 * Every documented error type, reached through the public API (`classify()` and the pool), each by a
 * real cause; the list of types reached must be the whole list, so a new type comes with its test.
 */
import { expect } from '@esm-bundle/chai';
import { BagnetError, ERROR_TYPES, type BagnetErrorType } from '../../src/core/errors.js';
import { classify, disposePool, getPool } from '../../src/pool/pool.js';
import { freshFaultPool, injectFault } from '../fixtures/faults.js';
import { DEFAULT_MODEL, loadSamples, noiseImage, NARROW_MODEL, settle, type Sample } from '../helpers.js';

const FIXTURES = new URL('../../build/reliability/', import.meta.url);

let samples: Sample[] = [];

const causes: [BagnetErrorType, string, () => Promise<unknown>][] = [
  ['model-load', 'a manifest that is not there', () => classify(samples[0]!.url, { model: new URL('models/missing/bagnet.json', FIXTURES).href, backend: 'wasm' })],
  ['model-invalid', 'a manifest with missing fields', () => classify(samples[0]!.url, { model: new URL('models/missing-fields/bagnet.json', FIXTURES).href, backend: 'wasm' })],
  ['image-load', 'an image URL that answers 404', () => classify(new URL('../../build/reliability/not-there.png', import.meta.url).href, { model: DEFAULT_MODEL, backend: 'wasm' })],
  ['image-invalid', 'a text file given as an image', () => classify(new Blob(['not an image'], { type: 'text/plain' }), { model: DEFAULT_MODEL, backend: 'wasm' })],
  ['backend', 'a backend that does not exist', () => classify(samples[0]!.url, { model: DEFAULT_MODEL, backend: 'cuda' as 'wasm' })],
  ['inference', 'the worker crashing mid-run', async () => {
    const pending = classify(noiseImage(700, 700, 1), { model: NARROW_MODEL, backend: 'wasm' });
    while (getPool().snapshot().running === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await injectFault('crash');
    return pending;
  }],
  ['aborted', 'a signal aborted while the request waits', () => {
    const controller = new AbortController();
    const pending = classify(samples[0]!.url, { model: DEFAULT_MODEL, backend: 'wasm', signal: controller.signal });
    controller.abort();
    return pending;
  }],
];

describe('error types through the public API', () => {
  before(async () => { samples = await loadSamples(); });
  beforeEach(() => freshFaultPool({ cache: 'bagnet-test-cache', idleReleaseMs: 10_000, maxRunPixels: 128 * 128 }));
  after(() => disposePool());

  for (const [type, cause, run] of causes) {
    it(`${type}: ${cause}`, async function () {
      this.timeout(120_000);
      const outcome = await settle(run());
      expect(outcome.ok, 'a rejection').to.equal(false);
      const error = (outcome as { error: unknown }).error;
      expect(error).to.be.instanceOf(BagnetError);
      expect((error as BagnetError).type, (error as Error).message).to.equal(type);
      expect((error as Error).message.length, 'a message').to.be.greaterThan(10);
    });
  }

  it('covers every documented type', () => {
    expect(causes.map(([type]) => type).sort()).to.deep.equal([...ERROR_TYPES].sort());
  });
});
