import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

const ROOT = new URL('../../', import.meta.url).pathname;
/** Run with this Node (24): the bin's `#!/usr/bin/env node` may find an older one. */
const DEPCRUISE = join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruiser.mjs');
const RULES = join(ROOT, '.dependency-cruiser.cjs');

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

/** Cruises `dir` with the project's rule file; the violations found. */
async function violations(dir: string, paths: string[]): Promise<string[]> {
  const run = promisify(execFile);
  const { stdout } = await run(
    process.execPath,
    [DEPCRUISE, ...paths, '--config', RULES, '--output-type', 'json'],
    // The JSON lists every module: past execFile's 1 MiB default on this repository.
    { cwd: dir, maxBuffer: 256 * 1024 * 1024 },
  ).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  const result = JSON.parse(stdout) as { summary: { violations: Violation[] } };
  return result.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`).sort();
}

/** A tree of TypeScript files laid out like the repository's. */
function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'faas-deps-'));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { allowImportingTsExtensions: true } }),
  );
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

const S = 'packages/server/src';

describe('the dependency rules (.dependency-cruiser.cjs)', () => {
  let dir: string;
  before(() => {
    dir = tree({
      'packages/core/src/index.ts': 'export type Id = string;\n',
      [`${S}/gateway/app.ts`]: "import '../control/service.ts';\nimport '../../../core/src/index.ts';\n",
      [`${S}/control/service.ts`]: "import '../../../core/src/index.ts';\nexport const s = 1;\n",
      [`${S}/control/reaches-up.ts`]: "import '../gateway/app.ts';\n",
      [`${S}/control/reaches-down.ts`]: "import '../runtimes/isolate.ts';\n",
      [`${S}/control/service.test.ts`]: "import '../gateway/app.ts';\nimport '../runtimes/isolate.ts';\n",
      [`${S}/control/code/test-support.ts`]: 'export const fixture = 1;\n',
      [`${S}/runtimes/isolate.ts`]: "import '../data/registry.ts';\n",
      [`${S}/data/registry.ts`]: 'export const r = 1;\n',
      [`${S}/store/store.ts`]: "import '../control/code/test-support.ts';\n",
      [`${S}/control/a.ts`]: "import './b.ts';\nexport const a = 1;\n",
      [`${S}/control/b.ts`]: "import './a.ts';\nexport const b = 1;\n",
      // A listed exception allows exactly its own import, nothing more.
      [`${S}/data/async-worker.ts`]:
        "import '../control/invocation-service.ts';\nimport '../gateway/app.ts';\n",
      [`${S}/control/invocation-service.ts`]: 'export const i = 1;\n',
    });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('finds every import across the layers, test support in src, and cycles; tests are free', async () => {
    assert.deepEqual(await violations(dir, ['packages']), [
      `control-layer: ${S}/control/reaches-down.ts → ${S}/runtimes/isolate.ts`,
      `control-layer: ${S}/control/reaches-up.ts → ${S}/gateway/app.ts`,
      `data-layer: ${S}/data/async-worker.ts → ${S}/gateway/app.ts`,
      `no-circular: ${S}/control/a.ts → ${S}/control/b.ts`,
      `no-test-support-in-src: ${S}/store/store.ts → ${S}/control/code/test-support.ts`,
      `runtimes-layer: ${S}/runtimes/isolate.ts → ${S}/data/registry.ts`,
      `store-layer: ${S}/store/store.ts → ${S}/control/code/test-support.ts`,
    ]);
  });

  it('passes on the repository as it is', async () => {
    assert.deepEqual(await violations(ROOT, ['packages', 'test', 'bench']), []);
  });
});
