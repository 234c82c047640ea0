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

/** Gzipped chunks of our own code for these entries: lit and onnxruntime-web external, everything else bundled and minified. */
async function ownChunks(entries) {
  const bundle = await rollup({
    input: Object.fromEntries(Object.entries(entries).map(([name, file]) => [name, join(root, file)])),
    external: [/^onnxruntime-web/, /^lit/, /^@lit\//],
    plugins: [esbuildTypescript({ tsconfig: join(root, 'tsconfig.json') }), nodeResolve(), esbuildMinify()],
    onwarn: () => undefined,
  });
  const { output } = await bundle.generate({ format: 'es' });
  await bundle.close();
  return output.filter((o) => o.type === 'chunk');
}

const sum = (list) => list.reduce((total, f) => total + f.gzip, 0);
const WORKER = 'src/worker/inference-worker.ts';

/** Own code only: the embed's main thread and the worker, the what-if chunks apart. */
export async function coreGzipBytes() {
  const output = await ownChunks({ main: 'src/embed.ts', worker: WORKER });
  // The what-if code (the heatmap's panel, the pool's re-scoring) loads on first use: reported apart from the core.
  const isWhatIf = (o) => o.isDynamicEntry && Object.keys(o.modules).some((id) => /whatif-panel|pool\/rescore|core\/edits/.test(id));
  const files = output.map((o) => ({ name: o.fileName, raw: o.code.length, gzip: gzip(o.code), whatIf: isWhatIf(o) }));
  return { total: sum(files.filter((f) => !f.whatIf)), whatIf: sum(files.filter((f) => f.whatIf)), files };
}

/**
 * Where the core budget stands: what smaller uses load before their first result (chunks loaded on
 * first use left out): the worker alone, the pool's API (classify() from script) with the worker, and
 * a page with one `<bagnet-classifier>`.
 */
export async function usesGzipBytes() {
  const eager = async (entries) => sum((await ownChunks(entries)).filter((o) => !o.isDynamicEntry).map((o) => ({ gzip: gzip(o.code) })));
  return {
    bundle_worker_gzip_bytes: await eager({ worker: WORKER }),
    bundle_pool_api_gzip_bytes: await eager({ main: 'src/pool/pool.ts', worker: WORKER }),
    bundle_one_classifier_gzip_bytes: await eager({ main: 'src/elements/classifier/bagnet-classifier.ts', worker: WORKER }),
  };
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
  const uses = await usesGzipBytes();
  console.log(`\n| smaller uses (own code loaded before the first result) | gzip |\n|---|---|
| the worker alone | ${kb(uses.bundle_worker_gzip_bytes)} |
| classify() from script: the pool and the worker | ${kb(uses.bundle_pool_api_gzip_bytes)} |
| a page with one \`<bagnet-classifier>\` | ${kb(uses.bundle_one_classifier_gzip_bytes)} |`);
  console.log(JSON.stringify({ bundle_core_gzip_bytes: core.total, bundle_whatif_gzip_bytes: core.whatIf, ...uses }));
}
