import type Docker from 'dockerode';

/**
 * How long after a 137 exit the engine may still be taking in the OOM event, and how often to
 * look meanwhile. The engine hears of the exit and of the OOM kill as two events in no fixed
 * order; on a loaded machine the second has come more than 250 ms after the first.
 */
const OOM_EVENT_GRACE_MS = 2_000;
const OOM_EVENT_POLL_MS = 100;

async function readOomFlag(container: Docker.Container): Promise<boolean> {
  try {
    return (await container.inspect()).State.OOMKilled;
  } catch {
    // Gone already: no OOM flag to read.
    return false;
  }
}

/**
 * Whether the memory limit killed an exited container. A 137 the platform did not cause (its own
 * kill at a deadline) keeps being looked at until the flag shows or the grace is over, so the
 * caller is told "out of memory" rather than a bare 137.
 */
export async function oomKilledAfterExit(
  container: Docker.Container,
  exit: { exitCode: number | undefined; killedByPlatform: boolean },
): Promise<boolean> {
  let oomKilled = await readOomFlag(container);
  if (exit.exitCode !== 137 || exit.killedByPlatform) return oomKilled;
  const graceEnds = performance.now() + OOM_EVENT_GRACE_MS;
  while (!oomKilled && performance.now() < graceEnds) {
    await new Promise((resolve) => setTimeout(resolve, OOM_EVENT_POLL_MS));
    oomKilled = await readOomFlag(container);
  }
  return oomKilled;
}
