/**
 * Both onnxruntime-web builds, imported statically, so that the worker is one file in every bundler:
 * Vite's default worker format (IIFE) cannot split a worker into chunks, so an `import()` of a build
 * fails its production build. Only the .wasm binary of the backend in use is fetched (each build
 * fetches its own on its first session).
 *
 * The order matters (ES modules evaluate in import order): see ort-thread.ts.
 */
import './ort-thread-hide.js';
import * as webgpu from 'onnxruntime-web/webgpu';
import './ort-thread-restore.js';
import * as wasm from 'onnxruntime-web/wasm';

export const ORT_BUILDS = Object.freeze({ wasm, webgpu });
