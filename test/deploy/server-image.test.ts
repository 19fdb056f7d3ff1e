// The server image of deploy/server/Dockerfile, built in the local engine and run the way the
// gateway's pods run it (deploy/kubernetes/gateway-deployment.yaml): non-root, read-only root file
// system, no capabilities, the data dir and /tmp on tmpfs. It must answer /health and /ready, run
// a js function (isolated-vm's binary works in the image), and exit 0 on SIGTERM.
// Built on the server's own Debian base (faas/base, made by debootstrap) as no registry is
// reachable here; users build on debian:bookworm-slim, the Dockerfile's default.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { createDockerClient } from '../../packages/server/src/runtimes/container/docker-engine.ts';
import { ensureBaseImage } from '../../packages/server/src/runtimes/container/images/base-image.ts';
import { IMAGE_CACHE_DIR } from '../container/support.ts';
import { engineSkipReason } from '../support/engine.ts';
import { ADMIN_KEY, request, waitFor } from '../support/server.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
// A fixed tag: the next build reuses its layers (the Debian packages), and replaces it.
const IMAGE = 'faas-test/server:latest';

const docker = (args: string[], timeoutMs = 60_000): string =>
  execFileSync('docker', args, { cwd: ROOT, timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] })
    .toString()
    .trim();

describe('deploy/server/Dockerfile', { skip: engineSkipReason() }, () => {
  let container = '';
  let url = '';

  before(
    async () => {
      const base = await ensureBaseImage(createDockerClient(), IMAGE_CACHE_DIR, () => {});
      docker(
        ['build', '-q', '-f', 'deploy/server/Dockerfile', '--build-arg', `BASE=${base}`, '-t', IMAGE, '.'],
        600_000,
      );
      container = docker([
        'run',
        '-d',
        '--read-only',
        '--tmpfs',
        '/tmp',
        '--tmpfs',
        '/var/lib/faas:uid=1000,gid=1000',
        '--cap-drop',
        'ALL',
        '--security-opt',
        'no-new-privileges',
        '-e',
        `FAAS_ADMIN_KEY=${ADMIN_KEY}`,
        '-e',
        'FAAS_GATEWAY_THREADS=1',
        '-e',
        'FAAS_ISOLATE_HOSTS=1',
        '-p',
        '127.0.0.1::8080',
        IMAGE,
      ]);
      const port = docker(['port', container, '8080']).split('\n')[0]?.split(':').pop();
      url = `http://127.0.0.1:${port}`;
    },
    { timeout: 600_000 },
  );

  after(() => {
    if (container) docker(['rm', '-f', container]);
  });

  it('runs as the non-root user of the image', () => {
    assert.equal(docker(['exec', container, 'id', '-u']), '1000');
  });

  it('answers /health and /ready, and runs a js function', async () => {
    await waitFor(
      async () => ((await fetch(`${url}/health`).catch(() => undefined))?.ok ? true : undefined),
      60_000,
      `${url}/health`,
    );
    const ready = await fetch(`${url}/ready`);
    assert.equal(ready.status, 200, await ready.clone().text());
    const deployed = await request(url, '/api/v1/functions', {
      method: 'POST',
      json: { name: 'add', runtime: 'js', code: 'export default (e) => e.a + e.b' },
    });
    assert.equal(deployed.status, 201, await deployed.clone().text());
    const invoked = await request(url, '/api/v1/functions/add/invoke', {
      method: 'POST',
      json: { a: 2, b: 3 },
    });
    assert.equal(invoked.status, 200, await invoked.clone().text());
    assert.equal(await invoked.json(), 5);
  });

  it('exits 0 on SIGTERM (docker stop)', () => {
    docker(['stop', '-t', '30', container], 60_000);
    assert.equal(docker(['inspect', '-f', '{{.State.ExitCode}}', container]), '0');
  });
});
