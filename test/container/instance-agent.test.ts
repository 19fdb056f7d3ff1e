import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { engineSkipReason, ownedContainers, removeContainers } from '../support/engine.ts';
import {
  ADMIN_KEY,
  request,
  type ServerProcess,
  spawnServer,
  startTestServer,
  type TestServer,
  tempDataDir,
  waitFor,
} from '../support/server.ts';

/**
 * The instance agent's channel to the server under attack: sandbox processes must not reach it,
 * and what a compromised agent (played here by a privileged `docker exec` writing to the agent's
 * stdout) sends must fail that instance alone, never the server, also across a restart.
 */

interface InstanceBody {
  id: string;
  status: string;
  reason: string | null;
  error?: { code: string; message: string };
}

interface ExecBody {
  stdout: string;
  stderr: string;
  exit_code: number;
  timed_out: boolean;
}

/** The container of an instance (the running one, if several). */
function containerOf(instanceId: string): string {
  const [id] = execFileSync('docker', ['ps', '-aq', '--filter', `label=faas.instance=${instanceId}`])
    .toString()
    .split('\n')
    .filter(Boolean);
  assert.ok(id, `no container for ${instanceId}`);
  return id;
}

function running(containerId: string): boolean {
  return (
    execFileSync('docker', ['inspect', '--format', '{{.State.Running}}', containerId]).toString().trim() ===
    'true'
  );
}

/** Finds the agent's pid inside the container (as seen there). */
const FIND_AGENT = `for p in /proc/[0-9]*; do if tr '\\0' ' ' < $p/cmdline 2>/dev/null | grep -q '^/.faas/agent '; then echo \${p#/proc/}; fi; done | head -1`;

const compromised: ChildProcess[] = [];

/**
 * What a compromised agent does: writes `script`'s output to the agent's own stdout. No sandbox
 * process can, so it is done with root's every capability: from the host under runc (the agent
 * is a host process there), from a privileged exec under gVisor (runc refuses a privileged exec
 * into a container whose capabilities are bounded).
 */
async function asCompromisedAgent(containerId: string, script: string): Promise<void> {
  // The writer says `open` once it holds the agent's stdout: a test then knows its bytes are on
  // their way, and an exec that failed (an engine slow or refusing under load) says why.
  const writer = `exec 3>/proc/$A/fd/1 && echo open >&2 && (${script}) >&3`;
  const child = onGvisor(containerId)
    ? spawn(
        'docker',
        ['exec', '--privileged', '-u', '0', containerId, 'sh', '-c', `A=$(${FIND_AGENT}); ${writer}`],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      )
    : spawn('sh', ['-c', `A=${hostAgentPid(containerId)}; ${writer}`], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
  compromised.push(child);
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes('open')) resolve();
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the compromised writer exited with ${code}: ${stderr}`)));
  });
}

/** The agent's uid and effective capabilities, read from outside the sandbox. */
function agentStatus(containerId: string): string {
  const script = `grep -E '^(Uid|CapEff)' /proc/${onGvisor(containerId) ? `$(${FIND_AGENT})` : hostAgentPid(containerId)}/status`;
  return onGvisor(containerId)
    ? execFileSync('docker', ['exec', '--privileged', containerId, 'sh', '-c', script]).toString()
    : execFileSync('sh', ['-c', script]).toString();
}

function onGvisor(containerId: string): boolean {
  return execFileSync('docker', ['inspect', '--format', '{{.HostConfig.Runtime}}', containerId])
    .toString()
    .startsWith('gvisor');
}

/** Under runc the agent is a host process: the only child of the container's init. */
function hostAgentPid(containerId: string): string {
  const init = execFileSync('docker', ['inspect', '--format', '{{.State.Pid}}', containerId])
    .toString()
    .trim();
  const agent = readFileSync(`/proc/${init}/task/${init}/children`, 'utf8').trim().split(' ')[0];
  assert.ok(agent, 'the agent process');
  return agent;
}

/** A 9-byte exit frame for process 1 with no exit code: readInt32BE threw on it. */
const EMPTY_EXIT = String.raw`printf 'Z\000\000\000\001\000\000\000\000'`;
/** A stdout frame header claiming 4 GiB, then endless zeros. */
const HUGE_FRAME = String.raw`printf 'O\000\000\000\002\377\377\377\377'; cat /dev/zero`;

const skip = engineSkipReason();
/** Server restarts and agent timeouts add up on a loaded machine. */
const SLOW = { timeout: 600_000 };

describe('instance agent hardening', { skip }, () => {
  let s: TestServer;
  const api = async <T = InstanceBody>(path: string, init: RequestInit & { json?: unknown } = {}) => {
    const res = await s.api(`/api/v1${path}`, init);
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  };
  const create = async (json: object) => {
    const res = await api('/instances', { method: 'POST', json });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body;
  };
  const exec = async (id: string, json: object) =>
    (await api<ExecBody>(`/instances/${id}/exec`, { method: 'POST', json })).body;
  const statusOf = async (id: string) => (await api(`/instances/${id}`)).body;

  before(async () => {
    s = await startTestServer({ bodyLimitBytes: 64 * 1024 * 1024 });
  });
  after(async () => {
    for (const child of compromised) child.kill('SIGKILL');
    await s.close();
  });

  for (const isolation of ['runc', 'gvisor'] as const) {
    it(`${isolation}: sandbox processes cannot write to the agent's channel, signal or trace it`, async () => {
      const instance = await create({ isolation });
      const probe = [
        `A=$(${FIND_AGENT}); echo "agent $A"`,
        String.raw`printf 'Z\000\000\000\001\000\000\000\000' > /proc/$A/fd/1 && echo "wrote agent stdout"`,
        String.raw`printf 'Z\000\000\000\001\000\000\000\000' > /proc/1/fd/1 && echo "wrote init stdout"`,
        'kill -0 $A && echo "signalled agent"',
        'kill -STOP $A && echo "stopped agent"',
        // ptrace(PTRACE_ATTACH, agent): 0 if it worked, else the errno.
        `perl -e 'print "ptrace ", (syscall(101, 16, $ARGV[0], 0, 0) == -1 ? $!+0 : 0), "\\n"' $A`,
        'echo "uid $(id -u):$(id -g)"',
        'grep CapEff /proc/self/status',
        'touch /workspace/made',
        // perl's stat: coreutils' statx is refused under gVisor here.
        `perl -e 'printf "owner %d:%d %d\\n", (stat "/workspace/made")[4,5], (stat "/workspace")[4]'`,
      ].join('; ');
      const result = await exec(instance.id, { command: probe });
      const out = result.stdout;
      assert.match(out, /^agent \d+$/m, result.stderr);
      assert.doesNotMatch(out, /wrote agent stdout|wrote init stdout|signalled agent|stopped agent/);
      assert.match(out, /^ptrace [1-9]\d*$/m, 'ptrace attach is refused');
      assert.match(out, /^uid 65534:65534$/m);
      assert.match(out, /^CapEff:\s+0+$/m, 'sandbox processes hold no capability');
      assert.match(out, /^owner 65534:65534 65534$/m);
      assert.match(result.stderr, /Permission denied|not permitted/);
      // The attempt changed nothing: the instance runs on.
      assert.equal((await exec(instance.id, { command: 'echo alive' })).stdout, 'alive\n');
      assert.equal((await statusOf(instance.id)).status, 'running');
      // From outside: the agent keeps uid 0 with CAP_SETUID and CAP_SETGID only.
      const agentView = agentStatus(containerOf(instance.id));
      assert.match(agentView, /^Uid:\s+0\s+0\s+0\s+0$/m);
      assert.match(agentView, /^CapEff:\s+0+c0$/m);
      assert.equal((await api(`/instances/${instance.id}`, { method: 'DELETE' })).status, 204);
    });
  }

  it('gvisor: a restore keeps the separation (the agent root, processes the sandbox user)', async () => {
    const instance = await create({ isolation: 'gvisor', command: 'sleep 600' });
    const snap = await api<{ id: string }>('/snapshots', {
      method: 'POST',
      json: { instance_id: instance.id },
    });
    assert.equal(snap.status, 201, JSON.stringify(snap.body));
    const restored = await api(`/snapshots/${snap.body.id}/restore`, { method: 'POST' });
    assert.equal(restored.status, 201);
    const probe =
      String.raw`A=$(` +
      FIND_AGENT +
      String.raw`); id -u; printf 'Z\000\000\000\001\000\000\000\000' > /proc/$A/fd/1 || echo refused`;
    for (const id of [instance.id, restored.body.id]) {
      const result = await exec(id, { command: probe });
      assert.equal(result.stdout, '65534\nrefused\n', result.stderr);
      assert.equal((await statusOf(id)).status, 'running');
    }
    for (const id of [instance.id, restored.body.id]) await api(`/instances/${id}`, { method: 'DELETE' });
    await api(`/snapshots/${snap.body.id}`, { method: 'DELETE' });
  });

  it('stdin past the agent’s 8 MiB buffer arrives whole: it goes out as the process takes it', async () => {
    const instance = await create({});
    const stdin = 'x'.repeat(20 * 1024 * 1024);
    const result = await exec(instance.id, { command: 'sleep 0.5; wc -c', stdin });
    assert.equal(result.stdout.trim(), String(stdin.length));
    await api(`/instances/${instance.id}`, { method: 'DELETE' });
  });

  for (const isolation of ['runc', 'gvisor'] as const) {
    it(`${isolation}: a 4 GiB frame header and /dev/zero from the agent fail the instance, not the server`, async () => {
      const instance = await create({ isolation });
      const waiting = exec(instance.id, { command: 'sleep 600', timeout_ms: 600_000 });
      const socket = new WebSocket(`${s.url.replace('http', 'ws')}/api/v1/instances/${instance.id}/stream`, {
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      } as never);
      const events: Array<{ type: string; state?: string; reason?: string }> = [];
      socket.addEventListener('message', (m) => events.push(JSON.parse(String(m.data))));
      await new Promise((resolve) => socket.addEventListener('open', resolve));
      try {
        await waitFor(async () => ((await statusOf(instance.id)).status === 'running' ? true : undefined));
        const container = containerOf(instance.id);
        await asCompromisedAgent(container, HUGE_FRAME);
        const failed = await waitFor(
          async () => {
            const body = await statusOf(instance.id);
            return body.status === 'failed' ? body : undefined;
          },
          30_000,
          'the instance to fail',
        );
        assert.match(failed.reason ?? '', /broke the protocol: event "O" with a 4294967295-byte payload/);
        // The exec that was waiting is answered (killed), the container is dead, the server answers.
        assert.equal((await waiting).exit_code, 137);
        await waitFor(
          async () => (running(container) ? undefined : true),
          15_000,
          'the container to be killed',
        );
        assert.equal((await s.api('/health')).status, 200);
        await waitFor(async () =>
          events.some((e) => e.type === 'state' && e.state === 'failed') ? true : undefined,
        );
        assert.match(events.find((e) => e.state === 'failed')?.reason ?? '', /4294967295/);
      } finally {
        socket.close();
      }
      // A failed instance can be started again: a fresh container process, fresh processes.
      const restarted = await api(`/instances/${instance.id}/start`, { method: 'POST' });
      assert.equal(restarted.body.status, 'running', JSON.stringify(restarted.body));
      assert.equal(restarted.body.reason, null);
      assert.equal((await exec(instance.id, { command: 'echo back' })).stdout, 'back\n');
      await api(`/instances/${instance.id}`, { method: 'DELETE' });
    });
  }

  for (const isolation of ['runc', 'gvisor'] as const) {
    it(`${isolation}: an exec past its deadline answers when the agent is wedged, and the container is killed`, async () => {
      const instance = await create({ isolation });
      const container = containerOf(instance.id);
      // A frozen container: its agent reads nothing and answers nothing.
      execFileSync('docker', ['pause', container]);
      const result = await exec(instance.id, { command: 'true', timeout_ms: 1000 });
      assert.deepEqual([result.timed_out, result.exit_code], [true, 137]);
      const body = await statusOf(instance.id);
      assert.equal(body.status, 'failed');
      assert.match(body.reason ?? '', /answered nothing/);
      await waitFor(
        async () => (running(container) ? undefined : true),
        15_000,
        'the container to be killed',
      );
      await api(`/instances/${instance.id}`, { method: 'DELETE' });
    });
  }

  it(
    'a restart joins the instances that answer (a paused one too) and kills one whose agent is frozen',
    SLOW,
    async () => {
      const dataDir = tempDataDir();
      let server: ServerProcess | undefined;
      try {
        server = await spawnServer(dataDir);
        const make = async () => {
          const res = await request((server as ServerProcess).url, '/api/v1/instances', {
            method: 'POST',
            json: { command: 'sleep 600' },
          });
          assert.equal(res.status, 201);
          return ((await res.json()) as InstanceBody).id;
        };
        const [alive, paused, frozen] = [await make(), await make(), await make()];
        await server.kill('SIGKILL');
        execFileSync('docker', ['pause', containerOf(paused)]);
        // A wedged agent: stopped where it runs (a host process under runc).
        const frozenContainer = containerOf(frozen);
        execFileSync('kill', ['-STOP', hostAgentPid(frozenContainer)]);
        server = await spawnServer(dataDir);
        const status = async (id: string) =>
          ((await (await request(server?.url as string, `/api/v1/instances/${id}`)).json()) as InstanceBody)
            .status;
        assert.equal(await status(alive), 'running');
        assert.equal(await status(paused), 'running');
        assert.equal(await status(frozen), 'stopped');
        assert.equal(running(frozenContainer), false, 'the frozen container is not left running');
      } finally {
        await server?.kill('SIGKILL');
        removeContainers(ownedContainers(dataDir));
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  );

  it('a relink after a restart does not crash-loop on a poisoned stream', SLOW, async () => {
    const dataDir = tempDataDir();
    let server: ServerProcess | undefined;
    try {
      server = await spawnServer(dataDir);
      const call = async (path: string, init: RequestInit & { json?: unknown } = {}) => {
        const res = await request((server as ServerProcess).url, `/api/v1${path}`, init);
        const text = await res.text();
        return { status: res.status, body: (text ? JSON.parse(text) : {}) as InstanceBody };
      };
      const created = await call('/instances', { method: 'POST', json: { command: 'sleep 600' } });
      assert.equal(created.status, 201);
      const container = containerOf(created.body.id);
      await server.kill('SIGKILL');
      // While no server is attached, a compromised agent writes a bad frame every 100 ms.
      await asCompromisedAgent(container, `while true; do ${EMPTY_EXIT}; sleep 0.1; done`);
      server = await spawnServer(dataDir);
      let last: InstanceBody | undefined;
      const failed = await waitFor(
        async () => {
          last = (await call(`/instances/${created.body.id}`)).body;
          return last.status === 'failed' ? last : undefined;
        },
        30_000,
        'the relinked instance to fail',
      ).catch((err: Error) => {
        throw new Error(`${err.message}; last seen ${JSON.stringify(last)}\n${server?.output()}`);
      });
      assert.match(failed.reason ?? '', /"Z" with a 0-byte payload/);
      await waitFor(
        async () => (running(container) ? undefined : true),
        15_000,
        'the container to be killed',
      );
      assert.equal(server.child.exitCode, null, `the server exited:\n${server.output()}`);
      // The next start finds a stopped instance, and stays up.
      await server.kill('SIGKILL');
      server = await spawnServer(dataDir);
      assert.equal((await call(`/instances/${created.body.id}`)).body.status, 'stopped');
      assert.equal((await call(`/instances/${created.body.id}`, { method: 'DELETE' })).status, 204);
    } finally {
      await server?.kill('SIGKILL');
      removeContainers(ownedContainers(dataDir));
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
