import { expect } from '@esm-bundle/chai';
import { BagnetClassifier } from '../../src/elements/classifier/bagnet-classifier.component.js';
import type { BagnetEventMap } from '../../src/elements/shared/events.js';

import { DEFAULT_MODEL, relativeError, usePagePool } from '../helpers.js';

let counter = 0;
/** A fresh tag per test, so no test sees another's registration. */
function defineTag(): string {
  const tag = `test-classifier-${++counter}`;
  customElements.define(tag, class extends BagnetClassifier {});
  return tag;
}

function nextEvent<K extends keyof BagnetEventMap>(target: EventTarget, type: K): Promise<BagnetEventMap[K]> {
  return new Promise((resolve) => target.addEventListener(type, (event) => resolve(event as BagnetEventMap[K]), { once: true }));
}

function mount(tag: string, attributes: Record<string, string> = {}): BagnetClassifier {
  const element = document.createElement(tag) as BagnetClassifier;
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  document.body.append(element);
  return element;
}

describe('<bagnet-classifier>', () => {
  const samples = usePagePool();

  it('classifies its src and shows the top-k as text and bars', async () => {
    const sample = samples[7]!;
    const events: string[] = [];
    const element = document.createElement(defineTag()) as BagnetClassifier;
    for (const type of ['bagnet-progress', 'bagnet-load', 'bagnet-backend', 'bagnet-result'] as const) {
      element.addEventListener(type, () => events.push(type));
    }
    element.setAttribute('model', DEFAULT_MODEL);
    element.setAttribute('backend', 'wasm');
    element.setAttribute('precision', 'fp32'); // compared with the fp32 Python references
    element.setAttribute('top-k', '3');
    element.setAttribute('src', sample.url);
    const result = nextEvent(document.body, 'bagnet-result'); // bubbles and is composed
    document.body.append(element);
    const { detail } = await result;
    await element.updateComplete;
    expect(detail.topk).to.have.length(3);
    expect(detail.topk[0]!.index).to.equal(sample.predicted);
    expect(relativeError(detail.logits, sample.logits)).to.be.at.most(1e-4);
    expect(element.result).to.equal(detail);
    expect(element.state).to.equal('result');
    const labels = [...element.shadowRoot!.querySelectorAll('[part="label"]')].map((n) => n.textContent);
    expect(labels).to.deep.equal(detail.topk.map((t) => t.label));
    const bar = element.shadowRoot!.querySelector('[part="bar"]') as HTMLElement;
    expect(Number(bar.style.getPropertyValue('--p'))).to.be.closeTo(detail.topk[0]!.probability, 1e-9);
    expect(element.shadowRoot!.querySelector('[role="status"]')!.textContent).to.contain(detail.topk[0]!.label);
    expect(events.filter((e) => e === 'bagnet-load')).to.have.length(1);
    expect(events.at(-1)).to.equal('bagnet-result');
    expect(events.indexOf('bagnet-load')).to.be.below(events.indexOf('bagnet-result'));
  });

  it('takes a Blob through the image property, and a dropped file with the picker', async () => {
    const tag = defineTag();
    const [a, b] = [samples[2]!, samples[15]!];
    const element = mount(tag, { model: DEFAULT_MODEL, backend: 'wasm', picker: '' });
    let result = nextEvent(element, 'bagnet-result');
    element.image = await (await fetch(a.url)).blob();
    expect((await result).detail.topk[0]!.index).to.equal(a.predicted);
    const file = new File([await (await fetch(b.url)).blob()], 'b.png', { type: 'image/png' });
    const transfer = new DataTransfer();
    transfer.items.add(file);
    result = nextEvent(element, 'bagnet-result');
    element.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    expect((await result).detail.topk[0]!.index).to.equal(b.predicted);
    expect(element.tabIndex).to.equal(0);
    expect(element.shadowRoot!.querySelector('input[type="file"]')).to.exist;
  });

  it('drops stale results when src changes mid-run', async () => {
    const element = mount(defineTag(), { model: DEFAULT_MODEL, backend: 'wasm' });
    const results: number[] = [];
    element.addEventListener('bagnet-result', (event) => results.push(event.detail.topk[0]!.index));
    for (const sample of samples.slice(0, 6)) {
      element.src = sample.url;
      await element.updateComplete;
    }
    const last = samples[5]!;
    await new Promise<void>((resolve) => {
      const check = () => (element.result && element.state === 'result' ? resolve() : setTimeout(check, 10));
      check();
    });
    await new Promise((resolve) => setTimeout(resolve, 300)); // nothing late arrives
    expect(element.result!.topk[0]!.index).to.equal(last.predicted);
    expect(results).to.deep.equal([last.predicted]);
  });

  it('shows the error state and fires bagnet-error for an unreadable image; others keep working', async () => {
    const tag = defineTag();
    const broken = mount(tag, { model: DEFAULT_MODEL, backend: 'wasm' });
    const healthy = mount(tag, { model: DEFAULT_MODEL, backend: 'wasm' });
    const error = nextEvent(broken, 'bagnet-error');
    broken.image = new Blob(['this is not an image'], { type: 'image/png' });
    const { detail } = await error;
    expect(detail.type).to.equal('image-invalid');
    await broken.updateComplete;
    expect(broken.state).to.equal('error');
    expect(broken.shadowRoot!.querySelector('[part="error"][role="alert"]')!.textContent).to.contain('Could not decode');
    const ok = nextEvent(healthy, 'bagnet-result');
    healthy.src = samples[0]!.url;
    expect((await ok).detail.topk[0]!.index).to.equal(samples[0]!.predicted);
  });

  it('an image smaller than the patch size is an image-invalid error', async () => {
    const element = mount(defineTag(), { model: DEFAULT_MODEL, backend: 'wasm' });
    const error = nextEvent(element, 'bagnet-error');
    element.image = new ImageData(8, 8); // the default model resizes to 28×28, so use a model that does not:
    element.model = new URL('../../models/generated/synthetic-brightness/bagnet.json', import.meta.url).href;
    const { detail } = await error;
    expect(detail.type).to.equal('image-invalid');
    expect(detail.message).to.match(/8×8 pixels .* smaller than the model's 9×9 patch/);
  });

  it('waits for the viewport with loading="lazy"', async () => {
    const tag = defineTag();
    const spacer = document.createElement('div');
    spacer.style.height = '5000px';
    document.body.append(spacer);
    const element = mount(tag, { model: DEFAULT_MODEL, backend: 'wasm', loading: 'lazy', src: samples[1]!.url });
    let fired = false;
    element.addEventListener('bagnet-load', () => { fired = true; });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(fired, 'no load while off screen').to.equal(false);
    expect(element.state).to.equal('idle');
    const result = nextEvent(element, 'bagnet-result');
    element.scrollIntoView();
    expect((await result).detail.topk[0]!.index).to.equal(samples[1]!.predicted);
  });
});
