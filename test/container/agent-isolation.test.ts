import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import {
  buildImagesForTests,
  createTestRuntime,
  engineSkipReason,
  request,
  type TestRuntime,
} from './support.ts';

const skip = await engineSkipReason();

const NODE_PROBE = `import { readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
const status = (pid) => {
  const text = readFileSync('/proc/' + pid + '/status', 'utf8');
  const field = (name) => new RegExp('^' + name + ':\\\\s*(\\\\S+)', 'm').exec(text)?.[1];
  return { uid: field('Uid'), permitted: field('CapPrm'), effective: field('CapEff') };
};
export default async () => {
  const connect = await new Promise((resolve) => {
    const socket = createConnection('/faas/agent.sock');
    socket.on('connect', () => { socket.destroy(); resolve('connected'); });
    socket.on('error', (err) => resolve(err.code));
  });
  let signal;
  try { process.kill(process.ppid, 0); signal = 'allowed'; } catch (err) { signal = err.code; }
  return { self: status('self'), agent: status(process.ppid), connect, signal };
};`;

const PYTHON_PROBE = `import errno, os, re, socket
def status(pid):
    text = open("/proc/%s/status" % pid).read()
    field = lambda name: re.search(r"^%s:\\s*(\\S+)" % name, text, re.M).group(1)
    return {"uid": field("Uid"), "permitted": field("CapPrm"), "effective": field("CapEff")}
def handler(event, context):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect("/faas/agent.sock")
        connect = "connected"
    except OSError as err:
        connect = errno.errorcode[err.errno]
    try:
        os.kill(os.getppid(), 0)
        signal = "allowed"
    except OSError as err:
        signal = errno.errorcode[err.errno]
    return {"self": status("self"), "agent": status(os.getppid()), "connect": connect, "signal": signal}
`;

// The function's binary replaced the launcher in the process the agent started: its parent is the agent.
const GO_PROBE = String.raw`package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"regexp"
	"strconv"
	"syscall"
)

func status(pid string) map[string]string {
	text, _ := os.ReadFile("/proc/" + pid + "/status")
	field := func(name string) string {
		match := regexp.MustCompile("(?m)^" + name + ":\\s*(\\S+)").FindSubmatch(text)
		if match == nil {
			return ""
		}
		return string(match[1])
	}
	return map[string]string{"uid": field("Uid"), "permitted": field("CapPrm"), "effective": field("CapEff")}
}

func errName(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.ENOENT:
			return "ENOENT"
		case syscall.EACCES:
			return "EACCES"
		case syscall.ECONNREFUSED:
			return "ECONNREFUSED"
		case syscall.EPERM:
			return "EPERM"
		}
	}
	return err.Error()
}

func Handler(ctx context.Context, event json.RawMessage) (any, error) {
	connect := "connected"
	if conn, err := net.Dial("unix", "/faas/agent.sock"); err != nil {
		connect = errName(err)
	} else {
		conn.Close()
	}
	signal := "allowed"
	if err := syscall.Kill(os.Getppid(), 0); err != nil {
		signal = errName(err)
	}
	return map[string]any{"self": status("self"), "agent": status(strconv.Itoa(os.Getppid())), "connect": connect, "signal": signal}, nil
}
`;

const NO_CAPABILITIES = '0000000000000000';

for (const isolation of ['runc', 'gvisor'] as const) {
  describe(`function processes hold no capability and cannot reach the host (${isolation})`, { skip }, () => {
    let t: TestRuntime;

    before(
      async () => {
        await buildImagesForTests();
        t = await createTestRuntime();
      },
      { timeout: 900_000 },
    );

    after(async () => {
      const goBuildCache = t ? `faas-go-build-${t.runtime.ownerId}` : undefined;
      await t?.close();
      if (goBuildCache) execFileSync('docker', ['volume', 'rm', '-f', goBuildCache], { stdio: 'ignore' });
    });

    const probes = [
      { runtime: 'node', files: { 'index.mjs': NODE_PROBE }, handler: 'index.default' },
      { runtime: 'python', files: { 'main.py': PYTHON_PROBE }, handler: 'main.handler' },
      { runtime: 'go', files: { 'main.go': GO_PROBE }, handler: 'main.Handler' },
    ] as const;
    for (const probe of probes) {
      it(`${probe.runtime}: the handler runs as 65534 under an agent running as 65533, neither with capabilities, and cannot connect to the agent socket`, async () => {
        const fn = await t.deploy(probe.files, { runtime: probe.runtime, handler: probe.handler, isolation });
        // As a deploy does: the container's start is not the invocation's (a busy machine is slow).
        await t.runtime.prepare(fn);
        const outcome = await t.runtime.invoke(request(fn, {}));
        assert.equal(outcome.status, 'succeeded', JSON.stringify(outcome));
        assert.ok(outcome.status === 'succeeded');
        const result = outcome.result as {
          self: Record<string, string>;
          agent: Record<string, string>;
          connect: string;
          signal: string;
        };
        assert.deepEqual(result.self, {
          uid: '65534',
          permitted: NO_CAPABILITIES,
          effective: NO_CAPABILITIES,
        });
        assert.deepEqual(result.agent, {
          uid: '65533',
          permitted: NO_CAPABILITIES,
          effective: NO_CAPABILITIES,
        });
        assert.notEqual(result.connect, 'connected');
        assert.ok(['ENOENT', 'EACCES', 'ECONNREFUSED'].includes(result.connect), result.connect);
        assert.equal(result.signal, 'EPERM', 'the handler cannot signal its agent');
      });
    }

    it('times out on the server clock while the agent is silent (container paused mid-invocation)', async () => {
      const fn = await t.deploy(
        {
          'index.mjs': `import { hostname } from 'node:os';
            export default async (e) => { if (e.waitMs) await new Promise((r) => setTimeout(r, e.waitMs)); return hostname(); };`,
        },
        { isolation, timeoutMs: 5000 },
      );
      await t.runtime.prepare(fn);
      const first = await t.runtime.invoke(request(fn, {}));
      assert.ok(first.status === 'succeeded', JSON.stringify(first));
      const container = first.result as string;
      const pending = t.runtime.invoke(request(fn, { waitMs: 60_000 }));
      await new Promise((r) => setTimeout(r, 300));
      // The warm container serves the second call; freezing it silences its agent.
      execFileSync('docker', ['pause', container]);
      const outcome = await pending;
      assert.equal(outcome.status, 'timed_out', JSON.stringify(outcome));
      await t.runtime.prepare(fn);
      const again = await t.runtime.invoke(request(fn, {}));
      assert.equal(again.status, 'succeeded', JSON.stringify(again));
      assert.notEqual(
        (again as { result: string }).result,
        container,
        'a new container serves the next call',
      );
      assert.equal(
        await t.containerCount(),
        t.runtime.trackedContainers(),
        'the paused container is removed',
      );
    });
  });
}
