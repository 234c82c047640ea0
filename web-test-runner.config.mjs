// Browser tests in real Chromium (Debian's /usr/bin/chromium; CHROME_PATH overrides).
import { fileURLToPath } from 'node:url';
import { esbuildPlugin } from '@web/dev-server-esbuild';
import { buildSync } from 'esbuild';
import { chromeLauncher } from '@web/test-runner-chrome';
import {
  chromiumArgs, chromiumPath, crossOriginIsolation, requestCounter, strictCspForFixtures, typescriptSources, vendorOrt,
} from './scripts/server-options.mjs';

// React ships CommonJS only: bundle what the framework test uses into one ES module.
buildSync({
  entryPoints: ['test/vendor/react-entry.js'], bundle: true, format: 'esm', outfile: 'build/test-vendor/react.js',
  define: { 'process.env.NODE_ENV': '"development"' }, logLevel: 'warning',
});

export default {
  files: ['test/**/*.test.ts', '!test/no-webgpu/**'],
  nodeResolve: true,
  concurrency: 1,
  plugins: [
    esbuildPlugin({ ts: true, target: 'es2022', tsconfig: fileURLToPath(new URL('./tsconfig.json', import.meta.url)) }),
  ],
  middleware: [requestCounter(), crossOriginIsolation, strictCspForFixtures, vendorOrt, typescriptSources()],
  // Exact heap sizes and gc() for the leak test.
  browsers: [chromeLauncher({
    launchOptions: { executablePath: chromiumPath(), args: [...chromiumArgs, '--enable-precise-memory-info', '--js-flags=--expose-gc'] },
  })],
  groups: [
    {
      // A browser without a WebGPU adapter (no --enable-unsafe-webgpu): the real "no WebGPU" case.
      name: 'no-webgpu',
      files: 'test/no-webgpu/**/*.test.ts',
      browsers: [chromeLauncher({
        launchOptions: { executablePath: chromiumPath(), args: chromiumArgs.filter((arg) => arg !== '--enable-unsafe-webgpu') },
      })],
    },
  ],
  testFramework: {
    // Creating an ORT session compiles the wasm module: seconds, not Mocha's default 2 s.
    config: { timeout: 60000 },
  },
  testsFinishTimeout: 10 * 60 * 1000,
};
