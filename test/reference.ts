/**
 * The authors' reference for exact heatmaps, computed the slow way: every q×q patch of the
 * zero-padded normalised image run alone through the model (onnxruntime-web, on this thread).
 * Used by the tests and by `npm run bench` to check shift-and-stitch.
 */
import type { BagnetManifest } from '../src/core/manifest.js';
import { pixelsToTensor } from '../src/core/preprocess.js';
import { createSession } from '../src/runtime/onnx.js';

/** Returns `[H, W, classes.length]`: pixel (y, x) = evidence of the patch centred on it (of `precision`'s file). */
export async function bruteForceMap(manifest: BagnetManifest, image: ImageData, classes: number[], precision = 'fp32'): Promise<Float32Array> {
  const { channels } = manifest.input;
  const q = manifest.patchSize;
  const p = (q - 1) / 2;
  const { width: w, height: h } = image;
  const chw = pixelsToTensor(image.data, w, h, manifest.input);
  const session = await createSession(new Uint8Array(await (await fetch(manifest.files[precision]!.url)).arrayBuffer()), 'wasm');
  const out = new Float32Array(h * w * classes.length);
  const rowBatch = new Float32Array(w * channels * q * q);
  for (let y = 0; y < h; y++) {
    // One batch per image row: the W patches centred on that row.
    rowBatch.fill(0);
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < channels; c++) {
        for (let i = 0; i < q; i++) {
          for (let j = 0; j < q; j++) {
            const sy = y - p + i;
            const sx = x - p + j;
            if (sy >= 0 && sy < h && sx >= 0 && sx < w) rowBatch[((x * channels + c) * q + i) * q + j] = chw[(c * h + sy) * w + sx]!;
          }
        }
      }
    }
    const { data, dims } = await session.run(rowBatch, [w, channels, q, q]);
    if (dims[1] !== 1 || dims[2] !== 1) throw new Error(`a ${q}×${q} patch gave ${dims[1]}×${dims[2]} cells`);
    for (let x = 0; x < w; x++) classes.forEach((k, j) => { out[(y * w + x) * classes.length + j] = data[x * dims[3] + k]!; });
  }
  await session.release();
  return out;
}

