// biome-ignore-all lint/correctness/noUnusedVariables: the prelude fragments share one scope (see prelude.ts)
// Prelude fragment: binds the handler after the artifact ran, and runs one invocation.
//
// Replies are one string, the cheapest thing to move out of an isolate: `R<json>` a result,
// `B<latin1>` a result of bytes, `U` an undefined result, `E<json>` an error ({type, message, stack}), `X<message>` a result that
// cannot be returned. Results are JSON-encoded here, so JSON semantics (toJSON, dropped
// undefined) apply exactly once and a BigInt or a cycle fails inside the function's own budget.

// The host clips to the same limits (outcome.ts).
const MAX_ERROR_TYPE_CHARS = 200;
const MAX_ERROR_MESSAGE_CHARS = 8192;
const MAX_STACK_CHARS = 16_384;

let handler;
let functionEnv = {};
let functionName = '';
let functionVersion = 0;

function bind(exportName, name, version) {
  const namespace = globalThis.__faas;
  if (namespace === undefined || namespace === null) {
    throw new TypeError(
      'The artifact did not define __faas: expected a script bundled with format "iife" and globalName "__faas"',
    );
  }
  const candidate = namespace[exportName];
  if (typeof candidate !== 'function') {
    throw new TypeError(`The handler export "${exportName}" is ${typeof candidate}, not a function`);
  }
  handler = candidate;
  functionName = name;
  functionVersion = version;
}

// What follows reads values of the function's making with the built-ins taken before it ran
// (state.js): its own `String.prototype.slice` or `Array.prototype.join` could answer anything.
// The host checks the reply again (outcome.ts): these limits keep an honest reply small.

function clip(text, max) {
  return text.length > max
    ? `${reflectApply(stringSlice, text, [0, max])}… [${text.length - max} more characters]`
    : text;
}

/** The stack's lines but those of prelude frames. */
function ownFrames(stack) {
  let kept;
  for (let at = 0; at <= stack.length; ) {
    let end = reflectApply(stringIndexOf, stack, ['\n', at]);
    if (end < 0) end = stack.length;
    const line = reflectApply(stringSlice, stack, [at, end]);
    if (reflectApply(stringIndexOf, line, [PRELUDE_FILE]) < 0)
      kept = kept === undefined ? line : `${kept}\n${line}`;
    at = end + 1;
  }
  return kept ?? '';
}

function describeError(error) {
  // No prototype: JSON.stringify would call an Object.prototype.toJSON the function defined.
  const described = { __proto__: null };
  try {
    if (error instanceof Error || (typeof error === 'object' && error !== null && 'message' in error)) {
      const stack = error.stack;
      described.type = clip(StringOf(error.name ?? 'Error'), MAX_ERROR_TYPE_CHARS);
      described.message = clip(StringOf(error.message), MAX_ERROR_MESSAGE_CHARS);
      if (typeof stack === 'string') described.stack = clip(ownFrames(stack), MAX_STACK_CHARS);
      return described;
    }
    const message = typeof error === 'string' ? error : `Uncaught ${inspectValue(error)}`;
    described.type = 'Error';
    described.message = clip(message, MAX_ERROR_MESSAGE_CHARS);
    return described;
  } catch {
    return { __proto__: null, type: 'Error', message: 'The function threw a value that cannot be described' };
  }
}

/** Bytes as a string of one character per byte: the cheapest way out of the isolate. */
function latin1(bytes) {
  const length = reflectApply(typedArrayLength, bytes, []);
  let text = '';
  for (let i = 0; i < length; i += 8192) {
    text += reflectApply(stringFromCharCode, null, reflectApply(typedArraySubarray, bytes, [i, i + 8192]));
  }
  return text;
}

/** A Uint8Array over the bytes of `value`, if it holds bytes; its length is the true one. */
function asBytes(value) {
  if (value instanceof ArrayBufferOf) return new Uint8ArrayOf(value);
  if (isArrayBufferView(value)) return new Uint8ArrayOf(value.buffer, value.byteOffset, value.byteLength);
  return undefined;
}

function encodeResult(value) {
  if (value === undefined) return 'U';
  const bytes = asBytes(value);
  if (bytes !== undefined) {
    const length = reflectApply(typedArrayLength, bytes, []);
    if (length > maxResultBytes) {
      return `XThe function's result is too large: ${length} bytes, the limit is ${maxResultBytes} bytes`;
    }
    return `B${latin1(bytes)}`;
  }
  // An HTTP response's body may be bytes too: it travels as base64, as HTTP triggers take it.
  if (typeof value === 'object' && value !== null && typeof value.statusCode === 'number') {
    const body = asBytes(value.body);
    if (body !== undefined) value = { ...value, body: btoa(latin1(body)), isBase64Encoded: true };
  }
  let json;
  try {
    json = jsonStringify(value);
  } catch (error) {
    return `XThe function's result is not JSON-serialisable: ${describeError(error).message}`;
  }
  if (json === undefined) return `XThe function's result is not JSON-serialisable: it is a ${typeof value}`;
  if (json.length > maxResultBytes) {
    return `XThe function's result is too large: ${json.length} characters of JSON, the limit is ${maxResultBytes} bytes`;
  }
  return `R${json}`;
}

function decodeEvent(kind, payload) {
  switch (kind) {
    case 'json':
      return jsonParse(payload);
    case 'undefined':
      return undefined;
    default:
      return payload;
  }
}

function makeContext(invocationId, deadline, traceId) {
  return Object.freeze({
    invocationId,
    // The W3C trace the invocation runs in; undefined when the call carried none and the
    // platform does not trace.
    traceId,
    functionName,
    version: functionVersion,
    deadline,
    getRemainingTimeMs: () => Math.max(0, deadline - Date.now()),
    env: functionEnv,
    log: contextLog,
  });
}

async function invoke(seq, invocationId, deadline, kind, payload, traceId) {
  invocation.seq = seq;
  invocation.logChars = 0;
  groupIndent = '';
  const uncaught = new Promise((_, reject) => {
    invocation.fail = reject;
  });
  try {
    const event = decodeEvent(kind, payload);
    const running = (async () => handler(event, makeContext(invocationId, deadline, traceId)))();
    return encodeResult(await Promise.race([running, uncaught]));
  } catch (error) {
    return `E${jsonStringify(describeError(error))}`;
  } finally {
    invocation.seq = 0;
    invocation.fail = undefined;
    timers.clear();
  }
}

// Synchronous starts (see WarmIsolate.runSyncBatch): the host calls `startBatch` and then
// `takeBatch` on its own thread, with the invocations of one version that arrived in one turn of
// its event loop, six arguments each. Each starts once the one before it has settled, in the
// same call's microtask checkpoint, so they run one after another as separate calls would; the
// host pays for entering the isolate and for the call's timeout once per batch. An invocation
// that waits for a timer ends the batch: it goes on with `wait`, and the ones after it never
// started. Reading the host's clock from here costs a call into it (~1.5 µs), so each invocation's
// time is counted in the clock's milliseconds, and the host shares out the batch's exact time by
// them (see runSyncBatch).
let batchRun;
/** The invocation a batch ended on, still waiting: for `wait`. */
let startedReply;

function startBatch(...args) {
  invocation.sync = true;
  const run = { replies: '', open: true, waiting: undefined, startedMs: 0 };
  batchRun = run;
  const next = (i) => {
    if (i >= args.length) return;
    run.startedMs = dateNow();
    const started = invoke(args[i], args[i + 1], args[i + 2], args[i + 3], args[i + 4], args[i + 5]);
    run.waiting = started;
    // Through the `then` taken before the function ran: its own would hand over any reply.
    reflectApply(promiseThen, started, [
      (reply) => {
        if (!run.open) return;
        run.waiting = undefined;
        // Concatenated, not pushed and joined: the function's code may have replaced those methods.
        run.replies += `${elapsedMs(run.startedMs)}:${reply.length}:${reply}`;
        next(i + 6);
      },
    ]);
  };
  next(0);
}

/** Milliseconds since `since`: never negative, should the clock step back. */
function elapsedMs(since) {
  const ms = dateNow() - since;
  // biome-ignore lint/complexity/useMathMinMax: Math is the function's to replace
  return ms > 0 ? ms : 0;
}

/**
 * `<waiting>;` then each settled invocation as `<ms>:<length>:<reply>`: `<waiting>` is the
 * milliseconds the one still waiting has run (see `wait`), or -1 when none waits.
 */
function takeBatch() {
  invocation.sync = false;
  const run = batchRun;
  batchRun = undefined;
  run.open = false;
  startedReply = run.waiting;
  const waiting = run.waiting === undefined ? -1 : elapsedMs(run.startedMs);
  return `${waiting};${run.replies}`;
}

/** The reply of a started invocation that is still waiting, as a promise. */
function wait() {
  const reply = startedReply;
  startedReply = undefined;
  return reply;
}

/** Called once per isolate by the host with its callbacks and limits; removes itself. */
function install(log, schedule, logSync, scheduleSync, random, url, logLimit, resultLimit, envJson) {
  // The function's `env`, as Node code expects it (`process.env`) and on the context: set before
  // the function's module runs, which may read it at the top.
  functionEnv = Object.freeze(jsonParse(envJson));
  defineGlobal('process', { env: { ...functionEnv } });
  hostLog = log;
  hostSchedule = schedule;
  hostLogSync = logSync;
  hostScheduleSync = scheduleSync;
  hostRandom = random;
  hostUrl = url;
  maxLogBytes = logLimit;
  maxResultBytes = resultLimit;
  delete globalThis[INSTALL_GLOBAL];
  return { bind, invoke, fire, startBatch, takeBatch, wait };
}

Object.defineProperty(globalThis, INSTALL_GLOBAL, { value: install, configurable: true });
