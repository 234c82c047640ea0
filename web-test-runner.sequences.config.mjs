// `npm run test:sequences`: the model-based sequences (test/sequences/) at length, in Chromium with
// WebGPU (SwiftShader) so `webgpu` joins the backends. SEQUENCE_RUNS (default 150), SEQUENCE_SEED
// (default: random, printed; with SEQUENCE_PATH, as fast-check prints it, one sequence replays),
// SEQUENCE_BACKENDS (default wasm,auto,webgpu) and SEQUENCE_WEBGPU=0 (a
// browser without a WebGPU adapter, as in CI) tune it.
import { chromeLauncher } from '@web/test-runner-chrome';
import base from './web-test-runner.config.mjs';
import { chromiumArgs, chromiumPath } from './scripts/server-options.mjs';

const settings = {
  runs: Number(process.env.SEQUENCE_RUNS ?? 150),
  seed: Number(process.env.SEQUENCE_SEED ?? Math.floor(Math.random() * 2 ** 31)),
  // With the seed, the `path` fast-check printed replays one failing sequence.
  ...(process.env.SEQUENCE_PATH ? { path: process.env.SEQUENCE_PATH } : {}),
  backends: (process.env.SEQUENCE_BACKENDS ?? 'wasm,auto,webgpu').split(','),
  minSteps: 0,
  // A WebGPU session takes 10-16 s to create on SwiftShader (and creations run one at a time).
  settleMs: Number(process.env.SEQUENCE_SETTLE_MS ?? (process.env.SEQUENCE_WEBGPU === '0' ? 30_000 : 240_000)),
};
console.log(`sequences: ${JSON.stringify(settings)}`);

export default {
  ...base,
  files: ['test/sequences/**/*.test.ts'],
  groups: [],
  browsers: [chromeLauncher({
    launchOptions: {
      executablePath: chromiumPath(),
      args: process.env.SEQUENCE_WEBGPU === '0' ? chromiumArgs.filter((arg) => arg !== '--enable-unsafe-webgpu') : chromiumArgs,
    },
  })],
  testRunnerHtml: (testFramework) => `<!DOCTYPE html><html><body>
    <script>window.BAGNET_SEQUENCES = ${JSON.stringify(settings)};</script>
    <script type="module" src="${testFramework}"></script></body></html>`,
  testFramework: { config: { timeout: 0 } },
  testsFinishTimeout: 24 * 60 * 60 * 1000,
};
