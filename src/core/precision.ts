/**
 * Which of a model's files (`fp32`, `fp16`, `int8`: models/bagnet_tools/precisions.py) to run for
 * `precision="auto"`, given the backend. A pure function of the manifest and the backend, so that it
 * is tested as such; the worker applies it once it knows the backend (and the adapter's features).
 */
import type { BagnetManifest, ModelFile } from './manifest.js';
import type { ConcreteBackendName } from './protocol.js';

export const PRECISION_PREFERENCES = ['auto', 'fp32', 'fp16', 'int8'] as const;
export type PrecisionPreference = (typeof PRECISION_PREFERENCES)[number];

/** The least top-1 agreement with fp32 (recorded in the int8 file's metrics) for `auto` to use int8. */
export const INT8_MIN_AGREEMENT = 0.995;

export interface PrecisionChoice {
  readonly precision: string;
  /** Why, in a sentence (shown in `bagnet-backend`). */
  readonly reason: string;
}

/** What a file computes in: as recorded (`compute`), else what its name says (fp16 files widen to fp32 by default). */
export function computeOf(name: string, file: ModelFile): string {
  return file.compute ?? (name === 'int8' ? 'int8' : 'fp32');
}

const percent = (x: number) => `${(100 * x).toFixed(2)}%`;

/**
 * On WASM: int8 when the manifest has it with a recorded top-1 agreement ≥ 99.5%, else fp16 (half
 * the download, the same fp32 arithmetic), else fp32. On WebGPU (no integer convolutions there):
 * an fp16-compute file when the adapter has `shader-f16`, else the smallest file computed in fp32.
 */
export function choosePrecision(files: BagnetManifest['files'], backend: ConcreteBackendName,
                                gpu: { readonly shaderF16: boolean } = { shaderF16: false }): PrecisionChoice {
  const { int8, fp16 } = files;
  if (backend === 'wasm') {
    const agreement = int8?.metrics?.agreement;
    if (int8 && agreement !== undefined && agreement >= INT8_MIN_AGREEMENT) {
      return { precision: 'int8', reason: `int8 on wasm: its top-1 agrees with fp32 on ${percent(agreement)} of the test images (at least ${percent(INT8_MIN_AGREEMENT)} needed)` };
    }
    const int8Refused = int8 ? ` (int8 ${agreement === undefined ? 'has no recorded agreement with fp32' : `agrees with fp32 on only ${percent(agreement)}`})` : '';
    if (fp16) return { precision: 'fp16', reason: `fp16 on wasm: half the download, computed in ${computeOf('fp16', fp16)}${int8Refused}` };
    return { precision: 'fp32', reason: `fp32 on wasm: the model has no smaller file${int8Refused ? ' that qualifies' + int8Refused : ''}` };
  }
  const names = Object.keys(files);
  if (gpu.shaderF16) {
    const half = names.find((name) => computeOf(name, files[name]!) === 'fp16');
    if (half) return { precision: half, reason: `${half} on webgpu: the adapter has shader-f16` };
  }
  // Among the files computed in fp32, the smallest download (a file without `bytes` counts as fp32's size).
  const size = (name: string) => files[name]!.bytes ?? files.fp32.bytes ?? Infinity;
  const smallest = names.filter((name) => computeOf(name, files[name]!) === 'fp32')
    .reduce((best, name) => (size(name) < size(best) ? name : best), 'fp32');
  return { precision: smallest, reason: `${smallest} on webgpu: the smallest file computed in fp32${gpu.shaderF16 ? '' : ' (the adapter has no shader-f16)'}` };
}
