// Test-only: a real Orthanc DICOM server (Debian's `orthanc` + `orthanc-dicomweb`) on localhost,
// started on first use with a throwaway database, and proxied under /orthanc/ so the page reaches it
// same-origin (Orthanc sends no CORS headers).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ORTHANC = '/usr/sbin/Orthanc';
const DICOMWEB_PLUGIN = '/usr/share/orthanc/plugins/libOrthancDicomWeb.so';

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function get(port, path) {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    }).on('error', reject).end();
  });
}

/** Starts Orthanc; resolves with its HTTP port once it answers. Stopped when this process exits. */
export async function startOrthanc() {
  for (const file of [ORTHANC, DICOMWEB_PLUGIN]) {
    if (!existsSync(file)) throw new Error(`${file} is missing: apt-get install orthanc orthanc-dicomweb`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'bagnet-orthanc-'));
  const [httpPort, dicomPort] = [await freePort(), await freePort()];
  writeFileSync(join(dir, 'orthanc.json'), JSON.stringify({
    Name: 'bagnet-test', StorageDirectory: join(dir, 'db'), IndexDirectory: join(dir, 'db'),
    HttpPort: httpPort, DicomPort: dicomPort, DicomServerEnabled: false,
    RemoteAccessAllowed: false, AuthenticationEnabled: false,
    Plugins: [DICOMWEB_PLUGIN], DicomWeb: { Enable: true, Root: '/dicom-web/' },
  }));
  const child = spawn(ORTHANC, [join(dir, 'orthanc.json')], { stdio: ['ignore', 'ignore', 'pipe'] });
  // Orthanc lives as long as the process that started it, and does not keep it alive.
  child.unref();
  child.stderr.unref();
  let log = '';
  child.stderr.on('data', (chunk) => { log = (log + chunk).slice(-4000); });
  const stop = () => { child.kill(); rmSync(dir, { recursive: true, force: true }); };
  process.once('exit', stop);
  for (let attempt = 0; attempt < 100; attempt++) {
    if (child.exitCode !== null) throw new Error(`Orthanc exited (${child.exitCode}):\n${log}`);
    if (await get(httpPort, '/system').catch(() => 0) === 200) return httpPort;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  stop();
  throw new Error(`Orthanc did not answer on port ${httpPort} within 10 s:\n${log}`);
}

/** Koa middleware: `/orthanc/<path>` → Orthanc's `/<path>` (Orthanc starts on the first request). */
export function orthancProxy() {
  let port = null;
  return async (context, next) => {
    if (!context.path.startsWith('/orthanc/')) return next();
    port ??= startOrthanc();
    const target = await port;
    const upstream = await new Promise((resolve, reject) => {
      const headers = { ...context.req.headers, host: `127.0.0.1:${target}` };
      delete headers['accept-encoding']; // keep bodies plain for the dev server's own handling
      const proxied = request({ host: '127.0.0.1', port: target, method: context.method,
        path: context.url.slice('/orthanc'.length), headers }, resolve);
      proxied.on('error', reject);
      context.req.pipe(proxied);
    });
    context.status = upstream.statusCode;
    for (const [name, value] of Object.entries(upstream.headers)) {
      if (!['connection', 'transfer-encoding', 'content-length'].includes(name)) context.set(name, value);
    }
    context.body = upstream;
    return undefined;
  };
}
