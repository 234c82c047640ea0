// Shared by the test runner and the demo server.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
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
/**
 * A test server's state, one per browser: Chromium and Firefox run their tests at the same time against
 * one server. Told apart by the user agent, which a page, its frames and its workers share.
 */
function perBrowser(make) {
  const states = new Map();
  return (context) => {
    const agent = context.get('user-agent');
    if (!states.has(agent)) states.set(agent, make());
    return states.get(agent);
  };
}

export function requestCounter() {
  const countersOf = perBrowser(() => ({ hits: new Map(), log: [] }));
  return (context, next) => {
    const counter = countersOf(context);
    if (context.path === '/__hits') {
      const path = String(context.query.path ?? '');
      if (context.query.reset) counter.hits.delete(path);
      context.body = { path, count: counter.hits.get(path) ?? 0 };
      return undefined;
    }
    if (context.path === '/__requests') {
      context.body = { requests: counter.log };
      if (context.query.reset) counter.log = [];
      return undefined;
    }
    counter.hits.set(context.path, (counter.hits.get(context.path) ?? 0) + 1);
    if (counter.log.length < 10000) counter.log.push({ method: context.method, url: context.url });
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

/**
 * Test-only: a model file that changes on the server. `/__versioned/model` serves version `a`
 * (the synthetic-brightness fixture) or `b` (the same size, every weight doubled: twice the logits),
 * each with its own ETag and Last-Modified, and answers If-None-Match / If-Modified-Since with 304
 * and HEAD with the headers only (Koa drops the body and keeps its Content-Length).
 * `/__versioned/checked` and `/__versioned/sized` are its manifest, with and without the current
 * version's SHA-256 (no file extensions: the test runner lets browsers cache those for a year).
 * `/__versioned?set=a|b&validators=both|etag|last-modified|none&offline=1&conditional=reject&head=405&expose=1`
 * switches the version, the validators sent, whether model requests lose their connection, whether
 * the ones with If-None-Match / If-Modified-Since do (as a fetch whose CORS preflight fails does),
 * the status HEAD gets instead of 200, and whether ETag is exposed to other origins (and clears the
 * log); `/__versioned` lists the model requests since: their method, conditional headers and the
 * status answered. Every `/__versioned/*` answer allows any origin (`Access-Control-Allow-Origin: *`,
 * as S3, Hugging Face and most CDNs do), and a preflight (OPTIONS) gets nothing more: a request from
 * the other host name (localhost ↔ 127.0.0.1, same port) that needs one fails, as it would there.
 */
export function versionedModel(rootDir = process.cwd()) {
  const browserOf = perBrowser(() => ({
    state: { version: 'a', validators: 'both', offline: false, conditional: 'answer', head: 200, expose: false },
    log: [],
  }));
  let versions; // read on first use: `npm run fixtures` makes the fixture after this module loads
  const fixture = 'models/generated/synthetic-brightness';
  const load = () => {
    if (versions) return versions;
    const a = readFileSync(join(rootDir, fixture, 'model.onnx'));
    const b = Buffer.from(a);
    const pattern = (value) => { const bytes = Buffer.alloc(4); bytes.writeFloatLE(value); return bytes; };
    const weight = Math.fround(1 / 243); // the fixture's 9×9×3 mean (models/bagnet_tools/fixtures.py)
    let doubled = 0;
    for (const sign of [1, -1]) {
      const from = pattern(sign * weight);
      const to = pattern(2 * sign * weight);
      for (let i = b.indexOf(from); i !== -1; i = b.indexOf(from, i + 4), doubled++) to.copy(b, i);
    }
    if (doubled !== 2 * 243) throw new Error(`versionedModel: ${fixture}/model.onnx is not the fixture it expects (${doubled} weights found)`);
    const describe = (bytes, modified) => ({
      bytes, sha256: createHash('sha256').update(bytes).digest('hex'), modified,
    });
    versions = {
      a: describe(a, 'Mon, 01 Jan 2024 00:00:00 GMT'),
      b: describe(b, 'Sat, 01 Jun 2024 00:00:00 GMT'),
      manifest: JSON.parse(readFileSync(join(rootDir, fixture, 'bagnet.json'), 'utf8')),
    };
    return versions;
  };
  return (context, next) => {
    if (!context.path.startsWith('/__versioned')) return next();
    const browser = browserOf(context);
    const { state, log } = browser;
    if (context.path === '/__versioned') {
      if (context.query.set) {
        browser.state = {
          version: context.query.set, validators: context.query.validators ?? 'both', offline: Boolean(context.query.offline),
          conditional: context.query.conditional ?? 'answer', head: Number(context.query.head ?? 200), expose: Boolean(context.query.expose),
        };
        browser.log = [];
      }
      context.set('Cache-Control', 'no-store');
      context.body = { ...browser.state, requests: browser.log };
      return undefined;
    }
    if (!context.path.startsWith('/__versioned/')) return next();
    const { manifest, [state.version]: current } = load();
    const name = context.path.slice('/__versioned/'.length);
    context.set('Cache-Control', 'no-store');
    context.set('Access-Control-Allow-Origin', '*');
    if (state.expose) context.set('Access-Control-Expose-Headers', 'ETag');
    if (context.method === 'OPTIONS') {
      // A preflight: no Access-Control-Allow-Headers / -Methods, so the request it asks for fails.
      if (name === 'model') log.push({ method: 'OPTIONS', status: 204 });
      context.status = 204;
      return undefined;
    }
    if (name === 'checked' || name === 'sized') {
      const fp32 = { url: 'model', bytes: current.bytes.length, ...(name === 'checked' ? { sha256: current.sha256 } : {}) };
      context.body = { ...manifest, files: { fp32 } };
      return undefined;
    }
    if (name !== 'model') return next();
    const ifNoneMatch = context.get('If-None-Match');
    const ifModifiedSince = context.get('If-Modified-Since');
    const { method } = context;
    // The log names only the conditional headers a request carried.
    const entry = (status) => ({ method, ...(ifNoneMatch ? { ifNoneMatch } : {}), ...(ifModifiedSince ? { ifModifiedSince } : {}), status });
    const refused = state.conditional === 'reject' && Boolean(ifNoneMatch || ifModifiedSince);
    if (state.offline || refused) {
      log.push(entry(state.offline ? 'dropped' : 'refused'));
      context.status = 204; // for the runner's log: not a 404
      context.respond = false;
      context.req.socket.destroy();
      return undefined;
    }
    if (method === 'HEAD' && state.head !== 200) {
      log.push(entry(state.head));
      if (state.head === 405) context.set('Allow', 'GET');
      context.status = state.head;
      return undefined;
    }
    const etag = `"${current.sha256.slice(0, 16)}"`;
    const sendEtag = state.validators === 'both' || state.validators === 'etag';
    const sendModified = state.validators === 'both' || state.validators === 'last-modified';
    if (sendEtag) context.set('ETag', etag);
    if (sendModified) context.set('Last-Modified', current.modified);
    // If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
    const unchanged = ifNoneMatch
      ? sendEtag && ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag)
      : Boolean(ifModifiedSince) && sendModified && Date.parse(ifModifiedSince) >= Date.parse(current.modified);
    log.push(entry(unchanged ? 304 : 200));
    if (unchanged) {
      context.status = 304;
      return undefined;
    }
    context.type = 'application/octet-stream';
    context.body = current.bytes;
    return undefined;
  };
}

/**
 * Test-only (test/reliability/limits.test.ts): `/__no-cors?path=/x.png` serves `/x.png` with
 * `Cross-Origin-Resource-Policy: cross-origin` and no CORS headers. An `<img>` without `crossorigin`
 * that loads it from the other host name (localhost ↔ 127.0.0.1, same port) is a cross-origin image
 * the cross-origin-isolated test page may show (COEP require-corp accepts that CORP; the usual
 * same-origin one blocks it) but not read: a tainted image.
 */
export async function crossOriginWithoutCors(context, next) {
  if (context.path !== '/__no-cors') return next();
  context.path = String(context.query.path);
  await next();
  context.path = '/__no-cors';
  context.set('Cross-Origin-Resource-Policy', 'cross-origin');
  context.remove('Access-Control-Allow-Origin');
  context.set('Cache-Control', 'no-store');
  return undefined;
}

/**
 * Test-only: `/__broken-body` answers 200 with a Content-Length of 1 MB, sends 1 KB of it, then
 * drops the connection: `fetch()` resolves with the headers, reading the body fails.
 */
export function brokenBody(context, next) {
  if (context.path !== '/__broken-body') return next();
  context.status = 200; // for the runner's log: not a 404
  context.respond = false;
  const { res } = context;
  res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': String(1024 * 1024), 'Cache-Control': 'no-store' });
  res.write(Buffer.alloc(1024));
  setTimeout(() => res.destroy(), 50);
  return undefined;
}

export function firefoxPath() {
  const candidates = [process.env.FIREFOX_PATH, '/usr/bin/firefox-esr', '/usr/bin/firefox'];
  const found = candidates.find((path) => path && existsSync(path));
  if (!found) throw new Error('Firefox not found: install it (apt-get install firefox-esr) or set FIREFOX_PATH');
  return found;
}
