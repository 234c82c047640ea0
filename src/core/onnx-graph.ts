/**
 * Just enough of the ONNX protobuf format to cut a BagNet graph into stages at its strided layers,
 * so the exact map can share the early layers between shifts (see core/staged-plan.ts). Reads the
 * node list, initializers and graph inputs/outputs; writes a sub-model that copies the model's
 * other fields (opsets, IR version) and the selected nodes and initializers byte for byte.
 */

const WIRE_VARINT = 0;
const WIRE_64BIT = 1;
const WIRE_BYTES = 2;
const WIRE_32BIT = 5;

interface Field {
  readonly field: number;
  readonly wire: number;
  /** The whole field, tag included (for copying it verbatim). */
  readonly start: number;
  readonly end: number;
  /** Length-delimited payload, or the varint value (as a number: ONNX's values here fit). */
  readonly payloadStart: number;
  readonly value: number;
}

export class OnnxFormatError extends Error {
  override readonly name = 'OnnxFormatError';
}

function readVarint(bytes: Uint8Array, offset: number): [value: number, next: number] {
  let value = 0;
  let scale = 1;
  for (let i = offset; i < bytes.length && i < offset + 10; i++) {
    const byte = bytes[i]!;
    value += (byte & 0x7f) * scale;
    scale *= 128;
    if (byte < 0x80) return [value, i + 1];
  }
  throw new OnnxFormatError(`Truncated varint at byte ${offset}`);
}

/** The fields of one message, in order. */
function* fields(bytes: Uint8Array, start = 0, end = bytes.length): Generator<Field> {
  let offset = start;
  while (offset < end) {
    const fieldStart = offset;
    const [tag, afterTag] = readVarint(bytes, offset);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    let value = 0;
    let payloadStart = afterTag;
    switch (wire) {
      case WIRE_VARINT:
        [value, offset] = readVarint(bytes, afterTag);
        break;
      case WIRE_64BIT:
        offset = afterTag + 8;
        break;
      case WIRE_32BIT:
        offset = afterTag + 4;
        break;
      case WIRE_BYTES: {
        const [length, afterLength] = readVarint(bytes, afterTag);
        payloadStart = afterLength;
        value = length;
        offset = afterLength + length;
        break;
      }
      default:
        throw new OnnxFormatError(`Unsupported protobuf wire type ${wire} at byte ${fieldStart}`);
    }
    if (offset > end) throw new OnnxFormatError(`A field at byte ${fieldStart} runs past its message`);
    yield { field, wire, start: fieldStart, end: offset, payloadStart, value };
  }
}

const utf8 = new TextDecoder();
const text = (bytes: Uint8Array, f: Field) => utf8.decode(bytes.subarray(f.payloadStart, f.payloadStart + f.value));

/** Repeated int64 values, packed or not. */
function readInts(bytes: Uint8Array, f: Field, into: number[]): void {
  if (f.wire === WIRE_VARINT) {
    into.push(f.value);
    return;
  }
  let offset = f.payloadStart;
  const end = f.payloadStart + f.value;
  while (offset < end) {
    const [value, next] = readVarint(bytes, offset);
    into.push(value);
    offset = next;
  }
}

export interface OnnxNode {
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** Integer-list attributes (strides, perm, …). */
  readonly ints: ReadonlyMap<string, readonly number[]>;
  /** True when an attribute holds a subgraph (If, Loop, Scan): such graphs are not cut. */
  readonly hasSubgraph: boolean;
  readonly span: readonly [number, number];
}

export interface OnnxTensorInfo {
  readonly name: string;
  readonly span: readonly [number, number];
}

export interface OnnxGraph {
  readonly bytes: Uint8Array;
  readonly nodes: readonly OnnxNode[];
  readonly initializers: ReadonlyMap<string, OnnxTensorInfo>;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** ModelProto fields other than the graph (IR version, opsets, producer, …). */
  readonly modelFieldSpans: readonly (readonly [number, number])[];
}

function parseAttribute(bytes: Uint8Array, f: Field): { name: string; ints: number[]; subgraph: boolean } {
  let name = '';
  const ints: number[] = [];
  let subgraph = false;
  for (const a of fields(bytes, f.payloadStart, f.payloadStart + f.value)) {
    if (a.field === 1 && a.wire === WIRE_BYTES) name = text(bytes, a);
    else if (a.field === 3 && a.wire === WIRE_VARINT) ints.push(a.value);
    else if (a.field === 8) readInts(bytes, a, ints);
    else if (a.field === 6 || a.field === 11) subgraph = true; // g, graphs
  }
  return { name, ints, subgraph };
}

function parseNode(bytes: Uint8Array, f: Field): OnnxNode {
  const inputs: string[] = [];
  const outputs: string[] = [];
  const ints = new Map<string, number[]>();
  let opType = '';
  let hasSubgraph = false;
  for (const n of fields(bytes, f.payloadStart, f.payloadStart + f.value)) {
    if (n.wire !== WIRE_BYTES) continue;
    if (n.field === 1) inputs.push(text(bytes, n));
    else if (n.field === 2) outputs.push(text(bytes, n));
    else if (n.field === 4) opType = text(bytes, n);
    else if (n.field === 5) {
      const attribute = parseAttribute(bytes, n);
      if (attribute.ints.length) ints.set(attribute.name, attribute.ints);
      hasSubgraph ||= attribute.subgraph;
    }
  }
  return { opType, inputs, outputs, ints, hasSubgraph, span: [f.start, f.end] };
}

/** The name of a TensorProto (field 8) or ValueInfoProto (field 1). */
function messageName(bytes: Uint8Array, f: Field, nameField: number): string {
  for (const t of fields(bytes, f.payloadStart, f.payloadStart + f.value)) {
    if (t.field === nameField && t.wire === WIRE_BYTES) return text(bytes, t);
  }
  return '';
}

/** Parse an ONNX ModelProto's graph. Throws OnnxFormatError on malformed bytes. */
export function parseOnnxGraph(bytes: Uint8Array): OnnxGraph {
  const modelFieldSpans: [number, number][] = [];
  let graph: Field | null = null;
  for (const f of fields(bytes)) {
    if (f.field === 7 && f.wire === WIRE_BYTES) graph = f;
    else modelFieldSpans.push([f.start, f.end]);
  }
  if (!graph) throw new OnnxFormatError('The model has no graph');
  const nodes: OnnxNode[] = [];
  const initializers = new Map<string, OnnxTensorInfo>();
  const inputs: string[] = [];
  const outputs: string[] = [];
  for (const f of fields(bytes, graph.payloadStart, graph.payloadStart + graph.value)) {
    if (f.wire !== WIRE_BYTES) continue;
    if (f.field === 1) nodes.push(parseNode(bytes, f));
    else if (f.field === 5) {
      const name = messageName(bytes, f, 8);
      initializers.set(name, { name, span: [f.start, f.end] });
    } else if (f.field === 11) inputs.push(messageName(bytes, f, 1));
    else if (f.field === 12) outputs.push(messageName(bytes, f, 1));
    else if (f.field === 15) throw new OnnxFormatError('Sparse initializers are not supported');
  }
  return { bytes, nodes, initializers, inputs: inputs.filter((name) => !initializers.has(name)), outputs, modelFieldSpans };
}

/** A float32 initializer's values and dims (raw_data or float_data). */
export function readFloatInitializer(graph: OnnxGraph, name: string): { data: Float32Array; dims: number[] } | null {
  const info = graph.initializers.get(name);
  if (!info) return null;
  const { bytes } = graph;
  const dims: number[] = [];
  let dataType = 0;
  let data: Float32Array | null = null;
  const [, end] = info.span;
  const outer = [...fields(bytes, info.span[0], end)][0]!;
  for (const t of fields(bytes, outer.payloadStart, outer.payloadStart + outer.value)) {
    if (t.field === 1) readInts(bytes, t, dims);
    else if (t.field === 2 && t.wire === WIRE_VARINT) dataType = t.value;
    else if (t.field === 9 && t.wire === WIRE_BYTES) {
      // Copy: the payload is not 4-byte aligned inside the file. Little-endian, as ONNX stores it.
      const copy = bytes.slice(t.payloadStart, t.payloadStart + t.value);
      data = new Float32Array(copy.buffer, 0, t.value / 4);
    } else if (t.field === 4 && t.wire === WIRE_BYTES) {
      const copy = bytes.slice(t.payloadStart, t.payloadStart + t.value);
      data = new Float32Array(copy.buffer, 0, t.value / 4);
    } else if (t.field === 13 || t.field === 14) {
      return null; // external data
    }
  }
  if (dataType !== 1 || !data) return null;
  return { data, dims };
}

// Writing.

function varintBytes(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

function lengthDelimited(field: number, payload: Uint8Array): Uint8Array {
  const head = [...varintBytes(field * 8 + WIRE_BYTES), ...varintBytes(payload.length)];
  const out = new Uint8Array(head.length + payload.length);
  out.set(head);
  out.set(payload, head.length);
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

const utf8Encode = new TextEncoder();

/** ValueInfoProto for a float32 tensor of rank 4 with symbolic dims. */
function float4dValueInfo(field: number, name: string): Uint8Array {
  const dims = ['n', 'c', 'h', 'w'].map((d) => lengthDelimited(1, lengthDelimited(2, utf8Encode.encode(`${name}_${d}`))));
  const tensorType = concat([new Uint8Array([0x08, 0x01]) /* elem_type FLOAT */, lengthDelimited(2, concat(dims))]);
  const type = lengthDelimited(1, tensorType);
  return lengthDelimited(field, concat([lengthDelimited(1, utf8Encode.encode(name)), lengthDelimited(2, type)]));
}

/**
 * A model that computes `output` from `input` with the given nodes (in graph order) and the
 * initializers they use. Both tensors are declared float32 of rank 4.
 */
export function writeSubModel(graph: OnnxGraph, nodeIndices: readonly number[], input: string, output: string): Uint8Array {
  const { bytes } = graph;
  const used = new Set<string>();
  const nodeParts = nodeIndices.map((i) => {
    const node = graph.nodes[i]!;
    for (const name of node.inputs) used.add(name);
    return bytes.subarray(node.span[0], node.span[1]);
  });
  const initializerParts = [...used].flatMap((name) => {
    const info = graph.initializers.get(name);
    return info ? [bytes.subarray(info.span[0], info.span[1])] : [];
  });
  const graphBody = concat([
    ...nodeParts,
    lengthDelimited(2, utf8Encode.encode('stage')),
    ...initializerParts,
    float4dValueInfo(11, input),
    float4dValueInfo(12, output),
  ]);
  const modelParts = graph.modelFieldSpans.map(([start, end]) => bytes.subarray(start, end));
  return concat([...modelParts, lengthDelimited(7, graphBody)]);
}
