// biome-ignore-all lint/correctness/noUnusedVariables: the prelude fragments share one scope (see prelude.ts)
// Prelude fragment: binds the handler after the artifact ran, and runs one invocation.
//
// Replies are one string, the cheapest thing to move out of an isolate: `R<json>` a result,
// `U` an undefined result, `E<json>` an error ({type, message, stack}), `X<message>` a result that
// cannot be returned. Results are JSON-encoded here, so JSON semantics (toJSON, dropped
// undefined) apply exactly once and a BigInt or a cycle fails inside the function's own budget.

const MAX_ERROR_MESSAGE_CHARS = 8192;
const MAX_STACK_CHARS = 16_384;

let handler;
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

function clip(text, max) {
  return text.length > max ? `${text.slice(0, max)}… [${text.length - max} more characters]` : text;
}

function describeError(error) {
  try {
    if (error instanceof Error || (typeof error === 'object' && error !== null && 'message' in error)) {
      const stack = typeof error.stack === 'string' ? error.stack : undefined;
      const ownFrames = stack
        ?.split('\n')
        .filter((line) => !line.includes(PRELUDE_FILE))
        .join('\n');
      return {
        type: clip(String(error.name ?? 'Error'), 200),
        message: clip(String(error.message), MAX_ERROR_MESSAGE_CHARS),
        ...(ownFrames === undefined ? {} : { stack: clip(ownFrames, MAX_STACK_CHARS) }),
      };
    }
    const message = typeof error === 'string' ? error : `Uncaught ${inspectValue(error)}`;
    return { type: 'Error', message: clip(message, MAX_ERROR_MESSAGE_CHARS) };
  } catch {
    return { type: 'Error', message: 'The function threw a value that cannot be described' };
  }
}

function encodeResult(value) {
  if (value === undefined) return 'U';
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

function makeContext(invocationId, deadline) {
  return Object.freeze({
    invocationId,
    functionName,
    version: functionVersion,
    deadline,
    getRemainingTimeMs: () => Math.max(0, deadline - Date.now()),
    log: contextLog,
  });
}

async function invoke(seq, invocationId, deadline, kind, payload) {
  invocation.seq = seq;
  invocation.logChars = 0;
  groupIndent = '';
  const uncaught = new Promise((_, reject) => {
    invocation.fail = reject;
  });
  try {
    const event = decodeEvent(kind, payload);
    const running = (async () => handler(event, makeContext(invocationId, deadline)))();
    return encodeResult(await Promise.race([running, uncaught]));
  } catch (error) {
    return `E${jsonStringify(describeError(error))}`;
  } finally {
    invocation.seq = 0;
    invocation.fail = undefined;
    timers.clear();
  }
}

// The synchronous start (see warm-isolate.ts): the host calls `start` and then `take` on its own
// thread. V8 runs the microtasks between the two, so a handler that does not wait for a timer has
// its reply ready for `take`, with no thread hop. One that waits is handed over with `wait`.
let startedReply;
let settledReply;

function start(seq, invocationId, deadline, kind, payload) {
  invocation.sync = true;
  settledReply = undefined;
  startedReply = invoke(seq, invocationId, deadline, kind, payload);
  startedReply.then((reply) => {
    settledReply = reply;
  });
}

/** The started invocation's reply, or undefined while it waits (then call `wait`). */
function take() {
  invocation.sync = false;
  const reply = settledReply;
  settledReply = undefined;
  if (reply !== undefined) startedReply = undefined;
  return reply;
}

/** The reply of a started invocation that is still waiting, as a promise. */
function wait() {
  const reply = startedReply;
  startedReply = undefined;
  return reply;
}

/** Called once per isolate by the host with its callbacks and limits; removes itself. */
function install(log, schedule, logSync, scheduleSync, random, url, logLimit, resultLimit) {
  hostLog = log;
  hostSchedule = schedule;
  hostLogSync = logSync;
  hostScheduleSync = scheduleSync;
  hostRandom = random;
  hostUrl = url;
  maxLogBytes = logLimit;
  maxResultBytes = resultLimit;
  delete globalThis[INSTALL_GLOBAL];
  return { bind, invoke, fire, start, take, wait };
}

Object.defineProperty(globalThis, INSTALL_GLOBAL, { value: install, configurable: true });
