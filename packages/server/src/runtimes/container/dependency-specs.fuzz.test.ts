import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ErrorCode, FaasError } from '@faas/core';
import { fuzz } from '@faas/testkit';
import { checkNpmManifest, checkRequirements } from './dependency-specs.ts';

const policy = { allowNonRegistry: false, npmRegistry: 'https://registry.npmjs.org/' };

const SEEDS = [
  '{"name":"fn","dependencies":{"is-number":"^7.0.0","@scope/x":"npm:y@1"},"overrides":{"a":{"b":"$is-number"}}}',
  '{"dependencies":{"a":"file:../x","b":"github:u/r#main"},"workspaces":["p"]}',
  '{"lockfileVersion":3,"packages":{"":{},"node_modules/a":{"version":"1.0.0","resolved":"https://registry.npmjs.org/a/-/a-1.0.0.tgz"}}}',
  '{"lockfileVersion":1,"dependencies":{"a":{"version":"1.0.0","dependencies":{"b":{"version":"git+ssh://x"}}}}}',
  'requests==2.31.0\nDjango>=4,<5  # c\nuvicorn[standard] ~= 0.23 ; python_version < "3.12"\n',
  '-e .\n--index-url http://127.0.0.1/simple\npkg @ https://x/y.whl\nsix==1 \\\n --hash=sha256:00ff\n',
].map((s) => Buffer.from(s));

it('the dependency checks accept or refuse any package.json, lock or requirements.txt, in bounded time', async () => {
  const report = await fuzz({
    seeds: SEEDS,
    maxBytes: 256 * 1024,
    maxRunMs: 500,
    rejects: (err) => err instanceof FaasError && err.code === ErrorCode.VALIDATION,
    run: (input) => {
      const text = Buffer.from(input).toString('utf8');
      // The same bytes as each file: a manifest, a manifest with itself as its lock, requirements.
      const results: unknown[] = [];
      for (const check of [
        () => checkNpmManifest(text, undefined, policy),
        () => checkNpmManifest('{"dependencies":{"a":"1"}}', text, policy),
        () => checkRequirements(text, policy),
      ]) {
        try {
          results.push(check());
        } catch (err) {
          if (!(err instanceof FaasError && err.code === ErrorCode.VALIDATION)) throw err;
          assert.ok(err.message.length < 2000, 'messages show a bounded part of the input');
        }
      }
    },
  });
  assert.ok(report.runs > 0);
});
