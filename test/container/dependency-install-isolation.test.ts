import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestRuntime, engineSkipReason, request, type TestRuntime } from './support.ts';

const skip = await engineSkipReason();

/**
 * Written into the install's user site by the function's own code if any python3 of the install
 * imports it: a `requests` that reports whose code it is.
 */
const POISON = `
import os, site
def poison():
    d = os.path.join(site.getusersitepackages(), "requests")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "__init__.py"), "w") as f:
        f.write("WHO = 'code of project A'\\n")
`;

/** Runs at the exit of every python3 that imports it (a sitecustomize on the path). */
const SITECUSTOMIZE = `${POISON}
import atexit
atexit.register(poison)
`;

/**
 * pip counts shipped packages (their .dist-info) as installed: the install needs no index, which
 * this machine has none of.
 */
const SHIPPED_REQUESTS = {
  'requirements.txt': 'requests==2.32.3\n',
  'requests-2.32.3.dist-info/METADATA': 'Metadata-Version: 2.1\nName: requests\nVersion: 2.32.3\n',
};

/** Whether the function's installed packages hold a `requests`. */
const HAS_INSTALLED_REQUESTS = `import os
def handler(e, c):
    return os.path.isdir(os.path.join(os.path.dirname(__file__), ".python_packages", "requests"))
`;

const python = (project: string, env: Record<string, string> = {}) => ({
  runtime: 'python' as const,
  handler: 'main.handler',
  project,
  env,
});

describe('dependency installs run none of the function code and are cached per project (real engine)', {
  skip,
}, () => {
  let t: TestRuntime;
  before(async () => {
    t = await createTestRuntime();
  });
  after(() => t?.close());

  it("python: project A's sitecustomize.py does not run in its install, and project B with the same requirements gets its own requests", {
    timeout: 600_000,
  }, async () => {
    const a = await t.deploy(
      { ...SHIPPED_REQUESTS, 'main.py': HAS_INSTALLED_REQUESTS, 'sitecustomize.py': SITECUSTOMIZE },
      python('proja'),
    );
    await t.runtime.prepare(a);
    const ofA = await t.runtime.invoke(request(a, {}));
    assert.equal(ofA.status, 'succeeded', JSON.stringify(ofA));
    assert.equal(ofA.result, false, "A's install ran A's sitecustomize.py");

    // B's own requests is its vendored one, after the installed packages on the path.
    const b = await t.deploy(
      {
        ...SHIPPED_REQUESTS,
        'vendor/requests/__init__.py': "WHO = 'own requests of project B'\n",
        'main.py': [
          'import os, sys',
          'sys.path.append(os.path.join(os.path.dirname(__file__), "vendor"))',
          'import requests',
          'def handler(e, c):',
          '    return requests.WHO',
          '',
        ].join('\n'),
      },
      python('projb', { B_SECRET: 'x' }),
    );
    await t.runtime.prepare(b);
    const ofB = await t.runtime.invoke(request(b, {}));
    assert.equal(ofB.status, 'succeeded', JSON.stringify(ofB));
    assert.equal(ofB.result, 'own requests of project B');
    // However clean the install, an entry shared between projects is a way from one to the other.
    const installs = (await readdir(join(t.dataDir, 'deps'))).filter((n) => /^pip-.*\.complete$/.test(n));
    assert.equal(installs.length, 2, 'each project installed its own');
  });

  it('python: a pip/ folder in the code is not the pip that installs', { timeout: 600_000 }, async () => {
    const fn = await t.deploy(
      {
        ...SHIPPED_REQUESTS,
        // Not the requirements of the test before: this install must run.
        'requirements.txt': 'requests==2.32.3\n# with a pip/ folder\n',
        'main.py': HAS_INSTALLED_REQUESTS,
        'pip/__init__.py': '',
        'pip/__main__.py': `${POISON}\npoison()\n`,
      },
      python('projc'),
    );
    await t.runtime.prepare(fn);
    const out = await t.runtime.invoke(request(fn, {}));
    assert.equal(out.status, 'succeeded', JSON.stringify(out));
    assert.equal(out.result, false, "the code's pip/ ran in the install");
  });
});

describe('FAAS_ALLOW_NON_REGISTRY_DEPENDENCIES=true: an install that reads the code is cached by the code (real engine)', {
  skip,
}, () => {
  let t: TestRuntime;
  before(async () => {
    t = await createTestRuntime({ dependencies: { allowNonRegistry: true } });
  });
  after(() => t?.close());

  const manifest = JSON.stringify({
    name: 'f',
    version: '1.0.0',
    type: 'module',
    dependencies: { lib: 'file:./lib' },
  });
  const files = (who: string) => ({
    'package.json': manifest,
    'index.js': "import lib from 'lib';\nexport default () => lib;\n",
    'lib/package.json': JSON.stringify({ name: 'lib', version: '1.0.0', main: 'index.js' }),
    'lib/index.js': `module.exports = ${JSON.stringify(who)};\n`,
  });

  async function deployed(who: string, project: string): Promise<unknown> {
    const fn = await t.deploy(files(who), { project });
    await t.runtime.prepare(fn);
    const out = await t.runtime.invoke(request(fn, {}));
    assert.equal(out.status, 'succeeded', JSON.stringify(out));
    return out.result;
  }

  it("a file: dependency is the deploying project's own, and an edit of it is installed", {
    timeout: 600_000,
  }, async () => {
    assert.equal(await deployed('lib of project A', 'proja'), 'lib of project A');
    assert.equal(await deployed('lib of project B', 'projb'), 'lib of project B');
    assert.equal(await deployed('lib of project A, edited', 'proja'), 'lib of project A, edited');
  });
});
