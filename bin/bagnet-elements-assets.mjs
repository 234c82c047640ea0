#!/usr/bin/env node
// `npx bagnet-elements-assets <dir>`: copy into <dir> everything a page needs to run bagnet-elements
// where no bundler follows the pool's `new Worker(new URL('./bagnet-worker.js', import.meta.url))`:
// the one-tag bundle (bagnet-elements.js), its worker (bagnet-worker.js) and onnxruntime-web chunks,
// all prebuilt in dist/embed/, and onnxruntime-web's two .wasm binaries, taken from the installed
// dependency rather than shipped twice. For a static site, or beside the output of plain esbuild/Rollup.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const [target, ...rest] = process.argv.slice(2);
if (!target || rest.length || target.startsWith('-')) {
  console.error('usage: bagnet-elements-assets <dir>   (copies the prebuilt bundle, worker and onnxruntime-web files into <dir>)');
  process.exit(2);
}
const embed = fileURLToPath(new URL('../dist/embed/', import.meta.url));
const require = createRequire(import.meta.url);
const wasm = ['ort-wasm-simd-threaded.wasm', 'ort-wasm-simd-threaded.asyncify.wasm']
  .map((file) => require.resolve(`onnxruntime-web/${file}`));
const files = [...readdirSync(embed).filter((name) => name.endsWith('.js')).map((name) => join(embed, name)), ...wasm];
const dir = resolve(target);
mkdirSync(dir, { recursive: true });
for (const file of files) copyFileSync(file, join(dir, basename(file)));
console.log(`bagnet-elements-assets: copied ${files.length} files into ${dir}`);
