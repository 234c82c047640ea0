// The baseline: a raw onnxruntime-web WASM session (the same plain WASM build the pool uses for the
// wasm backend) in a module worker: what the pool adds its overhead to.
// Messages: {type: 'load', modelUrl, size, channels} (or `dims` for any input shape) then {type: 'run'}
// (answers the run's milliseconds).
import * as ort from 'onnxruntime-web/wasm';

let session: ort.InferenceSession | null = null;
let input: ort.Tensor | null = null;

type LoadMessage = { type: 'load'; modelUrl: string; size: number; channels: number; dims?: number[] };

async function handle(message: LoadMessage | { type: 'run' } | { type: 'release' }) {
  if (message.type === 'load') {
    ort.env.wasm.numThreads = self.crossOriginIsolated ? navigator.hardwareConcurrency : 1;
    const bytes = new Uint8Array(await (await fetch(message.modelUrl)).arrayBuffer());
    session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
    const { size, channels } = message;
    const dims = message.dims ?? [1, channels, size, size];
    input = new ort.Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i) * 2), dims);
    return { threads: ort.env.wasm.numThreads };
  }
  if (message.type === 'run') {
    const started = performance.now();
    const out = await session!.run({ [session!.inputNames[0]!]: input! });
    (out[session!.outputNames[0]!] as ort.Tensor).dispose();
    return { ms: performance.now() - started };
  }
  await session?.release();
  return {};
}

self.onmessage = (event) => {
  handle(event.data).then((result) => self.postMessage(result), (error: unknown) => self.postMessage({ error: String(error) }));
};
