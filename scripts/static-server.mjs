// A plain static file server (no transforms), cross-origin isolated: how a user serves the embed bundle.
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize } from 'node:path';

const TYPES = {
  '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.json': 'application/json',
  '.png': 'image/png', '.wasm': 'application/wasm', '.onnx': 'application/octet-stream', '.map': 'application/json',
};

/**
 * Serve `root` on 127.0.0.1 (random port); resolves with `{ url, close }`. `headers` are added to
 * every response (e.g. a Content-Security-Policy, which also governs the workers it serves).
 */
export async function startStaticServer(root, { headers = {} } = {}) {
  const server = createServer((request, response) => {
    const pathname = decodeURIComponent(new URL(request.url, 'http://x').pathname);
    const path = normalize(pathname.endsWith('/') ? `${pathname}index.html` : pathname); // a folder serves its index.html
    const file = join(root, path);
    if (!file.startsWith(root) || !existsSync(file) || !statSync(file).isFile()) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
      ...headers,
    });
    createReadStream(file).pipe(response);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
}
