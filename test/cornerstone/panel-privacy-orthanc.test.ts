/**
 * The plugin's panel (follows the stack, picks the overlay's target), its privacy (no request but the
 * image and the model's assets), and an end-to-end run against a real Orthanc over DICOMweb.
 */
import { expect } from '@esm-bundle/chai';
import { wadors } from '@cornerstonejs/dicom-image-loader';
import { BagnetCornerstonePanel, BagnetOverlay } from '../../src/plugins/cornerstone/index.js';
import { executeServerCommand } from '@web/test-runner-commands';
import { configure } from '../../src/pool/config.js';
import { disposePool, getPool } from '../../src/pool/pool.js';
import { DEFAULT_MODEL, usePagePool } from '../helpers.js';
import { exactMapDone, fixtureUrl, nextResult, useViewports, wadouri } from './viewport.js';

/** Sum of the overlay canvas's alpha: what it drew. */
function overlayPixels(overlay: BagnetOverlay): Uint8ClampedArray {
  const { width, height } = overlay.canvas;
  return overlay.canvas.getContext('2d')!.getImageData(0, 0, width, height).data;
}

describe('Cornerstone3D plugin: panel, privacy, Orthanc', () => {
  usePagePool();
  const { open, cleanups, panelFor } = useViewports();

  it('panel: lists the top-k of the displayed image, follows the stack, and sets the target', async () => {
    const viewport = await open([wadouri('sneaker-window'), wadouri('square-mono1')]);
    const overlay = new BagnetOverlay(viewport, { model: DEFAULT_MODEL, backend: 'wasm', voi: 'dataset' });
    const panel = panelFor(overlay);
    const first = await nextResult(overlay);
    await panel.updateComplete;
    const labels = () => [...panel.shadowRoot!.querySelectorAll('[part="class"] span:first-of-type')].map((e) => e.textContent);
    expect(labels()).to.deep.equal(first.topk.map((entry) => entry.label));
    const radios = () => [...panel.shadowRoot!.querySelectorAll<HTMLInputElement>('[part="results"] input[type="radio"]')];
    expect(radios().map((radio) => radio.checked)).to.deep.equal([true, false, false, false, false]);

    // Picking the second class makes it the overlay's target, and the overlay redraws.
    const before = overlayPixels(overlay);
    radios()[1]!.click();
    await panel.updateComplete;
    expect(overlay.options.target).to.equal(String(first.topk[1]!.index));
    expect(radios()[1]!.checked).to.equal(true);
    const after = overlayPixels(overlay);
    expect(after.some((value, i) => value !== before[i]), 'the overlay shows another class').to.equal(true);

    // A new image in the stack: a new list.
    overlay.setOptions({ target: '' });
    const second = nextResult(overlay);
    await viewport.setImageIdIndex(1);
    const next = await second;
    await panel.updateComplete;
    expect(next.imageId).to.equal(wadouri('square-mono1'));
    expect(labels()).to.deep.equal(next.topk.map((entry) => entry.label));
    expect(next.logits).to.not.deep.equal(first.logits);
  });

  it('panel: contrast with another class, and the exact effect of removing the target\'s most informative patches', async () => {
    const viewport = await open([wadouri('sneaker-window')]);
    const overlay = new BagnetOverlay(viewport, { model: DEFAULT_MODEL, backend: 'wasm', voi: 'dataset' });
    const panel = panelFor(overlay);
    const result = await nextResult(overlay);
    await panel.updateComplete;
    // Removing the 5 patches with the most evidence for the target (top-1), computed here from the evidence.
    const target = result.topk[0]!.index;
    const { rows, cols, classes, data } = result.evidence;
    const order = Array.from({ length: rows * cols }, (_, i) => i).sort((a, b) => data[b * classes + target]! - data[a * classes + target]! || a - b);
    const rest = order.slice(5);
    const logits = Array.from({ length: classes }, (_, k) => rest.reduce((sum, cell) => sum + data[cell * classes + k]!, 0) / rest.length);
    const max = Math.max(...logits);
    const p = logits.map((l) => Math.exp(l - max));
    const probability = p[target]! / p.reduce((a, b) => a + b, 0);
    const output = () => panel.shadowRoot!.querySelector('[part="whatif"] output')!.textContent!;
    expect(output()).to.contain(`→ ${(probability * 100).toFixed(1)}%`);
    // Contrast with the second class: the overlay shows target − second.
    const before = overlayPixels(overlay);
    const select = [...panel.shadowRoot!.querySelectorAll('select')].find((s) => s.closest('label')!.textContent!.startsWith('Contrast'))!;
    select.value = String(result.topk[1]!.index);
    select.dispatchEvent(new Event('change'));
    await panel.updateComplete;
    expect(overlay.options.contrast).to.equal(String(result.topk[1]!.index));
    expect(overlay.contrastIndex()).to.equal(result.topk[1]!.index);
    const after = overlayPixels(overlay);
    expect(after.some((value, i) => value !== before[i]), 'the overlay shows the contrast').to.equal(true);
    const error = new Promise<{ message: string }>((resolve) => overlay.addEventListener('bagnet-error', (e) => resolve((e as CustomEvent).detail), { once: true }));
    overlay.setOptions({ contrast: 'Unicorn' });
    expect((await error).message).to.match(/Unknown contrast class "Unicorn"/);
    overlay.setOptions({ contrast: null });
    expect(overlay.contrastIndex()).to.equal(null);
  });

  it('panel: shows the error of an image the pipeline cannot take, as an alert', async () => {
    const viewport = await open([wadouri('bad-photometric')]);
    const overlay = new BagnetOverlay(viewport, { model: DEFAULT_MODEL, backend: 'wasm' });
    const panel = panelFor(overlay);
    await new Promise((resolve) => overlay.addEventListener('bagnet-error', resolve, { once: true }));
    await panel.updateComplete;
    expect(panel.shadowRoot!.querySelector('[role="alert"]')!.textContent).to.match(/Unsupported photometric interpretation/);
  });

  it('privacy: requests nothing but the image and the model\'s assets, all same-origin (page and worker)', async () => {
    // Every request of the browser, from the page and from its workers, to any origin (DevTools Protocol
    // or WebDriver BiDi); the page's own are in its resource timings.
    await executeServerCommand('network-log-start');
    performance.setResourceTimingBufferSize(100_000);
    performance.clearResourceTimings();
    const viewport = await open([wadouri('ct16-signed')]);
    // A model URL and a worker this page has not loaded yet, so their assets are fetched during the test.
    disposePool();
    configure({ cache: false, workerUrl: new URL(`../../src/worker/inference-worker.js?privacy=${Date.now()}`, import.meta.url).href });
    const model = `${DEFAULT_MODEL}?privacy=${Date.now()}`;
    const overlay = new BagnetOverlay(viewport, { model, backend: 'wasm', resolution: 'exact' });
    cleanups.push(() => {
      overlay.destroy();
      disposePool();
      configure({ cache: 'bagnet-test-cache', workerUrl: undefined });
    });
    const [result] = await Promise.all([nextResult(overlay), exactMapDone(overlay)]);
    // The file that ran (`auto`: the int8 file on WASM).
    const onnx = new URL((await getPool().manifest(model)).files[result.precision]!.url).pathname;
    expect(onnx).to.equal('/models/default/model.int8.onnx');
    const requests = (await executeServerCommand<{ url: string; method: string }[], undefined>('network-log-read'))
      .filter((r) => !r.url.startsWith('data:') && !r.url.startsWith('blob:'));
    const foreign = requests.filter((r) => new URL(r.url).origin !== location.origin);
    expect(foreign, 'cross-origin requests').to.deep.equal([]);
    const paths = requests.map((r) => new URL(r.url).pathname);
    expect(paths).to.include(new URL(fixtureUrl('ct16-signed')).pathname);
    // The worker's own requests are seen: the model file is fetched there (not by the page).
    expect(paths).to.include(onnx);
    const onPage = performance.getEntriesByType('resource').map((entry) => new URL(entry.name).pathname);
    expect(onPage).to.include(new URL(fixtureUrl('ct16-signed')).pathname); // (the page's own are recorded)
    expect(onPage).not.to.include(onnx);
    const allowed = [
      /^\/build\/dicom\/ct16-signed\.dcm$/, // the image source
      /^\/models\/default\//, // the model's manifest and ONNX file
      /^\/node_modules\/onnxruntime-web\/dist\//, // onnxruntime-web's module and wasm
      /^\/src\/(worker|core|runtime)\//, // the worker's modules (served as sources by the test server)
    ];
    const others = paths.filter((path) => !allowed.some((pattern) => pattern.test(path)));
    expect(others, 'requests besides the image, the model and the code').to.deep.equal([]);
    expect(requests.every((r) => r.method === 'GET'), 'nothing is sent anywhere').to.equal(true);
  });

  it('end to end: a fixture uploaded to a real Orthanc, loaded over DICOMweb (WADO-RS), gets the overlay', async function () {
    this.timeout(120000);
    const bytes = await (await fetch(fixtureUrl('sneaker-window'))).arrayBuffer();
    const upload = await fetch('/orthanc/instances', { method: 'POST', body: bytes, headers: { 'Content-Type': 'application/dicom' } });
    expect(upload.status, await upload.clone().text()).to.equal(200);
    const { ID } = await upload.json() as { ID: string };
    const tags = await (await fetch(`/orthanc/instances/${ID}/simplified-tags`)).json() as Record<string, string>;
    const root = `${location.origin}/orthanc/dicom-web`;
    const series = `${root}/studies/${tags['StudyInstanceUID']}/series/${tags['SeriesInstanceUID']}`;
    const metadata = await (await fetch(`${series}/metadata`, { headers: { Accept: 'application/dicom+json' } })).json() as Record<string, unknown>[];
    expect(metadata).to.have.length(1);
    const imageId = `wadors:${series}/instances/${tags['SOPInstanceUID']}/frames/1`;
    wadors.metaDataManager.add(imageId, metadata[0] as never);

    const viewport = await open([imageId]);
    const overlay = new BagnetOverlay(viewport, { model: DEFAULT_MODEL, backend: 'wasm', voi: 'dataset' });
    cleanups.push(() => overlay.destroy());
    const result = await nextResult(overlay);
    expect(result.topk[0]!.label).to.equal('Sneaker');
    // The same pixels as the same file read from disk (wadouri): DICOMweb changed nothing.
    const local = await open([wadouri('sneaker-window')]);
    const reference = new BagnetOverlay(local, { model: DEFAULT_MODEL, backend: 'wasm', voi: 'dataset' });
    cleanups.push(() => reference.destroy());
    const localResult = await nextResult(reference);
    expect(Array.from(overlay.modelInput!.data)).to.deep.equal(Array.from(reference.modelInput!.data));
    expect(result.logits).to.deep.equal(localResult.logits);
    const drawn = overlayPixels(overlay).filter((_, i) => i % 4 === 3 && _ > 0).length;
    expect(drawn, 'overlay pixels drawn').to.be.greaterThan(1000);
  });
});
