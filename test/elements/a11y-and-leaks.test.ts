import { expect } from '@esm-bundle/chai';
import '../../src/register.js';
import { getPool } from '../../src/pool/pool.js';
import { DEFAULT_MODEL, loadAxe, nextEvent, usePagePool } from '../helpers.js';

declare global { interface Window { gc?: () => void } }

function heapBytes(): number {
  window.gc?.();
  return (performance as Performance & { memory: { usedJSHeapSize: number } }).memory.usedJSHeapSize;
}

describe('accessibility and leaks', () => {
  const samples = usePagePool({ idleReleaseMs: 5_000 });

  it('axe-core finds no violations in the three elements with results', async function () {
    this.timeout(120_000);
    const main = document.createElement('main');
    main.innerHTML = `<h1>Test page</h1>
      <bagnet-classifier id="c" model="${DEFAULT_MODEL}" backend="wasm" picker alt="A sample"></bagnet-classifier>
      <bagnet-heatmap for="c"></bagnet-heatmap>
      <bagnet-patches for="c" count="3"></bagnet-patches>`;
    const result = nextEvent(main, 'bagnet-result');
    document.body.append(main);
    (main.querySelector('bagnet-classifier') as HTMLElement & { src: string }).src = samples[2]!.url;
    await result;
    await new Promise((resolve) => setTimeout(resolve, 300));
    const axe = await loadAxe();
    const { violations } = await axe.run(main, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'best-practice'] } });
    expect(violations.map((v) => `${v.id} (${v.impact}): ${v.help}`)).to.deep.equal([]);
  });

  /** One element added, classified and removed. */
  const cycle = async (i: number) => {
    const element = document.createElement('bagnet-classifier');
    Object.assign(element, { model: DEFAULT_MODEL, backend: 'wasm', src: samples[i % 20]!.url });
    const result = nextEvent(element, 'bagnet-result');
    document.body.append(element);
    await result;
    element.remove();
  };

  it('100 add/remove cycles do not grow sessions or workers; the model is released when idle', async function () {
    this.timeout(300_000);
    for (let i = 0; i < 100; i++) await cycle(i);
    const stats = await getPool().stats();
    expect(stats.workers).to.equal(1);
    expect(stats.worker!.sessions, 'one shared session').to.equal(1);
    expect(stats.worker!.sessionsCreated, 'never reloaded').to.equal(1);
    expect(stats.worker!.prepared).to.equal(0);
    expect(stats.queued).to.equal(0);
    // After the idle delay, the model is released.
    await new Promise((resolve) => setTimeout(resolve, 5_500));
    expect((await getPool().stats()).worker!.sessions).to.equal(0);
  });

  it('100 add/remove cycles do not grow the page\'s JS heap', async function () {
    this.timeout(300_000);
    for (let i = 0; i < 5; i++) await cycle(i); // warm up: model loaded, caches filled
    const before = heapBytes();
    for (let i = 0; i < 100; i++) await cycle(i);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const grown = heapBytes() - before;
    expect(grown, `heap grew by ${grown} bytes`).to.be.below(2_000_000);
  });
});
