/**
 * The exact map by shift-and-stitch runs the whole network once per shift: stride² times. But a
 * BagNet's early layers run at a finer stride than its output, so most of that work is repeated.
 * Cut the graph where the stride doubles: a stage at stride s, fed the previous stage's output
 * cropped by 0 or 1 pixel per axis, yields every phase the later stages need. With stride 8 the
 * stem runs once, layer 1 four times, layer 2 sixteen times and only the rest 64 times; the linear
 * classifier is applied here, to the kept classes only.
 *
 * This is exact because unpadded convolutions commute with cropping: stage(crop(x, 2k)) =
 * crop(stage(x), k) for a stride-2 stage. The plan checks what it relies on (unpadded, square
 * strides of 1 or 2, single-tensor cuts) and the worker verifies the first result against a
 * whole-network run before trusting it.
 */
import { parseOnnxGraph, readFloatInitializer, writeSubModel, type OnnxGraph } from './onnx-graph.js';

/** The classifier applied per patch: logits = features · weight + bias. */
export interface LinearHead {
  /** `[channels, classes]`, row-major. */
  readonly weight: Float32Array;
  readonly bias: Float32Array;
  readonly channels: number;
  readonly classes: number;
}

export interface StagePlan {
  /** input → the last stride-1 tensor (null when the first layer is already strided). */
  readonly stem: Uint8Array | null;
  /** One sub-model per stride doubling, in order; the last ends at the features (or the logits). */
  readonly strided: readonly Uint8Array[];
  /** Present when the graph ends in the per-patch linear classifier (then `strided` ends at the features). */
  readonly head: LinearHead | null;
}

export type StagePlanResult = { readonly plan: StagePlan } | { readonly reason: string };

const POOLING = new Set(['Conv', 'MaxPool', 'AveragePool']);
const NOT_EQUIVARIANT = new Set(['ConvTranspose', 'Resize', 'Upsample', 'GlobalAveragePool', 'GlobalMaxPool', 'Flatten',
  'Reshape', 'SpaceToDepth', 'DepthToSpace', 'ReduceMean', 'Pad']);

/** Split `modelBytes` (whose output has total stride `stride`) into stages; or say why not. */
export function planStages(modelBytes: Uint8Array, stride: number): StagePlanResult {
  let graph: OnnxGraph;
  try {
    graph = parseOnnxGraph(modelBytes);
  } catch (error) {
    return { reason: `unreadable graph: ${(error as Error).message}` };
  }
  if (graph.inputs.length !== 1 || graph.outputs.length !== 1) return { reason: 'the graph must have one input and one output' };
  if (stride < 2 || (stride & (stride - 1)) !== 0) return { reason: `stride ${stride} is not a power of two above 1` };
  const input = graph.inputs[0]!;
  const output = graph.outputs[0]!;
  const producer = new Map<string, number>();
  graph.nodes.forEach((node, i) => node.outputs.forEach((name) => producer.set(name, i)));

  // Spatial stride of every tensor computed from the input.
  const strideOf = new Map<string, number>([[input, 1]]);
  for (const node of graph.nodes) {
    if (node.hasSubgraph) return { reason: `${node.opType} has a subgraph` };
    const fed = node.inputs.filter((name) => strideOf.has(name));
    if (fed.length === 0) continue;
    if (node.opType === 'Shape') continue; // metadata, not pixels
    if (NOT_EQUIVARIANT.has(node.opType)) return { reason: `${node.opType} does not commute with cropping` };
    let s = Math.max(...fed.map((name) => strideOf.get(name)!));
    if (POOLING.has(node.opType)) {
      const [sy = 1, sx = 1] = node.ints.get('strides') ?? [];
      const pads = node.ints.get('pads') ?? [];
      if (sy !== sx || (sy !== 1 && sy !== 2)) return { reason: `${node.opType} has strides ${sy}×${sx}` };
      if (pads.some((p) => p !== 0)) return { reason: `${node.opType} is padded` };
      s *= sy;
    }
    for (const name of node.outputs) strideOf.set(name, s);
  }
  if (strideOf.get(output) !== stride) return { reason: `the output's stride is ${strideOf.get(output)}, the manifest says ${stride}` };

  // Cut points: tensors every path from the input to the output goes through.
  const dominators = [input, ...graph.nodes.flatMap((node) => node.outputs)
    .filter((name) => strideOf.has(name) && name !== output && dominates(graph, input, output, name))];
  const lastAt = (s: number) => dominators.filter((name) => strideOf.get(name) === s).at(-1);

  // The per-patch classifier: Transpose(NCHW→NHWC) → MatMul(weight) → Add(bias).
  let head: LinearHead | null = null;
  let end = output;
  const add = graph.nodes[producer.get(output) ?? -1];
  if (add?.opType === 'Add') {
    const biasName = add.inputs.find((name) => graph.initializers.has(name));
    const matmul = graph.nodes[producer.get(add.inputs.find((name) => name !== biasName) ?? '') ?? -1];
    const transpose = matmul?.opType === 'MatMul' ? graph.nodes[producer.get(matmul.inputs[0]!) ?? -1] : undefined;
    const perm = transpose?.ints.get('perm');
    if (biasName && transpose?.opType === 'Transpose' && perm?.join() === '0,2,3,1' && dominators.includes(transpose.inputs[0]!)) {
      const weight = readFloatInitializer(graph, matmul!.inputs[1]!);
      const bias = readFloatInitializer(graph, biasName);
      if (weight?.dims.length === 2 && bias && bias.data.length === weight.dims[1]) {
        head = { weight: weight.data, bias: bias.data, channels: weight.dims[0]!, classes: weight.dims[1]! };
        end = transpose.inputs[0]!;
      }
    }
  }

  const cuts: string[] = [lastAt(1) ?? input];
  for (let s = 2; s < stride; s *= 2) {
    const cut = lastAt(s);
    if (!cut) return { reason: `no single tensor carries the whole computation at stride ${s}` };
    cuts.push(cut);
  }
  cuts.push(end);
  const subModel = (from: string, to: string): Uint8Array | string => {
    const nodes = nodesBetween(graph, producer, from, to);
    return typeof nodes === 'string' ? nodes : writeSubModel(graph, nodes, from, to);
  };
  const stem = cuts[0] === input ? null : subModel(input, cuts[0]!);
  if (typeof stem === 'string') return { reason: stem };
  const strided: Uint8Array[] = [];
  for (let i = 0; i + 1 < cuts.length; i++) {
    const stage = subModel(cuts[i]!, cuts[i + 1]!);
    if (typeof stage === 'string') return { reason: stage };
    strided.push(stage);
  }
  return { plan: { stem, strided, head } };
}

/** Whether every path from `input` to `output` passes through `cut` (nodes are in graph order). */
function dominates(graph: OnnxGraph, input: string, output: string, cut: string): boolean {
  const reached = new Set([input]);
  for (const node of graph.nodes) {
    if (!node.inputs.some((name) => reached.has(name))) continue;
    for (const name of node.outputs) if (name !== cut) reached.add(name);
  }
  return !reached.has(output);
}

/** Indices of the nodes that compute `to` from `from` (and constants), or why they cannot. */
function nodesBetween(graph: OnnxGraph, producer: ReadonlyMap<string, number>, from: string, to: string): number[] | string {
  const selected = new Set<number>();
  const pending = [to];
  const seen = new Set<string>();
  while (pending.length) {
    const name = pending.pop()!;
    if (name === from || name === '' || seen.has(name) || graph.initializers.has(name)) continue;
    seen.add(name);
    const index = producer.get(name);
    if (index === undefined) return `${to} depends on ${name} outside the stage from ${from}`;
    selected.add(index);
    pending.push(...graph.nodes[index]!.inputs);
  }
  return [...selected].sort((a, b) => a - b);
}

// Tensor helpers for the staged computation (NCHW float32, batch 1).

export interface Nchw {
  readonly data: Float32Array;
  readonly dims: readonly [number, number, number, number];
}

/** The image zero-padded by `pad` on every side, as the reference method pads it. */
export function padChw(chw: Float32Array, channels: number, height: number, width: number, pad: number): Nchw {
  const h = height + 2 * pad;
  const w = width + 2 * pad;
  const out = new Float32Array(channels * h * w);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < height; y++) {
      out.set(chw.subarray((c * height + y) * width, (c * height + y + 1) * width), (c * h + y + pad) * w + pad);
    }
  }
  return { data: out, dims: [1, channels, h, w] };
}

/** `x` without its first `dy` rows and `dx` columns. */
export function cropNchw(x: Nchw, dy: number, dx: number): Nchw {
  const [, channels, height, width] = x.dims;
  if (dy === 0 && dx === 0) return x;
  const h = height - dy;
  const w = width - dx;
  const out = new Float32Array(channels * h * w);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < h; y++) {
      const source = (c * height + y + dy) * width + dx;
      out.set(x.data.subarray(source, source + w), (c * h + y) * w);
    }
  }
  return { data: out, dims: [1, channels, h, w] };
}

/** The head on every position of `features` (NCHW), for `keep` classes only: `[rows, cols, keep.length]`. */
export function linearHeadCells(features: Nchw, head: LinearHead, keep: readonly number[]): Float32Array {
  const [, channels, rows, cols] = features.dims;
  if (channels !== head.channels) throw new RangeError(`features have ${channels} channels, the classifier expects ${head.channels}`);
  const positions = rows * cols;
  const out = new Float32Array(positions * keep.length);
  const sum = new Float64Array(positions);
  keep.forEach((k, j) => {
    sum.fill(head.bias[k]!);
    for (let c = 0; c < channels; c++) {
      const w = head.weight[c * head.classes + k]!;
      const plane = features.data.subarray(c * positions, (c + 1) * positions);
      for (let p = 0; p < positions; p++) sum[p]! += plane[p]! * w;
    }
    for (let p = 0; p < positions; p++) out[p * keep.length + j] = sum[p]!;
  });
  return out;
}
