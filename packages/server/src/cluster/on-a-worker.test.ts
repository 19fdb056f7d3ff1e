import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, FaasError } from '@faas/core';
import { onAWorker, type Placing } from './on-a-worker.ts';
import { NotStarted } from './worker-failure.ts';

interface Worker {
  id: string;
}

/** Placing over `known` (in order), which `refresh` replaces with `afterRefresh` when given. */
function placing(known: string[], afterRefresh?: string[]): Placing<Worker> & { refreshes: number } {
  let workers = known;
  const p = {
    refreshes: 0,
    refresh: async () => {
      p.refreshes++;
      if (afterRefresh) workers = afterRefresh;
    },
    place: (tried: ReadonlySet<string>) => {
      const id = workers.find((w) => !tried.has(w));
      return id === undefined ? undefined : { id };
    },
    none: () => new FaasError(ErrorCode.RUNTIME_UNAVAILABLE, 'no worker'),
  };
  return p;
}

const unreached = (id: string) =>
  new NotStarted(new FaasError(ErrorCode.WORKER_LOST, `${id} could not be reached`));

describe('onAWorker', () => {
  it('tries another worker, never the one that failed, when the first did not start the call', async () => {
    const seen: string[] = [];
    const result = await onAWorker(placing(['a', 'b']), async (node) => {
      seen.push(node.id);
      if (node.id === 'a') throw unreached('a');
      return `ran on ${node.id}`;
    });
    assert.equal(result, 'ran on b');
    assert.deepEqual(seen, ['a', 'b']);
  });

  it('gives up after a second try with the last reason, however many workers are left', async () => {
    const seen: string[] = [];
    await assert.rejects(
      onAWorker(placing(['a', 'b', 'c']), async (node) => {
        seen.push(node.id);
        throw unreached(node.id);
      }),
      (err: unknown) => err instanceof FaasError && err.message === 'b could not be reached',
    );
    assert.deepEqual(seen, ['a', 'b']);
  });

  it('with the only worker unreachable, throws its reason, not "no worker"', async () => {
    await assert.rejects(
      onAWorker(placing(['a']), async () => {
        throw unreached('a');
      }),
      (err: unknown) => err instanceof FaasError && err.code === ErrorCode.WORKER_LOST,
    );
  });

  it('a failure once the worker took the call is thrown as it is: never a second try', async () => {
    const seen: string[] = [];
    const lost = new FaasError(ErrorCode.WORKER_LOST, 'went away during the call');
    await assert.rejects(
      onAWorker(placing(['a', 'b']), async (node) => {
        seen.push(node.id);
        throw lost;
      }),
      (err: unknown) => err === lost,
    );
    assert.deepEqual(seen, ['a']);
  });

  it('reads the registry once more when no worker is known, and runs on one that joined', async () => {
    const p = placing([], ['new']);
    assert.equal(await onAWorker(p, async (node) => node.id), 'new');
    assert.equal(p.refreshes, 1);
  });

  it('with no worker even after the refresh, throws none() and refreshes only once', async () => {
    const p = placing([]);
    await assert.rejects(
      onAWorker(p, async () => 'never'),
      (err: unknown) => err instanceof FaasError && err.message === 'no worker',
    );
    assert.equal(p.refreshes, 1);
  });

  it('does not refresh before the second try: the worker that failed is passed over, not re-read', async () => {
    const p = placing(['a'], ['a', 'b']);
    await assert.rejects(
      onAWorker(p, async () => {
        throw unreached('a');
      }),
      /a could not be reached/,
    );
    assert.equal(p.refreshes, 0);
  });
});
