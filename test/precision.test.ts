/**
 * The fp16 and int8 files of the shipped models (models/bagnet_tools/precisions.py) run in the
 * browser as onnxruntime-node ran them (models/<folder>/samples.<precision>.json), `auto` picks what
 * core/precision.ts says, a variant that fails to load falls back to fp32 and says so, and the
 * exact map of an int8 model is its own patch-by-patch reference.
 */
import { expect } from '@esm-bundle/chai';
import { argmax } from '../src/core/evidence.js';
import { disposePool, getPool, type BackendEventDetail } from '../src/pool/pool.js';
import '../src/register.js';
import type { BagnetClassifier } from '../src/elements/classifier/bagnet-classifier.component.js';
import type { BagnetBackendDetail, BagnetLoadDetail } from '../src/elements/shared/events.js';
import { DEFAULT_MODEL, imageDataOf, noiseImage, relativeError } from './helpers.js';
import { bruteForceMap } from './reference.js';

interface VariantSample {
  file: string;
  predicted: number;
  logits: number[];
  patchDims: [number, number, number];
  patchLogits: number[];
}

const SHIPPED = ['default', 'bagnet13-fashion-mnist-w32'];

afterEach(async () => {
  await disposePool();
});

for (const folder of SHIPPED) {
  const base = new URL(`../models/${folder}/`, import.meta.url);
  const model = new URL('bagnet.json', base).href;
  for (const precision of ['fp16', 'int8'] as const) {
    it(`${folder}: the ${precision} file reproduces onnxruntime-node's logits of the 20 samples`, async () => {
      const samples: VariantSample[] = await (await fetch(new URL(`samples.${precision}.json`, base))).json();
      expect(samples).to.have.length(20);
      const pool = getPool();
      const results = await Promise.all(samples.map((s) => pool.classify(new URL(s.file, base).href, { model, backend: 'wasm', precision })));
      results.forEach((result, i) => {
        const sample = samples[i]!;
        expect(result.precision).to.equal(precision);
        expect([result.evidence.rows, result.evidence.cols, result.evidence.classes]).to.deep.equal(sample.patchDims);
        expect(argmax(result.logits), sample.file).to.equal(sample.predicted);
        if (precision === 'fp16') {
          // fp16 weights widened to fp32: the same float arithmetic as onnxruntime-node's.
          expect(relativeError(result.logits, sample.logits), sample.file).to.be.at.most(1e-4);
          expect(relativeError(result.evidence.data, sample.patchLogits), sample.file).to.be.at.most(1e-4);
        } else {
          // Integer kernels (node's x86, the browser's WASM SIMD) may round a requantisation differently.
          // Within 1e-3 of the largest |patch logit| (relativeError's measure).
          expect(relativeError(result.evidence.data, sample.patchLogits), sample.file).to.be.at.most(1e-3);
        }
      });
    });
  }
}

it('auto runs int8 on WASM for the default model, and the element says so', async () => {
  const element = document.createElement('bagnet-classifier') as BagnetClassifier;
  const loads: BagnetLoadDetail[] = [];
  const backends: BagnetBackendDetail[] = [];
  element.addEventListener('bagnet-load', (e) => loads.push(e.detail));
  element.addEventListener('bagnet-backend', (e) => backends.push(e.detail));
  Object.assign(element, { model: DEFAULT_MODEL, backend: 'wasm', src: new URL('../models/default/samples/00-t-shirt-top.png', import.meta.url).href });
  document.body.append(element);
  try {
    const result = await new Promise<BagnetClassifier['result']>((resolve, reject) => {
      element.addEventListener('bagnet-result', (e) => resolve(e.detail), { once: true });
      element.addEventListener('bagnet-error', (e) => reject(new Error(e.detail.message)), { once: true });
    });
    expect(element.precision).to.equal('auto');
    expect(result!.precision).to.equal('int8');
    expect(loads.map((l) => l.precision)).to.deep.equal(['int8']);
    expect(backends).to.have.length(1);
    expect(backends[0]).to.include({ requestedPrecision: 'auto', precision: 'int8', actual: 'wasm', reason: '' });
    expect(backends[0]!.precisionReason).to.match(/^int8 on wasm: its top-1 agrees with fp32 on 99\.\d\d%/);
    // Switching to fp32 loads the fp32 file: its logits are the Python references'.
    const samples: { file: string; logits: number[] }[] = await (await fetch(new URL('../models/default/samples.json', import.meta.url))).json();
    const next = new Promise<BagnetClassifier['result']>((resolve) => element.addEventListener('bagnet-result', (e) => resolve(e.detail), { once: true }));
    element.precision = 'fp32';
    const fp32 = await next;
    expect(fp32!.precision).to.equal('fp32');
    expect(element.getAttribute('precision')).to.equal('fp32');
    expect(relativeError(fp32!.logits, samples[0]!.logits)).to.be.at.most(1e-4);
    expect(relativeError(result!.logits, samples[0]!.logits)).to.be.above(1e-4); // it really was another file
  } finally {
    element.remove();
  }
});

it('auto runs the fp16 file on WebGPU, computed in fp32, as onnxruntime-node does', async () => {
  const base = new URL('../models/default/', import.meta.url);
  const samples: VariantSample[] = await (await fetch(new URL('samples.fp16.json', base))).json();
  const pool = getPool();
  for (const sample of samples.slice(0, 6)) {
    const result = await pool.classify(new URL(sample.file, base).href, { model: DEFAULT_MODEL, backend: 'webgpu' });
    expect(result.backend).to.equal('webgpu');
    expect(result.precision).to.equal('fp16'); // SwiftShader has no shader-f16: the smallest fp32-compute file
    expect(relativeError(result.evidence.data, sample.patchLogits), sample.file).to.be.at.most(1e-4);
  }
});

it('a variant that fails to load falls back to fp32 and says why', async () => {
  // The default model's files, with the int8 file's checksum broken (models/bagnet_tools/fixtures.py).
  const url = new URL('../models/generated/precision/broken-int8.json', import.meta.url).href;
  const pool = getPool();
  const events: BackendEventDetail[] = [];
  pool.addEventListener('backend', (e) => events.push((e as CustomEvent<BackendEventDetail>).detail));
  try {
    const image = new URL('../models/default/samples/00-t-shirt-top.png', import.meta.url).href;
    const result = await pool.classify(image, { model: url, backend: 'wasm' });
    expect(result.precision).to.equal('fp32');
    expect(events).to.have.length(1);
    expect(events[0]).to.include({ requestedPrecision: 'auto', precision: 'fp32', actual: 'wasm' });
    expect(events[0]!.reason).to.match(/^the int8 file did not load \(.*SHA-256.*\): fp32 runs instead$/i);
    // Asked for explicitly, the same: fp32 runs, and the event says so.
    const explicit = await pool.classify(image, { model: url, backend: 'wasm', precision: 'int8' });
    expect(explicit.precision).to.equal('fp32');
    expect(events.at(-1)).to.include({ requestedPrecision: 'int8', precision: 'fp32' });
    // A precision the model does not have is an error, not a fallback.
    const missing = await pool.classify(image, { model: url, backend: 'wasm', precision: 'int4' }).catch((e: unknown) => e);
    expect(missing).to.have.property('type', 'model-invalid');
    expect((missing as Error).message).to.contain('has no int4 file (it has: fp32, fp16, int8)');
  } finally {
    disposePool();
  }
});

it('the exact map of the int8 model equals its own patch-by-patch reference', async function () {
  this.timeout(300_000);
  const pool = getPool();
  const image = await imageDataOf(new URL('../models/default/samples/10-sandal.png', import.meta.url).href);
  const result = await pool.classify(image, { model: DEFAULT_MODEL, backend: 'wasm', precision: 'int8' });
  expect(result.precision).to.equal('int8');
  const classes = [result.topk[0]!.index, result.topk[1]!.index];
  const exact = await pool.exactMap(result, { classes });
  const manifest = await pool.manifest(DEFAULT_MODEL);
  const int8 = await bruteForceMap(manifest, image, classes, 'int8');
  expect(relativeError(exact.data, int8)).to.be.at.most(1e-4);
  // …and not fp32's (the map explains the int8 model's own logits).
  expect(relativeError(exact.data, await bruteForceMap(manifest, image, classes))).to.be.above(1e-3);
});

it('an int8 model whose stages are fp32 maps shift by shift on its own file: its own reference, not fp32\'s', async function () {
  this.timeout(300_000);
  // The narrow BagNet-33 fixture with its fp16 and int8 files (models/bagnet_tools/fixtures.py): its
  // exact-map stages take their weights from the fp32 file, so they would explain another model.
  const model = new URL('../models/generated/bagnet33-narrow/precisions.json', import.meta.url).href;
  const pool = getPool();
  const manifest = await pool.manifest(model);
  expect(manifest.stages!.map((stage) => stage.externalData!.precision)).to.deep.equal(['fp32', 'fp32', 'fp32', 'fp32']);
  const image = noiseImage(40, 44, 3);
  const classes = [0, 9];
  const exact = await pool.exactMap(image, { model, backend: 'wasm', precision: 'int8', classes });
  expect([exact.height, exact.width]).to.deep.equal([44, 40]);
  expect(relativeError(exact.data, await bruteForceMap(manifest, image, classes, 'int8'))).to.be.at.most(1e-4);
  expect(relativeError(exact.data, await bruteForceMap(manifest, image, classes))).to.be.above(1e-3);
  // Its fp32 map (from the stages) is fp32's.
  const fp32 = await pool.exactMap(image, { model, backend: 'wasm', precision: 'fp32', classes });
  expect(relativeError(fp32.data, await bruteForceMap(manifest, image, classes))).to.be.at.most(1e-4);
});
