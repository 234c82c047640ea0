// Public entry: side-effect free (no element is registered by importing it).
export { loadManifest, validateManifest, ManifestError, ManifestLoadError } from './core/manifest.js';
export type { BagnetManifest, ManifestInput, ManifestMetrics, ModelFile, ResizePolicy } from './core/manifest.js';
export { meanLogits, softmax, topK, argmax } from './core/evidence.js';
export type { TopKEntry } from './core/evidence.js';
export { cellBox, cellsAlong, gridSize } from './core/geometry.js';
export type { GridSize, PatchGeometry, PixelBox } from './core/geometry.js';
export { pixelsToTensor, resizePlan } from './core/preprocess.js';
export type { ResizePlan } from './core/preprocess.js';
