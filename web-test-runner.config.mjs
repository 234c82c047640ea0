// Browser tests in real Chromium (Debian's /usr/bin/chromium; CHROME_PATH overrides) and Firefox ESR
// (Debian's /usr/bin/firefox-esr over puppeteer-core's WebDriver BiDi; FIREFOX_PATH overrides). Tests that
// need a Chromium-only feature are listed, with their reasons, in test/chromium-only.json.
import { fileURLToPath } from 'node:url';
import { esbuildPlugin } from '@web/dev-server-esbuild';
import { readFileSync } from 'node:fs';
import { build, buildSync } from 'esbuild';
import { chromeLauncher } from '@web/test-runner-chrome';
import puppeteer from 'puppeteer-core';
import { defaultReporter } from '@web/test-runner';
import {
  chromiumArgs, chromiumPath, crossOriginIsolation, requestCounter, slowResponses, strictCspForFixtures, typescriptSources, vendorOrt,
  versionedModel, crossOriginWithoutCors, brokenBody, firefoxPath,
} from './scripts/server-options.mjs';
import { chromiumOnlyFiles, firefoxRunnerHtml, matrixReporter } from './scripts/browser-matrix.mjs';
import { orthancProxy } from './scripts/orthanc.mjs';
import { networkLogPlugin } from './scripts/network-log.mjs';

// React ships CommonJS only: bundle what the framework test uses into one ES module.
buildSync({
  entryPoints: ['test/vendor/react-entry.js'], bundle: true, format: 'esm', outfile: 'build/test-vendor/react.js',
  define: { 'process.env.NODE_ENV': '"development"' }, logLevel: 'warning',
});

// Cornerstone3D (the plugin tests): core and the DICOM loader as one split bundle (one core instance),
// and the loader's decode worker beside it, where its `new URL('./decodeImageFrameWorker.js', ...)` looks.
// Node built-ins appear in the codecs' Node-only branches: give the browser bundle empty stand-ins.
const EVENTS_SHIM = fileURLToPath(new URL('./scripts/browser-shims/events.js', import.meta.url));
const nodeBuiltinsAsEmpty = {
  name: 'node-builtins-as-empty',
  setup(build) {
    build.onResolve({ filter: /^(node:)?(fs|path|url|events|crypto|worker_threads|module|util|stream|os|perf_hooks)$/ },
      (args) => ({ path: args.path, namespace: 'empty-node-builtin' }));
    build.onLoad({ filter: /.*/, namespace: 'empty-node-builtin' }, (args) => (/events$/.test(args.path)
      ? { contents: readFileSync(EVENTS_SHIM, 'utf8'), loader: 'js' } // subclassed at load time: a class
      : { contents: 'export default {};', loader: 'js' }));
  },
};
await build({
  plugins: [nodeBuiltinsAsEmpty],
  entryPoints: {
    'cornerstone-core': 'test/vendor/cornerstone-core.js',
    'cornerstone-loader': 'test/vendor/cornerstone-loader.js',
    decodeImageFrameWorker: 'node_modules/@cornerstonejs/dicom-image-loader/dist/esm/decodeImageFrameWorker.js',
  },
  bundle: true, splitting: true, format: 'esm', outdir: 'build/test-vendor/cornerstone', logLevel: 'error',
  define: { 'process.env.NODE_ENV': '"production"' },
});

/** Serve `@cornerstonejs/*` imports (from tests and from src/plugins) from those bundles. */
const cornerstoneVendor = {
  name: 'cornerstone-vendor',
  resolveImport({ source }) {
    if (source === '@cornerstonejs/core') return '/build/test-vendor/cornerstone/cornerstone-core.js';
    if (source === '@cornerstonejs/dicom-image-loader') return '/build/test-vendor/cornerstone/cornerstone-loader.js';
    return undefined;
  },
};

export default {
  files: ['test/**/*.test.ts', '!test/no-webgpu/**', '!test/sequences/**'],
  nodeResolve: true,
  concurrency: 1,
  plugins: [
    cornerstoneVendor,
    networkLogPlugin(),
    esbuildPlugin({ ts: true, target: 'es2022', tsconfig: fileURLToPath(new URL('./tsconfig.json', import.meta.url)) }),
  ],
  middleware: [requestCounter(), slowResponses, orthancProxy(), crossOriginIsolation, versionedModel(), crossOriginWithoutCors, brokenBody, strictCspForFixtures, vendorOrt, typescriptSources()],
  // Exact heap sizes and gc() for the leak test.
  browsers: [chromeLauncher({
    launchOptions: { executablePath: chromiumPath(), args: [...chromiumArgs, '--enable-precise-memory-info', '--js-flags=--expose-gc'] },
  })],
  groups: [
    {
      // A browser without a WebGPU adapter (no --enable-unsafe-webgpu): the real "no WebGPU" case. The
      // model-based sequences run here too: `auto` falls back at once instead of compiling WebGPU
      // shaders on SwiftShader for seconds after every disposed pool.
      name: 'no-webgpu',
      files: ['test/no-webgpu/**/*.test.ts', 'test/sequences/**/*.test.ts'],
      browsers: [chromeLauncher({
        launchOptions: { executablePath: chromiumPath(), args: chromiumArgs.filter((arg) => arg !== '--enable-unsafe-webgpu') },
      })],
    },
    {
      // Every test in Firefox ESR but those of test/chromium-only.json. Firefox has no WebGPU here, so
      // the "no WebGPU" tests and the sequences run in it too.
      name: 'firefox',
      files: ['test/**/*.test.ts', ...chromiumOnlyFiles().map((file) => `!${file}`)],
      browsers: [chromeLauncher({
        // A puppeteer instance of our own: the launcher then names the browser "Firefox", not "Chrome".
        puppeteer,
        launchOptions: { browser: 'firefox', executablePath: firefoxPath(), headless: true },
      })],
      testRunnerHtml: firefoxRunnerHtml,
    },
  ],
  testFramework: {
    // Creating an ORT session compiles the wasm module: seconds, not Mocha's default 2 s.
    config: { timeout: 60000 },
  },
  reporters: [defaultReporter(), matrixReporter()],
  testsFinishTimeout: 10 * 60 * 1000,
};
