// The one-tag embed, as a user deploys it: a plain static server (no dev server, no transforms)
// serving the repository, a page with one <script> for dist/embed/bagnet-elements.js, and the default model.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';
import { chromiumArgs, chromiumPath } from '../../scripts/server-options.mjs';
import { startStaticServer } from '../../scripts/static-server.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
let server;
let browser;
let base;

before(async () => {
  assert.ok(existsSync(join(root, 'dist/embed/bagnet-elements.js')), 'run `npm run build` first');
  server = await startStaticServer(root);
  base = server.url;
  browser = await puppeteer.launch({ executablePath: chromiumPath(), args: chromiumArgs });
});

after(async () => {
  await browser?.close();
  server?.close();
});

test('a page with only dist/embed/bagnet-elements.js classifies with the default model', { timeout: 180_000 }, async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => { if (message.type() === 'error') errors.push(message.text()); });
  const requested = [];
  page.on('request', (request) => requested.push(new URL(request.url()).pathname));
  await page.goto(`${base}/test/embed/index.html`);
  await page.waitForFunction(() => document.querySelector('bagnet-classifier')?.result, { timeout: 120_000 });
  const top = await page.evaluate(() => document.querySelector('bagnet-classifier').result.topk.map((t) => t.label));
  const samples = JSON.parse(readFileSync(join(root, 'models/default/samples.json'), 'utf8'));
  const sneaker = samples.find((s) => s.file.endsWith('14-sneaker.png'));
  assert.equal(top[0], JSON.parse(readFileSync(join(root, 'models/default/bagnet.json'), 'utf8')).labels[sneaker.predicted]);
  assert.equal(top.length, 3);
  await page.waitForFunction(() => document.querySelector('bagnet-heatmap')?.shadowRoot?.querySelector('canvas[part="heatmap"]'));
  // Only the bundle's own files, the model and the image: nothing from src/, node_modules or elsewhere.
  const scripts = requested.filter((p) => p.endsWith('.js'));
  assert.ok(scripts.every((p) => p.startsWith('/dist/embed/') && !p.slice(12).includes('/')), scripts.join(', '));
  assert.ok(requested.includes('/dist/embed/ort-wasm-simd-threaded.wasm') || requested.includes('/dist/embed/ort-wasm-simd-threaded.asyncify.wasm'));
  assert.deepEqual(errors.filter((e) => !e.includes('favicon') && !e.includes('404')), []);
});

test('the bundle works under a strict CSP (no unsafe-eval, no blob:), on WebGPU and WASM', { timeout: 180_000 }, async () => {
  const csp = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'; img-src 'self'; style-src 'self' 'unsafe-inline'";
  const strict = await startStaticServer(root, { headers: { 'content-security-policy': csp } });
  try {
    for (const backend of ['webgpu', 'wasm']) {
      const page = await browser.newPage();
      const errors = [];
      page.on('pageerror', (error) => errors.push(error.message));
      // HTTP errors are reported with their URL below, not as the console's "Failed to load resource".
      page.on('console', (message) => { if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) errors.push(message.text()); });
      page.on('response', (response) => { if (response.status() >= 400 && !response.url().endsWith('/favicon.ico')) errors.push(`HTTP ${response.status()} ${response.url()}`); });
      await page.evaluateOnNewDocument(() => {
        document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));
      });
      await page.goto(`${strict.url}/test/embed/csp.html`);
      await page.evaluate((b) => document.querySelector('bagnet-classifier').setAttribute('backend', b), backend);
      await page.waitForFunction(() => document.querySelector('bagnet-classifier')?.result, { timeout: 120_000 });
      const result = await page.evaluate(() => ({ backend: document.querySelector('bagnet-classifier').result.backend,
        top: document.querySelector('bagnet-classifier').result.topk[0].label }));
      assert.deepEqual(result, { backend, top: 'Sneaker' });
      await page.waitForFunction(() => document.querySelector('bagnet-heatmap')?.state === 'result', { timeout: 60_000 });
      assert.deepEqual(errors, [], backend);
      await page.close();
    }
  } finally {
    strict.close();
  }
});
