// `faas logs <name> -f` against a real server: the stored lines first, then the function's
// invocations live from the server's event stream (their end events too, with --json), until
// Ctrl-C.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { ADMIN_KEY, startTestServer, type TestServer } from '../support/server.ts';

const FAAS = new URL('../../bin/faas', import.meta.url).pathname;

describe('faas logs -f', () => {
  let s: TestServer;

  before(async () => {
    s = await startTestServer();
    const deployed = await s.api('/api/v1/functions', {
      method: 'POST',
      json: {
        name: 'tailed',
        runtime: 'js',
        code: 'export default (e) => { console.log("line", e.n); if (e.fail) throw new Error("bad " + e.n); return 1 }',
      },
    });
    assert.equal(deployed.status, 201);
    await s.api('/api/v1/functions/tailed/invoke', { method: 'POST', json: { n: 0 } });
  });
  after(async () => {
    await s.close();
  });

  const invoke = async (json: unknown) =>
    (await s.api('/api/v1/functions/tailed/invoke', { method: 'POST', json })).text();

  it('prints the stored lines, then each new invocation live, its failure included; stops on Ctrl-C', async () => {
    const child = spawn(FAAS, ['logs', 'tailed', '-f'], {
      env: { ...process.env, FAAS_URL: s.url, FAAS_API_KEY: ADMIN_KEY },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const until = async (pattern: RegExp) => {
      for (let i = 0; i < 300 && !pattern.test(stdout); i++) await new Promise((r) => setTimeout(r, 50));
      assert.match(stdout, pattern, `stdout: ${stdout}\nstderr: ${stderr}`);
    };
    try {
      await until(/LOG {3}line 0\n/);
      await invoke({ n: 1 });
      await invoke({ n: 2, fail: true });
      await until(/LOG {3}line 1\n/);
      await until(/ERROR \[faas\] failed: Error: bad 2\n/);
      assert.equal(stdout.match(/line 0/g)?.length, 1, 'a stored line is printed once');
    } finally {
      child.kill('SIGINT');
    }
    assert.equal(await closed, 0, stderr);
  });

  it('--json prints the stream events, with each invocation start and end', async () => {
    const child = spawn(FAAS, ['logs', 'tailed', '-f', '--json'], {
      env: { ...process.env, FAAS_URL: s.url, FAAS_API_KEY: ADMIN_KEY },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    for (let i = 0; i < 300 && !stdout.includes('"line 0"'); i++) await new Promise((r) => setTimeout(r, 50));
    await invoke({ n: 3, fail: true });
    const ended = () =>
      stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { type?: string; status?: string; error?: { message: string } })
        .find((e) => e.type === 'end');
    try {
      for (let i = 0; i < 300 && !ended(); i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(ended()?.status, 'failed');
      assert.equal(ended()?.error?.message, 'bad 3');
    } finally {
      child.kill('SIGINT');
    }
    assert.equal(await closed, 0);
  });

  it('refuses an unknown function', async () => {
    const child = spawn(FAAS, ['logs', 'nope', '-f'], {
      env: { ...process.env, FAAS_URL: s.url, FAAS_API_KEY: ADMIN_KEY },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    assert.notEqual(code, 0);
    assert.match(stderr, /nope/);
  });
});
