import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { FaaSClient } from './client.ts';
import { FaasApiError, FaasConnectionError } from './errors.ts';
import type { ExecuteStreamEvent } from './sandbox-types.ts';

/** Streams the server cannot be made to write on demand: split lines, a late error, a cut. */
const ANSWERS: Record<string, (res: ServerResponse) => void> = {
  split(res) {
    const euro = Buffer.from('{"type":"stdout","data":"€"}\n');
    // A line, and a character inside it, split across writes.
    res.write(euro.subarray(0, 26));
    setTimeout(() => {
      res.write(Buffer.concat([euro.subarray(26), Buffer.from('{"type":"exit","exit_code":0')]));
      setTimeout(() => res.end(',"mode":"ephemeral"}'), 20);
    }, 20);
  },
  late(res) {
    res.write('{"type":"stdout","data":"a"}\n');
    res.end('{"type":"error","error":{"code":"FAAS_ERR_RUNTIME_UNAVAILABLE","message":"engine gone"}}\n');
  },
  cut(res) {
    res.write('{"type":"stdout","data":"a"}\n');
    setTimeout(() => res.destroy(), 20);
  },
  hang(res) {
    res.write('{"type":"stdout","data":"a"}\n');
  },
};

describe('SandboxApi.executeStream', () => {
  // The request's command names the answer.
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    res.setHeader('content-type', 'application/x-ndjson');
    ANSWERS[(JSON.parse(body) as { command: string }).command]?.(res);
  });
  let client: FaaSClient;
  const run = (which: string, events: ExecuteStreamEvent[] = [], signal?: AbortSignal) =>
    client.sandboxes.executeStream({ command: which }, (e) => events.push(e), signal ? { signal } : {});

  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    client = new FaaSClient({ baseUrl: `http://127.0.0.1:${port}` });
  });
  after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });

  it('joins lines and characters split across chunks', async () => {
    const events: ExecuteStreamEvent[] = [];
    const exit = await run('split', events);
    assert.deepEqual(events[0], { type: 'stdout', data: '€' });
    assert.deepEqual(exit, { exit_code: 0, mode: 'ephemeral' });
  });

  it('rejects an error line as a FaasApiError with the status of its code', async () => {
    const events: ExecuteStreamEvent[] = [];
    await assert.rejects(run('late', events), (err) => {
      assert.ok(err instanceof FaasApiError);
      assert.deepEqual(
        [err.status, err.code, err.message],
        [503, 'FAAS_ERR_RUNTIME_UNAVAILABLE', 'engine gone'],
      );
      return true;
    });
    assert.deepEqual(
      events.map((e) => e.type),
      ['stdout', 'error'],
    );
  });

  it('rejects a stream cut before its exit line as a FaasConnectionError', async () => {
    await assert.rejects(run('cut'), FaasConnectionError);
  });

  it("rejects with the caller's abort reason, not a connection error", async () => {
    const aborter = new AbortController();
    const reason = new Error('enough');
    setTimeout(() => aborter.abort(reason), 50);
    await assert.rejects(run('hang', [], aborter.signal), (err) => err === reason);
  });
});
