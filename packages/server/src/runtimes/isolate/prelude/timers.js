// biome-ignore-all lint/correctness/noUnusedVariables: the prelude fragments share one scope (see prelude.ts)
// Prelude fragment: setTimeout/setInterval/setImmediate/queueMicrotask. An isolate has no event
// loop of its own: the host keeps one Node timer per pending timer and calls `fire` when it is
// due. Timers belong to the invocation that set them: when it ends they are dropped (as in
// Lambda, where the sandbox freezes between calls), and the host never schedules one past the
// deadline. Timers set outside an invocation (module top level) never fire.

const MAX_PENDING_TIMERS = 10_000;
const timers = new Map();
let nextTimerId = 1;

function addTimer(callback, delay, args, repeat) {
  if (typeof callback !== 'function') {
    throw new TypeError('The "callback" argument must be of type function');
  }
  const id = nextTimerId++;
  if (invocation.seq === 0) return id;
  if (timers.size >= MAX_PENDING_TIMERS) {
    throw new RangeError(`Too many pending timers (more than ${MAX_PENDING_TIMERS})`);
  }
  const delayMs = Number(delay) >= 1 && Number(delay) <= 2 ** 31 - 1 ? Math.trunc(Number(delay)) : 1;
  timers.set(id, { callback, args, delayMs, repeat });
  (invocation.sync ? hostScheduleSync : hostSchedule)(invocation.seq, id, delayMs);
  return id;
}

function clearTimer(id) {
  timers.delete(Number(id));
}

/** Called by the host when timer `id` of invocation `seq` is due. */
function fire(seq, id) {
  if (seq !== invocation.seq) return;
  const timer = timers.get(id);
  if (!timer) return;
  if (timer.repeat) hostSchedule(seq, id, timer.delayMs);
  else timers.delete(id);
  try {
    const result = timer.callback(...timer.args);
    // An async callback's rejection is the invocation's error too, as a throw would be.
    if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
      result.then(undefined, reportUncaught);
    }
  } catch (error) {
    reportUncaught(error);
  }
}

defineGlobal('setTimeout', (callback, delay, ...args) => addTimer(callback, delay, args, false));
defineGlobal('setInterval', (callback, delay, ...args) => addTimer(callback, delay, args, true));
defineGlobal('setImmediate', (callback, ...args) => addTimer(callback, 0, args, false));
defineGlobal('clearTimeout', clearTimer);
defineGlobal('clearInterval', clearTimer);
defineGlobal('clearImmediate', clearTimer);
defineGlobal('queueMicrotask', (callback) => {
  if (typeof callback !== 'function') {
    throw new TypeError('The "callback" argument must be of type function');
  }
  void Promise.resolve().then(() => {
    try {
      callback();
    } catch (error) {
      reportUncaught(error);
    }
  });
});
