/**
 * A model trained by `bagnet_tools.train` (on the shapes data set of models/bagnet_tools/shapes.py,
 * written to build/trained/shapes by `npm run fixtures` or the trainer's own tests) loads in the
 * browser as it is, and the pool reproduces the Python logits of its samples (samples.json, from the
 * PNGs read back) and its DICOM preprocessing is in the manifest.
 */
import { expect } from '@esm-bundle/chai';
import { loadManifest } from '../src/core/manifest.js';
import { getPool } from '../src/pool/pool.js';
import { relativeError, usePagePool } from './helpers.js';

const FOLDER = new URL('../build/trained/shapes/', import.meta.url);
const MODEL = new URL('bagnet.json', FOLDER).href;

interface TrainedSample { file: string; label: string; labelIndex: number; predicted: number; logits: number[] }

describe('a model trained by bagnet_tools.train', () => {
  usePagePool();

  it('validates, with the DICOM preprocessing it was trained with', async () => {
    const manifest = await loadManifest(MODEL);
    expect(manifest.labels).to.deep.equal(['cross', 'frame', 'plus']);
    expect(manifest.input.dicom).to.deep.equal({ window: 'file', invertMonochrome1: true });
    expect(manifest.metrics.top1).to.be.at.least(0.95);
  });

  for (const precision of ['fp32', 'int8'] as const) {
    it(`reproduces the Python logits of its samples (${precision})`, async () => {
      const name = precision === 'fp32' ? 'samples.json' : `samples.${precision}.json`;
      const samples: TrainedSample[] = await (await fetch(new URL(name, FOLDER))).json();
      expect(samples).to.have.length(6);
      const results = await Promise.all(samples.map((sample) =>
        getPool().classify(new URL(sample.file, FOLDER).href, { model: MODEL, backend: 'wasm', precision })));
      results.forEach((result, i) => {
        const error = relativeError(result.logits, samples[i]!.logits);
        expect(error, `${samples[i]!.file}: relative error`).to.be.at.most(precision === 'fp32' ? 1e-4 : 1e-3);
        expect(result.topk[0]!.index, samples[i]!.file).to.equal(samples[i]!.predicted);
        expect(result.precision).to.equal(precision);
      });
    });
  }
});

describe('the demo page with ?model= (the README\'s "Your own model" walk-through)', () => {
  it('shows the trained model\'s samples and classifies them with it', async function () {
    this.timeout(60_000);
    const iframe = document.createElement('iframe');
    iframe.style.cssText = 'width: 1000px; height: 800px';
    iframe.src = '/demo/index.html?model=/build/trained/shapes/';
    document.body.append(iframe);
    try {
      await new Promise((resolve) => iframe.addEventListener('load', resolve, { once: true }));
      const doc = iframe.contentDocument!;
      const detail = await new Promise<{ topk: { label: string }[]; model: { url: string } }>((resolve, reject) => {
        doc.addEventListener('bagnet-result', (e) => resolve((e as CustomEvent).detail), { once: true });
        doc.addEventListener('bagnet-error', (e) => reject(new Error((e as CustomEvent).detail.message)), { once: true });
      });
      const samples: TrainedSample[] = await (await fetch(new URL('samples.json', FOLDER))).json();
      expect(detail.model.url).to.equal(new URL('/build/trained/shapes/bagnet.json', location.href).href);
      expect(detail.topk[0]!.label).to.equal(['cross', 'frame', 'plus'][samples[0]!.predicted]);
      expect(doc.querySelectorAll('#samples button')).to.have.length(samples.length);
    } finally {
      iframe.remove();
    }
  });
});
