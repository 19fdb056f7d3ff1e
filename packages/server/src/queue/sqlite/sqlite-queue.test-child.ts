// A separate process using a SqliteQueue, for the durability and concurrency tests: it is
// killed with SIGKILL or raced against another one. Not a test file itself.
import { createInterface } from 'node:readline';
import { ConcurrencyLimiter } from '../../control/concurrency-limiter.ts';
import { QueueConsumer } from '../../data/queue-consumer.ts';
import { openSqliteQueue } from './sqlite-queue.ts';

const [mode, path, arg] = process.argv.slice(2);
if (!mode || !path) throw new Error('usage: queue-child.ts <lease-and-hang|drain|consume> <db path> [arg]');
const queue = await openSqliteQueue({ path, retry: { baseDelayMs: 1_000, maxDelayMs: 1_000 } });
const say = (message: unknown) => process.stdout.write(`${JSON.stringify(message)}\n`);

if (mode === 'lease-and-hang') {
  // Enqueue one job of its own, lease and start some, report, then wait to be killed.
  await queue.enqueue({ id: 'from-child', payload: 'written before the kill', maxAttempts: 3 });
  const jobs = await queue.lease({ limit: 2, visibilityTimeoutMs: Number(arg) });
  for (const job of jobs) await queue.start(job.id, job.leaseToken);
  say({ leased: jobs });
  setInterval(() => undefined, 60_000);
} else if (mode === 'drain') {
  say({ ready: true });
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) if (line === 'go') break;
  const ids: string[] = [];
  for (;;) {
    const jobs = await queue.lease({ limit: Number(arg ?? 3), visibilityTimeoutMs: 60_000 });
    if (jobs.length === 0) break;
    for (const job of jobs) {
      ids.push(job.id);
      await queue.ack(job.id, job.leaseToken);
    }
  }
  say({ ids });
  await queue.close();
  process.exit(0);
} else if (mode === 'consume') {
  // A consumer with `arg` ms leases whose runs take three leases, saying what it does; the test
  // stops it (SIGSTOP) mid-run.
  const leaseMs = Number(arg);
  const consumer = new QueueConsumer(queue, {
    concurrency: 1,
    leaseMs,
    pollMs: 20,
    slots: new ConcurrencyLimiter(0),
    processor: {
      admit: async () => ({ kind: 'run', value: undefined }),
      process: async (job, _value, signal) => {
        say({ started: job.id, attempt: job.attempt });
        await new Promise((resolve) => setTimeout(resolve, 3 * leaseMs));
        // What a fenced writer checks before writing: is this run still the job's owner?
        const owner = !signal.aborted && (await queue.extend(job.id, job.leaseToken, leaseMs));
        say({ finished: job.id, aborted: signal.aborted, owner });
      },
    },
  });
  consumer.start();
} else {
  throw new Error(`unknown mode ${mode}`);
}
