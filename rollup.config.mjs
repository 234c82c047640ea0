// ESM build of the library (`npm run build`): one module per entry, type declarations from tsc.
// onnxruntime-web and lit stay external (npm dependencies the user's bundler resolves).
import { nodeResolve } from '@rollup/plugin-node-resolve';
import { esbuildTypescript } from './scripts/rollup-esbuild.mjs';

export default {
  input: { index: 'src/index.ts' },
  external: [/^onnxruntime-web/, /^lit/, /^@lit\//],
  output: { dir: 'dist', format: 'es', sourcemap: true, entryFileNames: '[name].js', chunkFileNames: 'chunks/[name]-[hash].js' },
  plugins: [esbuildTypescript(), nodeResolve()],
};
