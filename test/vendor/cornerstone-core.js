// Cornerstone3D pulls CommonJS dependencies the test server cannot serve as ES modules:
// web-test-runner.config.mjs bundles these entries (with code splitting, so core is one instance)
// into build/test-vendor/, and maps `@cornerstonejs/core` and the loader to them.
export * from '@cornerstonejs/core';
