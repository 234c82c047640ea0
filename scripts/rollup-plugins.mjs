// Small rollup plugins for the embed bundle.
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { transform } from 'esbuild';

/**
 * The pool finds its worker at `new URL('./bagnet-worker.js', import.meta.url)`. In a bundle, emit
 * the worker as its own chunk and point that URL at it.
 */
export function bundledWorker({ entry, fileName }) {
  const pattern = /new URL\(\s*(['"])\.\/bagnet-worker\.js\1\s*,\s*import\.meta\.url\s*\)/g;
  return {
    name: 'bundled-worker',
    transform(code) {
      if (!code.match(pattern)) return null;
      const ref = this.emitFile({ type: 'chunk', id: entry, fileName });
      // The path left in a string (to explain a failure) names the worker chunk too.
      const rewritten = code.replace(pattern, `new URL(import.meta.ROLLUP_FILE_URL_${ref})`)
        .replace(/(['"])\.\/bagnet-worker\.js\1/g, `'./${fileName}'`);
      return { code: rewritten, map: null };
    },
  };
}

/** Copy onnxruntime-web's .wasm binaries next to the bundle (ORT loads them from beside its chunk). */
export function copyOrtWasm({ files, outDir }) {
  const require = createRequire(import.meta.url);
  const ortDir = dirname(require.resolve('onnxruntime-web')); // .../onnxruntime-web/dist
  return {
    name: 'copy-ort-wasm',
    writeBundle() {
      mkdirSync(outDir, { recursive: true });
      for (const file of files) copyFileSync(join(ortDir, file), join(outDir, file));
    },
  };
}

/** Minify our chunks with esbuild (already-minified onnxruntime chunks pass through quickly). */
export function esbuildMinify() {
  return {
    name: 'esbuild-minify',
    async renderChunk(code) {
      const result = await transform(code, { minify: true, format: 'esm', target: 'es2022', sourcemap: true });
      return { code: result.code, map: result.map };
    },
  };
}
