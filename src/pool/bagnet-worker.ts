/**
 * The worker entry the pool starts (`new Worker(new URL('./bagnet-worker.js', import.meta.url))`).
 * It sits beside the pool's code so that a bundled app finds it beside its own chunks: bundlers that
 * follow that pattern emit it there, and for those that do not (plain esbuild, plain Rollup) the
 * prebuilt copy (`npx bagnet-elements-assets <dir>`) goes there too.
 */
import '../runtime/ort-builds.js'; // first: onnxruntime's thread workers run this file too (ort-thread.ts)
import '../worker/inference-worker.js';
