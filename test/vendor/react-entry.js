// React ships CommonJS only; the test runner serves ES modules. web-test-runner.config.mjs bundles
// this entry with esbuild into build/test-vendor/react.js before the tests start.
export { createElement } from 'react';
export { flushSync } from 'react-dom';
export { createRoot } from 'react-dom/client';
