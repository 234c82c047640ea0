// A minimal rollup plugin: strip TypeScript with esbuild (type checking is `npm run typecheck`).
import { readFileSync } from 'node:fs';
import { transform } from 'esbuild';

export function esbuildTypescript({ target = "es2022", tsconfig = "tsconfig.json" } = {}) {
  // Decorator and class-field semantics come from tsconfig (lit's legacy decorators).
  const tsconfigRaw = readFileSync(tsconfig, 'utf8');
  return {
    name: 'esbuild-typescript',
    resolveId(source, importer) {
      // Sources import './x.js' for './x.ts' (TypeScript's ESM convention).
      if (importer && source.startsWith('.') && source.endsWith('.js') && !importer.includes('node_modules')) {
        return this.resolve(source.replace(/\.js$/, '.ts'), importer, { skipSelf: true }).then((r) => r ?? null);
      }
      return null;
    },
    async transform(code, id) {
      if (!id.endsWith('.ts')) return null;
      const result = await transform(code, { loader: 'ts', target, sourcemap: true, sourcefile: id, format: 'esm', tsconfigRaw });
      return { code: result.code, map: result.map };
    },
  };
}
