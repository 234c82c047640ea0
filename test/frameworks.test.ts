/**
 * "Any framework": React 19 and Vue 3 pages that set properties and listen to events.
 */
import { expect } from '@esm-bundle/chai';
// React, bundled as an ES module by web-test-runner.config.mjs (React itself ships CommonJS only).
import { createElement, createRoot, flushSync } from '../build/test-vendor/react.js';
import { createApp, ref } from 'vue/dist/vue.esm-browser.js';
import '../src/register.js';
import type { ClassificationResult } from '../src/core/result.js';
import { DEFAULT_MODEL, usePagePool } from './helpers.js';

function waitFor<T>(list: T[], count: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const check = () => (list.length >= count ? resolve() : performance.now() - started > 30_000 ? reject(new Error('timeout')) : setTimeout(check, 20));
    check();
  });
}

describe('frameworks', () => {
  const samples = usePagePool();

  it('React 19: properties (a Blob image, top-k) and bagnet-result events', async () => {
    const container = document.body.appendChild(document.createElement('div'));
    const root = createRoot(container);
    const results: ClassificationResult[] = [];
    const render = (image: Blob) => flushSync(() => root.render(createElement('bagnet-classifier', {
      model: DEFAULT_MODEL, backend: 'wasm', image, 'top-k': 2,
      'onbagnet-result': (event: CustomEvent<ClassificationResult>) => results.push(event.detail),
    })));
    const [a, b] = [samples[0]!, samples[19]!];
    render(await (await fetch(a.url)).blob());
    const element = container.querySelector('bagnet-classifier')!;
    expect(element.image).to.be.instanceOf(Blob); // a property, not an attribute
    await waitFor(results, 1);
    expect(results[0]!.topk[0]!.index).to.equal(a.predicted);
    expect(results[0]!.topk).to.have.length(2);
    render(await (await fetch(b.url)).blob());
    await waitFor(results, 2);
    expect(results[1]!.topk[0]!.index).to.equal(b.predicted);
    root.unmount();
  });

  it('Vue 3: :prop bindings and @bagnet-result listeners', async () => {
    const container = document.body.appendChild(document.createElement('div'));
    const results: ClassificationResult[] = [];
    const src = ref(samples[3]!.url);
    const app = createApp({
      setup: () => ({ src, model: DEFAULT_MODEL, onResult: (event: CustomEvent<ClassificationResult>) => results.push(event.detail) }),
      template: `<bagnet-heatmap id="vue-heatmap" :model="model" backend="wasm" :src="src" :percentile.prop="95" @bagnet-result="onResult"></bagnet-heatmap>`,
    });
    app.config.compilerOptions.isCustomElement = (tag: string) => tag.startsWith('bagnet-');
    app.mount(container);
    await waitFor(results, 1);
    expect(results[0]!.topk[0]!.index).to.equal(samples[3]!.predicted);
    const element = container.querySelector('bagnet-heatmap')!;
    expect(element.percentile).to.equal(95);
    src.value = samples[8]!.url;
    await waitFor(results, 2);
    expect(results[1]!.topk[0]!.index).to.equal(samples[8]!.predicted);
    app.unmount();
  });
});
