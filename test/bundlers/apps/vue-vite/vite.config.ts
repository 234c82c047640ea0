import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vite';

// Vue renders bagnet-* tags as custom elements, not as Vue components.
export default defineConfig({
  plugins: [vue({ template: { compilerOptions: { isCustomElement: (tag) => tag.startsWith('bagnet-') } } })],
});
