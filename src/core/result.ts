/** The result of classifying one image: the contract of `classify()` and of `bagnet-result`. */
import type { ConcreteBackendName } from './protocol.js';
import type { ResizePlan } from './preprocess.js';

export interface TopClass {
  readonly index: number;
  readonly label: string;
  readonly probability: number;
  readonly logit: number;
}

/** The patch-logit map: `data[(row * cols + col) * classes + k]` is cell (row, col)'s evidence for class k. */
export interface Evidence {
  readonly rows: number;
  readonly cols: number;
  readonly classes: number;
  readonly stride: number;
  readonly patchSize: number;
  /** Input pixel of cell (0, 0)'s top-left corner. */
  readonly offset: number;
  readonly data: Float32Array;
}

export interface Timings {
  /** Decoding and preprocessing in the worker. */
  readonly decodeMs: number;
  /** Waiting for the session (other batches ahead). */
  readonly queueMs: number;
  /** The batch's `session.run`, shared by `batchSize` images. */
  readonly inferenceMs: number;
  /** From the call to the result, including model loading on first use. */
  readonly totalMs: number;
  readonly batchSize: number;
}

export interface ClassificationResult {
  readonly topk: readonly TopClass[];
  /** Image logits: the mean of the evidence map over cells. */
  readonly logits: Float32Array;
  readonly evidence: Evidence;
  readonly backend: ConcreteBackendName;
  /** The model file that ran (`fp32`, `fp16`, `int8`): what `precision: 'auto'` chose, or fp32 after a variant failed to load. */
  readonly precision: string;
  readonly timings: Timings;
  /** The model's manifest URL and name. */
  readonly model: { readonly url: string; readonly name: string; readonly labels: readonly string[] };
  /**
   * How the evidence maps back to the image: the image's size as decoded, the optional downscale of
   * huge images, and the resize/crop that produced the model input.
   */
  readonly input: {
    readonly imageWidth: number;
    readonly imageHeight: number;
    readonly downscale: number;
    readonly plan: ResizePlan;
    /**
     * What the model saw: the image after resizing and cropping, before normalisation, as RGBA
     * (`plan.width`×`plan.height`; transparent pixels composited on the manifest's background).
     * Maps in model-input pixels line up with it exactly; the elements draw it.
     */
    readonly pixels: ImageData;
  };
}
