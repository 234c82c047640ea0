#!/usr/bin/env node
// `npm run size`: gzipped sizes of the embed bundle's files, and of the library's own JavaScript
// (main thread + worker, minified, without onnxruntime-web and lit). Exported for `npm run bench`.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { nodeResolve } from '@rollup/plugin-node-resolve';
import { rollup } from 'rollup';
import { esbuildTypescript } from './rollup-esbuild.mjs';
import { esbuildMinify } from './rollup-plugins.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const gzip = (code) => gzipSync(code, { level: 9 }).length;

/** Own code only: lit and onnxruntime-web external, everything else bundled and minified. */
export async function coreGzipBytes() {
  const bundle = await rollup({
    input: { main: join(root, 'src/embed.ts'), worker: join(root, 'src/worker/inference-worker.ts') },
    external: [/^onnxruntime-web/, /^lit/, /^@lit\//],
    plugins: [esbuildTypescript({ tsconfig: join(root, 'tsconfig.json') }), nodeResolve(), esbuildMinify()],
    onwarn: () => undefined,
  });
  const { output } = await bundle.generate({ format: 'es' });
  await bundle.close();
  // The what-if code (the heatmap's panel, the pool's re-scoring) loads on first use: reported apart from the core.
  const isWhatIf = (o) => o.isDynamicEntry && Object.keys(o.modules).some((id) => /whatif-panel|pool\/rescore|core\/edits/.test(id));
  const files = output.filter((o) => o.type === 'chunk')
    .map((o) => ({ name: o.fileName, raw: o.code.length, gzip: gzip(o.code), whatIf: isWhatIf(o) }));
  const sum = (list) => list.reduce((total, f) => total + f.gzip, 0);
  return { total: sum(files.filter((f) => !f.whatIf)), whatIf: sum(files.filter((f) => f.whatIf)), files };
}

function embedFiles() {
  const dist = join(root, 'dist', 'embed');
  return readdirSync(dist).filter((f) => /^(bagnet-|ort-).*\.(js|wasm)$/.test(f)).map((name) => {
    const data = readFileSync(join(dist, name));
    return { name, raw: statSync(join(dist, name)).size, gzip: gzip(data) };
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const core = await coreGzipBytes();
  const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
  console.log('| file (library code only, minified) | raw | gzip |\n|---|---|---|');
  for (const f of core.files) console.log(`| ${f.name}${f.whatIf ? ' (what-if, on first use)' : ''} | ${kb(f.raw)} | ${kb(f.gzip)} |`);
  console.log(`| **core** (all but the what-if chunk) | | **${kb(core.total)}** (target ≤ 32 KB) |`);
  console.log(`| **what-if chunk** | | **${kb(core.whatIf)}** |`);
  try {
    const files = embedFiles();
    console.log('\n| dist/embed/ (embed bundle, after `npm run build`) | raw | gzip |\n|---|---|---|');
    for (const f of files) console.log(`| ${f.name} | ${kb(f.raw)} | ${kb(f.gzip)} |`);
  } catch {
    console.log('\n(no dist/: run `npm run build` for the embed bundle sizes)');
  }
  console.log(JSON.stringify({ bundle_core_gzip_bytes: core.total, bundle_whatif_gzip_bytes: core.whatIf }));
}
