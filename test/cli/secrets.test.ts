import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { ADMIN_KEY, startTestServer, type TestServer } from '../support/server.ts';

const FAAS = new URL('../../bin/faas', import.meta.url).pathname;

function faas(
  s: TestServer,
  args: string[],
  stdin = '',
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
    child.stdin.end(stdin);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('faas secrets', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  it('sets a value from stdin (never argv), lists names only, deletes', async () => {
    const set = await faas(s, ['secrets', 'set', 'DB_PASSWORD'], 'cli-secret-value\n');
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /Set secret DB_PASSWORD/);
    assert.ok(!set.stdout.includes('cli-secret-value'));
    // The final newline of `echo value |` is not part of the value: a function sees it exactly.
    const made = await s.api('/api/v1/functions', {
      method: 'POST',
      json: {
        name: 'cli-secret',
        runtime: 'js',
        secrets: ['DB_PASSWORD'],
        code: 'export default () => process.env.DB_PASSWORD === "cli-secret-value"',
      },
    });
    assert.equal(made.status, 201, await made.text());
    assert.equal(
      await (await s.api('/api/v1/functions/cli-secret/invoke', { method: 'POST', json: {} })).json(),
      true,
    );

    const inArgv = await faas(s, ['secrets', 'set', 'OTHER', 'leaked-in-history']);
    assert.equal(inArgv.code, 2, inArgv.stderr);
    assert.match(inArgv.stderr, /never from the command line/);
    assert.equal((await faas(s, ['secrets', 'set', 'EMPTY'], '')).code, 2);
    const bad = await faas(s, ['secrets', 'set', 'not-a-name'], 'v');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /FAAS_ERR_VALIDATION|environment variable name/);

    const listed = await faas(s, ['secrets', 'ls', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(
      (JSON.parse(listed.stdout) as Array<{ name: string }>).map((x) => x.name),
      ['DB_PASSWORD'],
    );
    const table = await faas(s, ['secrets', 'ls']);
    assert.match(table.stdout, /DB_PASSWORD/);
    assert.ok(!table.stdout.includes('cli-secret-value'));

    assert.equal((await faas(s, ['secrets', 'rm', 'DB_PASSWORD'])).code, 0);
    const again = await faas(s, ['secrets', 'delete', 'DB_PASSWORD']);
    assert.equal(again.code, 3, again.stderr);
    assert.deepEqual(JSON.parse((await faas(s, ['secrets', 'list', '--json'])).stdout), []);
  });
});
