// The catalogue loads the one-tag bundle (dist/, from `npm run build`) exactly as an embedding page
// does, and the models from the repository: nothing comes from a CDN.
import type { StorybookConfig } from '@storybook/web-components-vite';

const config: StorybookConfig = {
  stories: ['../stories/**/*.mdx', '../stories/**/*.stories.ts'],
  framework: { name: '@storybook/web-components-vite', options: {} },
  addons: ['@storybook/addon-docs'],
  core: { disableTelemetry: true, disableWhatsNewNotifications: true },
  staticDirs: [
    { from: '../dist', to: '/bagnet' },
    { from: '../models/default', to: '/models/default' },
    { from: '../models/generated', to: '/models/generated' },
    { from: '../stories/assets', to: '/assets' },
  ],
};

export default config;
