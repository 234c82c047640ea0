// The catalogue loads the one-tag bundle (dist/, from `npm run build`) exactly as an embedding page
// does, and the models from the repository: nothing comes from a CDN.
import { fileURLToPath } from 'node:url';
import type { StorybookConfig } from '@storybook/web-components-vite';

const config: StorybookConfig = {
  stories: ['../stories/**/*.mdx', '../stories/**/*.stories.ts'],
  framework: { name: '@storybook/web-components-vite', options: {} },
  addons: ['@storybook/addon-docs'],
  core: { disableTelemetry: true, disableWhatsNewNotifications: true },
  staticDirs: [
    { from: '../dist/embed', to: '/bagnet' },
    { from: '../models/default', to: '/models/default' },
    { from: '../models/generated', to: '/models/generated' },
    { from: '../stories/assets', to: '/assets' },
  ],
  // The Cornerstone3D story: the DICOM loader starts its decoders as module workers, and its codecs'
  // Node-only branches import Node built-ins that the browser build leaves out (xmlbuilder2, under
  // dcmjs, subclasses EventEmitter at load time: it gets a stand-in).
  viteFinal: (vite) => ({
    ...vite,
    worker: { ...vite.worker, format: 'es' },
    resolve: { ...vite.resolve, alias: { ...(vite.resolve?.alias as Record<string, string>), events: fileURLToPath(new URL('../scripts/browser-shims/events.js', import.meta.url)) } },
    optimizeDeps: { ...vite.optimizeDeps, exclude: [...(vite.optimizeDeps?.exclude ?? []), '@cornerstonejs/dicom-image-loader'] },
    build: { ...vite.build, chunkSizeWarningLimit: 4096 }, // Cornerstone3D with vtk.js is big
    logLevel: 'error',
  }),
};

export default config;
