// Evaluated just before onnxruntime's WebGPU build (ort-builds.ts): in a WASM thread it must not start.
import { hideThreadName } from './ort-thread.js';

hideThreadName();
