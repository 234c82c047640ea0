// The built bundle evaluates no code: no `eval`, no `new Function` (a page's CSP without
// 'unsafe-eval' must hold, WebGPU build included). onnxruntime-web's one `new Function` (embind's
// method callers) is replaced at build time by scripts/no-eval-emval.mjs: check that it builds the
// same functions as Emscripten's template would.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { emvalInvokerFactory } from '../../scripts/no-eval-emval.mjs';

const dist = fileURLToPath(new URL('../../dist/embed/', import.meta.url));

test('no eval or new Function anywhere in the built bundle', () => {
  const files = readdirSync(dist).filter((name) => name.endsWith('.js'));
  assert.ok(files.includes('bagnet-worker.js'), 'run `npm run build` first');
  for (const name of files) {
    const code = readFileSync(join(dist, name), 'utf8');
    assert.doesNotMatch(code, /new Function\s*\(/, `${name} has new Function`);
    assert.doesNotMatch(code, /(^|[^\w$.])eval\s*\(/, `${name} calls eval`);
    assert.doesNotMatch(code, /setTimeout\(\s*['"`]/, `${name} passes a string to setTimeout`);
  }
});

/** Emscripten's own template (as in onnxruntime-web's embind glue), for every kind of call. */
function template(kind, argCount, returns) {
  const args = Array.from({ length: argCount }, (_, p) => `argFromPtr${p}(args${p ? `+${8 * p}` : ''})`);
  let call = { 0: 'toValue(handle)', 2: 'new (toValue(handle))', 3: '', 1: 'toValue(handle)[getStringOrSymbol(methodName)]' }[kind];
  call += `(${args})`;
  const body = returns ? `return emval_returnValue(toReturnWire, destructorsRef, ${call})` : call;
  return `return function (handle, methodName, destructorsRef, args) {\n  ${body}\n  }`;
}

test('the no-eval embind factory builds the functions Emscripten\'s template describes', () => {
  class Point { constructor(x, y) { this.sum = x + y; } }
  const objects = [(a, b) => a * 10 + b, Point, { scale(a, b) { return (a + b) * this.k; }, k: 3 }];
  for (const kind of [0, 1, 2, 3]) {
    for (const argCount of kind === 3 ? [1, 2] : [0, 1, 2]) { // kind 3 without arguments is not valid JavaScript
      for (const returns of [false, true]) {
        const captures = {
          toValue: (handle) => objects[handle],
          getStringOrSymbol: (name) => name,
          toReturnWire: (value) => ({ wire: value }),
          emval_returnValue: (toWire, destructors, value) => { destructors.push('used'); return toWire(value); },
        };
        for (let p = 0; p < argCount; p++) captures[`argFromPtr${p}`] = (pointer) => pointer + p;
        const body = template(kind, argCount, returns);
        const reference = new Function(Object.keys(captures), body)(...Object.values(captures));
        const ours = emvalInvokerFactory(Object.keys(captures), body)(...Object.values(captures));
        const handle = { 0: 0, 1: 2, 2: 1, 3: 0 }[kind];
        const run = (fn) => {
          const destructors = [];
          try {
            const value = fn(handle, 'scale', destructors, 100);
            return { value: value && typeof value === 'object' ? JSON.parse(JSON.stringify(value)) : value, destructors };
          } catch (error) {
            return { error: error.constructor.name };
          }
        };
        assert.deepEqual(run(ours), run(reference), `kind ${kind}, ${argCount} args, returns ${returns}`);
      }
    }
  }
  assert.throws(() => emvalInvokerFactory([], 'return function () { alert(1) }'), /unexpected embind method caller/);
});
