// Server-side rendering: importing any entry of the package in Node (as Next.js does for a page that
// renders the elements) touches no browser global, so nothing throws on the server; the elements
// are defined and upgraded on the client. Each entry is imported in its own Node process, with
// every browser global watched: the package's own code reads none, and the import does not throw.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
// (customElements, HTMLElement, Element and events are provided in Node by lit's own SSR shim.)
const BROWSER_GLOBALS = [
  'window', 'document', 'self', 'location', 'Node', 'Worker', 'SharedWorker', 'caches', 'indexedDB', 'localStorage',
  'sessionStorage', 'OffscreenCanvas', 'ImageData', 'ImageBitmap', 'createImageBitmap', 'requestAnimationFrame',
  'matchMedia', 'IntersectionObserver', 'ResizeObserver', 'MutationObserver', 'devicePixelRatio',
];

/** Import `entry` in a fresh Node with every browser global watched; the names it touched. */
function globalsTouched(entry) {
  const script = `
    const touched = new Set();
    for (const name of ${JSON.stringify(BROWSER_GLOBALS)}) {
      if (name in globalThis) continue; // Node's own (none of these today)
      Object.defineProperty(globalThis, name, {
        configurable: true,
        get() {
          // Who reads it: our own code (dist/); dependencies guard their own reads (lit's Node builds
          // stand in for a DOM, Cornerstone's check typeof window), and importing them must not throw.
          const reader = new Error().stack.split('\\n')[2] ?? '';
          if (reader.includes('/dist/') && !reader.includes('/node_modules/')) touched.add(name + ' (' + reader.trim() + ')');
          return undefined;
        },
        set(value) { Object.defineProperty(globalThis, name, { value, writable: true, configurable: true }); },
      });
    }
    // Any read counts, a typeof check too ('x in globalThis' does not).
    await import(${JSON.stringify(entry)});
    console.log(JSON.stringify([...touched]));
  `;
  const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
  return JSON.parse(output.trim().split('\n').at(-1));
}

for (const entry of ['bagnet-elements', 'bagnet-elements/register', 'bagnet-elements/cornerstone']) {
  test(`importing ${entry} on the server touches no browser global`, () => {
    assert.ok(existsSync(new URL('../../dist/index.js', import.meta.url)), 'run `npm run build` first');
    assert.deepEqual(globalsTouched(entry), []);
  });
}
