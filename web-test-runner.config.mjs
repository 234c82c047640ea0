// Browser tests in real Chromium (Debian's /usr/bin/chromium; CHROME_PATH overrides).
import { esbuildPlugin } from '@web/dev-server-esbuild';
import { chromeLauncher } from '@web/test-runner-chrome';
import { crossOriginIsolation, chromiumArgs, chromiumPath, typescriptSources } from './scripts/server-options.mjs';

export default {
  files: ['test/**/*.test.ts'],
  nodeResolve: true,
  concurrency: 1,
  plugins: [esbuildPlugin({ ts: true, target: 'es2022' })],
  middleware: [crossOriginIsolation, typescriptSources()],
  browsers: [chromeLauncher({ launchOptions: { executablePath: chromiumPath(), args: chromiumArgs } })],
  testFramework: {
    // Creating an ORT session compiles the wasm module: seconds, not Mocha's default 2 s.
    config: { timeout: 60000 },
  },
  testsFinishTimeout: 10 * 60 * 1000,
};
