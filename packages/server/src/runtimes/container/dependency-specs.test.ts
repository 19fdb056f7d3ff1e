import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, FaasError } from '@faas/core';
import { checkNpmManifest, checkRequirements, type DependencyPolicy } from './dependency-specs.ts';

const strict: DependencyPolicy = { allowNonRegistry: false, npmRegistry: 'https://registry.npmjs.org/' };
const open: DependencyPolicy = { ...strict, allowNonRegistry: true };
const pkg = (deps: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ name: 'fn', dependencies: deps, ...extra });

function refused(run: () => unknown, field: RegExp): void {
  assert.throws(run, (err: unknown) => {
    assert.ok(err instanceof FaasError, String(err));
    assert.equal(err.code, ErrorCode.VALIDATION);
    assert.match(
      err.message,
      /FAAS_ALLOW_NON_REGISTRY_DEPENDENCIES|must be|not an npm package name|longer|JSON|nest/,
    );
    const [detail] = err.details as Array<{ field: string }>;
    assert.match(detail?.field ?? '', field);
    return true;
  });
}

describe('npm dependency specs', () => {
  it('takes registry versions, ranges, tags and npm: aliases', () => {
    const specs = {
      a: '1.2.3',
      b: '^1.0.0',
      c: '~2.1',
      d: '>=1 <3 || 4.x',
      e: 'latest',
      f: '',
      g: '*',
      h: 'npm:is-number@^7',
      '@s/i': '1.0.0-beta.1',
    };
    assert.deepEqual(checkNpmManifest(pkg(specs), undefined, strict), { locked: false });
  });

  it('has nothing to install without dependencies', () => {
    assert.equal(checkNpmManifest('{"name":"x","type":"module"}', undefined, strict), undefined);
    assert.equal(checkNpmManifest(pkg({}), undefined, strict), undefined);
  });

  it('refuses every spec that is not a registry package, naming the dependency', () => {
    const bad = [
      'file:../secrets',
      'link:../x',
      'git+file:///etc',
      'git+https://github.com/a/b.git',
      'git://github.com/a/b',
      'github:a/b',
      'a/b',
      'a/b#main',
      'http://127.0.0.1:8080/x.tgz',
      'https://example.com/x.tgz',
      './local',
      '../up',
      '/abs/path',
      '~/home',
      'x.tgz',
      'gitlab:a/b',
      'npm:file:../x',
    ];
    for (const spec of bad) {
      refused(
        () => checkNpmManifest(pkg({ victim: spec }), undefined, strict),
        /^package\.json dependencies\.victim$/,
      );
    }
    for (const field of ['devDependencies', 'optionalDependencies', 'peerDependencies']) {
      refused(
        () => checkNpmManifest(JSON.stringify({ [field]: { v: 'file:..' } }), undefined, strict),
        new RegExp(field),
      );
    }
    refused(() => checkNpmManifest(pkg({ '../../etc': '1.0.0' }), undefined, strict), /dependencies/);
    refused(() => checkNpmManifest(pkg({ a: 1 }), undefined, strict), /dependencies\.a/);
    refused(() => checkNpmManifest(pkg({ a: '1' }, { workspaces: ['x'] }), undefined, strict), /workspaces/);
    refused(
      () => checkNpmManifest(pkg({ a: '1' }, { overrides: { b: { c: 'file:../x' } } }), undefined, strict),
      /overrides/,
    );
    refused(() => checkNpmManifest('{', undefined, strict), /package\.json/);
    refused(() => checkNpmManifest('[]', undefined, strict), /package\.json/);
  });

  it('refuses lock files that resolve outside the registry', () => {
    const lock = (packages: Record<string, unknown>) =>
      JSON.stringify({ lockfileVersion: 3, packages: { '': {}, ...packages } });
    const good = lock({
      'node_modules/a': { version: '1.0.0', resolved: 'https://registry.npmjs.org/a/-/a-1.0.0.tgz' },
    });
    assert.deepEqual(checkNpmManifest(pkg({ a: '1.0.0' }), good, strict), { locked: true });
    const bad = [
      lock({ 'node_modules/a': { resolved: 'http://127.0.0.1:9/a.tgz' } }),
      lock({ 'node_modules/a': { resolved: 'file:../a' } }),
      lock({ 'node_modules/a': { link: true, resolved: 'https://registry.npmjs.org/a' } }),
      lock({ '../outside': { version: '1.0.0' } }),
      JSON.stringify({ lockfileVersion: 1, dependencies: { a: { version: 'git+https://x/a.git' } } }),
      JSON.stringify({
        lockfileVersion: 1,
        dependencies: {
          a: {
            version: '1.0.0',
            dependencies: { b: { version: '1.0.0', resolved: 'http://10.0.0.1/b.tgz' } },
          },
        },
      }),
    ];
    for (const text of bad)
      refused(() => checkNpmManifest(pkg({ a: '1.0.0' }), text, strict), /package-lock\.json/);
  });

  it('lets everything through when the operator allows it', () => {
    assert.deepEqual(
      checkNpmManifest(
        pkg({ a: 'file:../a', b: 'github:x/y' }),
        '{"packages":{"node_modules/a":{"link":true}}}',
        open,
      ),
      {
        locked: true,
      },
    );
  });

  it('refuses deep nesting instead of overflowing the stack', () => {
    const overrides = `${'{"x":'.repeat(100_000)}"1.0.0"${'}'.repeat(100_000)}`;
    const manifest = `{"dependencies":{"a":"1"},"overrides":${overrides}}`;
    refused(() => checkNpmManifest(manifest, undefined, strict), /overrides/);
    const lock = `{"dependencies":${'{"a":{"version":"1.0.0","dependencies":'.repeat(50_000)}{}${'}}'.repeat(50_000)}}`;
    refused(() => checkNpmManifest(pkg({ a: '1' }), lock, strict), /package-lock\.json/);
  });
});

describe('pip requirements', () => {
  it('takes index packages with extras, versions, markers and hashes', () => {
    const text = [
      '# a comment',
      'requests==2.31.0',
      'Django>=4,<5  # trailing comment',
      'uvicorn[standard] ~= 0.23',
      'attrs (>=22.1)',
      'typing-extensions; python_version < "3.11"',
      'six==1.16.0 \\',
      '    --hash=sha256:8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254',
      '',
    ].join('\n');
    assert.deepEqual(checkRequirements(text, strict), [
      'requests==2.31.0',
      'Django>=4,<5',
      'uvicorn[standard] ~= 0.23',
      'attrs (>=22.1)',
      'typing-extensions; python_version < "3.11"',
      'six==1.16.0      --hash=sha256:8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254',
    ]);
  });

  it('has nothing to install when empty or only comments', () => {
    assert.equal(checkRequirements('', strict), undefined);
    assert.equal(checkRequirements('# nothing\n\n   # here\n', strict), undefined);
  });

  it('refuses URLs, paths, files and options, naming the line', () => {
    const bad = [
      'https://example.com/pkg.tar.gz',
      'pkg @ https://example.com/pkg.whl',
      'pkg@ file:///etc/passwd',
      'git+https://github.com/a/b.git#egg=b',
      './local/pkg',
      '../pkg',
      '/abs/pkg',
      'pkg-1.0-py3-none-any.whl',
      'pkg.tar.gz',
      '-e .',
      '-e git+https://x/y.git',
      '--index-url http://127.0.0.1/simple',
      '-i http://127.0.0.1/simple',
      '--extra-index-url https://evil.example/simple',
      '-f http://127.0.0.1/links',
      '--find-links /tmp',
      '-r other.txt',
      '-c constraints.txt',
      '--trusted-host 127.0.0.1',
      'requests==2.0 --index-url http://x',
      '${HOME}/pkg',
      `x${'a'.repeat(2000)}`,
    ];
    for (const line of bad) {
      refused(() => checkRequirements(`ok==1\n${line}\n`, strict), /^requirements\.txt line 2$/);
    }
  });

  it('lets everything through when the operator allows it', () => {
    assert.deepEqual(checkRequirements('-e ./x\nhttps://y/z.whl\n', open), ['-e ./x', 'https://y/z.whl']);
  });
});
