// Rate limits on a real server with its default gateway threads: every request goes on a
// connection of its own, so the kernel spreads them over the threads, and the counts show the
// buckets are the server's, not each thread's.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  dropQueueKeys,
  NO_REDIS,
  TEST_REDIS_URL,
} from '../../packages/server/src/queue/redis/test-support.ts';
import { type Answer, once } from '../support/own-connection.ts';
import { startTestServer, type TestServer, waitFor } from '../support/server.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function deploy(s: TestServer, body: Record<string, unknown>): Promise<void> {
  const res = await s.api('/api/v1/functions', { method: 'POST', json: { runtime: 'js', ...body } });
  assert.equal(res.status, 201, await res.text());
}

async function throttled(s: TestServer, fn: string, reason: string): Promise<number> {
  const text = await (await s.api('/metrics')).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`faas_invocations_throttled_total{function="${fn}",reason="${reason}"}`));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

/**
 * A function limited to one call per 100 s is called once (its bucket's `tat` 100 s ahead), then
 * raised to 1000/s: the next call is allowed.
 */
async function raisedAtOnce(s: TestServer, name: string): Promise<void> {
  const slow = { requestsPerSecond: 0.01, burst: 1 };
  await deploy(s, { name, rateLimit: slow, code: 'export default () => 1' });
  const invoke = () => once(s.url, 'POST', `/api/v1/functions/${name}/invoke`, { body: {} });
  assert.equal((await invoke()).status, 200);
  assert.equal((await invoke()).status, 429);
  const patched = await s.api(`/api/v1/functions/${name}`, {
    method: 'PATCH',
    json: { rateLimit: { requestsPerSecond: 1000, burst: 1000 } },
  });
  assert.equal(patched.status, 200, await patched.clone().text());
  const raised = await invoke();
  assert.equal(raised.status, 200, raised.body);
  assert.equal(raised.headers['ratelimit-limit'], '1000');
}

describe('rate limits', () => {
  let s: TestServer;
  before(async () => {
    // 0: the default, one thread per core (at most 4).
    s = await startTestServer({ gatewayThreads: 0 });
    // Refills one token every 2 s: a burst of requests sent together cannot see a refill.
    await deploy(s, {
      name: 'limited',
      routes: ['GET /limited-route'],
      rateLimit: { requestsPerSecond: 0.5, burst: 5 },
      code: 'export default () => ({ ok: true })',
    });
    await deploy(s, { name: 'free', code: 'export default () => 1' });
  });
  after(() => s.close());

  it('a burst of 10 over every invoking path and thread gets exactly the burst of 5, then 429s with the headers', async () => {
    const before = await s.server.threads?.stats();
    const requests = [
      () => once(s.url, 'POST', '/api/v1/functions/limited/invoke', { body: {} }),
      () => once(s.url, 'GET', '/fn/limited'),
      () => once(s.url, 'GET', '/limited-route'),
      () => once(s.url, 'POST', '/api/v1/functions/limited/invoke?async=true', { body: {} }),
    ];
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (requests[i % requests.length] as () => Promise<Answer>)()),
    );
    const ok = answers.filter((a) => a.status === 200 || a.status === 202);
    const refused = answers.filter((a) => a.status === 429);
    assert.equal(ok.length, 5, answers.map((a) => `${a.status} ${a.body}`).join('\n'));
    assert.equal(refused.length, 5);
    for (const a of ok) {
      assert.equal(a.headers['ratelimit-limit'], '5');
      assert.match(String(a.headers['ratelimit-remaining']), /^[0-4]$/);
      assert.match(String(a.headers['ratelimit-reset']), /^\d+$/);
    }
    for (const a of refused) {
      const error = JSON.parse(a.body).error;
      assert.equal(error.code, 'FAAS_ERR_RATE_LIMITED');
      assert.equal(error.details.limit, 'function');
      assert.equal(error.details.requestsPerSecond, 0.5);
      assert.equal(error.details.burst, 5);
      assert.equal(a.headers['ratelimit-limit'], '5');
      assert.equal(a.headers['ratelimit-remaining'], '0');
      assert.ok(Number(a.headers['ratelimit-reset']) >= 1);
      const retry = Number(a.headers['retry-after']);
      assert.ok(retry >= 1 && retry <= 2, `Retry-After ${retry}`);
    }
    const afterwards = await s.server.threads?.stats();
    if (before && afterwards && afterwards.length > 0)
      assert.ok(
        (afterwards[0]?.served ?? 0) > (before[0]?.served ?? 0),
        'another gateway thread served part of the burst',
      );

    // Refused calls are recorded and counted as throttled, by the limit that refused them.
    await waitFor(
      async () => ((await throttled(s, 'limited', 'rate_limit_function')) === 5 ? true : undefined),
      15_000,
      'five rate-limited invocations counted',
    );
    const list = (await (await s.api('/api/v1/invocations?functionName=limited&limit=50')).json()) as {
      items: Array<{ error?: { type: string }; attempts: number }>;
    };
    const failed = list.items.filter((i) => i.error?.type === 'FAAS_ERR_RATE_LIMITED');
    assert.equal(failed.length, 5);

    // After Retry-After, it answers again.
    await sleep(Number(refused[0]?.headers['retry-after']) * 1000 + 100);
    const again = await once(s.url, 'POST', '/api/v1/functions/limited/invoke', { body: {} });
    assert.equal(again.status, 200, again.body);
  });

  it('a function without a limit answers without RateLimit headers', async () => {
    const res = await once(s.url, 'POST', '/api/v1/functions/free/invoke', { body: {} });
    assert.equal(res.status, 200);
    assert.equal(res.headers['ratelimit-limit'], undefined);
  });

  it("a key's limit holds for every call made with it, and only for it", async () => {
    const made = await s.api('/api/v1/keys', {
      method: 'POST',
      json: { name: 'metered', role: 'invoker', rateLimit: { requestsPerSecond: 0.1, burst: 2 } },
    });
    assert.equal(made.status, 201, await made.clone().text());
    const { key, rateLimit } = (await made.json()) as { key: string; rateLimit: unknown };
    assert.deepEqual(rateLimit, { requestsPerSecond: 0.1, burst: 2 });
    const answers = await Promise.all(
      ['/api/v1/functions/free/invoke', '/fn/free', '/api/v1/functions/free/invoke'].map((path) =>
        once(s.url, path.startsWith('/fn') ? 'GET' : 'POST', path, {
          key,
          body: path.startsWith('/fn') ? undefined : {},
        }),
      ),
    );
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 200, 429]);
    const refused = answers.find((a) => a.status === 429) as Answer;
    assert.equal(JSON.parse(refused.body).error.details.limit, 'key');
    assert.equal(refused.headers['ratelimit-limit'], '2');
    // Another key (the admin's) calls the same function freely.
    for (let i = 0; i < 3; i++)
      assert.equal((await once(s.url, 'POST', '/api/v1/functions/free/invoke', { body: {} })).status, 200);
    const bad = await s.api('/api/v1/keys', {
      method: 'POST',
      json: { name: 'bad', rateLimit: { requestsPerSecond: -1, burst: 2 } },
    });
    assert.equal(bad.status, 422);
  });

  it("a key's limit changed by PATCH holds at once on every thread: raised, lowered, removed", async () => {
    const made = await s.api('/api/v1/keys', {
      method: 'POST',
      json: { name: 'repatched', role: 'invoker', rateLimit: { requestsPerSecond: 0.1, burst: 1 } },
    });
    const { id, key } = (await made.json()) as { id: string; key: string };
    const burst = (n: number) =>
      Promise.all(
        Array.from({ length: n }, () =>
          once(s.url, 'POST', '/api/v1/functions/free/invoke', { key, body: {} }),
        ),
      );
    const statuses = (answers: Answer[]) => answers.map((a) => a.status).sort();
    // Spent: the slow rate pushed the bucket 10 s ahead.
    assert.deepEqual(statuses(await burst(2)), [200, 429]);

    const patch = (rateLimit: unknown) =>
      s.api(`/api/v1/keys/${id}`, { method: 'PATCH', json: { rateLimit } });
    // Raised: the new burst is there at once, on every thread, not after the old rate's 10 s.
    assert.equal((await patch({ requestsPerSecond: 0.1, burst: 4 })).status, 200);
    const raised = await burst(6);
    assert.deepEqual(statuses(raised), [200, 200, 200, 200, 429, 429]);
    assert.equal(raised.find((a) => a.status === 200)?.headers['ratelimit-limit'], '4');

    // Lowered: the new, smaller burst holds.
    assert.equal((await patch({ requestsPerSecond: 0.1, burst: 2 })).status, 200);
    assert.deepEqual(statuses(await burst(4)), [200, 200, 429, 429]);

    // Removed: no key limit, no RateLimit fields.
    assert.equal((await patch(null)).status, 200);
    const free = await burst(6);
    assert.deepEqual(statuses(free), [200, 200, 200, 200, 200, 200]);
    assert.equal(free[0]?.headers['ratelimit-limit'], undefined);
  });

  it('a key PATCHed while its requests run: every answer is a 200 or a 429, none a 5xx', async () => {
    const made = await s.api('/api/v1/keys', {
      method: 'POST',
      json: { name: 'churned', role: 'invoker', rateLimit: { requestsPerSecond: 1000, burst: 1000 } },
    });
    const { id, key } = (await made.json()) as { id: string; key: string };
    const calls = Array.from({ length: 40 }, () =>
      once(s.url, 'POST', '/api/v1/functions/free/invoke', { key, body: {} }),
    );
    const patches = [
      { rateLimit: { requestsPerSecond: 0.1, burst: 1 } },
      { rateLimit: null },
      { rateLimit: { requestsPerSecond: 1e6, burst: 1_000_000 } },
      { name: 'churned-again' },
    ].map((json) => s.api(`/api/v1/keys/${id}`, { method: 'PATCH', json }));
    const answers = await Promise.all(calls);
    for (const res of await Promise.all(patches)) assert.equal(res.status, 200);
    for (const a of answers) assert.ok(a.status === 200 || a.status === 429, `${a.status} ${a.body}`);
  });

  it("a project's limit, set by its owner, holds for all its functions together on every thread", async () => {
    assert.equal(
      (await s.api('/api/v1/projects', { method: 'POST', json: { name: 'metered' } })).status,
      201,
    );
    const owner = (await (
      await s.api('/api/v1/keys', { method: 'POST', json: { name: 'o', project: 'metered', role: 'owner' } })
    ).json()) as { key: string };
    const developer = (await (
      await s.api('/api/v1/keys', {
        method: 'POST',
        json: { name: 'd', project: 'metered', role: 'developer' },
      })
    ).json()) as { key: string };
    for (const name of ['p1', 'p2']) {
      const made = await s.api('/api/v1/functions', {
        method: 'POST',
        key: owner.key,
        json: { name, runtime: 'js', code: 'export default () => 1' },
      });
      assert.equal(made.status, 201);
    }
    const limit = { requestsPerSecond: 0.1, burst: 3 };
    const denied = await s.api('/api/v1/projects/metered', {
      method: 'PATCH',
      key: developer.key,
      json: { rateLimit: limit },
    });
    assert.equal(denied.status, 403, 'a developer does not change the project');
    const elsewhere = await s.api('/api/v1/projects/default', {
      method: 'PATCH',
      key: owner.key,
      json: { rateLimit: limit },
    });
    assert.equal(elsewhere.status, 404, "another project's owner finds nothing");
    const set = await s.api('/api/v1/projects/metered', {
      method: 'PATCH',
      key: owner.key,
      json: { rateLimit: limit },
    });
    assert.equal(set.status, 200, await set.clone().text());
    assert.deepEqual(((await set.json()) as { rateLimit: unknown }).rateLimit, limit);

    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        once(s.url, 'POST', `/api/v1/functions/p${(i % 2) + 1}/invoke`, { key: owner.key, body: {} }),
      ),
    );
    assert.equal(answers.filter((a) => a.status === 200).length, 3, answers.map((a) => a.body).join('\n'));
    const refused = answers.filter((a) => a.status === 429);
    assert.equal(refused.length, 3);
    assert.equal(JSON.parse(refused[0]?.body ?? '{}').error.details.limit, 'project');
    // Another project's functions are not held back.
    assert.equal((await once(s.url, 'POST', '/api/v1/functions/free/invoke', { body: {} })).status, 200);

    // Removed: every thread serves again at once.
    const removed = await s.api('/api/v1/projects/metered', {
      method: 'PATCH',
      key: owner.key,
      json: { rateLimit: null },
    });
    assert.equal(removed.status, 200);
    const after = await Promise.all(
      Array.from({ length: 6 }, () =>
        once(s.url, 'POST', '/api/v1/functions/p1/invoke', { key: owner.key, body: {} }),
      ),
    );
    assert.deepEqual(
      after.map((a) => a.status),
      [200, 200, 200, 200, 200, 200],
    );
  });

  it("a function's or project's raised limit holds at once, not after the old rate's wait", async () => {
    await raisedAtOnce(s, 'raised');
    const project = await s.api('/api/v1/projects', { method: 'POST', json: { name: 'raising' } });
    assert.equal(project.status, 201);
    const owner = (await (
      await s.api('/api/v1/keys', { method: 'POST', json: { name: 'o', project: 'raising', role: 'owner' } })
    ).json()) as { key: string };
    const made = await s.api('/api/v1/functions', {
      method: 'POST',
      key: owner.key,
      json: { name: 'f', runtime: 'js', code: 'export default () => 1' },
    });
    assert.equal(made.status, 201, await made.clone().text());
    const limit = (rateLimit: unknown) =>
      s.api('/api/v1/projects/raising', { method: 'PATCH', json: { rateLimit } });
    assert.equal((await limit({ requestsPerSecond: 0.01, burst: 1 })).status, 200);
    const invoke = () => once(s.url, 'POST', '/api/v1/functions/f/invoke', { key: owner.key, body: {} });
    assert.equal((await invoke()).status, 200);
    assert.equal((await invoke()).status, 429);
    assert.equal((await limit({ requestsPerSecond: 1000, burst: 1000 })).status, 200);
    const raised = await invoke();
    assert.equal(raised.status, 200, raised.body);
  });

  it('a bad rateLimit is refused naming the field; null removes it', async () => {
    for (const rateLimit of [
      { requestsPerSecond: 0, burst: 5 },
      { requestsPerSecond: 5, burst: 1.5 },
      { requestsPerSecond: 5 },
      { requestsPerSecond: 5, burst: 5, extra: 1 },
      'fast',
    ]) {
      const res = await s.api('/api/v1/functions', {
        method: 'POST',
        json: { name: 'bad-limit', runtime: 'js', code: 'export default () => 1', rateLimit },
      });
      assert.equal(res.status, 422, JSON.stringify(rateLimit));
      const body = (await res.json()) as { error: { code: string; details: unknown } };
      assert.equal(body.error.code, 'FAAS_ERR_VALIDATION');
      assert.match(JSON.stringify(body.error.details), /rateLimit/);
    }
    const patched = await s.api('/api/v1/functions/limited', { method: 'PATCH', json: { rateLimit: null } });
    assert.equal(patched.status, 200, await patched.clone().text());
    const fn = await (await s.api('/api/v1/functions/limited')).json();
    assert.equal(JSON.stringify(fn).includes('rateLimit'), false, JSON.stringify(fn));
  });
});

describe('rate limit per client address on public triggers', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ gatewayThreads: 0, publicRateLimitRps: 0.1, publicRateLimitBurst: 3 });
    await deploy(s, { name: 'open', public: true, code: 'export default () => "hi"' });
    await deploy(s, { name: 'closed', code: 'export default () => "hi"' });
  });
  after(() => s.close());

  it("limits a public function's trigger per address, and nothing else", async () => {
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => once(s.url, 'GET', '/fn/open', { key: null })),
    );
    assert.equal(answers.filter((a) => a.status === 200).length, 3);
    const refused = answers.filter((a) => a.status === 429);
    assert.equal(refused.length, 2);
    const error = JSON.parse(refused[0]?.body ?? '{}').error;
    assert.equal(error.code, 'FAAS_ERR_RATE_LIMITED');
    assert.equal(error.details.limit, 'ip');
    assert.equal(refused[0]?.headers['ratelimit-limit'], '3');
    assert.ok(Number(refused[0]?.headers['retry-after']) >= 1);
    // A private function's trigger and the API's invoke are not what the address limit is for.
    for (let i = 0; i < 4; i++) {
      assert.equal((await once(s.url, 'GET', '/fn/closed')).status, 200);
      assert.equal((await once(s.url, 'POST', '/api/v1/functions/open/invoke', { body: {} })).status, 200);
    }
    await waitFor(
      async () => ((await throttled(s, 'open', 'rate_limit_ip')) === 2 ? true : undefined),
      15_000,
      'two address-limited invocations counted',
    );
  });
});

describe('rate limits in Redis (FAAS_QUEUE_URL)', { skip: TEST_REDIS_URL ? false : NO_REDIS }, () => {
  const prefix = `test:rate-limits:${process.pid}`;
  let a: TestServer;
  let b: TestServer;
  before(async () => {
    const settings = { gatewayThreads: 0, queueUrl: TEST_REDIS_URL as string, queuePrefix: prefix };
    [a, b] = await Promise.all([startTestServer(settings), startTestServer(settings)]);
    // The same function (name and project) on both: one bucket in Redis.
    for (const s of [a, b])
      await deploy(s, {
        name: 'shared',
        rateLimit: { requestsPerSecond: 0.1, burst: 4 },
        code: 'export default () => 1',
      });
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await dropQueueKeys(TEST_REDIS_URL as string, prefix);
  });

  it("a function's raised limit holds at once in Redis too", async () => {
    await raisedAtOnce(a, 'raised-in-redis');
  });

  it('two servers sharing one Redis share the bucket, across their threads', async () => {
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        once((i % 2 === 0 ? a : b).url, 'POST', '/api/v1/functions/shared/invoke', { body: {} }),
      ),
    );
    assert.equal(answers.filter((x) => x.status === 200).length, 4, answers.map((x) => x.body).join('\n'));
    const refused = answers.filter((x) => x.status === 429);
    assert.equal(refused.length, 6);
    for (const r of refused) {
      assert.equal(JSON.parse(r.body).error.details.limit, 'function');
      assert.equal(r.headers['ratelimit-limit'], '4');
      assert.ok(Number(r.headers['retry-after']) >= 1);
    }
    // Both servers refused some: neither counted on its own.
    assert.ok(answers.some((x, i) => i % 2 === 0 && x.status === 429));
    assert.ok(answers.some((x, i) => i % 2 === 1 && x.status === 429));
  });
});
