import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestRuntime, docker, engineSkipReason, request, type TestRuntime } from './support.ts';

const skip = await engineSkipReason();

const GO_MOD = 'module example.com/fn\n\ngo 1.19\n\nrequire example.com/greet v1.0.0\n';
const VENDOR = {
  'go.mod': GO_MOD,
  'vendor/modules.txt': '# example.com/greet v1.0.0\n## explicit\nexample.com/greet\n',
  'vendor/example.com/greet/greet.go':
    'package greet\n\nfunc Hello(name string) string { return "hello " + name }\n',
};

function mainGo(body: string): string {
  return `package main\n\nimport (\n\t"context"\n\t"encoding/json"\n\n\t"example.com/greet"\n)\n\nfunc Handler(ctx context.Context, event json.RawMessage) (any, error) {\n\t${body}\n}\n`;
}

describe('go builds', { skip, timeout: 1_200_000 }, () => {
  let t: TestRuntime;
  before(async () => {
    t = await createTestRuntime();
  });
  after(async () => {
    const volume = `faas-go-build-${t.runtime.ownerId}`;
    await t.close();
    await docker
      .getVolume(volume)
      .remove()
      .catch(() => {});
  });

  it('a second deploy takes what it shares with the first from the build cache', {
    timeout: 1_200_000,
  }, async () => {
    const first = await t.deploy(
      { ...VENDOR, 'main.go': mainGo('return greet.Hello("one"), nil') },
      { runtime: 'go', handler: 'main.Handler' },
    );
    const firstProgress: string[] = [];
    await t.runtime.prepare(first, { onProgress: (m) => firstProgress.push(m) });
    const compiledFirst = firstProgress.find((m) => m.startsWith('compiled '));
    assert.ok(compiledFirst, JSON.stringify(firstProgress));
    assert.match(compiledFirst, /example\.com\/greet/);

    const second = await t.deploy(
      { ...VENDOR, 'main.go': mainGo('return greet.Hello("two"), nil') },
      { runtime: 'go', handler: 'main.Handler' },
    );
    const secondProgress: string[] = [];
    await t.runtime.prepare(second, { onProgress: (m) => secondProgress.push(m) });
    const compiledSecond = secondProgress.find((m) => m.startsWith('compiled '));
    assert.ok(compiledSecond, JSON.stringify(secondProgress));
    // Only the function's own package is compiled again: the vendored module came from GOCACHE.
    assert.match(compiledSecond, /^compiled 1 go package\(s\) \(example\.com\/fn\)/);

    const outcome = await t.runtime.invoke(request(second, {}));
    assert.equal(outcome.status, 'succeeded', JSON.stringify(outcome));
    assert.equal(outcome.status === 'succeeded' && outcome.result, 'hello two');
  });

  it('code that ships its own .faas-go/function does not choose the binary that runs', async () => {
    const fn = await t.deploy(
      {
        'main.go':
          'package main\n\nimport (\n\t"context"\n\t"encoding/json"\n)\n\nfunc Handler(ctx context.Context, event json.RawMessage) (any, error) {\n\treturn "built", nil\n}\n',
        '.faas-go/function': '#!/bin/sh\necho shipped\n',
      },
      { runtime: 'go', handler: 'main.Handler' },
    );
    const outcome = await t.runtime.invoke(request(fn, {}));
    assert.equal(outcome.status, 'succeeded', JSON.stringify(outcome));
    assert.equal(outcome.status === 'succeeded' && outcome.result, 'built');
  });
});
