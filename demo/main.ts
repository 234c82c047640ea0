// The demo page: the shipped default model classifies the 20 sample images.
// (Until the worker pool lands it calls the runtime directly; the elements will replace this.)
import { meanLogits, topK } from '../src/core/evidence.js';
import { loadManifest } from '../src/core/manifest.js';
import { pixelsToTensor, resizePlan } from '../src/core/preprocess.js';
import { createSession } from '../src/runtime/onnx.js';

interface Sample { file: string; label: string }

const modelDir = new URL('../models/default/', import.meta.url);
const status = document.getElementById('status')!;
const grid = document.getElementById('grid')!;

async function imagePixels(url: URL, width: number, height: number): Promise<ImageData> {
  const bitmap = await createImageBitmap(await (await fetch(url)).blob());
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d')!;
  context.drawImage(bitmap, 0, 0, width, height);
  bitmap.close();
  return context.getImageData(0, 0, width, height);
}

async function main(): Promise<void> {
  const manifest = await loadManifest(new URL('bagnet.json', modelDir).href);
  document.getElementById('model')!.textContent =
    `${manifest.name}: BagNet with ${manifest.patchSize}×${manifest.patchSize} patches, ` +
    `top-1 ${((manifest.metrics.top1 ?? 0) * 100).toFixed(1)}% on ${manifest.metrics.dataset}.`;
  const bytes = new Uint8Array(await (await fetch(manifest.files.fp32.url)).arrayBuffer());
  const session = await createSession(bytes, 'wasm');
  const samples: Sample[] = await (await fetch(new URL('samples.json', modelDir))).json();
  let correct = 0;
  for (const sample of samples) {
    const url = new URL(sample.file, modelDir);
    const plan = resizePlan(28, 28, manifest.input.resize);
    const pixels = await imagePixels(url, plan.width, plan.height);
    const started = performance.now();
    const { data, dims } = await session.run(pixelsToTensor(pixels.data, plan.width, plan.height, manifest.input),
      [1, manifest.input.channels, plan.height, plan.width]);
    const elapsed = performance.now() - started;
    const [best] = topK(meanLogits(data, dims[1] * dims[2], dims[3]), 1);
    const predicted = manifest.labels[best!.index]!;
    if (predicted === sample.label) correct++;
    const item = document.createElement('li');
    const figure = item.appendChild(document.createElement('figure'));
    figure.className = predicted === sample.label ? 'ok' : 'wrong';
    const img = figure.appendChild(document.createElement('img'));
    img.src = url.href;
    img.alt = `Sample: ${sample.label}`;
    const caption = figure.appendChild(document.createElement('figcaption'));
    caption.textContent = `${predicted} (${(best!.probability * 100).toFixed(0)}%), true: ${sample.label}, ${elapsed.toFixed(1)} ms`;
    grid.appendChild(item).style.listStyle = 'none';
  }
  status.textContent = `${correct} of ${samples.length} samples right (${session.backend}).`;
  await session.release();
}

main().catch((error: unknown) => {
  status.textContent = `Error: ${error instanceof Error ? error.message : String(error)}`;
});
