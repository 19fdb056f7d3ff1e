import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { wabtMissing, watModule } from '@faas/testkit';
import { engineSkipReason } from '../support/engine.ts';
import { ADMIN_KEY, startTestServer, type TestServer } from '../support/server.ts';

const FAAS = new URL('../../bin/faas', import.meta.url).pathname;

function faas(
  s: TestServer,
  args: string[],
  stdin?: string,
): Promise<{ code: number; stdout: string; stderr: string; stdoutAt: number[]; closedAt: number }> {
  return new Promise((resolve) => {
    const child = spawn(FAAS, args, {
      env: { ...process.env, FAAS_URL: s.url, FAAS_API_KEY: ADMIN_KEY },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    // When each stdout chunk came: streamed output arrives before the end.
    const stdoutAt: number[] = [];
    child.stdout.on('data', (c: Buffer) => {
      stdout += c;
      stdoutAt.push(Date.now());
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    child.stdin.end(stdin ?? '');
    child.on('close', (code) =>
      resolve({ code: code ?? -1, stdout, stderr, stdoutAt, closedAt: Date.now() }),
    );
  });
}

describe('the faas CLI against a real server', () => {
  let s: TestServer;
  let dir: string;
  before(async () => {
    s = await startTestServer();
    dir = mkdtempSync(join(tmpdir(), 'faas-cli-'));
    mkdirSync(join(dir, 'hello', 'lib'), { recursive: true });
    writeFileSync(
      join(dir, 'hello', 'index.ts'),
      'import { greet } from "./lib/greet";\nexport default (e: { name?: string }) => { console.log("hi from", e?.name); return greet(e?.name ?? "world"); };\n',
    );
    writeFileSync(
      join(dir, 'hello', 'lib', 'greet.ts'),
      'export const greet = (n: string) => ({ message: `hello ${n}` });\n',
    );
    writeFileSync(
      join(dir, 'hello', 'faas.json'),
      JSON.stringify({ name: 'hello', runtime: 'ts', routes: ['GET /hello'], timeoutMs: 5000 }),
    );
  });
  after(async () => {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('deploys a folder with its manifest, and a redeploy makes no version', async () => {
    const first = await faas(s, ['deploy', join(dir, 'hello'), '--json']);
    assert.equal(first.code, 0, first.stderr);
    const record = JSON.parse(first.stdout) as {
      latestVersion: number;
      outcome: string;
      latest: { timeoutMs: number };
    };
    assert.equal(record.outcome, 'created');
    assert.equal(record.latest.timeoutMs, 5000);
    const again = JSON.parse((await faas(s, ['deploy', join(dir, 'hello'), '--json'])).stdout) as {
      outcome: string;
      latestVersion: number;
    };
    assert.equal(again.outcome, 'unchanged');
    assert.equal(again.latestVersion, 1);
  });

  it('leaves secrets out of the code anyone who can read the function downloads, and says so', async () => {
    const fn = join(dir, 'leaky');
    mkdirSync(join(fn, '.aws'), { recursive: true });
    writeFileSync(join(fn, 'index.js'), 'export default () => "ok";\n');
    writeFileSync(join(fn, 'faas.json'), JSON.stringify({ name: 'leaky', runtime: 'js' }));
    writeFileSync(join(fn, '.env'), 'TOKEN=secret\n');
    writeFileSync(join(fn, '.env.example'), 'TOKEN=\n');
    writeFileSync(join(fn, '.npmrc'), '//registry.npmjs.org/:_authToken=npm_secret\n');
    writeFileSync(join(fn, '.aws', 'credentials'), '[default]\n');
    writeFileSync(join(fn, '.faasignore'), 'notes.txt\n');
    writeFileSync(join(fn, 'notes.txt'), 'private\n');
    symlinkSync('/etc/passwd', join(fn, 'passwd.txt'));
    const deployed = await faas(s, ['deploy', fn]);
    assert.equal(deployed.code, 0, deployed.stderr);
    assert.match(deployed.stderr, /leaky: left out by the default ignore list .*: \.aws\/, \.env, \.npmrc\n/);
    assert.match(deployed.stderr, /leaky: warning: not packed: passwd\.txt \(a symlink\)/);
    const code = (await (await s.api('/api/v1/functions/leaky/versions/1/code')).json()) as {
      files: Record<string, string>;
    };
    assert.deepEqual(Object.keys(code.files).sort(), [
      '.env.example',
      '.faasignore',
      'faas.json',
      'index.js',
    ]);
  });

  it('deploys one .wasm file as a wasm function named after it', { skip: wabtMissing() }, async () => {
    writeFileSync(join(dir, 'wasm-echo.wasm'), watModule('echo'));
    const deployed = await faas(s, ['deploy', join(dir, 'wasm-echo.wasm'), '--json']);
    assert.equal(deployed.code, 0, deployed.stderr);
    const record = JSON.parse(deployed.stdout) as {
      name: string;
      latest: { runtime: string; handler: string };
    };
    assert.deepEqual(
      [record.name, record.latest.runtime, record.latest.handler],
      ['wasm-echo', 'wasm', 'main._start'],
    );
    const invoked = await faas(s, ['invoke', 'wasm-echo', '{"back":[1]}', '--json']);
    assert.deepEqual(JSON.parse(invoked.stdout), { back: [1] });
  });

  it('invokes with data from the argument, stdin, sync and async with --wait', async () => {
    const arg = await faas(s, ['invoke', 'hello', '{"name":"ada"}', '--json']);
    assert.equal(arg.code, 0, arg.stderr);
    assert.deepEqual(JSON.parse(arg.stdout), { message: 'hello ada' });
    assert.match(arg.stderr, /invocation inv_/);
    const piped = await faas(s, ['invoke', 'hello', '--json'], '{"name":"pipe"}');
    assert.deepEqual(JSON.parse(piped.stdout), { message: 'hello pipe' });
    const waited = await faas(s, ['invoke', 'hello:1', '{"name":"later"}', '--async', '--wait', '--json']);
    assert.equal(waited.code, 0, waited.stderr);
    const inv = JSON.parse(waited.stdout) as { status: string; result: unknown };
    assert.equal(inv.status, 'succeeded');
    assert.deepEqual(inv.result, { message: 'hello later' });
  });

  it('lists, shows versions and logs', async () => {
    const ls = JSON.parse((await faas(s, ['ls', '--json'])).stdout) as Array<{ name: string }>;
    assert.ok(ls.some((f) => f.name === 'hello'));
    const table = await faas(s, ['ls']);
    assert.match(table.stdout, /hello\s*│\s*ts/);
    const versions = JSON.parse((await faas(s, ['versions', 'hello', '--json'])).stdout) as Array<{
      version: number;
    }>;
    assert.deepEqual(
      versions.map((v) => v.version),
      [1],
    );
    const logs = await faas(s, ['logs', 'hello']);
    assert.match(logs.stdout, /hi from ada/);
  });

  it('shows one invocation with its error, stack and logs; logs and lists show failures too', async () => {
    writeFileSync(
      join(dir, 'kaput.js'),
      'export default () => { console.log("about to fail"); throw new TypeError("kaput"); };\n',
    );
    assert.equal((await faas(s, ['deploy', join(dir, 'kaput.js')])).code, 0);
    const failed = await faas(s, ['invoke', 'kaput', '--json']);
    assert.equal(failed.code, 7);
    // --json: the API's error body on stdout, nothing else.
    const body = JSON.parse(failed.stdout) as {
      error: { code: string; details: { invocationId: string; type: string } };
    };
    assert.equal(body.error.code, 'FAAS_ERR_FUNCTION_ERROR');
    const id = body.error.details.invocationId;

    const shown = await faas(s, ['invocations', 'get', id]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /status\s*│\s*failed/);
    assert.match(shown.stdout, /error: TypeError: kaput/);
    assert.match(shown.stdout, /\n\s+at /, 'the stack');
    assert.match(shown.stdout, /LOG\s+about to fail/);
    assert.match(shown.stdout, /ERROR\s+\[faas\] failed: TypeError: kaput/);
    const asJson = JSON.parse((await faas(s, ['invocations', 'get', id, '--json'])).stdout) as {
      id: string;
      logs: unknown[];
    };
    assert.equal(asJson.id, id);
    assert.equal(asJson.logs.length, 2);

    const logs = await faas(s, ['logs', 'kaput']);
    assert.match(logs.stdout, new RegExp(`${id} ERROR \\[faas\\] failed: TypeError: kaput`));
    const list = await faas(s, ['invocations', 'kaput']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`${id}.*failed`));
  });

  it('shows the trace id an invocation ran in, in the list and the one-record view', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await s.api('/api/v1/functions/hello/invoke', {
      method: 'POST',
      json: { name: 'traced' },
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    assert.equal(res.status, 200);
    const id = res.headers.get('x-invocation-id') as string;
    const shown = await faas(s, ['invocations', 'get', id]);
    assert.match(shown.stdout, new RegExp(`trace id\\s*│\\s*${traceId}`));
    const list = await faas(s, ['invocations', 'hello']);
    assert.match(list.stdout, /TRACE/);
    assert.match(list.stdout, new RegExp(`${id}.*${traceId}`));
  });

  it('rounds durations', async () => {
    const invoked = await faas(s, ['invoke', 'hello', '{"name":"round"}']);
    assert.match(invoked.stderr, /\(v1, \d+(\.\d{1,2})? m?s\)/);
    const list = await faas(s, ['invocations', 'hello']);
    assert.match(list.stdout, /\d+(\.\d{1,2})? m?s\b/);
    assert.doesNotMatch(list.stdout, /\d\.\d{3,} ms/);
  });

  it('--json prints the JSON error on failure, and --help never prints the API key', async () => {
    const missing = await faas(s, ['get', 'ghost', '--json']);
    assert.equal(missing.code, 3);
    assert.equal(
      (JSON.parse(missing.stdout) as { error: { code: string } }).error.code,
      'FAAS_ERR_FUNCTION_NOT_FOUND',
    );
    const down = await faas(s, ['--url', 'http://127.0.0.1:1', 'ls', '--json']);
    assert.equal(down.code, 5);
    assert.equal((JSON.parse(down.stdout) as { error: { code: string } }).error.code, 'FAAS_CLI_UNREACHABLE');
    const usage = await faas(s, ['invoke', 'hello:x', '--json']);
    assert.equal(usage.code, 2);
    assert.equal((JSON.parse(usage.stdout) as { error: { code: string } }).error.code, 'FAAS_CLI_USAGE');
    assert.match((await faas(s, ['--help'])).stdout, /--api-key <key>\s+API key \(env FAAS_API_KEY\)\n/);
    for (const args of [['--help'], ['invoke', '--help'], ['help', 'logs']]) {
      const help = await faas(s, args);
      assert.equal(help.code, 0, `${args.join(' ')}: ${help.stderr}`);
      assert.ok(!(help.stdout + help.stderr).includes(ADMIN_KEY), `${args.join(' ')} printed the key`);
    }
  });

  it("keeps V8's compiled code of its modules in the user's own cache folder, and runs the same without one", async () => {
    const cacheHome = mkdtempSync(join(tmpdir(), 'faas-cli-cache-'));
    try {
      const run = (env: Record<string, string>) =>
        execFileSync(FAAS, ['--help'], { env: { ...process.env, ...env } }).toString();
      const help = run({ XDG_CACHE_HOME: cacheHome });
      assert.ok(
        readdirSync(join(cacheHome, 'faas', 'node-compile-cache')).length > 0,
        'no cache was written',
      );
      assert.equal(run({ XDG_CACHE_HOME: cacheHome }), help);
      // A cache folder that cannot be made (a file stands where it would go) only costs the speed.
      writeFileSync(join(cacheHome, 'blocked'), '');
      assert.equal(run({ XDG_CACHE_HOME: join(cacheHome, 'blocked') }), help);
    } finally {
      rmSync(cacheHome, { recursive: true, force: true });
    }
  });

  it('exits with codes that mean something', async () => {
    assert.equal((await faas(s, ['invoke', 'ghost'])).code, 3, 'not found');
    assert.equal((await faas(s, ['--api-key', 'faas_wrong', 'ls'])).code, 4, 'auth');
    assert.equal((await faas(s, ['invoke', 'hello:x'])).code, 2, 'usage');
    assert.equal((await faas(s, ['frobnicate'])).code, 2, 'unknown command');
    const bad = await faas(s, ['deploy', join(dir, 'hello'), '--name', 'Bad Name']);
    assert.equal(bad.code, 6, 'validation');
    assert.match(bad.stderr, /FAAS_ERR_VALIDATION/);
    const down = await faas(s, ['--url', 'http://127.0.0.1:1', 'ls']);
    assert.equal(down.code, 5, 'unreachable');
  });

  it('prints compile errors with file:line:col', async () => {
    writeFileSync(join(dir, 'broken.ts'), 'export default () => {\n  return 1 +;\n};\n');
    const res = await faas(s, ['deploy', join(dir, 'broken.ts')]);
    assert.equal(res.code, 6);
    assert.match(res.stderr, /broken\.ts:2:\d+/);
  });

  it('manages keys and removes functions', async () => {
    const key = JSON.parse((await faas(s, ['keys', 'create', 'ci', '--json'])).stdout) as {
      id: string;
      key: string;
    };
    assert.match(key.key, /^faas_/);
    const keyLimited = JSON.parse(
      (await faas(s, ['keys', 'set', key.id, '--rate-limit', '5/10', '--name', 'ci-2', '--json'])).stdout,
    ) as { name: string; rateLimit?: unknown };
    assert.deepEqual([keyLimited.name, keyLimited.rateLimit], ['ci-2', { requestsPerSecond: 5, burst: 10 }]);
    const unlimited = JSON.parse(
      (await faas(s, ['keys', 'set', key.id, '--rate-limit', 'none', '--json'])).stdout,
    ) as { rateLimit?: unknown };
    assert.equal(unlimited.rateLimit, undefined);
    assert.equal((await faas(s, ['keys', 'set', key.id, '--rate-limit', 'fast'])).code, 2);
    assert.equal((await faas(s, ['keys', 'set', key.id])).code, 2);
    assert.equal((await faas(s, ['keys', 'set', 'key_nope', '--name', 'x'])).code, 3);
    assert.equal((await faas(s, ['keys', 'rm', key.id])).code, 0);
    assert.equal((await faas(s, ['projects', 'create', 'team-x'])).code, 0);
    const listed = JSON.parse((await faas(s, ['projects', 'ls', '--json'])).stdout) as Array<{
      name: string;
    }>;
    assert.deepEqual(
      listed.map((p) => p.name),
      ['default', 'team-x'],
    );
    const hosted = JSON.parse(
      (await faas(s, ['projects', 'set', 'team-x', '--host', 'x.example.com', '--json'])).stdout,
    ) as {
      host?: string;
    };
    assert.equal(hosted.host, 'x.example.com');
    const cleared = JSON.parse(
      (await faas(s, ['projects', 'set', 'team-x', '--no-host', '--json'])).stdout,
    ) as {
      host?: string;
    };
    assert.equal(cleared.host, undefined);
    const limited = JSON.parse(
      (
        await faas(s, [
          'projects',
          'set',
          'team-x',
          '--max-functions',
          '3',
          '--max-instances',
          'none',
          '--max-queued',
          '500',
          '--json',
        ])
      ).stdout,
    ) as { quotas?: Record<string, number> };
    assert.deepEqual(limited.quotas, { functions: 3, queuedInvocations: 500 });
    assert.equal((await faas(s, ['projects', 'set', 'team-x', '--max-functions', 'lots'])).code, 2);
    const viewer = JSON.parse(
      (await faas(s, ['keys', 'create', 'ro', '--project', 'team-x', '--role', 'viewer', '--json'])).stdout,
    ) as { project: string; role: string };
    assert.deepEqual([viewer.project, viewer.role], ['team-x', 'viewer']);
    assert.equal((await faas(s, ['keys', 'create', 'x', '--role', 'root'])).code, 2);
    assert.equal((await faas(s, ['rm', 'hello', '--yes'])).code, 0);
    assert.equal((await faas(s, ['get', 'hello'])).code, 3);
  });
});

describe('the faas CLI with sandboxes', { skip: engineSkipReason() }, () => {
  let s: TestServer;
  const json = async <T>(args: string[]): Promise<T> => {
    const res = await faas(s, [...args, '--json']);
    assert.equal(res.code, 0, `faas ${args.join(' ')}: ${res.stderr}`);
    return JSON.parse(res.stdout) as T;
  };
  before(async () => {
    s = await startTestServer();
  });
  after(async () => {
    // Whatever a failed test left: the server removes containers of deleted instances.
    const items = async (path: string) =>
      ((await (await s.api(path)).json()) as { items: Array<{ id: string }> }).items;
    for (const { id } of await items('/api/v1/snapshots'))
      await s.api(`/api/v1/snapshots/${id}`, { method: 'DELETE' });
    for (const { id } of await items('/api/v1/instances'))
      await s.api(`/api/v1/instances/${id}`, { method: 'DELETE' });
    assert.deepEqual(await s.close(), [], 'the tests left containers behind');
  });

  it("faas exec prints the output and exits with the command's code", async () => {
    const shell = await faas(s, ['exec', 'echo "out $A"; echo err >&2; exit 3', '--env', 'A=1']);
    assert.deepEqual([shell.code, shell.stdout, shell.stderr], [3, 'out 1\n', 'err\n']);
    const argv = await faas(s, ['exec', '--', 'printf', '%s-', 'a b', 'c']);
    assert.deepEqual([argv.code, argv.stdout], [0, 'a b-c-']);
    const piped = await faas(s, ['exec', '-i', 'cat'], 'from stdin');
    assert.equal(piped.stdout, 'from stdin');
    const result = await faas(s, ['exec', '--json', 'exit 5']);
    assert.equal(result.code, 5);
    assert.equal((JSON.parse(result.stdout) as { exit_code: number }).exit_code, 5);
    const slow = await faas(s, ['exec', '--timeout', '200', 'sleep 5']);
    assert.notEqual(slow.code, 0);
    assert.match(slow.stderr, /timed out/);
    assert.equal((await faas(s, ['exec', '--mode', 'forked', 'true'])).code, 2, 'usage');
    const missing = await faas(s, ['exec', '--image', 'faas-test/no-such-image:1', 'true']);
    assert.equal(missing.code, 6);
    assert.match(missing.stderr, /FAAS_ERR_BAD_REQUEST/);
  });

  it('faas exec --stream prints output as it is written', async () => {
    const res = await faas(s, ['exec', '--stream', 'echo one; sleep 0.5; echo two; exit 2']);
    assert.deepEqual([res.code, res.stdout], [2, 'one\ntwo\n']);
    const first = res.stdoutAt[0] ?? res.closedAt;
    assert.ok(res.closedAt - first >= 300, 'the first line came before the command ended');
    const lines = (await faas(s, ['exec', '--stream', '--json', 'echo x'])).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string });
    assert.deepEqual(
      lines.map((l) => l.type),
      ['stdout', 'exit'],
    );
  });

  it('creates an instance, execs in it, stops, starts and removes it', async () => {
    const created = await faas(s, ['instances', 'create', '--env', 'GREETING=hi']);
    assert.equal(created.code, 0, created.stderr);
    const id = created.stdout.trim();
    assert.match(id, /^inst_/);
    const run = await faas(s, ['instances', 'exec', id, 'echo "$GREETING" > note; cat note; exit 4']);
    assert.deepEqual([run.code, run.stdout], [4, 'hi\n']);
    const listed = await json<Array<{ id: string; status: string }>>(['instances', 'ls']);
    assert.deepEqual(
      listed.filter((i) => i.id === id).map((i) => i.status),
      ['running'],
    );
    assert.match((await faas(s, ['instances', 'ls'])).stdout, new RegExp(`${id}\\s*│\\s*running`));
    assert.equal((await json<{ status: string }>(['instances', 'stop', id])).status, 'stopped');
    assert.equal((await faas(s, ['instances', 'exec', id, 'true'])).code, 6, 'conflict: stopped');
    assert.equal((await json<{ status: string }>(['instances', 'start', id])).status, 'running');
    // A failed instance says why (as if its agent had broken the protocol).
    (await s.server.platform.instances.manager.get(id)).link?.fail('a test says so');
    assert.match(
      (await faas(s, ['instances', 'get', id])).stdout,
      new RegExp(`^${id} failed: a test says so`),
    );
    assert.equal((await faas(s, ['instances', 'rm', id])).code, 0);
    assert.equal((await faas(s, ['instances', 'get', id])).code, 3, 'not found');
  });

  it('snapshots an instance, restores and forks it', async () => {
    const id = (await json<{ id: string }>(['instances', 'create'])).id;
    await faas(s, ['instances', 'exec', id, 'echo kept > kept.txt']);
    const snapshot = (await faas(s, ['snapshots', 'create', id, '--name', 'cli'])).stdout.trim();
    assert.match(snapshot, /^snap_/);
    const listed = await json<Array<{ id: string; name: string }>>(['snapshots', 'ls', '--instance', id]);
    assert.deepEqual(
      listed.map((x) => [x.id, x.name]),
      [[snapshot, 'cli']],
    );
    assert.equal((await json<{ kind: string }>(['snapshots', 'get', snapshot])).kind, 'filesystem');
    const restored = (await faas(s, ['snapshots', 'restore', snapshot])).stdout.trim();
    const forks = (await faas(s, ['snapshots', 'fork', snapshot, '--count', '2'])).stdout.trim().split('\n');
    assert.equal(forks.length, 2);
    for (const copy of [restored, ...forks])
      assert.equal((await faas(s, ['instances', 'exec', copy, 'cat kept.txt'])).stdout, 'kept\n');
    assert.equal((await faas(s, ['instances', 'rm', id, restored, ...forks])).code, 0);
    assert.equal((await faas(s, ['snapshots', 'rm', snapshot])).code, 0);
    assert.equal((await faas(s, ['snapshots', 'get', snapshot])).code, 3);
  });
});

describe('the faas CLI deploying container functions', { skip: engineSkipReason() }, () => {
  let s: TestServer;
  let dir: string;
  before(async () => {
    s = await startTestServer();
    dir = mkdtempSync(join(tmpdir(), 'faas-cli-ct-'));
  });
  after(async () => {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function folder(name: string, files: Record<string, string>): string {
    const path = join(dir, name);
    mkdirSync(path, { recursive: true });
    for (const [file, content] of Object.entries(files)) writeFileSync(join(path, file), content);
    return path;
  }

  it('shows progress while dependencies install, and the deployed function answers', {
    timeout: 600_000,
  }, async () => {
    const path = folder('with-deps', {
      'faas.json': JSON.stringify({ runtime: 'node' }),
      'package.json': JSON.stringify({ type: 'module', dependencies: { 'is-number': '7.0.0' } }),
      'index.js': "import isNumber from 'is-number';\nexport default async (e) => isNumber(e.value);\n",
    });
    const deployed = await faas(s, ['deploy', path]);
    assert.equal(deployed.code, 0, deployed.stderr);
    assert.match(deployed.stderr, /with-deps: installing npm dependencies…/);
    assert.match(deployed.stdout, /with-deps v1 \(created\)/);
    const invoked = await faas(s, ['invoke', 'with-deps', '{"value":"42"}', '--json']);
    assert.equal(invoked.stdout.trim(), 'true');
  });

  it('refuses a node function that does not load, with file:line, and makes no version', {
    timeout: 600_000,
  }, async () => {
    const path = folder('broken-node', {
      'faas.json': JSON.stringify({ runtime: 'node' }),
      'index.js': 'const ok = 1;\nexport default async ( => 1;\n',
    });
    const res = await faas(s, ['deploy', path]);
    assert.equal(res.code, 6, res.stderr);
    assert.match(res.stderr, /FAAS_ERR_COMPILE_ERROR/);
    assert.match(res.stderr, /index\.js:2:\d+: SyntaxError/);
    assert.equal((await faas(s, ['get', 'broken-node'])).code, 3, 'no function was made');
  });

  it('writes a bytes result to stdout as the bytes', { timeout: 600_000 }, async () => {
    const path = folder('bytes', {
      'faas.json': JSON.stringify({ runtime: 'node' }),
      'index.js': "export default async () => Buffer.from('raw\\u0000bytes');\n",
    });
    assert.equal((await faas(s, ['deploy', path])).code, 0);
    const res = await faas(s, ['invoke', 'bytes']);
    assert.equal(res.stdout, 'raw\u0000bytes');
  });
});
