// biome-ignore-all lint/correctness/noUnusedVariables: the prelude fragments share one scope (see prelude.ts)
// Prelude fragment: `console`, whose output goes to the invocation's log sink on the host.
// The host enforces the per-invocation byte cap and writes the truncation marker; the isolate
// stops sending once it has certainly passed the cap (characters <= bytes), so a function that
// logs in a loop does not move megabytes across the isolate boundary for nothing.

let groupIndent = '';

function emitLog(level, message) {
  if (invocation.seq === 0 || invocation.logChars > maxLogBytes) return;
  const room = maxLogBytes - invocation.logChars + 1;
  const text = groupIndent ? `${groupIndent}${message.replaceAll('\n', `\n${groupIndent}`)}` : message;
  const clipped = text.length > room ? text.slice(0, room) : text;
  invocation.logChars += clipped.length;
  (invocation.sync ? hostLogSync : hostLog)(invocation.seq, level, clipped);
}

function makeLogMethod(level) {
  return (...args) => emitLog(level, formatLogArgs(args));
}

const counts = new Map();
const timerStarts = new Map();

const faasConsole = {
  log: makeLogMethod('log'),
  info: makeLogMethod('info'),
  warn: makeLogMethod('warn'),
  error: makeLogMethod('error'),
  debug: makeLogMethod('debug'),
  trace(...args) {
    const stack = new Error().stack?.split('\n').slice(2).join('\n') ?? '';
    emitLog('debug', `Trace: ${formatLogArgs(args)}\n${stack}`);
  },
  dir(value) {
    emitLog('log', inspectValue(value));
  },
  assert(condition, ...args) {
    if (!condition) emitLog('error', `Assertion failed${args.length ? `: ${formatLogArgs(args)}` : ''}`);
  },
  count(label = 'default') {
    const n = (counts.get(label) ?? 0) + 1;
    counts.set(label, n);
    emitLog('info', `${label}: ${n}`);
  },
  countReset(label = 'default') {
    counts.delete(label);
  },
  time(label = 'default') {
    timerStarts.set(label, Date.now());
  },
  timeLog(label = 'default', ...args) {
    const start = timerStarts.get(label);
    if (start === undefined) return emitLog('warn', `No such label '${label}' for console.timeLog()`);
    emitLog('info', `${label}: ${Date.now() - start}ms${args.length ? ` ${formatLogArgs(args)}` : ''}`);
  },
  timeEnd(label = 'default') {
    faasConsole.timeLog(label);
    timerStarts.delete(label);
  },
  group(...args) {
    if (args.length) emitLog('log', formatLogArgs(args));
    groupIndent += '  ';
  },
  groupCollapsed(...args) {
    faasConsole.group(...args);
  },
  groupEnd() {
    groupIndent = groupIndent.slice(2);
  },
  table(data) {
    emitLog('log', inspectValue(data));
  },
};

defineGlobal('console', faasConsole);

/** `context.log(...)`: console.log at `info`, with per-level methods. */
const contextLog = Object.freeze(
  Object.assign((...args) => emitLog('info', formatLogArgs(args)), {
    debug: faasConsole.debug,
    info: faasConsole.info,
    warn: faasConsole.warn,
    error: faasConsole.error,
  }),
);
