// Nothing for bagnet-elements: webpack 5 bundles the worker from `new Worker(new URL(…, import.meta.url))`
// and emits onnxruntime-web's .wasm from its `new URL('….wasm', import.meta.url)` as asset modules.
export default {
  entry: './src/main.js',
  output: { path: new URL('./dist', import.meta.url).pathname, clean: true },
  devServer: { static: 'public', client: { overlay: false } },
  performance: { hints: false },
};
