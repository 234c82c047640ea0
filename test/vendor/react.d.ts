// Types of build/test-vendor/react.js (bundled from test/vendor/react-entry.js).
declare module '*/build/test-vendor/react.js' {
  export { createElement } from 'react';
  export { flushSync } from 'react-dom';
  export { createRoot } from 'react-dom/client';
}
