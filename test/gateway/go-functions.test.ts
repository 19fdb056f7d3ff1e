import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Invocation, type LogLine, TERMINAL_STATUSES } from '@faas/core';
import { docker } from '../container/support.ts';
import { engineSkipReason, removeGoBuildCache } from '../support/engine.ts';
import { startTestServer, type TestServer, waitFor } from '../support/server.ts';

const GO_CODE = `package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"time"
)

type input struct {
	N    int    \`json:"n"\`
	Mode string \`json:"mode"\`
}

func Handler(ctx context.Context, event json.RawMessage) (any, error) {
	var in input
	if err := json.Unmarshal(event, &in); err != nil {
		return nil, err
	}
	switch in.Mode {
	case "error":
		return nil, errors.New("the order was refused")
	case "panic":
		var m map[string]int
		m["boom"] = 1
	case "sleep":
		select {
		case <-ctx.Done():
			time.Sleep(10 * time.Second)
		case <-time.After(30 * time.Second):
		}
	case "long":
		// 200,000 characters and no newline: cut into log lines, and the result still comes.
		fmt.Print(strings.Repeat("x", 200000))
		return "after", nil
	case "bytes":
		return []byte("raw\\x00bytes"), nil
	case "unmarshalable":
		return map[string]any{"f": func() {}}, nil
	case "env":
		return map[string]string{"greeting": os.Getenv("GREETING")}, nil
	case "trace":
		trace, ok := FaasTraceFrom(ctx)
		return map[string]any{"ok": ok, "traceId": trace.TraceID, "traceparent": trace.Traceparent}, nil
	case "deadline":
		deadline, ok := ctx.Deadline()
		return map[string]any{"hasDeadline": ok, "inFuture": time.Until(deadline) > 0}, nil
	}
	fmt.Println("go got", in.N)
	fmt.Fprintln(os.Stderr, "to stderr", in.N)
	log.Printf("from log %d", in.N)
	return map[string]any{"doubled": in.N * 2, "runtime": "go"}, nil
}
`;

const gvisorSkip = await (async () => {
  try {
    const info = (await docker.info()) as { Runtimes?: Record<string, unknown> };
    return info.Runtimes?.['gvisor-uds'] ? false : 'no gvisor-uds runtime in the engine';
  } catch {
    return 'no Docker Engine';
  }
})();

type InvocationWithLogs = Invocation & { logs: LogLine[] };

async function finished(s: TestServer, id: string): Promise<InvocationWithLogs> {
  return waitFor(
    async () => {
      const inv = (await (await s.api(`/api/v1/invocations/${id}`)).json()) as InvocationWithLogs;
      return TERMINAL_STATUSES.has(inv.status) ? inv : undefined;
    },
    60_000,
    `invocation ${id} to finish`,
  );
}

async function invoke(s: TestServer, name: string, event: unknown): Promise<Response> {
  return s.api(`/api/v1/functions/${name}/invoke`, { method: 'POST', json: event });
}

describe('go functions over the HTTP API', { skip: engineSkipReason(), timeout: 1_200_000 }, () => {
  let s: TestServer;
  before(
    async () => {
      s = await startTestServer();
      const res = await s.api('/api/v1/functions', {
        method: 'POST',
        json: { name: 'go-double', runtime: 'go', code: GO_CODE, timeoutMs: 3000, env: { GREETING: 'hej' } },
      });
      assert.equal(res.status, 201, await res.clone().text());
    },
    { timeout: 1_200_000 },
  );
  after(async () => {
    const { dataDir } = s;
    await s.close();
    removeGoBuildCache(dataDir);
  });

  it('a sync invoke answers the result; stdout, stderr and log lines are its logs', async () => {
    const res = await invoke(s, 'go-double', { n: 7 });
    assert.equal(res.status, 200, await res.clone().text());
    assert.deepEqual(await res.json(), { doubled: 14, runtime: 'go' });
    const id = res.headers.get('x-invocation-id');
    assert.ok(id);
    const inv = await finished(s, id);
    assert.equal(inv.status, 'succeeded');
    const lines = inv.logs.map((l) => `${l.level}: ${l.message}`);
    assert.ok(lines.includes('log: go got 7'), JSON.stringify(lines));
    assert.ok(lines.includes('error: to stderr 7'), JSON.stringify(lines));
    assert.ok(
      lines.some((l) => /^info: .*from log 7$/.test(l)),
      JSON.stringify(lines),
    );
  });

  it('an async invoke runs through the queue', async () => {
    const res = await s.api('/api/v1/functions/go-double/invoke?async=true', {
      method: 'POST',
      json: { n: 5 },
    });
    assert.equal(res.status, 202);
    const { invocationId } = (await res.json()) as { invocationId: string };
    const inv = await finished(s, invocationId);
    assert.equal(inv.status, 'succeeded', JSON.stringify(inv.error));
    assert.deepEqual(inv.result, { doubled: 10, runtime: 'go' });
    assert.ok(inv.logs.some((l) => l.message === 'go got 5'));
  });

  it('the function sees its env and a context with the invocation deadline', async () => {
    assert.deepEqual(await (await invoke(s, 'go-double', { mode: 'env' })).json(), { greeting: 'hej' });
    assert.deepEqual(await (await invoke(s, 'go-double', { mode: 'deadline' })).json(), {
      hasDeadline: true,
      inFuture: true,
    });
  });

  it("the context carries the call's trace: FaasTraceFrom(ctx)", async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const traced = await s.api('/api/v1/functions/go-double/invoke', {
      method: 'POST',
      json: { mode: 'trace' },
      headers: { traceparent },
    });
    assert.equal(traced.status, 200, await traced.clone().text());
    // Tracing is off here: the function is handed the caller's own traceparent.
    assert.deepEqual(await traced.json(), {
      ok: true,
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      traceparent,
    });
    assert.deepEqual(await (await invoke(s, 'go-double', { mode: 'trace' })).json(), {
      ok: false,
      traceId: '',
      traceparent: '',
    });
  });

  it('a []byte result is answered as bytes; one that does not marshal fails the invocation', async () => {
    const res = await invoke(s, 'go-double', { mode: 'bytes' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), Buffer.from('raw\0bytes'));
    const bad = await invoke(s, 'go-double', { mode: 'unmarshalable' });
    const id = bad.headers.get('x-invocation-id');
    assert.ok(id);
    const inv = await finished(s, id);
    assert.equal(inv.status, 'failed');
    assert.equal(inv.error?.type, 'InvalidResult');
    assert.match(inv.error?.message ?? '', /not JSON/);
  });

  it('output without a newline is cut into log lines, and never holds the result back', async () => {
    const res = await invoke(s, 'go-double', { mode: 'long' });
    assert.equal(res.status, 200);
    assert.equal(await res.json(), 'after');
    const id = res.headers.get('x-invocation-id');
    assert.ok(id);
    const inv = await finished(s, id);
    const written = inv.logs.filter((l) => l.level === 'log').map((l) => l.message);
    assert.ok(written.length > 1, `${written.length} lines`);
    assert.equal(written.join(''), 'x'.repeat(200_000));
  });

  it('runs under gVisor too', { skip: gvisorSkip }, async () => {
    const res = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'go-gvisor', runtime: 'go', code: GO_CODE, isolation: 'gvisor' },
    });
    assert.equal(res.status, 201, await res.clone().text());
    assert.deepEqual(await (await invoke(s, 'go-gvisor', { n: 4 })).json(), { doubled: 8, runtime: 'go' });
  });

  it('a returned error fails the invocation with its message; the container serves the next', async () => {
    const res = await invoke(s, 'go-double', { mode: 'error' });
    const id = res.headers.get('x-invocation-id');
    assert.ok(id);
    const inv = await finished(s, id);
    assert.equal(inv.status, 'failed');
    assert.equal(inv.error?.message, 'the order was refused');
    assert.equal((await invoke(s, 'go-double', { n: 1 })).status, 200);
  });

  it('a panic fails the invocation with its message and stack', async () => {
    const res = await invoke(s, 'go-double', { mode: 'panic' });
    const id = res.headers.get('x-invocation-id');
    assert.ok(id);
    const inv = await finished(s, id);
    assert.equal(inv.status, 'failed');
    assert.equal(inv.error?.type, 'panic');
    assert.match(inv.error?.message ?? '', /assignment to entry in nil map/);
    assert.match(inv.error?.stack ?? '', /main\.Handler/);
    assert.equal((await invoke(s, 'go-double', { n: 2 })).status, 200);
  });

  it('a handler that outlives its deadline times out', async () => {
    const res = await invoke(s, 'go-double', { mode: 'sleep' });
    const id = res.headers.get('x-invocation-id');
    assert.ok(id);
    const inv = await finished(s, id);
    assert.equal(inv.status, 'timed_out');
    assert.equal((await invoke(s, 'go-double', { n: 3 })).status, 200);
  });

  it('a compile error is a 422 with its file and line, and makes no function', async () => {
    const broken =
      'package main\n\nimport (\n\t"context"\n\t"encoding/json"\n)\n\nfunc Handler(ctx context.Context, event json.RawMessage) (any, error) {\n\treturn nope, nil\n}\n';
    const res = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'go-broken', runtime: 'go', code: broken },
    });
    assert.equal(res.status, 422, await res.clone().text());
    const body = (await res.json()) as { error: { code: string; message: string; details: unknown[] } };
    assert.equal(body.error.code, 'FAAS_ERR_COMPILE_ERROR');
    assert.match(body.error.message, /main\.go:9:\d+: undefined: nope/);
    assert.deepEqual((body.error.details[0] as { file: string; line: number }).line, 9);
    assert.equal((await s.api('/api/v1/functions/go-broken')).status, 404);
  });

  it('a panic in init() (before any invocation) fails the deploy with 422 and the panic', async () => {
    const code =
      'package main\n\nimport (\n\t"context"\n\t"encoding/json"\n)\n\nfunc init() {\n\tpanic("the config is missing")\n}\n\nfunc Handler(ctx context.Context, event json.RawMessage) (any, error) {\n\treturn nil, nil\n}\n';
    const res = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'go-init-panic', runtime: 'go', code },
    });
    assert.equal(res.status, 422, await res.clone().text());
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'FAAS_ERR_COMPILE_ERROR');
    assert.match(body.error.message, /the config is missing/);
  });

  it('the handler is named by the handler field; a missing or mistyped one is a 422 saying so', async () => {
    const code = {
      files: {
        'main.go':
          'package main\n\nimport (\n\t"context"\n\t"encoding/json"\n)\n\nfunc Other(ctx context.Context, event json.RawMessage) (any, error) {\n\treturn "other", nil\n}\n\nfunc Wrong() {}\n',
      },
    };
    const ok = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'go-other', runtime: 'go', handler: 'main.Other', code },
    });
    assert.equal(ok.status, 201, await ok.clone().text());
    assert.equal(await (await invoke(s, 'go-other', {})).json(), 'other');

    const missing = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'go-missing', runtime: 'go', code },
    });
    assert.equal(missing.status, 422);
    assert.match(
      ((await missing.json()) as { error: { message: string } }).error.message,
      /Handler is not in package main/,
    );
    const wrong = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'go-wrong', runtime: 'go', handler: 'main.Wrong', code },
    });
    assert.equal(wrong.status, 422);
    assert.match(
      ((await wrong.json()) as { error: { message: string } }).error.message,
      /must be a func\(ctx context\.Context/,
    );
    // The name goes into generated Go source: anything but an identifier is refused before.
    const injected = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'go-inject', runtime: 'go', handler: 'main.Other;func init(){}', code },
    });
    assert.ok(injected.status === 400 || injected.status === 422, String(injected.status));
    assert.equal(((await injected.json()) as { error: { code: string } }).error.code, 'FAAS_ERR_VALIDATION');
  });

  it('a module vendored with the code builds offline; one that needs the module proxy is a 422 saying to vendor', async () => {
    const main =
      'package main\n\nimport (\n\t"context"\n\t"encoding/json"\n\n\t"example.com/greet"\n)\n\nfunc Handler(ctx context.Context, event json.RawMessage) (any, error) {\n\treturn greet.Hello("go"), nil\n}\n';
    const goMod = 'module example.com/fn\n\ngo 1.19\n\nrequire example.com/greet v1.0.0\n';
    const vendored = {
      'main.go': main,
      'go.mod': goMod,
      'vendor/modules.txt': '# example.com/greet v1.0.0\n## explicit\nexample.com/greet\n',
      'vendor/example.com/greet/greet.go':
        'package greet\n\nfunc Hello(name string) string { return "hello " + name }\n',
    };
    const res = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'go-vendored', runtime: 'go', code: { files: vendored } },
    });
    assert.equal(res.status, 201, await res.clone().text());
    assert.equal(await (await invoke(s, 'go-vendored', {})).json(), 'hello go');

    const unvendored = await s.api('/api/v1/functions', {
      method: 'POST',
      json: { name: 'go-unvendored', runtime: 'go', code: { files: { 'main.go': main, 'go.mod': goMod } } },
    });
    assert.equal(unvendored.status, 422, await unvendored.clone().text());
    const body = (await unvendored.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'FAAS_ERR_COMPILE_ERROR');
    assert.match(body.error.message, /module proxy is unreachable/);
    assert.match(body.error.message, /go mod vendor/);
  });
});
