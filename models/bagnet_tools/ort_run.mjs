// Runs an ONNX model with onnxruntime-node for the Python tools and tests (PyPI, and so the Python
// onnxruntime wheel, is out of reach here). Usage: node ort_run.mjs request.json
// request.json: {"model": path, "input": {"file": path, "dims": [...]}, "output": path, "threads": n,
// "int64": {name: [values]}, "batch": n, "minmax": bool, "optimized": path, "level": "all" | "disabled"}
// - int64: optional 1-D inputs, such as an exact-map stage's `classes`;
// - batch: run the input's first axis in slices of this many (the outputs are concatenated);
// - minmax: instead of writing the first output, report every output's [min, max] over all slices
//   (the int8 calibration adds the tensors it measures as outputs);
// - level: onnxruntime's graph optimisation ('disabled' runs a QDQ graph as written: quantise,
//   dequantise, float kernels, the simulation its integer kernels are checked against);
// - optimized: write the graph onnxruntime actually runs (after its fusions) to this path.
// The input file holds float32 little-endian values; the output file receives the first output the
// same way, and stdout one JSON line {"dims": [...], "outputNames": [...], "inputNames": [...], "ranges"?: {...}}.
import { open, readFile } from 'node:fs/promises';
import ort from 'onnxruntime-node';

const request = JSON.parse(await readFile(process.argv[2], 'utf8'));
const session = await ort.InferenceSession.create(request.model, {
  intraOpNumThreads: request.threads ?? 0,
  graphOptimizationLevel: request.level ?? 'all',
  ...(request.optimized ? { optimizedModelFilePath: request.optimized } : {}),
});
const bytes = await readFile(request.input.file);
const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
const dims = request.input.dims;
const perItem = dims.slice(1).reduce((a, b) => a * b, 1);
const sliceSize = Math.max(1, Math.min(request.batch ?? dims[0], dims[0]));
const ranges = {};
const out = request.minmax ? undefined : await open(request.output, 'w');
let outputDims;
for (let start = 0; start < dims[0]; start += sliceSize) {
  const count = Math.min(sliceSize, dims[0] - start);
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data.subarray(start * perItem, (start + count) * perItem), [count, ...dims.slice(1)]) };
  for (const [name, values] of Object.entries(request.int64 ?? {})) {
    feeds[name] = new ort.Tensor('int64', BigInt64Array.from(values, BigInt), [values.length]);
  }
  const results = await session.run(feeds);
  if (request.minmax) {
    for (const name of session.outputNames) {
      const values = results[name].data;
      let [min, max] = ranges[name] ?? [Infinity, -Infinity];
      for (let i = 0; i < values.length; i++) { const v = values[i]; if (v < min) min = v; if (v > max) max = v; }
      ranges[name] = [min, max];
    }
  } else {
    const output = results[session.outputNames[0]];
    await out.write(Buffer.from(output.data.buffer, output.data.byteOffset, output.data.byteLength));
    outputDims = outputDims ? [outputDims[0] + output.dims[0], ...outputDims.slice(1)] : [...output.dims];
  }
}
await out?.close();
process.stdout.write(JSON.stringify({
  dims: outputDims, inputNames: session.inputNames, outputNames: session.outputNames, ...(request.minmax ? { ranges } : {}),
}) + '\n');
await session.release();
