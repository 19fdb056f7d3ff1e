// GET /metrics on a real server with two gateway threads: what either thread served is counted
// once in the node's answer, and Prometheus' own checker (`promtool check metrics`, Debian's
// `prometheus` package) accepts the text.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { once } from '../support/own-connection.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/** The value of one sample, by its exact name and labels as written in the text format. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

const promtool = spawnSync('promtool', ['--version']).error ? undefined : 'promtool';

describe('GET /metrics', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer({ gatewayThreads: 2, retryBaseDelayMs: 10, concurrencyWaitMs: 20 });
    for (const [name, code] of [
      ['metered', 'export default (e) => ({ n: e.n })'],
      ['broken', 'export default () => { throw new Error("no") }'],
      ['single', 'export default async (e) => { await new Promise((r) => setTimeout(r, e.ms)); return 1 }'],
    ]) {
      const deployed = await once(server.url, 'POST', '/api/v1/functions', {
        body: {
          name,
          runtime: 'js',
          code,
          maxRetries: 1,
          ...(name === 'single' ? { maxConcurrency: 1 } : {}),
        },
      });
      assert.equal(deployed.status, 201, deployed.body);
    }
  });
  after(async () => {
    await server.close();
  });

  it("counts every thread's invocations and requests once, by function, runtime, trigger and outcome", async () => {
    const threadsBefore = (await server.server.threads?.stats())?.[0]?.served ?? 0;
    for (let n = 0; n < 30; n++) {
      const invoked = await once(server.url, 'POST', '/api/v1/functions/metered/invoke', { body: { n } });
      assert.equal(invoked.status, 200, invoked.body);
    }
    const brokenStatuses = new Map<number, number>();
    for (let n = 0; n < 4; n++) {
      const { status } = await once(server.url, 'POST', '/api/v1/functions/broken/invoke', { body: {} });
      brokenStatuses.set(status, (brokenStatuses.get(status) ?? 0) + 1);
    }
    for (let n = 0; n < 5; n++) {
      const hit = await once(server.url, 'GET', '/fn/metered');
      assert.equal(hit.status, 200, hit.body);
    }
    const threadsAfter = (await server.server.threads?.stats())?.[0]?.served ?? 0;
    assert.ok(threadsAfter > threadsBefore, 'the second thread served some of them');

    const scraped = await once(server.url, 'GET', '/metrics');
    assert.equal(scraped.status, 200);
    assert.match(String(scraped.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const text = scraped.body;
    assert.equal(
      sample(
        text,
        'faas_invocations_total{function="metered",runtime="js",trigger="api",mode="sync",outcome="succeeded"}',
      ),
      30,
    );
    assert.equal(
      sample(
        text,
        'faas_invocations_total{function="metered",runtime="js",trigger="http",mode="sync",outcome="succeeded"}',
      ),
      5,
    );
    assert.equal(
      sample(
        text,
        'faas_invocations_total{function="broken",runtime="js",trigger="api",mode="sync",outcome="failed"}',
      ),
      4,
    );
    assert.equal(
      sample(
        text,
        'faas_invocation_duration_seconds_count{function="metered",runtime="js",outcome="succeeded"}',
      ),
      35,
    );
    const invokeRoute = 'faas_http_requests_total{method="POST",route="/api/v1/functions/:name/invoke"';
    assert.equal(sample(text, `${invokeRoute},status="200"}`), 30 + (brokenStatuses.get(200) ?? 0));
    for (const [status, count] of brokenStatuses) {
      if (status !== 200) assert.equal(sample(text, `${invokeRoute},status="${status}"}`), count);
    }
    assert.equal(sample(text, 'faas_http_requests_total{method="GET",route="/fn/:name",status="200"}'), 5);
    // Invocation ids are never labels: the label sets stay bounded.
    assert.doesNotMatch(text, /inv_[0-9a-z]{10}/);
    assert.ok((sample(text, 'faas_queue_jobs{state="ready"}') ?? -1) >= 0, 'queue depth is reported');
    assert.equal(sample(text, 'faas_queue_oldest_job_age_seconds'), 0, 'no async job waits');
    // The deploys wrote functions through the store: its operations are timed.
    assert.ok(
      (sample(text, 'faas_store_operation_duration_seconds_count{operation="getFunction"}') ?? 0) >= 1,
    );
    // The first scrape of this server: the isolates in the host processes are counted, asked now.
    const warmIsolates =
      (sample(text, 'faas_warm_instances{runtime="isolate",state="idle"}') ?? 0) +
      (sample(text, 'faas_warm_instances{runtime="isolate",state="busy"}') ?? 0);
    assert.ok(warmIsolates >= 1, `${warmIsolates} warm isolates`);
    assert.ok((sample(text, 'faas_isolate_host_resident_memory_bytes{host="0"}') ?? 0) > 0);
    assert.ok((sample(text, 'faas_isolate_host_heap_used_bytes{host="0"}') ?? 0) > 0);
    assert.ok((sample(text, 'process_resident_memory_bytes') ?? 0) > 0, 'process metrics are reported');
  });

  it('shows the slots a function has in use, and its 429s by reason', async () => {
    const inUse = 'faas_concurrency_slots_in_use{function="single"}';
    const first = await once(server.url, 'POST', '/api/v1/functions/single/invoke', { body: { ms: 0 } });
    assert.equal(first.status, 200, first.body);
    assert.equal(sample((await once(server.url, 'GET', '/metrics')).body, inUse), 0);
    const slow = once(server.url, 'POST', '/api/v1/functions/single/invoke', { body: { ms: 3_000 } });
    for (let i = 0; i < 100; i++) {
      if (sample((await once(server.url, 'GET', '/metrics')).body, inUse) === 1) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(sample((await once(server.url, 'GET', '/metrics')).body, inUse), 1);
    const refused = await once(server.url, 'POST', '/api/v1/functions/single/invoke', { body: { ms: 0 } });
    assert.equal(refused.status, 429, refused.body);
    assert.equal((await slow).status, 200);
    const text = (await once(server.url, 'GET', '/metrics')).body;
    assert.equal(sample(text, inUse), 0);
    assert.equal(
      sample(text, 'faas_invocations_throttled_total{function="single",reason="max_concurrency"}'),
      1,
    );
  });

  it('counts async attempts, retries and dead letters', async () => {
    const queued = await once(server.url, 'POST', '/api/v1/functions/broken/invoke?async=true', { body: {} });
    assert.equal(queued.status, 202, queued.body);
    const { invocationId } = JSON.parse(queued.body) as { invocationId: string };
    let status = '';
    for (let i = 0; i < 200 && status !== 'dead_lettered'; i++) {
      const read = await once(server.url, 'GET', `/api/v1/invocations/${invocationId}`);
      status = (JSON.parse(read.body) as { status: string }).status;
      if (status !== 'dead_lettered') await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, 'dead_lettered');
    const text = (await once(server.url, 'GET', '/metrics')).body;
    const attempts = sample(
      text,
      'faas_invocations_total{function="broken",runtime="js",trigger="api",mode="async",outcome="failed"}',
    );
    assert.equal(attempts, 2, 'maxRetries 1: two attempts');
    assert.equal(sample(text, 'faas_queue_retries_total{function="broken"}'), 1);
    assert.equal(sample(text, 'faas_queue_dead_letters_total{function="broken"}'), 1);
    assert.ok((sample(text, 'faas_queue_operation_duration_seconds_count{operation="enqueue"}') ?? 0) >= 1);
    assert.ok((sample(text, 'faas_queue_operation_duration_seconds_count{operation="fail"}') ?? 0) >= 2);
  });

  it('drops every series of a deleted function, and keeps those of the functions that stay', async () => {
    const names = ['gone0', 'gone1', 'gone2', 'gone3', 'gone4'];
    for (const name of names) {
      const deployed = await once(server.url, 'POST', '/api/v1/functions', {
        body: {
          name,
          runtime: 'js',
          code: 'export default (e) => { if (e.fail) throw new Error("no"); return 1 }',
          maxRetries: 1,
        },
      });
      assert.equal(deployed.status, 201, deployed.body);
      const invoked = await once(server.url, 'POST', `/api/v1/functions/${name}/invoke`, { body: {} });
      assert.equal(invoked.status, 200, invoked.body);
      // Retried once, then dead-lettered: the queue's series by function too.
      const queued = await once(server.url, 'POST', `/api/v1/functions/${name}/invoke?async=true`, {
        body: { fail: true },
      });
      assert.equal(queued.status, 202, queued.body);
      const { invocationId } = JSON.parse(queued.body) as { invocationId: string };
      for (let i = 0; i < 200; i++) {
        const read = await once(server.url, 'GET', `/api/v1/invocations/${invocationId}`);
        if ((JSON.parse(read.body) as { status: string }).status === 'dead_lettered') break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const seen = (await once(server.url, 'GET', '/metrics')).body;
      assert.match(seen, new RegExp(`faas_queue_dead_letters_total\\{function="${name}"\\} 1`));
      assert.match(seen, new RegExp(`faas_concurrency_slots_in_use\\{function="${name}"\\}`));
      const deleted = await once(server.url, 'DELETE', `/api/v1/functions/${name}`);
      assert.equal(deleted.status, 204, deleted.body);
    }
    const kept = await once(server.url, 'POST', '/api/v1/functions/metered/invoke', { body: { n: 1 } });
    assert.equal(kept.status, 200, kept.body);
    const text = (await once(server.url, 'GET', '/metrics')).body;
    const left = text.split('\n').filter((line) => /function="gone\d"/.test(line));
    assert.deepEqual(left, [], 'no series of a deleted function');
    assert.ok(
      (sample(
        text,
        'faas_invocations_total{function="metered",runtime="js",trigger="api",mode="sync",outcome="succeeded"}',
      ) ?? 0) >= 1,
    );
    assert.match(text, /faas_invocation_duration_seconds_count\{function="metered"/);
    assert.match(text, /faas_concurrency_slots_in_use\{function="metered"\} 0/);
  });

  it("the Grafana dashboard's queries name only metrics the server exports", async () => {
    const text = (await once(server.url, 'GET', '/metrics')).body;
    const exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    const dashboard = JSON.parse(
      readFileSync(new URL('../../deploy/grafana/faas-dashboard.json', import.meta.url), 'utf8'),
    ) as { panels: { targets: { expr: string }[] }[] };
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
    assert.ok(exprs.length >= 10);
    for (const expr of exprs) {
      for (const [name] of expr.matchAll(/\b(faas|process|nodejs)_[a-z_]+/g)) {
        const base = name.replace(/_(bucket|count|sum)$/, '');
        assert.ok(exported.has(base), `${name} in "${expr}" is not exported`);
      }
    }
  });

  it('passes promtool check metrics', {
    skip: promtool ? false : 'promtool is not installed (apt-get install prometheus)',
  }, async () => {
    const text = (await once(server.url, 'GET', '/metrics')).body;
    const checked = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(checked.status, 0, `${checked.stdout}${checked.stderr}`);
  });
});

describe('GET /metrics without FAAS_METRICS_TOKEN', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer();
  });
  after(async () => {
    await server.close();
  });

  it("needs a platform admin's key: no key is 401, a project's key 403 (it names every project's functions)", async () => {
    const anonymous = await once(server.url, 'GET', '/metrics', { headers: { authorization: '' } });
    assert.equal(anonymous.status, 401);
    const made = await once(server.url, 'POST', '/api/v1/keys', { body: { name: 'a developer' } });
    assert.equal(made.status, 201, made.body);
    const developer = await once(server.url, 'GET', '/metrics', {
      headers: { authorization: `Bearer ${JSON.parse(made.body).key}` },
    });
    assert.equal(developer.status, 403);
    assert.equal(JSON.parse(developer.body).error.code, 'FAAS_ERR_FORBIDDEN');
    const admin = await once(server.url, 'GET', '/metrics');
    assert.equal(admin.status, 200);
    assert.match(admin.body, /# TYPE faas_invocations_total counter/);
  });
});

describe('GET /metrics with FAAS_METRICS_TOKEN', () => {
  const token = 'scrape_token_0123456789abcdefghijklmnop';
  let server: TestServer;

  before(async () => {
    server = await startTestServer({ metricsToken: token });
  });
  after(async () => {
    await server.close();
  });

  it('answers 401 without the token, with a wrong one, and with an API key; 200 with the token', async () => {
    for (const headers of [{ authorization: '' }, { authorization: `Bearer ${token}x` }, {}] as Record<
      string,
      string
    >[]) {
      const refused = await once(server.url, 'GET', '/metrics', { headers });
      assert.equal(refused.status, 401, JSON.stringify(headers));
      assert.equal(JSON.parse(refused.body).error.code, 'FAAS_ERR_UNAUTHORIZED');
    }
    const scraped = await once(server.url, 'GET', '/metrics', {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(scraped.status, 200);
    assert.match(scraped.body, /# TYPE faas_invocations_total counter/);
  });
});
