// onnxruntime-web's WebGPU build (Emscripten embind, `__emval_get_method_caller`) makes each method
// caller with `new Function(names, body)`, which a page without 'unsafe-eval' forbids. The body always
// comes from one small template, so the bundle gets a factory that builds the same function from the
// template's parts, without evaluating code. The only `new Function` in ORT is replaced at build time.

/**
 * `(names, body) => (...values) => caller`, for bodies of Emscripten's template:
 *   return function (handle, methodName, destructorsRef, args) {
 *     [return emval_returnValue(toReturnWire, destructorsRef,] CALL(argFromPtr0(args), argFromPtr1(args+8), …)[)]
 *   }
 * with CALL one of `toValue(handle)`, `new (toValue(handle))`, `toValue(handle)[getStringOrSymbol(methodName)]`
 * or nothing. Anything else throws: never a silent misreading.
 */
export function emvalInvokerFactory(names, body) {
  const match = /^return function \(handle, methodName, destructorsRef, args\) \{\s*(return emval_returnValue\(toReturnWire, destructorsRef, )?(toValue\(handle\)\[getStringOrSymbol\(methodName\)\]|new \(toValue\(handle\)\)|toValue\(handle\)|)\(((?:argFromPtr\d+\(args(?:\+\d+)?\),?\s*)*)\)\)?\s*\}$/.exec(body.trim());
  if (!match) throw new Error(`bagnet-elements: unexpected embind method caller: ${body}`);
  const [, returns, call, argList] = match;
  const argCalls = [...argList.matchAll(/argFromPtr(\d+)\(args(?:\+(\d+))?\)/g)].map(([, index, offset]) => [`argFromPtr${index}`, Number(offset ?? 0)]);
  return (...values) => {
    const captured = Object.fromEntries(names.map((name, i) => [name, values[i]]));
    const readers = argCalls.map(([name, offset]) => [captured[name], offset]);
    return function (handle, methodName, destructorsRef, args) {
      const params = readers.map(([read, offset]) => read(args + offset));
      let value;
      if (call === 'toValue(handle)') value = captured.toValue(handle)(...params);
      else if (call === 'new (toValue(handle))') value = new (captured.toValue(handle))(...params);
      else if (call === '') value = params[params.length - 1];
      else value = captured.toValue(handle)[captured.getStringOrSymbol(methodName)](...params);
      return returns ? captured.emval_returnValue(captured.toReturnWire, destructorsRef, value) : undefined;
    };
  };
}

const PATTERN = /new Function\(Object\.keys\((\w+)\),(\w+)\)/g;

/** Rollup: swaps onnxruntime-web's `new Function(Object.keys(x),body)` for the factory above. */
export function noEvalInOrt() {
  return {
    name: 'no-eval-in-ort',
    transform(code, id) {
      if (!id.includes('onnxruntime-web') || !code.includes('new Function')) return null;
      const replaced = code.replace(PATTERN, (_, captures, body) => `__bagnetEmvalInvoker(Object.keys(${captures}),${body})`);
      if (replaced.includes('new Function')) this.error(`${id}: a "new Function" this plugin does not know; check the onnxruntime-web update`);
      return { code: `${replaced}\nfunction __bagnetEmvalInvoker${emvalInvokerFactory.toString().replace(/^function emvalInvokerFactory/, '')}\n`, map: null };
    },
  };
}
