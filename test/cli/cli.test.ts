import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN_KEY, startTestServer, type TestServer } from '../support/server.ts';

const FAAS = new URL('../../bin/faas', import.meta.url).pathname;

function faas(
  s: TestServer,
  args: string[],
  stdin?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(FAAS, args, {
      env: { ...process.env, FAAS_URL: s.url, FAAS_API_KEY: ADMIN_KEY },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    child.stdin.end(stdin ?? '');
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
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
    assert.equal((await faas(s, ['keys', 'rm', key.id])).code, 0);
    assert.equal((await faas(s, ['rm', 'hello', '--yes'])).code, 0);
    assert.equal((await faas(s, ['get', 'hello'])).code, 3);
  });
});
