import { expect } from '@esm-bundle/chai';
import { defaultWasmThreads } from '../src/core/settings.js';

const CHROMIUM = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36';
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0';

describe('defaultWasmThreads', () => {
  it('all cores where the page is cross-origin isolated, else one', () => {
    expect(defaultWasmThreads({ crossOriginIsolated: true, cores: 8, userAgent: CHROMIUM })).to.equal(8);
    expect(defaultWasmThreads({ crossOriginIsolated: false, cores: 8, userAgent: CHROMIUM })).to.equal(1);
    expect(defaultWasmThreads({ crossOriginIsolated: true, cores: 0, userAgent: CHROMIUM })).to.equal(1);
  });

  it('one in Firefox, isolated or not (its worker at times hangs in a run with 2 threads: README)', () => {
    expect(defaultWasmThreads({ crossOriginIsolated: true, cores: 8, userAgent: FIREFOX })).to.equal(1);
    expect(defaultWasmThreads({ crossOriginIsolated: false, cores: 8, userAgent: FIREFOX })).to.equal(1);
  });
});
