// The OHIF Viewer 3.13 with the BagNet extension and mode, served locally against a local Orthanc:
// for the end-to-end test (test/ohif/) and `npm run demo:ohif`. OHIF is not built here: the published
// @ohif/app package is its prebuilt viewer (dist/), fetched once from the npm registry with `npm pack`
// into build/ohif/ (50 MB), served as it is; our extension and mode load at run time (app-config.js).
// One HTTP server is the viewer's origin, proxies /dicom-web/ to Orthanc, and, when the browser uses
// it as its proxy, also sees (and refuses) every request to anywhere else: its log is every request.
import { execFileSync } from 'node:child_process';
import { cpSync, createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { extname, isAbsolute, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startOrthanc } from './orthanc.mjs';

export const OHIF_VERSION = '3.13.2';
const root = fileURLToPath(new URL('../', import.meta.url));
const work = join(root, 'build/ohif');
export const viewerDir = join(work, 'viewer');

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.json': 'application/json',
  '.wasm': 'application/wasm', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.woff2': 'font/woff2', '.onnx': 'application/octet-stream' };

/** app-config.js: Orthanc (same origin) as the only data source, our extension and mode, the model list. */
function appConfig(models) {
  return `// Written by scripts/ohif-viewer.mjs.
window.config = {
  routerBasename: null,
  extensions: ['/bagnet/dist/ohif/index.js'],
  modes: ['/bagnet/dist/ohif/mode.js'],
  customizationService: [{ 'bagnet.models': { $set: ${JSON.stringify(models)} } }],
  showStudyList: true,
  showWarningMessageForCrossOrigin: false,
  showCPUFallbackMessage: false,
  defaultDataSourceName: 'orthanc',
  dataSources: [{
    namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
    sourceName: 'orthanc',
    configuration: {
      friendlyName: 'local Orthanc', name: 'orthanc',
      wadoUriRoot: '/dicom-web', qidoRoot: '/dicom-web', wadoRoot: '/dicom-web',
      qidoSupportsIncludeField: true, supportsReject: false, imageRendering: 'wadors', thumbnailRendering: 'wadors',
      enableStudyLazyLoad: true, supportsFuzzyMatching: true, supportsWildcard: true,
      omitQuotationForMultipartRequest: true, bulkDataURI: { enabled: true },
    },
  }],
};
`;
}

/** build/ohif/viewer: the prebuilt OHIF (fetched once), app-config.js, and our files under /bagnet/. */
export function prepareViewer({ models = [{ label: 'Fashion-MNIST BagNet (default)', url: '/bagnet/models/default/bagnet.json' }], extraModels = {} } = {}) {
  if (!existsSync(join(root, 'dist/ohif/index.js'))) throw new Error('run `npm run build` first (dist/ohif, dist/embed)');
  if (!existsSync(join(viewerDir, 'index.html'))) {
    mkdirSync(work, { recursive: true });
    const tarball = join(work, `ohif-app-${OHIF_VERSION}.tgz`);
    if (!existsSync(tarball)) execFileSync('npm', ['pack', `@ohif/app@${OHIF_VERSION}`, '--silent', '--pack-destination', work], { stdio: 'inherit' });
    rmSync(join(work, 'package'), { recursive: true, force: true });
    execFileSync('tar', ['xzf', tarball, '-C', work]);
    rmSync(viewerDir, { recursive: true, force: true });
    cpSync(join(work, 'package/dist'), viewerDir, { recursive: true });
    rmSync(join(work, 'package'), { recursive: true, force: true });
  }
  writeFileSync(join(viewerDir, 'app-config.js'), appConfig(models));
  const ours = join(viewerDir, 'bagnet');
  rmSync(ours, { recursive: true, force: true });
  for (const folder of ['dist/ohif', 'dist/embed', 'models/default']) cpSync(join(root, folder), join(ours, folder), { recursive: true });
  for (const [name, folder] of Object.entries(extraModels)) cpSync(folder, join(ours, 'models', name), { recursive: true });
  return viewerDir;
}

/**
 * Orthanc with `dicomFiles` stored, and the viewer's server on `port` (0: any). Resolves with
 * { url, port, log, stop }: `log` lists every request the server saw, { url, outside, from } (outside:
 * to another origin, refused: only seen when the browser uses the server as its proxy; from: the
 * Referer or Origin it came with, null for the browser's own background requests).
 */
export async function startViewer({ port = 0, dicomFiles = [] } = {}) {
  const orthancPort = await startOrthanc();
  for (const file of dicomFiles) {
    await new Promise((resolve, reject) => {
      const upload = request({ host: '127.0.0.1', port: orthancPort, method: 'POST', path: '/instances', headers: { 'content-type': 'application/dicom' } }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`Orthanc refused ${file}: HTTP ${res.statusCode}`))));
      });
      upload.on('error', reject);
      upload.end(readFileSync(file));
    });
  }
  const log = [];
  let origin = '';
  const server = createServer((req, res) => {
    const url = new URL(req.url, origin);
    const outside = url.origin !== origin;
    // Who asked: a page's or worker's request names its origin (Referer or Origin); the browser's own
    // background requests (component updates) name none.
    log.push({ url: url.href, outside, from: req.headers.referer ?? req.headers.origin ?? null });
    if (outside) {
      res.writeHead(502, { 'content-type': 'text/plain' });
      return res.end('the test viewer reaches nothing outside its origin');
    }
    if (url.pathname.startsWith('/dicom-web/')) {
      const proxied = request({ host: '127.0.0.1', port: orthancPort, method: req.method, path: url.pathname + url.search,
        headers: { ...req.headers, host: `127.0.0.1:${orthancPort}` } }, (upstream) => {
        res.writeHead(upstream.statusCode, upstream.headers);
        upstream.pipe(res);
      });
      proxied.on('error', (error) => { res.writeHead(502); res.end(String(error)); });
      return req.pipe(proxied);
    }
    let path;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      res.writeHead(400);
      return res.end();
    }
    let file = normalize(join(viewerDir, path));
    const inside = relative(viewerDir, file);
    if (inside.startsWith('..') || isAbsolute(inside)) {
      res.writeHead(403);
      return res.end();
    }
    if (!existsSync(file) || statSync(file).isDirectory()) {
      // A missing file is a 404; a route (no extension) is the single-page app.
      if (extname(file)) {
        res.writeHead(404);
        return res.end();
      }
      file = join(viewerDir, 'index.html');
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' });
    createReadStream(file).pipe(res);
  });
  // HTTPS through the proxy arrives as CONNECT: logged as outside, refused.
  server.on('connect', (req, socket) => {
    log.push({ url: `https://${req.url}`, outside: true, from: req.headers.referer ?? req.headers.origin ?? null });
    socket.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  const actual = server.address().port;
  origin = `http://127.0.0.1:${actual}`;
  return { url: origin, port: actual, log, stop: () => server.close() };
}

/** DICOM files of a folder (sorted). */
export function dicomIn(folder) {
  return readdirSync(folder).filter((name) => name.endsWith('.dcm')).sort().map((name) => join(folder, name));
}
