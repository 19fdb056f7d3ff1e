import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { engineSkipReason, removeGoBuildCache } from '../support/engine.ts';
import { ADMIN_KEY, startTestServer, type TestServer } from '../support/server.ts';

/** `faas init`: every template's own test passes, and it deploys and answers as written. */

const FAAS = new URL('../../bin/faas', import.meta.url).pathname;
const run = promisify(execFile);
const engineSkip = engineSkipReason();
const pythonSkip = (() => {
  try {
    execFileSync('python3', ['--version'], { stdio: 'ignore' });
    return false;
  } catch {
    return 'no python3 to run the python template test';
  }
})();

const goSkip = (() => {
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
    return false;
  } catch {
    return 'no go to run the go template test (Debian: golang-go; .ci/run installs it)';
  }
})();

describe('faas init', () => {
  let s: TestServer;
  let dir: string;
  // The server answers on this process's event loop: the CLI runs asynchronously.
  const faas = async (args: string[], cwd = dir) => {
    try {
      const { stdout, stderr } = await run(FAAS, args, {
        cwd,
        env: { ...process.env, FAAS_URL: s.url, FAAS_API_KEY: ADMIN_KEY },
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const { code, stdout, stderr } = err as { code: number; stdout: string; stderr: string };
      return { code, stdout, stderr };
    }
  };

  before(async () => {
    s = await startTestServer();
    dir = mkdtempSync(join(tmpdir(), 'faas-init-'));
  });
  after(async () => {
    const left = await s.close();
    rmSync(dir, { recursive: true, force: true });
    // The go template's deploy made the server's Go build cache volume.
    if (!engineSkip) removeGoBuildCache(s.dataDir);
    assert.deepEqual(left, [], 'the tests left containers behind');
  });

  const cases = [
    { runtime: 'js', files: ['index.js', 'index.test.js'], test: [process.execPath, '--test'], skip: false },
    { runtime: 'ts', files: ['index.ts', 'index.test.ts'], test: [process.execPath, '--test'], skip: false },
    {
      runtime: 'node',
      files: ['index.mjs', 'index.test.mjs'],
      test: [process.execPath, '--test'],
      skip: engineSkip,
    },
    {
      runtime: 'wasm',
      files: ['main.wat', 'main.wasm', 'main.test.mjs'],
      test: [process.execPath, '--test'],
      skip: false,
    },
    {
      runtime: 'python',
      files: ['main.py', 'test_main.py', 'requirements.txt'],
      test: ['python3', '-m', 'unittest'],
      skip: engineSkip || pythonSkip,
    },
    {
      runtime: 'image',
      files: ['Dockerfile', 'main.py', 'test_main.py'],
      test: ['python3', '-m', 'unittest'],
      skip: engineSkip || pythonSkip,
    },
    {
      runtime: 'go',
      files: ['main.go', 'main_test.go', 'go.mod'],
      // Offline, with its caches in the test's temp folder: no module proxy is reachable.
      test: ['go', 'test', '.'],
      skip: engineSkip || goSkip,
    },
  ] as const;

  for (const c of cases) {
    it(`writes a ${c.runtime} function whose test passes, that deploys and answers`, {
      skip: c.skip,
    }, async () => {
      const name = `hello-${c.runtime}`;
      const made = await faas(['init', '--runtime', c.runtime, name, '--json']);
      assert.equal(made.code, 0, made.stderr);
      assert.deepEqual(
        JSON.parse(made.stdout).files,
        [...c.files, 'README.md', 'faas.json', 'package.json']
          .filter((f) => !['python', 'go', 'image'].includes(c.runtime) || f !== 'package.json')
          .sort(),
      );
      const folder = join(dir, name);
      assert.deepEqual(readdirSync(folder).sort(), JSON.parse(made.stdout).files);

      const [command, ...args] = c.test;
      await run(command, args, {
        cwd: folder,
        env: {
          ...process.env,
          GOPROXY: 'off',
          GOFLAGS: '-buildvcs=false',
          GOCACHE: join(dir, '.gocache'),
          GOPATH: join(dir, '.gopath'),
        },
      });

      const deployed = await faas(['deploy', folder]);
      assert.equal(deployed.code, 0, deployed.stderr);
      const invoked = await faas(['invoke', name, '{"name":"Ada"}', '--json']);
      assert.equal(invoked.code, 0, invoked.stderr + invoked.stdout);
      assert.deepEqual(JSON.parse(invoked.stdout), { message: 'Hello, Ada!' });
      // A route of a function that is not public needs a key of its project.
      assert.equal((await fetch(`${s.url}/${name}/Bob`)).status, 401);
      const routed = await fetch(`${s.url}/${name}/Bob`, {
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      });
      assert.deepEqual(await routed.json(), { message: 'Hello, Bob!' });
      if (c.runtime === 'image') {
        // The image's tag hashes the folder: the same folder is the same image, so no new version.
        const again = await faas(['deploy', folder, '--json']);
        assert.equal(again.code, 0, again.stderr);
        assert.equal(JSON.parse(again.stdout).outcome, 'unchanged');
        assert.match(JSON.parse(again.stdout).latest.image, new RegExp(`^faas-fn/${name}:[0-9a-f]{16}$`));
      }
    });
  }

  it('refuses the deploy of an image whose Dockerfile does not build, making no function', {
    skip: engineSkip,
  }, async () => {
    const folder = join(dir, 'broken-image');
    mkdirSync(folder);
    writeFileSync(join(folder, 'Dockerfile'), 'ARG FAAS_BASE_IMAGE\nFROM ${FAAS_BASE_IMAGE}\nRUN exit 3\n');
    writeFileSync(join(folder, 'faas.json'), JSON.stringify({ runtime: 'image', command: ['true'] }));
    const deployed = await faas(['deploy', folder]);
    assert.equal(deployed.code, 6, deployed.stderr);
    assert.match(deployed.stderr, /The image of broken-image did not build: .*exit/i);
    assert.equal((await faas(['get', 'broken-image'])).code, 3);
    // A name the server would refuse is refused before any build: it would be the image's tag.
    const named = await faas(['deploy', folder, '--name', 'Not_An_Image']);
    assert.equal(named.code, 2, named.stderr);
    assert.match(named.stderr, /Not_An_Image cannot be a function name/);
  });

  it('refuses a folder that is not empty, an unknown runtime and a name the server would refuse', async () => {
    mkdirSync(join(dir, 'taken'));
    writeFileSync(join(dir, 'taken', 'keep.txt'), 'mine');
    const taken = await faas(['init', 'taken']);
    assert.equal(taken.code, 2);
    assert.match(taken.stderr, /not empty/);
    assert.deepEqual(readdirSync(join(dir, 'taken')), ['keep.txt']);
    const runtime = await faas(['init', '--runtime', 'cobol', 'x']);
    assert.equal(runtime.code, 2);
    assert.match(runtime.stderr, /js, ts, node, python, go, wasm/);
    const named = await faas(['init', 'Not_Lower']);
    assert.equal(named.code, 2);
    assert.match(named.stderr, /cannot be a function name/);
  });
});
