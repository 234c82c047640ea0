import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// Cross-origin isolation, so that onnxruntime-web may use WASM threads (the page's choice, not the library's).
const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

export default defineConfig({
  plugins: [react()],
  server: { headers: isolation },
  preview: { headers: isolation },
});
