// The npm build (`npm run build`): ES modules that mirror src/ (so the worker sits at the relative URL
// the pool expects), type declarations from tsc. lit and onnxruntime-web stay external: the user's
// bundler resolves them.
import { nodeResolve } from '@rollup/plugin-node-resolve';
import { esbuildTypescript } from './scripts/rollup-esbuild.mjs';

export default {
  input: {
    index: 'src/index.ts',
    register: 'src/register.ts',
    'worker/inference-worker': 'src/worker/inference-worker.ts',
  },
  external: [/^onnxruntime-web/, /^lit/, /^@lit\//],
  output: { dir: 'dist', format: 'es', sourcemap: true, preserveModules: true, preserveModulesRoot: 'src' },
  plugins: [esbuildTypescript(), nodeResolve()],
};
