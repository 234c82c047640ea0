// The published package, as `npm pack` makes it: what it holds, what it leaves out, its size, and
// the one copy step (`bagnet-elements-assets`) for pages without a bundler that follows the worker.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

test('npm pack: the entries, the embed build, the default model and typings; no tests, generated models or second wasm copies', () => {
  assert.ok(existsSync(join(root, 'dist/embed/bagnet-elements.js')), 'run `npm run build` first');
  const [packed] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--silent'], { cwd: root, encoding: 'utf8' }));
  const files = new Set(packed.files.map((f) => f.path));
  const mb = (bytes) => (bytes / 1e6).toFixed(2);
  console.log(`# npm pack: ${mb(packed.size)} MB packed, ${mb(packed.unpackedSize)} MB unpacked, ${files.size} files`);

  for (const path of ['package.json', 'README.md', 'custom-elements.json', 'dist/index.js', 'dist/register.js',
    'dist/pool/bagnet-worker.js', 'dist/worker/inference-worker.js', 'dist/embed/bagnet-elements.js', 'dist/embed/bagnet-worker.js',
    'dist/jsx.d.ts', 'dist/vue.d.ts', 'bin/bagnet-elements-assets.mjs', 'models/default/bagnet.json', 'models/default/model.onnx']) {
    assert.ok(files.has(path), `${path} is in the package`);
  }
  const samples = JSON.parse(readFileSync(join(root, 'models/default/samples.json'), 'utf8'));
  for (const sample of samples) assert.ok(files.has(`models/default/${sample.file}`), sample.file);
  for (const path of files) {
    assert.doesNotMatch(path, /^(src|test|stories|bench|scripts|demo|models\/(?!default\/))\//, `${path}: not for the package`);
    assert.doesNotMatch(path, /\.wasm$/, `${path}: onnxruntime-web's binaries come from the dependency`);
    assert.doesNotMatch(path, /fixture/i, path);
    assert.doesNotMatch(path, /^dist\/embed\/.*\.map$/, `${path}: the embed build's source maps stay out`);
  }
  // Everything package.json points at is there.
  const targets = Object.values(pkg.exports).flatMap((entry) => (typeof entry === 'string' ? [entry] : Object.values(entry)));
  for (const target of [...targets, ...Object.values(pkg.bin), ...pkg.sideEffects.filter((p) => p.startsWith('./dist/'))]) {
    if (target.includes('*')) continue;
    assert.ok(files.has(target.replace(/^\.\//, '')), `${target} (package.json) is in the package`);
  }
  assert.ok(packed.unpackedSize < 8e6, `unpacked ${mb(packed.unpackedSize)} MB`);
});

test('bagnet-elements-assets copies the prebuilt bundle, its worker and onnxruntime-web\'s binaries', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bagnet-assets-'));
  try {
    const bin = join(root, pkg.bin['bagnet-elements-assets']);
    const usage = spawnSync(process.execPath, [bin], { encoding: 'utf8' });
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /usage: bagnet-elements-assets <dir>/);
    execFileSync(process.execPath, [bin, join(dir, 'site/bagnet')]);
    const copied = readdirSync(join(dir, 'site/bagnet')).sort();
    for (const file of ['bagnet-elements.js', 'bagnet-worker.js', 'ort-wasm-simd-threaded.wasm', 'ort-wasm-simd-threaded.asyncify.wasm']) {
      assert.ok(copied.includes(file), `${file} in ${copied}`);
    }
    const fromDependency = readFileSync(join(root, 'node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm'));
    assert.ok(readFileSync(join(dir, 'site/bagnet/ort-wasm-simd-threaded.wasm')).equals(fromDependency));
    // The embed bundle's own imports are all among the copied files.
    for (const file of copied.filter((f) => f.endsWith('.js'))) {
      const imports = [...readFileSync(join(dir, 'site/bagnet', file), 'utf8').matchAll(/from\s*"\.\/([^"]+)"/g)].map((m) => m[1]);
      for (const imported of imports) assert.ok(copied.includes(imported), `${file} imports ./${imported}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
