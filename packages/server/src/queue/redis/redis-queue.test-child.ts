// A separate process using a RedisQueue, for the crash tests: it is killed with SIGKILL or
// stopped with SIGSTOP. Not a test file itself.
import { ConcurrencyLimiter } from '../../control/concurrency-limiter.ts';
import { QueueConsumer } from '../../data/queue-consumer.ts';
import { openRedisQueue } from './redis-queue.ts';

const [mode, url, prefix, arg] = process.argv.slice(2);
if (!mode || !url || !prefix)
  throw new Error('usage: redis-queue.test-child.ts <lease-and-hang|consume> <url> <prefix> [arg]');
const queue = await openRedisQueue({ url, prefix, retry: { baseDelayMs: 1_000, maxDelayMs: 1_000 } });
const say = (message: unknown) => process.stdout.write(`${JSON.stringify(message)}\n`);

if (mode === 'lease-and-hang') {
  // Enqueue one job of its own, lease and start some, report, then wait to be killed.
  await queue.enqueue({ id: 'from-child', payload: 'written before the kill', maxAttempts: 3 });
  const jobs = await queue.lease({ limit: 2, visibilityTimeoutMs: Number(arg) });
  for (const job of jobs) await queue.start(job.id, job.leaseToken);
  say({ leased: jobs });
  setInterval(() => undefined, 60_000);
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
