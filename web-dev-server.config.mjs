// `npm start`: the demo page, served cross-origin isolated so onnxruntime-web can use threads.
import { fileURLToPath } from 'node:url';
import { esbuildPlugin } from '@web/dev-server-esbuild';
import { crossOriginIsolation, typescriptSources } from './scripts/server-options.mjs';

export default {
  rootDir: '.',
  port: Number(process.env.PORT ?? 8000),
  hostname: process.env.HOST ?? '127.0.0.1',
  nodeResolve: true,
  appIndex: 'demo/index.html',
  plugins: [esbuildPlugin({ ts: true, target: 'es2022', tsconfig: fileURLToPath(new URL('./tsconfig.json', import.meta.url)) })],
  middleware: [
    crossOriginIsolation,
    typescriptSources(),
    // The demo lives in demo/; send the bare root there.
    (context, next) => {
      if (context.path === '/') context.redirect(`/demo/${context.search}`);
      return next();
    },
  ],
};
