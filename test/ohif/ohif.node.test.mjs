// End to end in a real OHIF Viewer 3.13 (the published prebuilt viewer, scripts/ohif-viewer.mjs) with
// a local Orthanc holding a three-slice study (test/ohif/make_study.py): the `bagnet` mode opens it, the
// panel shows the model's answer for the slice, which matches the Python reference; the overlay is drawn
// on OHIF's own Cornerstone viewport, where the model's evidence is, under zoom and rotation; scrolling
// updates it; and the server, the browser's proxy for everything, saw no request to anywhere else.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';
import { dicomIn, prepareViewer, startViewer } from '../../scripts/ohif-viewer.mjs';
import { chromiumArgs, chromiumPath } from '../../scripts/server-options.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const studyDir = join(root, 'build/ohif/study');
const expected = JSON.parse(readFileSync(join(studyDir, 'expected.json'), 'utf8'));
let viewer;
let browser;

before(async () => {
  prepareViewer();
  viewer = await startViewer({ dicomFiles: dicomIn(studyDir) });
  // Every request of the page and its workers goes through the viewer's server (loopback included).
  browser = await puppeteer.launch({ executablePath: chromiumPath(),
    args: [...chromiumArgs, `--proxy-server=http://127.0.0.1:${viewer.port}`, '--proxy-bypass-list=<-loopback>',
      '--disable-features=NetworkTimeServiceQuerying'] });
});

after(async () => {
  await browser?.close();
  viewer?.stop();
});

/** The active overlay's state, read in the page through the extension's own module (the same instance OHIF loaded). */
async function overlayState(page) {
  return page.evaluate(async () => {
    const { currentBagnet } = await import('/bagnet/dist/ohif/index.js');
    const overlay = currentBagnet()?.active;
    const result = overlay?.result;
    return result ? { imageId: result.imageId ?? overlay.viewport.getCurrentImageId(), shown: overlay.viewport.getCurrentImageId(),
      topk: result.topk.map((t) => t.label), logits: Array.from(result.logits),
      pixels: Array.from(overlay.modelInput.data.filter((_, i) => i % 4 === 0)) } : null;
  });
}

function sliceOf(imageId) {
  return expected.slices.find((slice) => imageId.includes(slice.sopInstanceUID));
}

test('the bagnet mode classifies the slice shown as Python does, on OHIF\'s own Cornerstone, and follows the stack', { timeout: 300_000 }, async () => {
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 900 });
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`${viewer.url}/bagnet?StudyInstanceUIDs=${expected.study}`, { timeout: 120_000 });
  const started = Date.now();
  await page.waitForFunction(() => document.querySelector('bagnet-ohif-panel')?.shadowRoot
    ?.querySelector('bagnet-cornerstone-panel')?.getAttribute('state') === 'result', { timeout: 180_000 });
  console.log(`# first result ${((Date.now() - started) / 1000).toFixed(1)} s after the route opened`);
  let state = await overlayState(page);
  let slice = sliceOf(state.shown);
  assert.ok(slice, `a slice of the study is shown: ${state.shown}`);
  assert.equal(state.topk[0], slice.label);
  // The model's input is the Python pipeline's, pixel for pixel; in fp32 its logits are Python's.
  assert.deepEqual(state.pixels, slice.pixels);
  await page.evaluate(async () => (await import('/bagnet/dist/ohif/index.js')).currentBagnet().setOptions({ precision: 'fp32' }));
  await page.waitForFunction(async () => (await import('/bagnet/dist/ohif/index.js')).currentBagnet()?.active?.result?.precision === 'fp32', { timeout: 60_000 });
  state = await overlayState(page);
  const worst = Math.max(...state.logits.map((v, i) => Math.abs(v - slice.logits[i]))) / Math.max(...slice.logits.map(Math.abs));
  assert.ok(worst <= 1e-4, `logits relative error ${worst}`);

  // One Cornerstone: the overlay draws on a viewport of OHIF's rendering engine, from OHIF's instance.
  const same = await page.evaluate(async () => {
    const { currentBagnet } = await import('/bagnet/dist/ohif/index.js');
    const overlay = currentBagnet().active;
    const engines = window.cornerstone?.getRenderingEngines?.() ?? [];
    return engines.some((engine) => engine.getViewports().includes(overlay.viewport));
  });
  assert.equal(same, true, 'the overlay\'s viewport belongs to OHIF\'s rendering engine');

  // The overlay's hottest point is where the model's strongest evidence cell is, under zoom and rotation.
  for (const [what, change] of [['as shown', ''], ['zoomed', 'viewport.setZoom(1.6)'], ['rotated', 'viewport.setViewPresentation({ rotation: 90 })']]) {
    const distance = await page.evaluate(async (change) => {
      const { currentBagnet } = await import('/bagnet/dist/ohif/index.js');
      const controller = currentBagnet();
      controller.setOptions({ colormap: 'gray', opacity: 1, contrast: null });
      const overlay = controller.active;
      const viewport = overlay.viewport;
      if (change) new Function('viewport', change)(viewport);
      viewport.render();
      await new Promise((resolve) => setTimeout(resolve, 300));
      const result = overlay.result;
      const { cols, rows, classes, data, stride, patchSize: q, offset } = result.evidence;
      const target = result.topk[0].index;
      // The strongest cell (the overlay's alpha is the evidence's magnitude; brighter gray: more positive).
      const strength = (cell) => Math.abs(data[cell * classes + target]) * 1e6 + data[cell * classes + target];
      let best = 0;
      for (let cell = 1; cell < rows * cols; cell++) if (strength(cell) > strength(best)) best = cell;
      // The cell's patch centre, in image pixels (28×28: the model input is the image).
      const x = offset + (best % cols) * stride + q / 2;
      const y = offset + Math.floor(best / cols) * stride + q / 2;
      const { origin, spacing, direction } = viewport.getImageData();
      const world = [0, 1, 2].map((k) => origin[k] + direction[k] * spacing[0] * (x - 0.5) + direction[3 + k] * spacing[1] * (y - 0.5));
      const [cx, cy] = viewport.worldToCanvas(world);
      const canvas = overlay.canvas;
      const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let top = -1;
      for (let i = 0; i < canvas.width * canvas.height; i++) top = Math.max(top, pixels[4 * i + 3] * 1000 + pixels[4 * i]);
      let sx = 0;
      let sy = 0;
      let n = 0;
      for (let i = 0; i < canvas.width * canvas.height; i++) {
        if (pixels[4 * i + 3] * 1000 + pixels[4 * i] >= top) { sx += (i % canvas.width) + 0.5; sy += Math.floor(i / canvas.width) + 0.5; n++; }
      }
      const scale = canvas.getBoundingClientRect().width / canvas.width;
      const cellOnScreen = Math.hypot(viewport.worldToCanvas([origin[0] + spacing[0] * stride, origin[1], origin[2]])[0] - viewport.worldToCanvas(origin)[0],
        viewport.worldToCanvas([origin[0] + spacing[0] * stride, origin[1], origin[2]])[1] - viewport.worldToCanvas(origin)[1]);
      return { distance: Math.hypot(sx / n * scale - cx, sy / n * scale - cy), cell: cellOnScreen, n };
    }, change);
    console.log(`# ${what}: the hottest overlay point is ${distance.distance.toFixed(1)} px from the strongest cell's centre (a cell is ${distance.cell.toFixed(1)} px)`);
    assert.ok(distance.distance <= distance.cell / 2, `${what}: ${JSON.stringify(distance)}`);
  }

  // Scrolling: the next slice's answer, as Python's.
  const shownBefore = state.shown;
  await page.evaluate(async () => {
    const { currentBagnet } = await import('/bagnet/dist/ohif/index.js');
    const viewport = currentBagnet().active.viewport;
    await viewport.setImageIdIndex((viewport.getCurrentImageIdIndex() + 1) % viewport.getImageIds().length);
  });
  await page.waitForFunction(async (before) => {
    const { currentBagnet } = await import('/bagnet/dist/ohif/index.js');
    const overlay = currentBagnet()?.active;
    return overlay?.result && overlay.viewport.getCurrentImageId() !== before && overlay.result.imageId === overlay.viewport.getCurrentImageId();
  }, { timeout: 60_000 }, shownBefore);
  state = await overlayState(page);
  slice = sliceOf(state.shown);
  assert.ok(slice && state.shown !== shownBefore);
  assert.equal(state.topk[0], slice.label);

  // What-if on OHIF's viewport: the panel's "Select patches" tool, then a real mouse drag over the
  // strongest cell. OHIF's window/level tool (primary button) must not see it; the exact ablation is
  // the mean over the cells left, computed here.
  const inPanel = (selector) => page.evaluate((selector) => {
    const panel = document.querySelector('bagnet-ohif-panel').shadowRoot.querySelector('bagnet-cornerstone-panel');
    const element = panel.shadowRoot.querySelector(selector);
    element?.click();
    return element ? element.textContent : null;
  }, selector);
  const strongest = () => page.evaluate(async () => {
    const { currentBagnet } = await import('/bagnet/dist/ohif/index.js');
    const overlay = currentBagnet().active;
    const viewport = overlay.viewport;
    const { cols, classes, data, stride, patchSize: q, offset, rows } = overlay.result.evidence;
    const target = overlay.result.topk[0].index;
    let best = 0;
    for (let cell = 1; cell < rows * cols; cell++) if (data[cell * classes + target] > data[best * classes + target]) best = cell;
    const x = offset + (best % cols) * stride + q / 2;
    const y = offset + Math.floor(best / cols) * stride + q / 2;
    const { origin, spacing, direction } = viewport.getImageData();
    const world = [0, 1, 2].map((k) => origin[k] + direction[k] * spacing[0] * (x - 0.5) + direction[3 + k] * spacing[1] * (y - 0.5));
    const [cx, cy] = viewport.worldToCanvas(world);
    const rect = viewport.element.getBoundingClientRect();
    return { best, x: rect.left + cx, y: rect.top + cy, voi: viewport.getProperties().voiRange };
  });
  assert.notEqual(await inPanel('[part="tools"] input[value="select"]'), null, 'the panel has the what-if tools');
  const cell = await strongest();
  await page.mouse.move(cell.x, cell.y);
  await page.mouse.down();
  await page.mouse.move(cell.x + 2, cell.y + 2, { steps: 3 });
  await page.mouse.up();
  const whatIf = await page.evaluate(async () => {
    const { currentBagnet } = await import('/bagnet/dist/ohif/index.js');
    const overlay = currentBagnet().active;
    const { selection } = overlay.options;
    const { rows, cols, classes, data } = overlay.result.evidence;
    const left = new Array(classes).fill(0);
    let n = 0;
    for (let c = 0; c < rows * cols; c++) {
      if (selection.includes(c)) continue;
      n++;
      for (let k = 0; k < classes; k++) left[k] += data[c * classes + k];
    }
    const logits = Array.from(overlay.whatIf?.logits ?? []);
    return { selection, worst: Math.max(...logits.map((v, k) => Math.abs(v - left[k] / n))), voi: overlay.viewport.getProperties().voiRange };
  });
  console.log(`# what-if: a drag over cell ${cell.best} selected ${JSON.stringify(whatIf.selection)}; ablation vs the mean over the rest: ${whatIf.worst.toExponential(1)}`);
  assert.ok(whatIf.selection.includes(cell.best) && whatIf.selection.length <= 4, JSON.stringify(whatIf.selection));
  assert.ok(whatIf.worst <= 1e-5);
  assert.deepEqual(whatIf.voi, cell.voi, 'OHIF\'s window/level tool did not see the drag');
  await page.waitForFunction(() => document.querySelector('bagnet-ohif-panel').shadowRoot.querySelector('bagnet-cornerstone-panel')
    .shadowRoot.querySelector('[part="ablation"]')?.textContent.includes('removed'), { timeout: 10_000 });

  // "Edit pixels": a drag fills a box; the result is re-scored on the patches it reaches.
  await inPanel('[part="tools"] input[value="edit"]');
  await page.mouse.move(cell.x - 4, cell.y - 4);
  await page.mouse.down();
  await page.mouse.move(cell.x + 4, cell.y + 4, { steps: 3 });
  await page.mouse.up();
  await page.waitForFunction(async () => (await import('/bagnet/dist/ohif/index.js')).currentBagnet().active.result?.rescored, { timeout: 60_000 });
  const rescored = await page.evaluate(async () => {
    const overlay = (await import('/bagnet/dist/ohif/index.js')).currentBagnet().active;
    const { rows, cols } = overlay.result.evidence;
    return { edits: overlay.options.edits.length, recomputed: overlay.result.rescored.recomputed, cells: rows * cols, voi: overlay.viewport.getProperties().voiRange };
  });
  console.log(`# what-if: an edit by drag re-scored ${rescored.recomputed} of ${rescored.cells} patches`);
  assert.equal(rescored.edits, 1);
  assert.ok(rescored.recomputed > 0 && rescored.recomputed < rescored.cells);
  assert.deepEqual(rescored.voi, cell.voi);
  await inPanel('[part="tools"] input[value="navigate"]');

  // A second viewport in the layout gets its own overlay (OHIF's own layout command).
  await page.evaluate(() => window.commandsManager.runCommand('setViewportGridLayout', { numRows: 1, numCols: 2 }));
  // The new viewport is empty: the series goes into it, as dropping its thumbnail there does.
  await page.waitForFunction(() => window.services.viewportGridService.getState().viewports.size === 2, { timeout: 30_000 });
  await page.evaluate(() => {
    const grid = window.services.viewportGridService;
    const viewports = [...grid.getState().viewports.values()];
    const series = viewports.find((v) => v.displaySetInstanceUIDs.length > 0).displaySetInstanceUIDs;
    const empty = viewports.find((v) => v.displaySetInstanceUIDs.length === 0);
    grid.setDisplaySetsForViewports([{ viewportId: empty.viewportId, displaySetInstanceUIDs: series }]);
    grid.setActiveViewportId(empty.viewportId);
  });
  await page.waitForFunction(async () => {
    const overlays = [...(await import('/bagnet/dist/ohif/index.js')).currentBagnet().overlays.values()];
    return overlays.length === 2 && overlays.every((overlay) => overlay.result);
  }, { timeout: 120_000 });
  const two = await page.evaluate(async () => {
    const overlays = [...(await import('/bagnet/dist/ohif/index.js')).currentBagnet().overlays.values()];
    return overlays.map((overlay) => ({ viewport: overlay.viewport.id, canvas: overlay.viewport.element.contains(overlay.canvas), image: overlay.result.imageId }));
  });
  console.log(`# two viewports: ${JSON.stringify(two)}`);
  assert.notEqual(two[0].viewport, two[1].viewport);
  const activeIsSecond = await page.evaluate(async () => {
    const bagnet = (await import('/bagnet/dist/ohif/index.js')).currentBagnet();
    const panel = document.querySelector('bagnet-ohif-panel').shadowRoot.querySelector('bagnet-cornerstone-panel');
    return bagnet.active?.viewport.id === window.services.viewportGridService.getActiveViewportId() && panel.overlay === bagnet.active;
  });
  assert.equal(activeIsSecond, true, 'the panel shows the active viewport\'s overlay');
  assert.ok(two.every((entry) => entry.canvas));

  // Nothing went elsewhere (HTTPS included: the server logs CONNECTs), but Chromium's own background
  // requests to Google's update and time services, which name no page (no Referer, no Origin).
  const browsers = (entry) => entry.from === null && /(^|\.)(googleapis|google)\.com(:\d+)?$/.test(new URL(entry.url).host);
  const outside = viewer.log.filter((entry) => entry.outside && !browsers(entry)).map((entry) => `${entry.url} (from ${entry.from})`);
  assert.deepEqual(outside, [], 'requests to anywhere but the viewer\'s origin');
  const background = viewer.log.filter((entry) => entry.outside && browsers(entry)).map((entry) => new URL(entry.url).host);
  const paths = viewer.log.map((entry) => new URL(entry.url).pathname);
  assert.ok(paths.some((p) => p.startsWith('/dicom-web/')) && paths.some((p) => p.startsWith('/bagnet/models/default/')), 'Orthanc and the model were reached through the viewer');
  console.log(`# ${viewer.log.length - background.length} requests from the page and its workers, all to the viewer's origin `
    + `(${paths.filter((p) => p.startsWith('/dicom-web/')).length} to Orthanc's DICOMweb); the browser's own: ${background.join(', ') || 'none'}`);
  assert.deepEqual(errors, []);
  await page.close();
});
