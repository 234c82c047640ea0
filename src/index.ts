// Public entry: side-effect free (no element is registered by importing it).
export { configure } from './pool/config.js';
export type { PoolOptions } from './pool/config.js';
export { classify, disposePool, getPool, InferencePool } from './pool/pool.js';
export { clearModelCache, isModelCached } from './pool/model-cache.js';
export type {
  BackendEventDetail, ClassifyOptions, ExactMap, ExactMapLevel, ExactMapOptions, ModelLease, PoolStats, ProgressInfo,
  RescoreInfo, RescoreOptions, RescoredResult,
} from './pool/pool.js';
export type { ImageInput } from './pool/image-input.js';
export { BagnetError } from './core/errors.js';
export { choosePrecision, INT8_MIN_AGREEMENT, PRECISION_PREFERENCES } from './core/precision.js';
export type { PrecisionChoice, PrecisionPreference } from './core/precision.js';
export type { BagnetErrorType } from './core/errors.js';
export type { ClassificationResult, Evidence, Timings, TopClass } from './core/result.js';
export type { BackendPreference } from './core/protocol.js';
export { loadManifest, validateManifest, ManifestError, ManifestLoadError } from './core/manifest.js';
export type { BagnetManifest, ManifestInput, ManifestMetrics, ModelFile, ResizePolicy } from './core/manifest.js';
export { meanLogits, softmax, topK, argmax } from './core/evidence.js';
export type { TopKEntry } from './core/evidence.js';
export { cellBox, cellsAlong, gridSize } from './core/geometry.js';
export type { GridSize, PatchGeometry, PixelBox } from './core/geometry.js';
export { pixelsToTensor, resizePlan } from './core/preprocess.js';
export { ablate, contrastCells, removalCurve } from './core/whatif.js';
export type { Ablation, AblationMode, RemovalCurve } from './core/whatif.js';
export { editPlan, exactEditPlan, makeEdit, meanColour } from './core/edits.js';
export type { CellBlock, EditFill, EditPlan, ExactEditPlan, PixelEdit } from './core/edits.js';
export type { ResizePlan } from './core/preprocess.js';
export { BagnetClassifier } from './elements/classifier/bagnet-classifier.component.js';
export { BagnetHeatmap } from './elements/heatmap/bagnet-heatmap.component.js';
export type { HeatmapMode, HeatmapResolution } from './elements/heatmap/bagnet-heatmap.component.js';
export { BagnetPatches } from './elements/patches/bagnet-patches.component.js';
export type { LabelledImage } from './elements/patches/bagnet-patches.component.js';
export type * from './elements/shared/events.js';
export type { ElementState } from './elements/shared/classification-controller.js';
