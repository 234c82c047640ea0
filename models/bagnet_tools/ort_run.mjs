// Runs an ONNX model with onnxruntime-node for the Python tools and tests (PyPI, and so the Python
// onnxruntime wheel, is out of reach here). Usage: node ort_run.mjs request.json
// request.json: {"model": path, "input": {"file": path, "dims": [...]}, "output": path, "threads": n,
// "int64": {name: [values]}} (int64: optional 1-D inputs, such as an exact-map stage's `classes`)
// The input file holds float32 little-endian values; the output file receives `patch_logits` the
// same way, and stdout one JSON line {"dims": [...], "outputNames": [...], "inputNames": [...]}.
import { readFile, writeFile } from 'node:fs/promises';
import ort from 'onnxruntime-node';

const request = JSON.parse(await readFile(process.argv[2], 'utf8'));
const session = await ort.InferenceSession.create(request.model, {
  intraOpNumThreads: request.threads ?? 0,
  graphOptimizationLevel: 'all',
});
const bytes = await readFile(request.input.file);
const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, request.input.dims) };
for (const [name, values] of Object.entries(request.int64 ?? {})) {
  feeds[name] = new ort.Tensor('int64', BigInt64Array.from(values, BigInt), [values.length]);
}
const results = await session.run(feeds);
const output = results[session.outputNames[0]];
await writeFile(request.output, Buffer.from(output.data.buffer, output.data.byteOffset, output.data.byteLength));
process.stdout.write(JSON.stringify({ dims: output.dims, inputNames: session.inputNames, outputNames: session.outputNames }) + '\n');
await session.release();
