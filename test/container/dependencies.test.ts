import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ownerIdFor } from '../../packages/server/src/runtimes/container/container-labels.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { engineSkipReason } from './support.ts';

const skip = await engineSkipReason();

interface ErrorBody {
  error: { code: string; message: string; details?: Array<{ field?: string }> };
}

const USES_IS_NUMBER = `import isNumber from 'is-number';
import { existsSync } from 'node:fs';
export default async (e) => ({ number: isNumber(e.value), preinstallRan: existsSync('./node_modules/preinstall-ran') });`;

/** The roles of the containers a server's runtime created since `since` (seconds since epoch). */
/**
 * Roles of the containers created since `since` (seconds, with milliseconds: a whole-second bound
 * also caught the install of the test before).
 */
function rolesCreatedSince(dataDir: string, since: number): string[] {
  const owner = ownerIdFor(join(dataDir, 'containers'));
  const out = execFileSync('docker', [
    'events',
    '--since',
    since.toFixed(3),
    '--until',
    String(Math.ceil(Date.now() / 1000) + 1),
    '--filter',
    'event=create',
    '--filter',
    `label=faas.owner=${owner}`,
    '--format',
    '{{index .Actor.Attributes "faas.role"}}',
  ]).toString();
  return out.split('\n').filter(Boolean);
}

describe('function dependencies are installed in a sandbox container at deploy', { skip }, () => {
  let s: TestServer;
  let n = 0;
  const name = () => `deps-${++n}`;

  async function create(body: Record<string, unknown>, server = s): Promise<Response> {
    return server.api('/api/v1/functions', { method: 'POST', json: { name: name(), ...body } });
  }

  before(async () => {
    s = await startTestServer();
  });
  after(() => s?.close());

  it('installs a registry package (is-number) in an install container, without running install scripts; the deploy streams progress', {
    timeout: 600_000,
  }, async () => {
    const since = Date.now() / 1000;
    const fn = name();
    const res = await s.api('/api/v1/functions?stream=true', {
      method: 'POST',
      json: {
        name: fn,
        runtime: 'node',
        // Shorter than the install: the deploy's time is not the invocation's.
        timeoutMs: 500,
        code: {
          files: {
            'package.json': JSON.stringify({
              type: 'module',
              scripts: { preinstall: 'mkdir -p node_modules && echo ran > node_modules/preinstall-ran' },
              dependencies: { 'is-number': '7.0.0' },
            }),
            'index.js': USES_IS_NUMBER,
          },
        },
      },
    });
    assert.equal(res.status, 200, await res.clone().text());
    assert.match(res.headers.get('content-type') ?? '', /application\/x-ndjson/);
    const lines = (await res.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; message?: string; outcome?: string });
    assert.deepEqual(
      lines.filter((l) => l.type === 'progress').map((l) => l.message),
      ['installing npm dependencies'],
    );
    const last = lines.at(-1);
    assert.equal(last?.type, 'deployed', JSON.stringify(last));
    assert.equal(last?.outcome, 'created');
    assert.ok(rolesCreatedSince(s.dataDir, since).includes('install'), 'an install container ran');

    const invoked = await s.api(`/api/v1/functions/${fn}/invoke`, { method: 'POST', json: { value: '42' } });
    assert.equal(invoked.status, 200, await invoked.clone().text());
    assert.deepEqual(await invoked.json(), { number: true, preinstallRan: false });
  });

  it('two functions with the same dependencies deployed at once share one install', {
    timeout: 600_000,
  }, async () => {
    const since = Date.now() / 1000;
    const manifest = JSON.stringify({ type: 'module', dependencies: { 'is-number': '6.0.0' } });
    const results = await Promise.all(
      [1, 2].map((i) =>
        create({
          runtime: 'node',
          code: {
            files: {
              'package.json': manifest,
              'index.js': `import isNumber from 'is-number';\nexport default async () => [${i}, isNumber(${i})];`,
            },
          },
        }),
      ),
    );
    for (const res of results) assert.equal(res.status, 201, await res.clone().text());
    assert.equal(rolesCreatedSince(s.dataDir, since).filter((r) => r === 'install').length, 1);
  });

  it("a deleted function's code folder and an install no deploy used for a day are collected; the same deploy installs again", {
    timeout: 600_000,
  }, async () => {
    const root = join(s.dataDir, 'containers');
    const entries = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);
    const before = { code: entries(join(root, 'code', 'default')), deps: entries(join(root, 'deps')) };
    const body = {
      runtime: 'node',
      code: {
        files: {
          'package.json': JSON.stringify({ type: 'module', dependencies: { 'is-number': '5.0.0' } }),
          'index.js': `import isNumber from 'is-number';\nexport default async (e) => isNumber(e.value);`,
        },
      },
    };
    const gone = name();
    assert.equal(
      (await s.api('/api/v1/functions', { method: 'POST', json: { name: gone, ...body } })).status,
      201,
    );
    const made = {
      code: entries(join(root, 'code', 'default')).filter((e) => !before.code.includes(e)),
      deps: entries(join(root, 'deps')).filter((e) => !before.deps.includes(e)),
    };
    assert.equal(made.code.length, 1, `one code folder: ${made.code}`);
    assert.deepEqual(made.deps.map((e) => e.replace(/^npm-[0-9a-f]+/, 'npm-…')).sort(), [
      'npm-…',
      'npm-….complete',
    ]);
    assert.equal((await s.api(`/api/v1/functions/${gone}`, { method: 'DELETE' })).status, 204);
    const dayAgo = new Date(Date.now() - 25 * 3_600_000);
    utimesSync(join(root, 'code', 'default', made.code[0] as string, '.complete'), dayAgo, dayAgo);
    const marker = made.deps.find((e) => e.endsWith('.complete')) as string;
    utimesSync(join(root, 'deps', marker), dayAgo, dayAgo);

    const collected = await s.server.platform.blobCollector.collect();
    assert.equal(collected.codeFolders, 2, 'its code folder and its install');
    for (const left of [
      ...made.code.map((e) => join(root, 'code', 'default', e)),
      ...made.deps.map((e) => join(root, 'deps', e)),
    ]) {
      assert.equal(existsSync(left), false, `${left} is gone`);
    }

    const since = Date.now() / 1000;
    const again = name();
    assert.equal(
      (await s.api('/api/v1/functions', { method: 'POST', json: { name: again, ...body } })).status,
      201,
    );
    assert.ok(rolesCreatedSince(s.dataDir, since).includes('install'), 'installed again');
    const invoked = await s.api(`/api/v1/functions/${again}/invoke`, {
      method: 'POST',
      json: { value: '7' },
    });
    assert.equal(await invoked.json(), true);
  });

  it('refuses a package the registry does not have with 422 at deploy, without host paths', {
    timeout: 600_000,
  }, async () => {
    const res = await create({
      runtime: 'node',
      code: {
        files: {
          'package.json': JSON.stringify({ dependencies: { 'faas-test-no-such-package-xyz': '1.0.0' } }),
          'index.js': 'export default () => 1',
        },
      },
    });
    const text = await res.text();
    assert.equal(res.status, 422, text);
    const body = JSON.parse(text) as ErrorBody;
    assert.equal(body.error.code, 'FAAS_ERR_COMPILE_ERROR');
    assert.match(body.error.message, /npm dependencies failed.*E404.*faas-test-no-such-package-xyz/s);
    assert.doesNotMatch(text, /\/root\/|\/tmp\/faas-|_logs/, 'no host path in the error');
  });

  const NPM_REFUSED = {
    file: 'file:../../../etc',
    link: 'link:../x',
    'git-file': 'git+file:///etc/repo',
    git: 'git+https://github.com/user/repo.git',
    github: 'github:user/repo',
    shorthand: 'user/repo',
    loopback: 'http://127.0.0.1:9/x.tgz',
    tarball: 'https://example.com/pkg.tgz',
    path: '../sibling',
  };
  for (const [label, spec] of Object.entries(NPM_REFUSED)) {
    it(`refuses the npm spec ${label} ("${spec}") with 422 naming the dependency`, async () => {
      const since = Date.now() / 1000;
      const res = await create({
        runtime: 'node',
        code: {
          files: {
            'package.json': JSON.stringify({ dependencies: { victim: spec } }),
            'index.js': 'export default () => 1',
          },
        },
      });
      const body = (await res.json()) as ErrorBody;
      assert.equal(res.status, 422, JSON.stringify(body));
      assert.equal(body.error.code, 'FAAS_ERR_VALIDATION');
      assert.equal(body.error.details?.[0]?.field, 'package.json dependencies.victim');
      assert.match(body.error.message, /FAAS_ALLOW_NON_REGISTRY_DEPENDENCIES/);
      assert.ok(!rolesCreatedSince(s.dataDir, since).includes('install'), 'nothing was installed');
    });
  }

  const PIP_REFUSED = [
    'https://example.com/pkg.tar.gz',
    'pkg @ http://127.0.0.1:9/pkg.whl',
    './local-pkg',
    '/etc/pkg',
    '-e .',
    '--index-url http://127.0.0.1:9/simple',
    '--extra-index-url https://example.com/simple',
    '-f /tmp',
    '-r other.txt',
  ];
  for (const line of PIP_REFUSED) {
    it(`refuses the requirements.txt line "${line}" with 422 naming it`, async () => {
      const res = await create({
        runtime: 'python',
        code: {
          files: {
            'requirements.txt': `six==1.16.0\n${line}\n`,
            'main.py': 'def handler(e, c):\n    return 1\n',
          },
        },
      });
      const body = (await res.json()) as ErrorBody;
      assert.equal(res.status, 422, JSON.stringify(body));
      assert.equal(body.error.code, 'FAAS_ERR_VALIDATION');
      assert.equal(body.error.details?.[0]?.field, 'requirements.txt line 2');
    });
  }

  it('python: an empty requirements.txt installs nothing; vendored packages satisfy pip in the install container', {
    timeout: 600_000,
  }, async () => {
    const since = Date.now() / 1000;
    const empty = await create({
      runtime: 'python',
      code: {
        files: {
          'requirements.txt': '# nothing yet\n\n',
          'main.py': 'def handler(e, c):\n    return "empty"\n',
        },
      },
    });
    assert.equal(empty.status, 201, await empty.clone().text());
    assert.ok(!rolesCreatedSince(s.dataDir, since).includes('install'), 'no install for no requirements');

    const vendored = name();
    const res = await s.api('/api/v1/functions', {
      method: 'POST',
      json: {
        name: vendored,
        runtime: 'python',
        code: {
          files: {
            'requirements.txt': 'vendpkg==1.0\n',
            'vendpkg/__init__.py': 'VALUE = "vendored"\n',
            'vendpkg-1.0.dist-info/METADATA': 'Metadata-Version: 2.1\nName: vendpkg\nVersion: 1.0\n',
            'main.py': 'import vendpkg\ndef handler(e, c):\n    return vendpkg.VALUE\n',
          },
        },
      },
    });
    assert.equal(res.status, 201, await res.clone().text());
    assert.ok(rolesCreatedSince(s.dataDir, since).includes('install'), 'pip ran in an install container');
    const invoked = await s.api(`/api/v1/functions/${vendored}/invoke`, { method: 'POST', json: {} });
    assert.equal(await invoked.json(), 'vendored');
  });

  it("python: a requirement pip cannot fetch is refused at deploy with pip's reason (PyPI is not reachable here)", {
    timeout: 600_000,
  }, async () => {
    const res = await create({
      runtime: 'python',
      code: {
        files: {
          'requirements.txt': 'faas-test-no-such-dist==1.0\n',
          'main.py': 'def handler(e, c):\n    return 1\n',
        },
      },
    });
    const body = (await res.json()) as ErrorBody;
    assert.equal(res.status, 422, JSON.stringify(body));
    assert.equal(body.error.code, 'FAAS_ERR_COMPILE_ERROR');
    assert.match(
      body.error.message,
      /pip dependencies failed.*No matching distribution found for faas-test-no-such-dist==1\.0/s,
    );
  });
});

describe('FAAS_ALLOW_NON_REGISTRY_DEPENDENCIES=true: other specs install, still inside the sandbox', {
  skip,
}, () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ allowNonRegistryDependencies: true });
  });
  after(() => s?.close());

  it("a file: dependency from the function's own code installs", { timeout: 600_000 }, async () => {
    const res = await s.api('/api/v1/functions', {
      method: 'POST',
      json: {
        name: 'local-dep',
        runtime: 'node',
        code: {
          files: {
            'package.json': JSON.stringify({
              type: 'module',
              dependencies: { local: 'file:./vendor/local' },
            }),
            'vendor/local/package.json': JSON.stringify({
              name: 'local',
              version: '1.0.0',
              main: 'index.js',
            }),
            'vendor/local/index.js': 'module.exports = "from a local folder";',
            'index.js': "import local from 'local';\nexport default () => local;",
          },
        },
      },
    });
    assert.equal(res.status, 201, await res.clone().text());
    const invoked = await s.api('/api/v1/functions/local-dep/invoke', { method: 'POST', json: {} });
    assert.equal(await invoked.json(), 'from a local folder');
  });

  it('a loopback URL is fetched from the install container, which is not the host: it fails', {
    timeout: 600_000,
  }, async () => {
    const res = await s.api('/api/v1/functions', {
      method: 'POST',
      json: {
        name: 'loopback-dep',
        runtime: 'node',
        code: {
          files: {
            'package.json': JSON.stringify({ dependencies: { x: `${s.url}/x.tgz` } }),
            'index.js': 'export default () => 1',
          },
        },
      },
    });
    const body = (await res.json()) as ErrorBody;
    assert.equal(res.status, 422, JSON.stringify(body));
    assert.equal(body.error.code, 'FAAS_ERR_COMPILE_ERROR');
    assert.match(body.error.message, /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT/);
  });
});
