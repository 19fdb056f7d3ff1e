import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

const FAAS = new URL('../../bin/faas', import.meta.url).pathname;

/**
 * Runs `faas` against a server that counts the requests it gets and answers none usefully: bad
 * input must be refused (exit 2) before any request. Killed after `killAfterMs` (a hang).
 */
function faas(
  url: string,
  args: string[],
  env: Record<string, string> = {},
  killAfterMs = 20_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(FAAS, args, {
      env: { ...process.env, FAAS_URL: url, FAAS_API_KEY: 'fk_test', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('faas refuses bad local input with exit 2, before any request', () => {
  let dir: string;
  let server: Server;
  let url: string;
  let requests = 0;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'faas-cli-input-'));
    server = createServer((_req, res) => {
      requests++;
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"code":"X","message":"x"}}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
    assert.equal(requests, 0, 'no command sent a request');
  });

  it('deploy of a FIFO fails at once instead of waiting for a writer', async () => {
    const fifo = join(dir, 'fifo.js');
    execFileSync('mkfifo', [fifo]);
    const r = await faas(url, ['deploy', fifo], {}, 10_000);
    assert.equal(r.code, 2, `exit ${r.code}, stderr: ${r.stderr}`);
    assert.match(r.stderr, /fifo\.js.*not a regular file/);
  });

  it('deploy of a link to /dev/zero fails without reading it', async () => {
    symlinkSync('/dev/zero', join(dir, 'zero.js'));
    const r = await faas(url, ['deploy', join(dir, 'zero.js')], {}, 10_000);
    assert.equal(r.code, 2, `exit ${r.code}, stderr: ${r.stderr}`);
    assert.match(r.stderr, /zero\.js.*not a regular file/);
  });

  it("deploy of a file over the server's code limit says so, naming the limit", async () => {
    const big = join(dir, 'big.js');
    writeFileSync(big, '');
    // Sparse: no disk is used. The limit is max(4 × body limit, 50 MiB).
    truncateSync(big, 50 * 1024 * 1024 + 1);
    const r = await faas(url, ['deploy', big], { FAAS_BODY_LIMIT_BYTES: '1048576' });
    assert.equal(r.code, 2, `exit ${r.code}, stderr: ${r.stderr}`);
    assert.match(r.stderr, /big\.js is 52428801 bytes, over the limit of 52428800 bytes/);
  });

  it('deploy of a folder whose faas.json is a FIFO fails at once', async () => {
    mkdirSync(join(dir, 'fn'));
    execFileSync('mkfifo', [join(dir, 'fn', 'faas.json')]);
    const r = await faas(url, ['deploy', join(dir, 'fn')], {}, 10_000);
    assert.equal(r.code, 2, `exit ${r.code}, stderr: ${r.stderr}`);
    assert.match(r.stderr, /faas\.json is not a regular file/);
  });

  it('deploy of a path that does not exist names it', async () => {
    const r = await faas(url, ['deploy', join(dir, 'ghost.js'), '--json']);
    assert.equal(r.code, 2);
    const body = JSON.parse(r.stdout) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'FAAS_CLI_USAGE');
    assert.match(body.error.message, /ghost\.js.*no such file/);
  });

  it('invoke --file of a missing file or a folder is bad input, not a server error', async () => {
    const missing = await faas(url, ['invoke', 'hello', '--file', '/nope']);
    assert.equal(missing.code, 2, `exit ${missing.code}, stderr: ${missing.stderr}`);
    assert.match(missing.stderr, /^error: Cannot read \/nope: no such file or directory \(ENOENT\)\n$/);
    const folder = await faas(url, ['invoke', 'hello', '--file', dir, '--json']);
    assert.equal(folder.code, 2, `exit ${folder.code}, stderr: ${folder.stderr}`);
    assert.equal((JSON.parse(folder.stdout) as { error: { code: string } }).error.code, 'FAAS_CLI_USAGE');
  });

  it('a --url or FAAS_URL that is not an http(s) URL is bad input, not an unreachable server', async () => {
    const flag = await faas(url, ['--url', 'notaurl', 'ls']);
    assert.equal(flag.code, 2, `exit ${flag.code}, stderr: ${flag.stderr}`);
    assert.match(flag.stderr, /--url .*"notaurl"/);
    const env = await faas('ftp://example.com', ['ls']);
    assert.equal(env.code, 2, `exit ${env.code}, stderr: ${env.stderr}`);
    assert.match(env.stderr, /FAAS_URL .*"ftp:\/\/example\.com"/);
  });

  it('numeric flags are checked before any request', async () => {
    const r = await faas(url, ['invocations', '--limit', 'abc']);
    assert.equal(r.code, 2, `exit ${r.code}, stderr: ${r.stderr}`);
    assert.match(r.stderr, /--limit takes an integer, got "abc"/);
  });
});
