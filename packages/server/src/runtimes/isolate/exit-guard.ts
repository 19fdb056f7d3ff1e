import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';

let guarded = false;

/**
 * Works around an isolated-vm abort at process exit: when Node tears its own V8 isolate down,
 * a last garbage collection finalizes isolated-vm handles (Isolate, Reference, Callback…) that
 * became garbage but were not collected yet, and their finalizer asserts on an isolated-vm
 * environment that no longer exists (`IsolateEnvironment::GetCurrent(): Assertion
 * environment != nullptr`, exit code 134). Collecting garbage when the event loop has drained,
 * while that environment still exists, leaves nothing for the teardown to finalize.
 *
 * `gc` is taken with --expose-gc switched on only for the moment it takes: the flag is
 * process-wide, and isolates created while it is on would offer `gc` to functions.
 */
export function guardProcessExit(): void {
  if (guarded) return;
  guarded = true;
  let gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) gc = takeGc();
  const collect = gc;
  if (typeof collect === 'function') process.on('beforeExit', () => collect());
}

function takeGc(): (() => void) | undefined {
  let gc: (() => void) | undefined;
  try {
    v8.setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  } catch {
    gc = undefined;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
  return gc;
}
