import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, isFaasError } from '@faas/core';
import { fuzz } from '@faas/testkit';
import { checkPath } from './source-files.ts';
import { readTar } from './tar-reader.ts';
import { tarOf } from './test-support.ts';

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

const refusal = (err: unknown) => isFaasError(err) && err.code === ErrorCode.INVALID_ARCHIVE;

async function seeds(gzip: boolean): Promise<Uint8Array[]> {
  return [
    await tarOf(
      [
        { name: 'index.js', content: 'export default () => 1' },
        { name: 'lib', type: 'directory' },
        { name: 'lib/a.js', content: 'export const a = 2;\n'.repeat(40) },
      ],
      { gzip },
    ),
    await tarOf([{ name: 'main.py', content: 'def handler(e, c):\n  return e\n', mode: 0o644 }], { gzip }),
    // A long name takes a PAX header: another parser path.
    await tarOf([{ name: `${'d'.repeat(120)}/${'f'.repeat(60)}.js`, content: 'x' }], { gzip }),
  ];
}

describe('readTar under fuzzing', () => {
  it('tar: answers files within the limits or INVALID_ARCHIVE, never another throw or a hang', async () => {
    const report = await fuzz({
      seeds: await seeds(false),
      run: async (input) => checkFiles(await readTar(input, { gzip: false, limits: LIMITS })),
      rejects: refusal,
    });
    assert.ok(report.runs > 3);
  });

  it('tar.gz: the same through gunzip', async () => {
    const report = await fuzz({
      seeds: await seeds(true),
      run: async (input) => checkFiles(await readTar(input, { gzip: true, limits: LIMITS })),
      rejects: refusal,
    });
    assert.ok(report.runs > 3);
  });
});
