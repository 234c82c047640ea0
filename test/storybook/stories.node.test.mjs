// Every story of the built catalogue (storybook-static/, from `npm run storybook:build`) opened in
// Chromium: no console error, and every bagnet element (and the Cornerstone3D panel) reaches its expected state: `result`, or
// `error` / `idle` for stories tagged `expect-error` / `expect-idle`.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';
import { chromiumArgs, chromiumPath } from '../../scripts/server-options.mjs';
import { startStaticServer } from '../../scripts/static-server.mjs';

const catalogue = fileURLToPath(new URL('../../storybook-static/', import.meta.url));
const index = existsSync(join(catalogue, 'index.json')) ? JSON.parse(readFileSync(join(catalogue, 'index.json'), 'utf8')) : null;
const entries = Object.values(index?.entries ?? {});

/** Everything with a `state` the stories show: the elements and the Cornerstone3D plugin's panel. */
const ELEMENTS = ['bagnet-classifier', 'bagnet-heatmap', 'bagnet-patches', 'bagnet-cornerstone-panel']
  .map((tag) => `#storybook-root ${tag}`).join(', ');

let server;
let browser;

before(async () => {
  assert.ok(index, 'run `npm run storybook:build` first');
  server = await startStaticServer(catalogue);
  browser = await puppeteer.launch({ executablePath: chromiumPath(), args: chromiumArgs });
});

after(async () => {
  await browser?.close();
  server?.close();
});

/** Console errors and page errors, minus the favicon the static server does not have. */
function watchErrors(page) {
  const errors = [];
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    // "Failed to load resource" repeats an HTTP error, which the response handler reports with its URL.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) errors.push(`console: ${message.text()}`);
  });
  page.on('response', (response) => {
    if (response.status() >= 400 && !response.url().endsWith('favicon.ico')) errors.push(`HTTP ${response.status()}: ${response.url()}`);
  });
  return errors;
}

describe('the Storybook catalogue', () => {
  test('has a story for every element', () => {
    const titles = new Set(entries.filter((e) => e.type === 'story').map((e) => e.title));
    for (const tag of ['bagnet-classifier', 'bagnet-heatmap', 'bagnet-patches']) assert.ok(titles.has(`Elements/${tag}`), tag);
  });

  for (const entry of entries.filter((e) => e.type === 'story')) {
    const expected = entry.tags?.includes('expect-error') ? 'error' : entry.tags?.includes('expect-idle') ? 'idle' : 'result';
    test(`${entry.title} / ${entry.name} renders (${expected})`, { timeout: 240_000 }, async () => {
      const page = await browser.newPage();
      const errors = watchErrors(page);
      try {
        await page.goto(`${server.url}/iframe.html?id=${entry.id}&viewMode=story`);
        await page.waitForFunction((selector) => document.querySelector(selector), { timeout: 60_000 }, ELEMENTS);
        if (expected === 'idle') await new Promise((resolve) => setTimeout(resolve, 1000));
        await page.waitForFunction((selector, state) => {
          const elements = [...document.querySelectorAll(selector)];
          return elements.length > 0 && elements.every((element) => element.state === state);
        }, { timeout: 200_000, polling: 200 }, ELEMENTS, expected);
        if (expected !== 'error') assert.deepEqual(errors, []);
      } finally {
        await page.close();
      }
    });
  }

  test('the introduction renders without errors', { timeout: 60_000 }, async () => {
    const page = await browser.newPage();
    const errors = watchErrors(page);
    await page.goto(`${server.url}/iframe.html?id=introduction--docs&viewMode=docs`);
    await page.waitForFunction(() => document.body.textContent.includes('What a BagNet is'), { timeout: 30_000 });
    assert.deepEqual(errors, []);
    await page.close();
  });
});
