import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { zstdCompressSync } from 'node:zlib';
import { ErrorCode, isFaasError } from '@faas/core';
import { defineBlobSuite } from '@faas/testkit';
import { S3BlobStore } from './s3-blob-store.ts';
import { startTestS3, TEST_S3_CREDENTIALS, type TestS3 } from './test-support.ts';

let s3: TestS3;
before(async () => {
  s3 = await startTestS3();
});
after(() => s3.close());

function storeAt(prefix: string, overrides: Partial<ConstructorParameters<typeof S3BlobStore>[0]> = {}) {
  return new S3BlobStore({
    bucket: s3.bucket,
    prefix,
    endpoint: s3.endpoint,
    region: 'us-east-1',
    credentials: TEST_S3_CREDENTIALS,
    ...overrides,
  });
}

/** Ways an object goes bad: each must be caught by the hash or the decompressor. */
const damages = [
  () => zstdCompressSync(Buffer.from('other bytes entirely')),
  () => Buffer.from('not zstd at all'),
  () => zstdCompressSync(Buffer.alloc(50_000, 3)).subarray(0, 30),
];
let damage = 0;

defineBlobSuite('S3BlobStore', async () => {
  const blobs = storeAt(`suite/${randomUUID()}`);
  return {
    blobs,
    corrupt: (sha256) => blobs.overwriteRaw(sha256, (damages[damage++ % damages.length] as () => Buffer)()),
    cleanup: () => blobs.close(),
  };
});

describe('S3BlobStore keys', () => {
  it('stores <prefix>/ab/cdef….zst, the zstd of the bytes', async () => {
    const prefix = `keys/${randomUUID()}`;
    const blobs = storeAt(prefix);
    const { sha256 } = await blobs.put(Buffer.from('hello '.repeat(100)));
    assert.equal(blobs.keyOf(sha256), `${prefix}/${sha256.slice(0, 2)}/${sha256.slice(2)}.zst`);
    await blobs.close();
  });
});

describe('S3BlobStore at start', () => {
  const expectStartError = async (blobs: S3BlobStore, pattern: RegExp) => {
    await assert.rejects(blobs.verify('FAAS_OBJECT_STORE_URL'), (err: unknown) => {
      assert.ok(isFaasError(err));
      assert.equal(err.code, ErrorCode.STORAGE_UNAVAILABLE);
      assert.match(err.message, /^FAAS_OBJECT_STORE_URL: /);
      assert.match(err.message, pattern);
      assert.doesNotMatch(err.message, new RegExp(TEST_S3_CREDENTIALS.secretAccessKey));
      return true;
    });
    const health = await blobs.health();
    assert.equal(health.ok, false);
    await blobs.close();
  };

  it('a bucket that does not exist: a clear error naming the setting', async () => {
    await expectStartError(storeAt('x', { bucket: 'no-such-bucket' }), /"no-such-bucket" does not exist/);
  });

  it('an access key S3 does not know: refused, naming the credentials to check', async () => {
    const wrong = { accessKeyId: 'NOT-A-KEY', secretAccessKey: 'wrong' };
    await expectStartError(storeAt('x', { credentials: wrong }), /refused.*AWS_ACCESS_KEY_ID/);
  });

  it('an endpoint nothing listens on: a clear error naming it', async () => {
    await expectStartError(storeAt('x', { endpoint: 'http://127.0.0.1:1' }), /127\.0\.0\.1:1.*ECONNREFUSED/);
  });

  it('a good bucket passes and reports healthy', async () => {
    const blobs = storeAt('ok');
    await blobs.verify('FAAS_OBJECT_STORE_URL');
    assert.deepEqual(await blobs.health(), { ok: true });
    await blobs.close();
  });
});
