/**
 * The shipped Fashion-MNIST models (the default and the more accurate width-32 one), run by
 * onnxruntime-web in Chromium, predict their 20 sample images exactly as the Python evaluation that
 * made them (models/<folder>/samples.json).
 */
import { expect } from '@esm-bundle/chai';
import { argmax, meanLogits } from '../src/core/evidence.js';
import { loadManifest, type BagnetManifest } from '../src/core/manifest.js';
import { pixelsToTensor } from '../src/core/preprocess.js';
import { createSession, type ModelSession } from '../src/runtime/onnx.js';
import { relativeError } from './helpers.js';

interface Sample {
  file: string;
  label: string;
  labelIndex: number;
  predicted: number;
  logits: number[];
}

const SHIPPED_MODELS = ['default', 'bagnet13-fashion-mnist-w32'];

async function decodeRgba(url: URL): Promise<ImageData> {
  const blob = await (await fetch(url)).blob();
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext('2d')!;
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  return context.getImageData(0, 0, canvas.width, canvas.height);
}

for (const folder of SHIPPED_MODELS) {
  describe(`${folder} model in onnxruntime-web`, () => {
    const MODEL_DIR = new URL(`../models/${folder}/`, import.meta.url);
    let manifest: BagnetManifest;
    let samples: Sample[];
    let session: ModelSession;

    before(async () => {
      manifest = await loadManifest(new URL('bagnet.json', MODEL_DIR).href);
      samples = await (await fetch(new URL('samples.json', MODEL_DIR))).json();
      const bytes = new Uint8Array(await (await fetch(manifest.files.fp32.url)).arrayBuffer());
      session = await createSession(bytes, 'wasm');
    });

    after(async () => {
      await session?.release();
    });

    it('has a valid manifest that matches the ONNX contract', () => {
      expect(manifest.input.channels).to.equal(1);
      expect(manifest.patchSize).to.be.at.most(13);
      expect(manifest.metrics.top1).to.be.at.least(0.92);
      expect(session.inputNames).to.deep.equal(['input']);
      expect(session.outputNames).to.deep.equal(['patch_logits']);
      expect(samples).to.have.length(20);
    });

    it('predicts every sample as the Python evaluation does (batch of 20)', async () => {
      const size = 28;
      const batch = new Float32Array(samples.length * size * size);
      for (const [i, sample] of samples.entries()) {
        const image = await decodeRgba(new URL(sample.file, MODEL_DIR));
        expect([image.width, image.height]).to.deep.equal([size, size]);
        batch.set(pixelsToTensor(image.data, size, size, manifest.input), i * size * size);
      }
      const { data, dims } = await session.run(batch, [samples.length, 1, size, size]);
      const [n, rows, cols, classes] = dims;
      expect(n).to.equal(samples.length);
      expect(rows).to.be.at.least(8);
      expect(cols).to.be.at.least(8);
      expect(classes).to.equal(manifest.labels.length);
      const perImage = rows * cols * classes;
      for (const [i, sample] of samples.entries()) {
        const logits = meanLogits(data.subarray(i * perImage, (i + 1) * perImage), rows * cols, classes);
        expect(argmax(logits), sample.file).to.equal(sample.predicted);
        expect(relativeError(logits, sample.logits), sample.file).to.be.at.most(1e-4);
      }
    });

    it('gives the same logits for an image run alone', async () => {
      const sample = samples[7]!;
      const image = await decodeRgba(new URL(sample.file, MODEL_DIR));
      const { data, dims } = await session.run(pixelsToTensor(image.data, 28, 28, manifest.input), [1, 1, 28, 28]);
      const logits = meanLogits(data, dims[1] * dims[2], dims[3]);
      expect(relativeError(logits, sample.logits)).to.be.at.most(1e-4);
    });
  });
}
