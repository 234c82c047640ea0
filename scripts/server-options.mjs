// Shared by the test runner and the demo server.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** Cross-origin isolation (COOP + COEP), so onnxruntime-web may use WASM threads. */
export function crossOriginIsolation(context, next) {
  context.set('Cross-Origin-Opener-Policy', 'same-origin');
  context.set('Cross-Origin-Embedder-Policy', 'require-corp');
  context.set('Cross-Origin-Resource-Policy', 'same-origin');
  return next();
}

export function chromiumPath() {
  const candidates = [process.env.CHROME_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
  const found = candidates.find((path) => path && existsSync(path));
  if (!found) throw new Error('Chromium not found: install it (apt-get install chromium) or set CHROME_PATH');
  return found;
}

export const chromiumArgs = [
  '--headless=new',
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--enable-unsafe-webgpu',
];

/**
 * Sources import './x.js' for './x.ts' (TypeScript's ESM convention), and `new URL('./x.js',
 * import.meta.url)` names workers the same way: serve the .ts file (compiled by esbuild) for them.
 */
export function typescriptSources(rootDir = process.cwd()) {
  return (context, next) => {
    if (context.path.endsWith('.js') && !context.path.includes('/node_modules/')) {
      const ts = context.path.replace(/\.js$/, '.ts');
      if (!existsSync(join(rootDir, context.path)) && existsSync(join(rootDir, ts))) context.path = ts;
    }
    return next();
  };
}

/**
 * Test-only: counts the requests for every path, readable at `/__hits?path=/x`, and resettable with
 * `/__hits?path=/x&reset=1`; lets a test prove a model came from the Cache API, not the network.
 * `/__requests` lists every request (method and URL) since the last `/__requests?reset=1`, for the
 * privacy tests.
 */
export function requestCounter() {
  const hits = new Map();
  let log = [];
  return (context, next) => {
    if (context.path === '/__hits') {
      const path = String(context.query.path ?? '');
      if (context.query.reset) hits.delete(path);
      context.body = { path, count: hits.get(path) ?? 0 };
      return undefined;
    }
    if (context.path === '/__requests') {
      context.body = { requests: log };
      if (context.query.reset) log = [];
      return undefined;
    }
    hits.set(context.path, (hits.get(context.path) ?? 0) + 1);
    if (log.length < 10000) log.push({ method: context.method, url: context.url });
    return next();
  };
}

/** Test-only: `/test/fixtures/csp/*` pages get a strict Content-Security-Policy. */
export function strictCspForFixtures(context, next) {
  if (context.path.startsWith('/test/fixtures/csp/')) {
    context.set('Content-Security-Policy',
      "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'; img-src 'self'; style-src 'self' 'unsafe-inline'");
  }
  return next();
}

/** Test-only: `/vendor/ort/*` serves onnxruntime-web's dist folder, as a self-hosting page would. */
export function vendorOrt(context, next) {
  if (context.path.startsWith('/vendor/ort/')) context.path = context.path.replace('/vendor/ort/', '/node_modules/onnxruntime-web/dist/');
  return next();
}

/**
 * Test-only: `/__slow?path=/x.png&delay=ms` serves `/x.png` after `delay` ms (at most 5 s), never from
 * the HTTP cache (the test runner caches every file path for a year), to test what arrives late.
 */
export async function slowResponses(context, next) {
  if (context.path !== '/__slow') return next();
  await new Promise((resolve) => setTimeout(resolve, Math.min(5000, Number(context.query.delay) || 0)));
  context.path = String(context.query.path);
  await next();
  context.path = '/__slow';
  context.set('Cache-Control', 'no-store');
  return undefined;
}
