// biome-ignore-all lint/correctness/noUnusedVariables: the prelude fragments share one scope (see prelude.ts)
// Prelude fragment: structuredClone, in the isolate so a large clone counts against the
// function's own memory limit (a host round trip would allocate in the server's heap).
// Transfer lists are accepted but buffers are copied, not detached.

const ERROR_TYPES = { Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError };

function dataCloneError(what) {
  return new DOMException(`${what} could not be cloned.`, 'DataCloneError');
}

function cloneValue(value, memory) {
  if (typeof value === 'symbol') throw dataCloneError(value.toString());
  if (typeof value === 'function') throw dataCloneError(describeFunction(value));
  if (typeof value !== 'object' || value === null) return value;
  const known = memory.get(value);
  if (known !== undefined) return known;

  let copy;
  if (value instanceof Boolean) copy = new Boolean(value.valueOf());
  else if (value instanceof Number) copy = new Number(value.valueOf());
  else if (value instanceof String) copy = new String(value.valueOf());
  else if (value instanceof Date) copy = new Date(value.getTime());
  else if (value instanceof RegExp) copy = new RegExp(value.source, value.flags);
  else if (value instanceof ArrayBuffer) copy = value.slice(0);
  else if (value instanceof DataView) {
    copy = new DataView(cloneValue(value.buffer, memory), value.byteOffset, value.byteLength);
  } else if (value instanceof TypedArray) {
    copy = new value.constructor(cloneValue(value.buffer, memory), value.byteOffset, value.length);
  } else if (value instanceof Error) {
    const Type = ERROR_TYPES[value.name] ?? Error;
    copy = new Type(value.message);
    if (typeof value.stack === 'string') copy.stack = value.stack;
    if ('cause' in value) copy.cause = cloneValue(value.cause, memory);
  } else if (value instanceof Map) {
    copy = new Map();
    memory.set(value, copy);
    for (const [k, v] of value) copy.set(cloneValue(k, memory), cloneValue(v, memory));
    return copy;
  } else if (value instanceof Set) {
    copy = new Set();
    memory.set(value, copy);
    for (const v of value) copy.add(cloneValue(v, memory));
    return copy;
  } else if (Array.isArray(value)) {
    copy = new Array(value.length);
    memory.set(value, copy);
    for (const key of Object.keys(value)) copy[key] = cloneValue(value[key], memory);
    return copy;
  } else if (
    value instanceof Promise ||
    value instanceof WeakMap ||
    value instanceof WeakSet ||
    value instanceof WeakRef
  ) {
    throw dataCloneError(`#<${value.constructor.name}>`);
  } else {
    copy = {};
    memory.set(value, copy);
    for (const key of Object.keys(value)) copy[key] = cloneValue(value[key], memory);
    return copy;
  }
  memory.set(value, copy);
  return copy;
}

defineGlobal('structuredClone', function structuredClone(...args) {
  if (args.length === 0) throw new TypeError('structuredClone requires a value to clone');
  return cloneValue(args[0], new Map());
});
