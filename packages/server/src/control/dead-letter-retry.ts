import { ErrorCode, FaasError, type Invocation, type MetadataStore, type Queue } from '@faas/core';

/** How long a retry holds the job it took back while it records the invocation as queued. */
const RETRY_HOLD_MS = 30_000;

export interface DeadLetterRetryDeps {
  store: MetadataStore;
  /** The invocation as the caller knows it: also one whose record is still on its way to the store. */
  getInvocation(id: string): Promise<Invocation | undefined>;
  queue: Queue;
  /** Called once the job is due again, so the consumer wakes at once. */
  onEnqueued?: () => void;
}

/**
 * Runs a dead-lettered async invocation again (POST /invocations/{id}/retry): it becomes
 * `queued` with a fresh budget of attempts and runs once more, keeping its last error until then.
 *
 * The queue decides which of concurrent retries wins: `requeueDead` hands the dead job to one
 * caller, under a held lease no consumer can take. Only then is the invocation recorded as queued,
 * and only then is the job released to run, so no consumer sees the job while the record still
 * says dead-lettered. A retry that stops in between (a crash, the store failing) leaves a job that
 * comes due when the hold runs out, finds its invocation still dead-lettered and goes back to the
 * dead letters (AsyncWorker's admit): nothing is lost, and the retry can be made again.
 * @throws FaasError INVOCATION_NOT_FOUND; NOT_DEAD_LETTERED when it is not
 *   dead-lettered, another retry took it, or retention deleted its dead letter; CONFLICT when
 *   the job could not be released to run
 */
export async function retryDeadLetter(deps: DeadLetterRetryDeps, id: string): Promise<Invocation> {
  const current = await deps.getInvocation(id);
  if (!current) {
    throw new FaasError(ErrorCode.INVOCATION_NOT_FOUND, `Invocation "${id}" not found`, { details: { id } });
  }
  if (current.status !== 'dead_lettered') {
    throw notDeadLettered(
      id,
      current.status,
      `Invocation ${id} is ${current.status}, not dead-lettered: only a dead-lettered invocation can be retried`,
    );
  }
  const held = await deps.queue.requeueDead(id, { visibilityTimeoutMs: RETRY_HOLD_MS });
  if (!held) {
    throw notDeadLettered(
      id,
      current.status,
      `Invocation ${id} has no dead letter to retry: another retry took it, or retention (FAAS_RETENTION_DAYS) deleted it`,
    );
  }
  const queued = await deps.store.updateInvocation(id, { status: 'queued' });
  if (!(await deps.queue.release(id, held.leaseToken))) await releaseAfterLostHold(deps, id);
  deps.onEnqueued?.();
  return queued;
}

/**
 * The record took longer to write than the hold lasted, and a consumer leased the job meanwhile.
 * One that read the record before the write sent the job back to the dead letters (AsyncWorker's
 * admit): it is taken back once more and released, the record saying queued now. Otherwise a
 * consumer holds it, and whether it runs it depends on when it read the record: not a 202.
 * @throws FaasError CONFLICT
 */
async function releaseAfterLostHold(deps: DeadLetterRetryDeps, id: string): Promise<void> {
  const again = await deps.queue.requeueDead(id, { visibilityTimeoutMs: RETRY_HOLD_MS });
  if (again && (await deps.queue.release(id, again.leaseToken))) return;
  throw new FaasError(
    ErrorCode.CONFLICT,
    `The retry of invocation ${id} lost its hold on the job before it was released (the store took over ${RETRY_HOLD_MS / 1000} s): get the invocation, and retry it again if it is dead-lettered`,
    { details: { id } },
  );
}

function notDeadLettered(id: string, status: string, message: string): FaasError {
  return new FaasError(ErrorCode.NOT_DEAD_LETTERED, message, { details: { id, status } });
}
