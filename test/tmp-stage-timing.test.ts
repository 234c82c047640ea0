import { loadManifest } from '../src/core/manifest.js';
import { cropNchw, linearHeadCells, padChw, planStages } from '../src/core/staged-plan.js';
import { createSession } from '../src/runtime/onnx.js';
import { RANDOM_BAGNET33 } from './helpers.js';

it('times stages', async function () {
  this.timeout(600_000);
  const manifest = await loadManifest(RANDOM_BAGNET33);
  const bytes = new Uint8Array(await (await fetch(manifest.files.fp32!.url)).arrayBuffer());
  let t = performance.now();
  const r = planStages(bytes, 8);
  if (!('plan' in r)) throw new Error(r.reason);
  console.log('plan ms', performance.now() - t);
  t = performance.now();
  const sessions = [];
  for (const s of [r.plan.stem!, ...r.plan.strided]) sessions.push(await createSession(s, 'wasm'));
  console.log('create ms', performance.now() - t);
  const whole = await createSession(bytes, 'wasm');
  const img = new Float32Array(3 * 224 * 224).map(() => Math.random());
  const padded = padChw(img, 3, 224, 224, 16);
  for (let rep = 0; rep < 2; rep++) {
    t = performance.now();
    await whole.run(padded.data, padded.dims);
    console.log('whole 256', performance.now() - t);
    let x = { data: padded.data, dims: padded.dims };
    for (let i = 0; i < sessions.length; i++) {
      t = performance.now();
      const c = i === 0 ? x : cropNchw(x, 1, 1);
      const tc = performance.now() - t;
      x = await sessions[i]!.run(c.data, c.dims);
      console.log('stage', i, 'ms', performance.now() - t, 'crop', tc, x.dims.join('x'));
    }
    // stage 3 batch of 4 vs 4 singles, on a stage-2 output
    let y = { data: padded.data, dims: padded.dims };
    for (let i = 0; i < 3; i++) y = await sessions[i]!.run(i === 0 ? y.data : cropNchw(y, 0, 0).data, y.dims);
    const c = cropNchw(y, 1, 1);
    const n = c.data.length;
    const batch = new Float32Array(4 * n);
    for (let k = 0; k < 4; k++) batch.set(c.data, k * n);
    t = performance.now();
    for (let k = 0; k < 4; k++) await sessions[3]!.run(c.data, c.dims);
    console.log('stage3 4 singles', performance.now() - t);
    t = performance.now();
    await sessions[3]!.run(batch, [4, c.dims[1], c.dims[2], c.dims[3]]);
    console.log('stage3 batch 4', performance.now() - t);
    t = performance.now();
    linearHeadCells(x, r.plan.head!, [5]);
    console.log('head ms', performance.now() - t);
  }
});
