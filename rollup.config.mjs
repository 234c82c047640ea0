// `npm run build` makes two things in dist/:
// 1. the npm package: ES modules that mirror src/ (the worker at the relative URL the pool expects),
//    with lit and onnxruntime-web left to the user's bundler, and the Cornerstone3D plugin; type declarations come from tsc;
// 2. the one-tag embed bundle dist/embed/bagnet-elements.js: everything included, the worker
//    (bagnet-worker.js) and each onnxruntime-web build in chunks of their own, the .wasm binaries
//    copied beside them, so the folder can be served as it is. The npm package leaves the .wasm
//    out (onnxruntime-web has them); `npx bagnet-elements-assets <dir>` copies the whole set.
import { fileURLToPath } from 'node:url';
import { nodeResolve } from '@rollup/plugin-node-resolve';
import { esbuildTypescript } from './scripts/rollup-esbuild.mjs';
import { bundledWorker, copyOrtWasm, esbuildMinify } from './scripts/rollup-plugins.mjs';
import { noEvalInOrt } from './scripts/no-eval-emval.mjs';

const npmPackage = {
  input: {
    index: 'src/index.ts',
    register: 'src/register.ts',
    'worker/inference-worker': 'src/worker/inference-worker.ts',
    'pool/bagnet-worker': 'src/pool/bagnet-worker.ts',
    'plugins/cornerstone/index': 'src/plugins/cornerstone/index.ts',
  },
  // Cornerstone3D is the host viewer's: a peer dependency of the plugin, never bundled.
  external: [/^onnxruntime-web/, /^lit/, /^@lit\//, /^@cornerstonejs\//],
  output: { dir: 'dist', format: 'es', sourcemap: true, preserveModules: true, preserveModulesRoot: 'src' },
  plugins: [esbuildTypescript(), nodeResolve()],
};

const embed = {
  input: { 'bagnet-elements': 'src/embed.ts' },
  output: {
    dir: 'dist/embed',
    format: 'es',
    sourcemap: true,
    entryFileNames: '[name].js',
    // onnxruntime-web chunks keep recognisable names; ORT's own thread workers import only them.
    chunkFileNames: (chunk) => (chunk.moduleIds.some((id) => id.includes('onnxruntime-web')) ? 'ort-[hash].js' : 'bagnet-[name]-[hash].js'),
  },
  plugins: [
    esbuildTypescript(),
    bundledWorker({ entry: 'src/pool/bagnet-worker.ts', fileName: 'bagnet-worker.js' }),
    nodeResolve({ browser: true, exportConditions: ['production'] }),
    noEvalInOrt(), // a strict CSP (no 'unsafe-eval') must hold for the WebGPU build too
    esbuildMinify(),
    copyOrtWasm({ files: ['ort-wasm-simd-threaded.wasm', 'ort-wasm-simd-threaded.asyncify.wasm'], outDir: 'dist/embed' }),
  ],
};

// 3. the OHIF Viewer extension and mode (dist/ohif/): everything but the worker bundled, and the
//    Cornerstone plugin's `@cornerstonejs/core` resolved to OHIF's own instance (src/plugins/ohif/cornerstone.ts).
//    The worker and onnxruntime-web's binaries are the embed's (dist/embed/, beside it).
const ohifCornerstone = fileURLToPath(new URL('./src/plugins/ohif/cornerstone.ts', import.meta.url));
const ohif = {
  input: { index: 'src/plugins/ohif/index.ts', mode: 'src/plugins/ohif/mode.ts' },
  output: { dir: 'dist/ohif', format: 'es', sourcemap: true, entryFileNames: '[name].js', chunkFileNames: 'bagnet-ohif-[name]-[hash].js' },
  plugins: [
    { name: 'ohif-cornerstone', resolveId: (source, importer) => (source === '@cornerstonejs/core' && importer !== ohifCornerstone ? ohifCornerstone : null) },
    esbuildTypescript(),
    nodeResolve({ browser: true, exportConditions: ['production'] }),
    esbuildMinify(),
  ],
};

export default [npmPackage, embed, ohif];
