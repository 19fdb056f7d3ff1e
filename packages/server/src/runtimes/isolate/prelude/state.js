// biome-ignore-all lint/correctness/noUnusedVariables: the prelude fragments share one scope (see prelude.ts)
// Prelude fragment (runs inside the isolate; prelude.ts concatenates the fragments into one
// scope). State shared by the other fragments.
//
// The prelude runs once, into the startup snapshot every isolate starts from; `install` then
// hands it this isolate's host callbacks and limits (see prelude.ts).
//
// `invocation.seq` names the invocation that is running (0 between invocations). Everything that
// reaches the host carries it, so output from stray async work of an earlier invocation is
// dropped by the host instead of being written into a later invocation's logs.

// Assigned once per isolate by install() in invoke.js. `hostLog` and `hostSchedule` are posted to
// the host's thread (the isolate's own thread does not wait); the `…Sync` ones are plain calls,
// for the synchronous start of an invocation on the host's thread, where a posted message would
// only arrive after the call returned (see `startBatch` in invoke.js).
let hostLog;
let hostSchedule;
let hostLogSync;
let hostScheduleSync;
let hostRandom;
let hostUrl;
// biome-ignore lint/style/useConst: assigned by install()
let maxLogBytes = 0;
// biome-ignore lint/style/useConst: assigned by install()
let maxResultBytes = 0;
const jsonStringify = JSON.stringify;
const jsonParse = JSON.parse;
const dateNow = Date.now;
const stringFromCharCode = String.fromCharCode;
// The function's code may replace any built-in it can reach; what the prelude reads an
// invocation's reply with is taken before it runs.
const reflectApply = Reflect.apply;
const promiseThen = Promise.prototype.then;
const StringOf = String;
const stringSlice = String.prototype.slice;
const stringIndexOf = String.prototype.indexOf;
const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype);
const typedArrayLength = Object.getOwnPropertyDescriptor(TypedArrayPrototype, 'length').get;
const typedArraySubarray = TypedArrayPrototype.subarray;
const Uint8ArrayOf = Uint8Array;
const ArrayBufferOf = ArrayBuffer;
const isArrayBufferView = ArrayBuffer.isView;
const PRELUDE_FILE = 'faas:prelude';
const INSTALL_GLOBAL = '__faasInstall';

const invocation = {
  seq: 0,
  /** Characters of log output sent this invocation; the host counts exact bytes. */
  logChars: 0,
  /** Rejects the running invocation: an uncaught error in a timer or microtask. */
  fail: undefined,
  /** Running inside the host's synchronous `start` call: use the `…Sync` host callbacks. */
  sync: false,
};

class DOMException extends Error {
  constructor(message = '', name = 'Error') {
    super(message);
    Object.defineProperty(this, 'name', { value: name, configurable: true, writable: true });
  }
}

function defineGlobal(name, value) {
  Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
}

function reportUncaught(error) {
  if (invocation.fail) invocation.fail(error);
}
