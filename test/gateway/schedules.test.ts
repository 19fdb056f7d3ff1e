import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Invocation } from '@faas/core';
import { Scheduler } from '../../packages/server/src/control/scheduler.ts';
import { startTestServer, type TestServer, tempDataDir, waitFor } from '../support/server.ts';

/** Echoes the tick it was run for, so a run can be matched to its tick. */
const CODE = 'export default (e) => e.scheduledAt';

type Api = TestServer['api'];

async function scheduledRuns(api: Api, name: string): Promise<Invocation[]> {
  const res = await api(`/api/v1/invocations?functionName=${name}&limit=500`);
  assert.equal(res.status, 200, await res.clone().text());
  const { items } = (await res.json()) as { items: Invocation[] };
  return items.filter((inv) => inv.trigger === 'schedule');
}

/** Each run's tick, from its idempotency key: `schedule:<expression>@<tick>`. */
function ticksOf(runs: Invocation[]): string[] {
  return runs.map((inv) => (inv.idempotencyKey ?? '').split('@')[1] ?? '').sort();
}

describe('function schedules', () => {
  let s: TestServer;
  const deploy = (name: string, schedules: unknown) =>
    s.api('/api/v1/functions', { method: 'POST', json: { name, runtime: 'js', code: CODE, schedules } });

  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  it('refuses a schedule that is not cron, naming it, with 422', async () => {
    const cases: Array<[unknown, number, string, RegExp]> = [
      [['* * * *'], 422, 'FAAS_ERR_VALIDATION', /schedules\[0\]/],
      [['*/5 * * * *', '61 * * * *'], 422, 'FAAS_ERR_VALIDATION', /schedules\[1\]/],
      [['0 0 30 2 *'], 422, 'FAAS_ERR_VALIDATION', /names no date/],
      [['@hourly', '@hourly'], 422, 'FAAS_ERR_VALIDATION', /listed twice/],
      [Array.from({ length: 17 }, (_, i) => `${i} * * * *`), 422, 'FAAS_ERR_VALIDATION', /schedules/],
      [[''], 422, 'FAAS_ERR_VALIDATION', /schedules/],
    ];
    for (const [schedules, status, code, message] of cases) {
      const res = await deploy('bad-schedule', schedules);
      assert.equal(res.status, status, JSON.stringify(schedules));
      const body = (await res.json()) as { error: { code: string; message: string; details?: unknown } };
      assert.equal(body.error.code, code);
      assert.match(JSON.stringify(body.error), message);
    }
    assert.equal((await s.api('/api/v1/functions/bad-schedule')).status, 404, 'nothing half-created');
  });

  it('runs each tick once, as an async invocation with trigger "schedule", until the schedule is removed', async () => {
    const res = await deploy('every-second', ['* * * * * *']);
    assert.equal(res.status, 201, await res.clone().text());
    const runs = await waitFor(
      async () => {
        const found = await scheduledRuns(s.api, 'every-second');
        return found.filter((inv) => inv.status === 'succeeded').length >= 3 ? found : undefined;
      },
      20_000,
      'three scheduled runs',
    );
    const ticks = ticksOf(runs);
    assert.equal(new Set(ticks).size, ticks.length, `a tick ran twice: ${ticks.join(' ')}`);
    for (const inv of runs) {
      assert.equal(inv.mode, 'async');
      assert.match(
        inv.idempotencyKey ?? '',
        /^schedule:\* \* \* \* \* \*@\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/,
      );
      // The function got its tick in its event.
      if (inv.status === 'succeeded') assert.equal(inv.result, inv.idempotencyKey?.split('@')[1]);
    }

    const patched = await s.api('/api/v1/functions/every-second', {
      method: 'PATCH',
      json: { schedules: [] },
    });
    assert.equal(patched.status, 200, await patched.clone().text());
    // Picked up within a second; after that, no new ticks.
    await new Promise((r) => setTimeout(r, 2_000));
    const settled = (await scheduledRuns(s.api, 'every-second')).length;
    await new Promise((r) => setTimeout(r, 2_000));
    assert.equal(
      (await scheduledRuns(s.api, 'every-second')).length,
      settled,
      'ticks after the schedule was removed',
    );
  });

  it('fires a tick once however many schedulers share the store: the idempotency key is the claim', async () => {
    const res = await deploy('shared-ticks', ['*/1 * * * * *']);
    assert.equal(res.status, 201, await res.clone().text());
    const { platform } = s.server;
    // A second scheduler over the same store, as a second server would run.
    const second = new Scheduler({
      store: platform.store,
      invocations: platform.invocations,
      missed: 'once',
      catchUpMs: 60_000,
      logger: { warn() {}, error() {} },
    });
    await second.start(200);
    try {
      await waitFor(
        async () => ((await scheduledRuns(s.api, 'shared-ticks')).length >= 4 ? true : undefined),
        20_000,
        'four ticks',
      );
    } finally {
      await second.stop();
    }
    const runs = await scheduledRuns(s.api, 'shared-ticks');
    const ticks = ticksOf(runs);
    assert.equal(new Set(ticks).size, ticks.length, `a tick ran twice: ${ticks.join(' ')}`);
    await s.api('/api/v1/functions/shared-ticks', { method: 'DELETE' });
  });
});

describe('function schedules across a restart', () => {
  const dataDir = tempDataDir();
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  for (const missed of ['once', 'skip'] as const) {
    it(`FAAS_SCHEDULE_MISSED=${missed}: ${missed === 'once' ? 'the latest missed tick runs once at start' : 'missed ticks do not run'}`, async () => {
      const name = `restart-${missed}`;
      const first = await startTestServer({ scheduleMissed: missed }, dataDir);
      // Every 2 s: the server is down for longer than that.
      const res = await first.api('/api/v1/functions', {
        method: 'POST',
        json: { name, runtime: 'js', code: CODE, schedules: ['*/2 * * * * *'] },
      });
      assert.equal(res.status, 201, await res.clone().text());
      await waitFor(
        async () => ((await scheduledRuns(first.api, name)).length >= 1 ? true : undefined),
        20_000,
      );
      await first.server.close();
      const downFrom = Date.now();
      // Two ticks or more pass with no server.
      await new Promise((r) => setTimeout(r, 4_500));

      const second = await startTestServer({ scheduleMissed: missed }, dataDir);
      try {
        const { startedAt } = second.server.platform.scheduler;
        await waitFor(
          async () => {
            const ticks = ticksOf(await scheduledRuns(second.api, name));
            return ticks.some((t) => Date.parse(t) > startedAt) ? true : undefined;
          },
          20_000,
          'a tick after the restart',
        );
        const ticks = ticksOf(await scheduledRuns(second.api, name));
        assert.equal(new Set(ticks).size, ticks.length, `a tick ran twice: ${ticks.join(' ')}`);
        // The first server ran no tick after it closed; the second none before it started but
        // the one it caught up.
        const whileDown = ticks.filter((t) => Date.parse(t) > downFrom && Date.parse(t) <= startedAt);
        if (missed === 'once')
          assert.equal(whileDown.length, 1, `ran for the downtime: ${whileDown.join(' ')}`);
        else assert.deepEqual(whileDown, []);
        await second.api(`/api/v1/functions/${name}`, { method: 'DELETE' });
      } finally {
        await second.server.close();
      }
    });
  }
});
