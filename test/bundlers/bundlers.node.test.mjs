// End to end: the npm pack tarball of this commit, installed into minimal apps (apps/*), each built
// with its own tool and opened in Chromium, production build and dev server. Each page must classify
// a sample, draw the exact map, load the worker and the .wasm from its own origin (only the binary of
// the backend in use), and log no error. Run by `npm run test:bundlers` after `npm run build`.
//
// The apps' dependencies are locked in ./package-lock.json (npm workspaces); the tarball is
// installed after `npm ci`, without saving (its checksum changes with every commit). Everything
// happens in a copy under the system's temp folder, as in a user's fresh project.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';
import { chromiumArgs, chromiumPath } from '../../scripts/server-options.mjs';
import { startStaticServer } from '../../scripts/static-server.mjs';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const here = fileURLToPath(new URL('./', import.meta.url));
// BUNDLER_WORK=<dir> reuses (or makes) a work folder: for trying one app again without a fresh install.
const work = process.env.BUNDLER_WORK ?? mkdtempSync(join(tmpdir(), 'bagnet-bundlers-'));
const reuse = process.env.BUNDLER_WORK !== undefined && existsSync(join(work, 'node_modules'));
const samples = JSON.parse(readFileSync(join(repo, 'models/default/samples.json'), 'utf8'));
const labels = JSON.parse(readFileSync(join(repo, 'models/default/bagnet.json'), 'utf8')).labels;
const sneaker = labels[samples.find((s) => s.file.endsWith('14-sneaker.png')).predicted];

/**
 * Each app: how its production build is served (`preview`: its tool's own server; `static`: dist/ as
 * plain files), whether it has a dev server, what the page asks for (backend, threads).
 */
const APPS = [
  { name: 'vite7-vanilla', prod: 'preview', dev: true },
  { name: 'vite8-react', prod: 'preview', dev: true, backend: 'wasm', threads: 2, isolated: true },
  { name: 'vue-vite', prod: 'preview', dev: true },
  { name: 'webpack5', prod: 'static', dev: true },
  { name: 'next', prod: 'preview', dev: true },
  { name: 'esbuild', prod: 'static', dev: true },
  { name: 'rollup', prod: 'static', dev: false },
];
const only = process.env.BUNDLER_APPS?.split(',');

let browser;
let nextPort = 43100;

function run(command, args, cwd, env = {}) {
  const started = Date.now();
  execFileSync(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
  return ((Date.now() - started) / 1000).toFixed(1);
}

before(async () => {
  mkdirSync(work, { recursive: true });
  const tarball = execFileSync('npm', ['pack', '--pack-destination', work, '--silent'], { cwd: repo, encoding: 'utf8' }).trim().split('\n').pop();
  cpSync(join(here, 'package.json'), join(work, 'package.json'));
  cpSync(join(here, 'package-lock.json'), join(work, 'package-lock.json'));
  for (const app of readdirSync(join(here, 'apps'))) {
    cpSync(join(here, 'apps', app), join(work, 'apps', app), {
      recursive: true, filter: (source) => !/[/\\](node_modules|dist|\.next|models)$/.test(source),
    });
  }
  const ci = reuse ? 'reused' : run('npm', ['ci', '--no-audit', '--no-fund'], work);
  const install = run('npm', ['install', '--no-save', '--no-audit', '--no-fund', join(work, tarball)], work);
  console.log(`# npm ci ${ci} s, tarball install ${install} s (${tarball})`);
  for (const app of readdirSync(join(work, 'apps'))) {
    cpSync(join(work, 'node_modules/bagnet-elements/models/default'), join(work, 'apps', app, 'public/models/default'), { recursive: true });
  }
  browser = await puppeteer.launch({ executablePath: chromiumPath(), args: chromiumArgs });
});

after(async () => {
  await browser?.close();
  if (!process.env.BUNDLER_WORK) rmSync(work, { recursive: true, force: true });
});

/** Start `npm run <script>` of an app on a free port; resolves once it answers HTTP. */
async function startScript(app, script) {
  const port = nextPort++;
  const child = spawn('npm', ['run', script], { cwd: join(work, 'apps', app), env: { ...process.env, PORT: String(port), NEXT_TELEMETRY_DISABLED: '1' },
    stdio: ['pipe', 'pipe', 'pipe'], detached: true }); // stdin open: esbuild's server stops when it closes
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const url = `http://localhost:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${app}: npm run ${script} exited: ${output}`);
    try {
      if ((await fetch(url)).status < 500) break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error(`${app}: npm run ${script} did not answer: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return { url, output: () => output, close: () => { try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ } } };
}

/** Open the app's page and check everything the issue asks for; returns what it saw. */
async function checkPage(url, { backend, threads, isolated }) {
  const page = await browser.newPage();
  const problems = [];
  const requests = [];
  const workers = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    const text = message.text();
    if (message.type() === 'error' || /hydrat/i.test(text)) problems.push(`console.${message.type()}: ${text}`);
  });
  page.on('request', (request) => requests.push(request.url()));
  page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`));
  page.on('response', (response) => { if (response.status() >= 400) problems.push(`HTTP ${response.status()} ${response.url()}`); });
  page.on('workercreated', (worker) => workers.push(worker.url()));
  await page.evaluateOnNewDocument(() => {
    const seen = { results: [], final: false, errors: [] };
    Object.defineProperty(window, '__bagnet', { value: seen });
    document.addEventListener('bagnet-result', (e) => seen.results.push({ label: e.detail.topk[0].label, backend: e.detail.backend }), true);
    document.addEventListener('bagnet-refine', (e) => { if (e.detail.final) seen.final = true; }, true);
    document.addEventListener('bagnet-error', (e) => seen.errors.push(`${e.detail.type}: ${e.detail.message}`), true);
  });
  await page.goto(url, { waitUntil: 'load', timeout: 120_000 });
  await page.waitForFunction(() => window.__bagnet.final || window.__bagnet.errors.length > 0, { timeout: 120_000 });
  const seen = await page.evaluate(() => ({ ...window.__bagnet, isolated: globalThis.crossOriginIsolated,
    painted: !!document.querySelector('bagnet-heatmap')?.shadowRoot?.querySelector('canvas') }));
  await page.close();

  assert.deepEqual(seen.errors, [], 'bagnet-error events');
  assert.deepEqual(problems, [], 'console errors, page errors, failed requests');
  assert.ok(seen.results.length > 0 && seen.results.every((r) => r.label === sneaker), JSON.stringify(seen.results));
  assert.ok(seen.final && seen.painted, 'the exact map was drawn');
  const { origin } = new URL(url);
  const foreign = requests.filter((r) => !r.startsWith(origin) && !r.startsWith('data:') && !r.startsWith('blob:'));
  assert.deepEqual(foreign, [], 'everything from the app\'s own origin');
  assert.ok(workers.length > 0 && workers.every((w) => w.startsWith(origin)), `the worker from the app's origin: ${workers}`);
  const used = seen.results[0].backend;
  if (backend) assert.equal(used, backend);
  // The .wasm fetched, told apart by size (bundlers rename them; webpack hashes the name): asyncify 26.8 MB, plain 14.2 MB.
  const binaries = [];
  for (const request of new Set(requests.filter((r) => new URL(r).pathname.endsWith('.wasm')))) {
    const bytes = (await (await fetch(request)).arrayBuffer()).byteLength;
    binaries.push({ url: request, build: bytes > 20e6 ? 'webgpu' : 'wasm' });
  }
  const wasm = [...new Set(binaries.map((b) => b.build))];
  assert.deepEqual(wasm, [used], `only the ${used} build's binary was fetched: ${JSON.stringify(binaries)}`);
  if (isolated) assert.equal(seen.isolated, true, 'cross-origin isolated');
  // onnxruntime's thread workers load the file that holds its code again: with 2 threads, one more worker.
  if (threads) assert.ok(workers.length >= threads, `${threads} threads: workers ${workers}`);
  return { backend: used, workers: workers.length };
}

for (const app of APPS.filter((a) => !only || only.includes(a.name))) {
  describe(app.name, { concurrency: false }, () => {
    test('production build', { timeout: 400_000 }, async () => {
      const dir = join(work, 'apps', app.name);
      const scripts = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).scripts;
      if (scripts.typecheck) console.log(`# ${app.name}: typecheck ${run('npm', ['run', 'typecheck'], dir)} s`);
      console.log(`# ${app.name}: build ${run('npm', ['run', 'build'], dir, { NEXT_TELEMETRY_DISABLED: '1' })} s`);
      const server = app.prod === 'preview' ? await startScript(app.name, 'preview') : await startStaticServer(join(dir, 'dist'));
      try {
        const seen = await checkPage(server.url, app);
        console.log(`# ${app.name} production: ${seen.backend}, ${seen.workers} worker(s)`);
      } finally {
        server.close();
      }
    });
    if (app.dev) {
      test('dev server', { timeout: 300_000 }, async () => {
        const server = await startScript(app.name, 'dev');
        try {
          const seen = await checkPage(server.url, app);
          console.log(`# ${app.name} dev: ${seen.backend}, ${seen.workers} worker(s)`);
        } finally {
          server.close();
        }
      });
    }
  });
}
