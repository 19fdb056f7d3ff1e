import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FaaSClient } from '@faas/sdk';
import { ADMIN_KEY, startTestServer, type TestServer, waitFor } from '../support/server.ts';

/** `faas dev`: a save redeploys, a compile error is shown and keeps the last version, logs are tailed. */

const FAAS = new URL('../../bin/faas', import.meta.url).pathname;

describe('faas dev', () => {
  let s: TestServer;
  let dir: string;
  let child: ChildProcess | undefined;
  let stdout = '';
  let stderr = '';

  before(async () => {
    s = await startTestServer();
    dir = mkdtempSync(join(tmpdir(), 'faas-dev-'));
  });
  after(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('redeploys on save, shows a refused deploy, tails the logs, stops on SIGINT', async () => {
    const folder = join(dir, 'live');
    mkdirSync(folder);
    writeFileSync(join(folder, 'faas.json'), JSON.stringify({ name: 'live', runtime: 'js' }));
    const handler = (n: number) =>
      `export default (e, context) => { context.log.info('serving ${n}'); return { n: ${n} }; };\n`;
    writeFileSync(join(folder, 'index.js'), handler(1));
    const client = new FaaSClient({ baseUrl: s.url, apiKey: ADMIN_KEY });
    const resultIs = (n: number) =>
      waitFor(
        async () => {
          const { result } = await client.invoke<{ n: number }>('live').catch(() => ({ result: { n: -1 } }));
          return result.n === n ? true : undefined;
        },
        30_000,
        `the result ${n}`,
      );
    const seen = (what: () => string, pattern: RegExp) =>
      waitFor(async () => (pattern.test(what()) ? true : undefined), 30_000, `${pattern} in:\n${what()}`);

    child = spawn(FAAS, ['dev', folder], {
      env: { ...process.env, FAAS_URL: s.url, FAAS_API_KEY: ADMIN_KEY },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (c: Buffer) => (stdout += c));
    child.stderr?.on('data', (c: Buffer) => (stderr += c));
    const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));

    await seen(() => stderr, /watching/);
    await resultIs(1);
    await seen(() => stdout, /\[live\] INFO +serving 1/);

    writeFileSync(join(folder, 'index.js'), handler(2));
    await resultIs(2);
    await seen(() => stdout, /serving 2/);

    const versions = async () => (await client.getFunction('live')).latestVersion;
    const before = await versions();

    writeFileSync(join(folder, 'index.js'), 'export default (e) => { return {;\n');
    await seen(() => stderr, /deploy refused[\s\S]*FAAS_ERR_COMPILE_ERROR[\s\S]*index\.js/);
    assert.equal(await versions(), before, 'a compile error made no version');
    assert.deepEqual((await client.invoke('live')).result, { n: 2 }, 'the last good version still serves');

    writeFileSync(join(folder, 'index.js'), handler(3));
    await resultIs(3);
    assert.equal(await versions(), before + 1);

    child.kill('SIGINT');
    assert.equal(await exited, 0);
  });
});
