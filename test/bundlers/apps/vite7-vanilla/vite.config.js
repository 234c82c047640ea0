// Vite 7's dev server pre-bundles dependencies with esbuild, which moves them away from the files
// their `new URL(…, import.meta.url)` point at; Vite 8's does not. The production build needs nothing.
export default { optimizeDeps: { exclude: ['bagnet-elements', 'onnxruntime-web'] } };
