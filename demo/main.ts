// The demo page: the shipped default model in the three elements, or the model folder named by
// `?model=` (same origin; e.g. one made by `bagnet_tools.train`: /demo/?model=/build/models/mine/).
import '../src/register.js';
import type { BagnetClassifier, BagnetHeatmap, BagnetPatches } from '../src/index.js';

interface Sample { file: string; label: string }

const modelDir = chosenModel() ?? new URL('../models/default/', import.meta.url);
const classifier = document.getElementById('main') as BagnetClassifier;
const heatmap = document.getElementById('heatmap') as BagnetHeatmap;
const patches = document.getElementById('patches') as BagnetPatches;
classifier.model = patches.model = new URL('bagnet.json', modelDir).href;

/** The folder of `?model=`, when it is on this origin (a demo page loads no one else's model). */
function chosenModel(): URL | null {
  const folder = new URLSearchParams(location.search).get('model');
  if (!folder) return null;
  const url = new URL(folder.endsWith('/') ? folder : `${folder}/`, location.href);
  return url.origin === location.origin ? url : null;
}
const status = document.getElementById('status')!;
const controls = document.getElementById('controls') as HTMLFormElement;

async function main(): Promise<void> {
  const manifest = await (await fetch(new URL('bagnet.json', modelDir))).json();
  document.getElementById('patch-size')!.textContent = `${manifest.patchSize}×${manifest.patchSize}`;
  document.getElementById('accuracy')!.textContent = `${(manifest.metrics.top1 * 100).toFixed(1)}%`;
  const targets = controls.elements.namedItem('target') as HTMLSelectElement;
  for (const [index, label] of (manifest.labels as string[]).entries()) targets.add(new Option(label, String(index)));

  const samples: Sample[] = await (await fetch(new URL('samples.json', modelDir))).json();
  const gallery = document.getElementById('samples')!;
  // One list item per sample, holding a toggle button (aria-pressed) named by its image's alt text;
  // the sample shown is the one pressed.
  const buttons = samples.map((sample, i) => {
    const item = document.createElement('li');
    const button = item.appendChild(document.createElement('button'));
    button.type = 'button';
    button.setAttribute('aria-pressed', String(i === 0));
    const img = button.appendChild(document.createElement('img'));
    img.src = new URL(sample.file, modelDir).href;
    img.alt = `Sample ${i + 1}: ${sample.label}`;
    button.addEventListener('click', () => {
      buttons.forEach((b) => b.setAttribute('aria-pressed', String(b === button)));
      classifier.src = img.src;
    });
    gallery.append(item);
    return button;
  });
  classifier.src = new URL(samples[0]!.file, modelDir).href;
  patches.images = samples.map((s) => ({ image: new URL(s.file, modelDir).href, label: s.label }));

  controls.addEventListener('input', () => {
    const data = new FormData(controls);
    Object.assign(heatmap, {
      mode: data.get('mode'), resolution: data.get('resolution'), colormap: data.get('colormap'),
      sign: data.get('sign'), threshold: Number(data.get('threshold')), target: data.get('target'),
    });
  });
  classifier.addEventListener('bagnet-result', (event) => {
    const { topk, backend, precision, timings } = event.detail;
    patches.target = String(topk[0]!.index);
    document.getElementById('patch-class')!.textContent = topk[0]!.label;
    status.textContent = `${topk[0]!.label} (${(topk[0]!.probability * 100).toFixed(1)}%) on ${backend} (${precision}) in ${timings.totalMs.toFixed(0)} ms.`;
  });
  document.addEventListener('bagnet-error', (event) => {
    status.textContent = `Error (${event.detail.type}): ${event.detail.message}`;
  });
}

main().catch((error: unknown) => {
  status.textContent = `Error: ${error instanceof Error ? error.message : String(error)}`;
});
