// GET /api/v1/logs/stream on a real server with two gateway threads: a function's invocations
// (served by either thread, sync or async, failures included) arrive live as Server-Sent
// Events, and a client that reconnects with Last-Event-ID gets what it missed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN_KEY, startTestServer, type TestServer } from '../support/server.ts';

interface SseEvent {
  id?: string;
  event: string;
  data: Record<string, unknown>;
}

/** An open stream: events as they come, and a way to wait for a number of them. */
class SseReader {
  events: SseEvent[] = [];
  #controller = new AbortController();
  #buffer = '';
  #waiters: Array<() => void> = [];
  status = 0;
  done: Promise<void>;

  /** `headers` add to the admin key's; an empty value leaves that header out (a cookie sends no key). */
  constructor(url: string, headers: Record<string, string> = {}) {
    const sent = Object.entries({ authorization: `Bearer ${ADMIN_KEY}`, ...headers }).filter(
      ([, v]) => v !== '',
    );
    this.done = (async () => {
      const res = await fetch(url, {
        headers: sent,
        signal: this.#controller.signal,
      });
      this.status = res.status;
      const reader = res.body?.pipeThrough(new TextDecoderStream()).getReader();
      if (!reader) return;
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          this.#take(value);
        }
      } catch {
        // aborted by close()
      }
    })();
  }

  #take(text: string): void {
    this.#buffer += text;
    for (let end = this.#buffer.indexOf('\n\n'); end >= 0; end = this.#buffer.indexOf('\n\n')) {
      const block = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      const fields = new Map<string, string>();
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trimStart());
      }
      const data = fields.get('data');
      if (data === undefined) continue;
      const id = fields.get('id');
      this.events.push({
        ...(id ? { id } : {}),
        event: fields.get('event') ?? 'message',
        data: JSON.parse(data),
      });
    }
    for (const wake of this.#waiters.splice(0)) wake();
  }

  async waitFor(check: (events: SseEvent[]) => boolean, what: string): Promise<void> {
    const until = Date.now() + 20_000;
    while (!check(this.events)) {
      if (Date.now() > until)
        throw new Error(`timed out waiting for ${what}: ${JSON.stringify(this.events)}`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  }

  async close(): Promise<void> {
    this.#controller.abort();
    await this.done;
  }
}

const ends = (events: SseEvent[]) => events.filter((e) => e.event === 'end');

describe('GET /api/v1/logs/stream', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer({ gatewayThreads: 2, retryBaseDelayMs: 10 });
    const deployed = await server.api('/api/v1/functions', {
      method: 'POST',
      json: {
        name: 'chatty',
        runtime: 'js',
        maxRetries: 0,
        code: 'export default (e) => { console.log("hello", e.n); if (e.fail) throw new Error("boom " + e.n); return e.n }',
      },
    });
    assert.equal(deployed.status, 201, await deployed.text());
  });
  after(async () => {
    await server.close();
  });

  it("streams each invocation's start, log lines and end, failures included, and resumes from Last-Event-ID", async () => {
    const stream = new SseReader(`${server.url}/api/v1/logs/stream?functionName=chatty`);
    await stream.waitFor(() => stream.status !== 0, 'the answer');
    assert.equal(stream.status, 200);
    // Invocations on connections of their own: the kernel spreads them over both threads.
    for (const n of [1, 2, 3]) {
      const res = await fetch(`${server.url}/api/v1/functions/chatty/invoke`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${ADMIN_KEY}`,
          'content-type': 'application/json',
          connection: 'close',
        },
        body: JSON.stringify({ n, fail: n === 2 }),
      });
      await res.text();
    }
    await stream.waitFor((events) => ends(events).length === 3, 'three ends');
    const byInvocation = new Map<string, string[]>();
    for (const e of stream.events) {
      const id = e.data.invocationId as string;
      byInvocation.set(id, [...(byInvocation.get(id) ?? []), e.event]);
    }
    assert.equal(byInvocation.size, 3);
    for (const sequence of byInvocation.values()) {
      assert.equal(sequence[0], 'start');
      assert.equal(sequence.at(-1), 'end');
    }
    const logs = stream.events.filter((e) => e.event === 'log').map((e) => e.data.message);
    assert.deepEqual(logs.slice(0, 1), ['hello 1']);
    assert.ok(logs.includes('hello 2') && logs.includes('hello 3'));
    const failed = ends(stream.events).find((e) => e.data.status === 'failed');
    assert.ok(failed, 'the failure has its end');
    assert.match(String((failed.data.error as { message: string }).message), /boom 2/);
    assert.ok(
      logs.some((m) => String(m).startsWith('[faas] failed')),
      'the failure line is in the logs',
    );

    // Away after the first invocation's end; two more happen, one async; back with Last-Event-ID.
    const firstEnd = ends(stream.events)[0] as SseEvent;
    await stream.close();
    await server.api('/api/v1/functions/chatty/invoke', { method: 'POST', json: { n: 4 } });
    const queued = await server.api('/api/v1/functions/chatty/invoke?async=true', {
      method: 'POST',
      json: { n: 5 },
    });
    assert.equal(queued.status, 202);
    const resumed = new SseReader(`${server.url}/api/v1/logs/stream?functionName=chatty`, {
      'last-event-id': firstEnd.id as string,
    });
    await resumed.waitFor((events) => ends(events).length === 4, 'the missed ends and the async one');
    assert.equal(resumed.events.filter((e) => e.event === 'gap').length, 0);
    const resumedLogs = resumed.events.filter((e) => e.event === 'log').map((e) => e.data.message);
    assert.ok(!resumedLogs.includes('hello 1'), 'nothing before the id again');
    for (const n of [2, 3, 4, 5]) assert.ok(resumedLogs.includes(`hello ${n}`), `hello ${n}: ${resumedLogs}`);
    const asyncStart = resumed.events.find((e) => e.event === 'start' && e.data.mode === 'async');
    assert.equal(asyncStart?.data.attempt, 1);
    const ids = resumed.events.map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length);
    await resumed.close();
  });

  it('says when it cannot resume (an id of another server life) with a gap event', async () => {
    const stream = new SseReader(`${server.url}/api/v1/logs/stream?functionName=chatty`, {
      'last-event-id': '00000000.5.0',
    });
    await stream.waitFor((events) => events.some((e) => e.event === 'gap'), 'a gap');
    await stream.close();
  });

  it("answers HEAD at once with the stream's head and no stream, as the router answers HEAD on a GET route", async () => {
    const head = await server.api('/api/v1/logs/stream?functionName=chatty', {
      method: 'HEAD',
      signal: AbortSignal.timeout(5_000),
    });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    assert.equal(await head.text(), '');
    const missing = await server.api('/api/v1/logs/stream?functionName=nope', {
      method: 'HEAD',
      signal: AbortSignal.timeout(5_000),
    });
    assert.equal(missing.status, 404);
  });

  it('refuses a missing function (404), a missing name (422) and a missing key (401)', async () => {
    const missing = await server.api('/api/v1/logs/stream?functionName=nope');
    assert.equal(missing.status, 404);
    assert.equal(
      ((await missing.json()) as { error: { code: string } }).error.code,
      'FAAS_ERR_FUNCTION_NOT_FOUND',
    );
    const unnamed = await server.api('/api/v1/logs/stream');
    assert.equal(unnamed.status, 422);
    assert.equal(((await unnamed.json()) as { error: { code: string } }).error.code, 'FAAS_ERR_VALIDATION');
    const anonymous = await server.api('/api/v1/logs/stream?functionName=chatty', { key: null });
    assert.equal(anonymous.status, 401);
    await anonymous.text();
  });
});

describe('GET /api/v1/logs/stream when its caller may no longer read it', () => {
  let server: TestServer;
  before(async () => {
    // Open streams re-check their caller's credential this often (FAAS_ROUTE_SYNC_MS).
    server = await startTestServer({ routeSyncMs: 200 });
    const deployed = await server.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'watched', runtime: 'js', code: 'export default () => 1' },
    });
    assert.equal(deployed.status, 201, await deployed.text());
  });
  after(async () => server?.close());

  /** Whether the stream ended within the 5 s docs/api.md promises, then its events. */
  const endsWithin5s = async (stream: SseReader) => {
    const ended = await Promise.race([
      stream.done.then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5_000)),
    ]);
    if (!ended) await stream.close();
    return ended;
  };

  it('ends the stream of a key revoked after it opened, with an error event', async () => {
    const made = await server.api('/api/v1/keys', { method: 'POST', json: { name: 'tail-then-revoked' } });
    const { id, key } = (await made.json()) as { id: string; key: string };
    const stream = new SseReader(`${server.url}/api/v1/logs/stream?functionName=watched`, {
      authorization: `Bearer ${key}`,
    });
    await stream.waitFor(() => stream.status !== 0, 'the answer');
    assert.equal(stream.status, 200);
    assert.equal((await server.api(`/api/v1/keys/${id}`, { method: 'DELETE' })).status, 204);
    assert.ok(await endsWithin5s(stream), 'still open 5 s after its key was revoked');
    const error = stream.events.find((e) => e.event === 'error');
    assert.equal((error?.data.error as { code?: string } | undefined)?.code, 'FAAS_ERR_UNAUTHORIZED');
  });

  it('ends the stream of a console session that signed out', async () => {
    const signedIn = await fetch(`${server.url}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ key: ADMIN_KEY }),
    });
    assert.equal(signedIn.status, 201);
    const cookie = (signedIn.headers.get('set-cookie') ?? '').split(';')[0] as string;
    const { csrfToken } = (await signedIn.json()) as { csrfToken: string };
    const stream = new SseReader(`${server.url}/api/v1/logs/stream?functionName=watched`, {
      authorization: '',
      cookie,
    });
    await stream.waitFor(() => stream.status !== 0, 'the answer');
    assert.equal(stream.status, 200);
    const out = await fetch(`${server.url}/api/v1/session`, {
      method: 'DELETE',
      headers: { cookie, 'x-csrf-token': csrfToken },
    });
    assert.equal(out.status, 204);
    assert.ok(await endsWithin5s(stream), 'still open 5 s after its session signed out');
  });
});

describe('GET /api/v1/logs/stream when the server closes', () => {
  it('ends the open streams, so the close does not wait for their clients', async () => {
    const server = await startTestServer();
    await server.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'quiet', runtime: 'js', code: 'export default () => 1' },
    });
    const stream = new SseReader(`${server.url}/api/v1/logs/stream?functionName=quiet`);
    await stream.waitFor(() => stream.status === 200, 'the stream');
    const closed = server.close().then(() => 'closed');
    const late = new Promise((resolve) => setTimeout(() => resolve('still open after 10 s'), 10_000).unref());
    assert.equal(await Promise.race([closed, late]), 'closed');
    await stream.close();
  });
});
