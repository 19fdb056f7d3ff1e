import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, isFaasError } from '@faas/core';
import { fuzz } from '@faas/testkit';
import { checkPath } from './source-files.ts';
import { zipOf } from './test-support.ts';
import { readZip } from './zip-reader.ts';

const LIMITS = { maxBytes: 256 * 1024, maxFiles: 64 };

/** What a read may answer: files that stay inside the code folder and within the limits. */
function checkFiles(files: Map<string, Uint8Array>): void {
  let total = 0;
  for (const [path, bytes] of files) {
    assert.deepEqual(checkPath(path), { path }, `unsafe path ${JSON.stringify(path)}`);
    total += bytes.byteLength;
  }
  assert.ok(total <= LIMITS.maxBytes, `${total} bytes past the limit`);
  assert.ok(files.size <= LIMITS.maxFiles, `${files.size} files past the limit`);
}

describe('readZip under fuzzing', () => {
  it('answers files within the limits or INVALID_ARCHIVE, never another throw or a hang', async () => {
    const seeds = [
      zipOf({ 'index.js': 'export default () => 1', 'lib/a.js': 'export const a = 2;\n'.repeat(40) }),
      zipOf({ 'index.js': 'export default (e) => e' }, {}, { store: true }),
      zipOf(
        { 'main.py': 'def handler(e, c):\n  return e\n', 'pkg/__init__.py': '' },
        { 'main.py': 0o100644 },
      ),
      zipOf({ 'x.js': new Uint8Array(4096) }),
    ];
    const report = await fuzz({
      seeds,
      run: async (input) => checkFiles(await readZip(input, LIMITS)),
      rejects: (err) => isFaasError(err) && err.code === ErrorCode.INVALID_ARCHIVE,
    });
    assert.ok(report.runs > seeds.length);
  });
});
