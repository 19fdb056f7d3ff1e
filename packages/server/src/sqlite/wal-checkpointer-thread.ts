// The WAL checkpointer's thread (wal-checkpointer.ts): its own connection to the database file,
// a passive checkpoint every `intervalMs`, closed when the parent says stop.
import { DatabaseSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';

const { path, intervalMs, busyTimeoutMs } = workerData as {
  path: string;
  intervalMs: number;
  busyTimeoutMs: number;
};
const db = new DatabaseSync(path, { timeout: busyTimeoutMs });
/**
 * Checkpoints failing in a row before the thread gives up and ends: its parent then turns the
 * serving connections' automatic checkpoints back on, rather than the WAL growing without end.
 */
const MAX_FAILURES_IN_A_ROW = 10;
let failures = 0;

function checkpoint(): void {
  try {
    // PASSIVE: copies what no reader still needs and never waits for a writer or a reader; the
    // serving connections' commits go on meanwhile. The next commit after a full copy starts the
    // WAL from its beginning, so it stops growing.
    const row = db.prepare('PRAGMA wal_checkpoint(PASSIVE)').get() as { log: number; checkpointed: number };
    parentPort?.postMessage({ kind: 'checkpointed', log: row.log, checkpointed: row.checkpointed });
    failures = 0;
  } catch (err) {
    parentPort?.postMessage({ kind: 'failed', message: (err as Error).message });
    if (++failures < MAX_FAILURES_IN_A_ROW) return;
    clearInterval(timer);
    db.close();
    process.exit(1);
  }
}

const timer = setInterval(checkpoint, intervalMs);
parentPort?.on('message', (message: { kind: string }) => {
  if (message.kind !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort?.close();
});
