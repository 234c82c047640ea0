/**
 * onnxruntime-web starts its WASM threads as module workers of the file that holds its code, named
 * "em-pthread". Where a bundler puts onnxruntime into the worker's own file (Vite's single-file
 * workers, and our builds: see ort-builds.ts), such a thread runs that whole file. It must start
 * onnxruntime's thread code (of the WASM build, the only one given threads) and nothing of ours.
 */
const scope = globalThis as { name?: unknown; WorkerGlobalScope?: unknown };

/** Whether this worker is one of onnxruntime's WASM threads. */
export const isOrtThread = scope.WorkerGlobalScope !== undefined && typeof scope.name === 'string' && scope.name.startsWith('em-pthread');

// A [Global] interface's attributes are own properties of the global object: keep the original to put back.
let hidden: PropertyDescriptor | undefined;

/** Hide the thread's name from the build evaluated next (it starts its thread code when it sees it). */
export function hideThreadName(): void {
  if (!isOrtThread || hidden) return;
  hidden = Object.getOwnPropertyDescriptor(globalThis, 'name') ?? { value: scope.name, configurable: true, writable: true };
  Object.defineProperty(globalThis, 'name', { value: 'bagnet-elements', configurable: true, writable: true });
}

/** Show it again. */
export function restoreThreadName(): void {
  if (!hidden) return;
  Object.defineProperty(globalThis, 'name', hidden);
  hidden = undefined;
}
