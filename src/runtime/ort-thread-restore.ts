// Evaluated just before onnxruntime's WASM build (ort-builds.ts): in a WASM thread it starts the thread code.
import { restoreThreadName } from './ort-thread.js';

restoreThreadName();
