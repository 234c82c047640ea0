/**
 * The exact full-resolution evidence map by shift-and-stitch. The authors' reference pads the
 * normalised image with (q-1)/2 zeros on every side and runs each of the H×W q×q patches alone;
 * pixel (y, x) gets the evidence of the patch centred on it. The patch-map network computes the
 * patches whose top-left corner is a multiple of the stride in one pass, so running it on the
 * stride² shifted crops of the padded image and interleaving the maps gives the same numbers.
 * Shifts are ordered coarse to fine (stride, stride/2, …, 1) so the map can be shown as it sharpens.
 */

export interface ShiftLevel {
  /** Pixels between known samples once this level is done. */
  readonly level: number;
  /** The new shifts (dy, dx) this level adds. */
  readonly shifts: readonly (readonly [number, number])[];
}

/** Padding of the reference method: (q - 1) / 2 on every side (q is odd for every BagNet). */
export function referencePadding(patchSize: number): number {
  if (patchSize % 2 !== 1) throw new RangeError(`patch size must be odd, got ${patchSize}`);
  return (patchSize - 1) / 2;
}

/** The shifts of each refinement level, for a power-of-two stride. */
export function shiftLevels(stride: number): ShiftLevel[] {
  if (!Number.isInteger(stride) || stride < 1 || (stride & (stride - 1)) !== 0) {
    throw new RangeError(`stride must be a power of two, got ${stride}`);
  }
  const levels: ShiftLevel[] = [];
  const done = new Set<string>();
  for (let level = stride; level >= 1; level /= 2) {
    const shifts: [number, number][] = [];
    for (let dy = 0; dy < stride; dy += level) {
      for (let dx = 0; dx < stride; dx += level) {
        const key = `${dy},${dx}`;
        if (!done.has(key)) {
          done.add(key);
          shifts.push([dy, dx]);
        }
      }
    }
    levels.push({ level, shifts });
  }
  return levels;
}

/**
 * The crop every shift runs on, taken at (dy, dx) from the image zero-padded with p = (q-1)/2 (and
 * as many zeros as needed beyond the bottom/right). One shape for every shift, so shifts batch
 * together: just big enough for shift 0's last cell, stride·⌊(H-1)/stride⌋ + q.
 */
export interface ShiftGeometry {
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly patchSize: number;
  readonly stride: number;
}

export function shiftCropSize(g: ShiftGeometry): { height: number; width: number } {
  referencePadding(g.patchSize);
  const side = (size: number) => g.stride * Math.floor((size - 1) / g.stride) + g.patchSize;
  return { height: side(g.height), width: side(g.width) };
}

/**
 * Copy the shifted crop of the zero-padded `chw` tensor into `out` (length C × cropH × cropW);
 * `crop` may be larger than a shift needs (zeros continue past the bottom/right).
 */
export function writeShiftCrop(chw: Float32Array, g: ShiftGeometry, dy: number, dx: number, out: Float32Array,
                               crop = shiftCropSize(g)): void {
  const p = referencePadding(g.patchSize);
  const { height: cropH, width: cropW } = crop;
  out.fill(0);
  for (let c = 0; c < g.channels; c++) {
    for (let y = 0; y < cropH; y++) {
      const sourceY = y + dy - p; // row of the unpadded image
      if (sourceY < 0 || sourceY >= g.height) continue;
      const sourceRow = (c * g.height + sourceY) * g.width;
      const targetRow = (c * cropH + y) * cropW;
      for (let x = 0; x < cropW; x++) {
        const sourceX = x + dx - p;
        if (sourceX >= 0 && sourceX < g.width) out[targetRow + x] = chw[sourceRow + sourceX]!;
      }
    }
  }
}

/**
 * Put one shift's cells into the exact map: cell (u, v) of shift (dy, dx) is the patch centred on
 * pixel (dy + stride·u, dx + stride·v). `cells` is `[rows, cols, classCount]`; only `classes` are
 * stored, so `map` is `[height, width, classes.length]`.
 */
export function stitchShift(map: Float32Array, g: ShiftGeometry, dy: number, dx: number, cells: Float32Array,
                            rows: number, cols: number, classCount: number, classes: readonly number[]): void {
  const k = classes.length;
  for (let u = 0; u < rows; u++) {
    const y = dy + g.stride * u;
    if (y >= g.height) break;
    for (let v = 0; v < cols; v++) {
      const x = dx + g.stride * v;
      if (x >= g.width) break;
      const source = (u * cols + v) * classCount;
      const target = (y * g.width + x) * k;
      for (let j = 0; j < k; j++) map[target + j] = cells[source + classes[j]!]!;
    }
  }
}

/**
 * The phase (dy, dx) ∈ {0, 1}² of an NCHW batch-1 tensor for the next exact-map stage
 * (models/bagnet_tools/stages.py): from row dy and column dx, one row and column shorter, so every
 * phase has the same shape. Written into `into` when given (a batch's slot), else a new array.
 */
export function cropPhase(data: Float32Array, [, channels, height, width]: readonly number[], dy: number, dx: number,
                          into?: Float32Array): { data: Float32Array; dims: [number, number, number, number] } {
  const h = height! - 1;
  const w = width! - 1;
  const out = into ?? new Float32Array(channels! * h * w);
  for (let c = 0; c < channels!; c++) {
    for (let y = 0; y < h; y++) {
      const from = (c * height! + y + dy) * width! + dx;
      out.set(data.subarray(from, from + w), (c * h + y) * w);
    }
  }
  return { data: out, dims: [1, channels!, h, w] };
}

/**
 * Sizes of the batches that run `count` inputs, each at most `max`, multiples of `multiple`
 * where they can be: a WASM convolution hands whole images of a batch to its threads, so 3
 * images on 2 threads leave one idle for a third of the run (measured 1.4× slower per image than
 * 2 + 1); on WebGPU `multiple` is 1.
 */
export function batchSizes(count: number, max: number, multiple: number): number[] {
  const sizes: number[] = [];
  for (let left = count; left > 0; left -= sizes.at(-1)!) {
    const size = Math.min(max, left);
    sizes.push(size > multiple ? size - (size % multiple) : size);
  }
  return sizes;
}

/** The value a partly computed map shows at pixel (x, y) for class `slot`: its level×level block's top-left sample. */
export function levelValue(map: Float32Array, width: number, classCount: number, slot: number, level: number, x: number, y: number): number {
  return map[((y - (y % level)) * width + (x - (x % level))) * classCount + slot]!;
}

/**
 * One class of a partly computed map at refinement `level`: every pixel takes the value of the
 * known sample at the top-left of its level×level block (see levelValue).
 */
export function levelView(map: Float32Array, width: number, height: number, classCount: number, slot: number, level: number): Float32Array {
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const sy = y - (y % level);
    for (let x = 0; x < width; x++) out[y * width + x] = map[(sy * width + (x - (x % level))) * classCount + slot]!;
  }
  return out;
}
