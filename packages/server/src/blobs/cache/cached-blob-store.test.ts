import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { zstdCompressSync } from 'node:zlib';
import { ErrorCode, isFaasError, loadConfig } from '@faas/core';
import { defineBlobSuite } from '@faas/testkit';
import { blobPath } from '../local/blob-paths.ts';
import { createLocalBlobStore } from '../local/local-blob-store.ts';
import { blobBackend, openBlobStore } from '../open-blob-store.ts';
import { S3BlobStore } from '../s3/s3-blob-store.ts';
import { startTestS3, TEST_S3_CREDENTIALS, type TestS3 } from '../s3/test-support.ts';
import { CachedBlobStore } from './cached-blob-store.ts';

let s3: TestS3;
const root = mkdtempSync(join(tmpdir(), 'faas-blob-cache-'));
before(async () => {
  s3 = await startTestS3();
  // The factory's S3 client reads credentials as the AWS SDK does: from the environment here.
  Object.assign(process.env, s3.env);
});
after(async () => {
  await s3.close();
  rmSync(root, { recursive: true, force: true });
});

/** An S3 store that counts the GETs that reach S3. */
class CountingS3 extends S3BlobStore {
  gets = 0;
  override async get(sha256: string) {
    this.gets++;
    return super.get(sha256);
  }
}

async function cachedStore(maxBytes = 64 * 1024 * 1024) {
  const remote = new CountingS3({
    bucket: s3.bucket,
    prefix: `cache/${randomUUID()}`,
    endpoint: s3.endpoint,
    region: 'us-east-1',
    credentials: TEST_S3_CREDENTIALS,
  });
  const cacheRoot = join(root, randomUUID());
  const blobs = new CachedBlobStore({
    remote,
    cache: await createLocalBlobStore({ root: cacheRoot }),
    maxBytes,
    logger: { warn: () => undefined },
  });
  return { blobs, remote, cacheRoot };
}

defineBlobSuite('CachedBlobStore (S3 behind a local cache)', async () => {
  const { blobs, remote, cacheRoot } = await cachedStore();
  return {
    blobs,
    // Both copies: the cache must not hide a damaged S3 object, nor serve a damaged file.
    corrupt: async (sha256) => {
      await remote.overwriteRaw(sha256, zstdCompressSync(Buffer.from('swapped')));
      try {
        writeFileSync(blobPath(cacheRoot, sha256), zstdCompressSync(Buffer.from('swapped too')));
      } catch {
        // Not cached: S3's copy is the one read.
      }
    },
    cleanup: () => blobs.close(),
  };
});

describe('CachedBlobStore', () => {
  it('a blob read once is read from disk after: no second GET to S3', async () => {
    const writer = await cachedStore();
    // Written by another server: not in the reader's cache.
    const { sha256 } = await writer.blobs.put(Buffer.from('code of a function'));
    const reader = new CachedBlobStore({
      remote: writer.remote,
      cache: await createLocalBlobStore({ root: join(root, randomUUID()) }),
      maxBytes: 1024 * 1024,
    });
    writer.remote.gets = 0;
    assert.equal(Buffer.from((await reader.get(sha256)) ?? []).toString(), 'code of a function');
    assert.equal(writer.remote.gets, 1);
    for (let i = 0; i < 5; i++) await reader.get(sha256);
    assert.equal(writer.remote.gets, 1, 'a cached blob was fetched from S3 again');
    await reader.close();
  });

  it('keeps its files under the cap, evicting the least recently used first', async () => {
    // Random bytes do not compress: each blob takes ~100 KiB on disk; four fit, five do not.
    const cap = 450 * 1024;
    const { blobs, cacheRoot } = await cachedStore(cap);
    const infos = [];
    for (let i = 0; i < 4; i++) infos.push(await blobs.put(randomBytes(100 * 1024)));
    // The oldest write is read again: the second becomes the least recently used.
    await new Promise((resolve) => setTimeout(resolve, 20));
    await blobs.get((infos[0] as (typeof infos)[0]).sha256);
    infos.push(await blobs.put(randomBytes(100 * 1024)));
    const cached = await Promise.all(infos.map((info) => blobs.cache.has(info.sha256)));
    assert.deepEqual(cached, [true, false, true, true, true]);
    assert.ok(blobs.usedBytes <= cap, `${blobs.usedBytes} bytes cached`);
    const files = readdirSync(cacheRoot)
      .filter((d) => d !== '.tmp')
      .flatMap((d) => readdirSync(join(cacheRoot, d)));
    assert.equal(files.length, 4);
    // Evicted from the cache, not from S3.
    assert.equal((await blobs.get((infos[1] as (typeof infos)[0]).sha256))?.byteLength, 100 * 1024);
    await blobs.close();
  });

  it('does not keep a blob past a quarter of the cap: it would evict the code for itself', async () => {
    const { blobs } = await cachedStore(400 * 1024);
    const code = await blobs.put(randomBytes(50 * 1024));
    const big = await blobs.put(randomBytes(150 * 1024));
    assert.equal(await blobs.cache.has(big.sha256), false);
    assert.equal(await blobs.cache.has(code.sha256), true);
    assert.equal((await blobs.get(big.sha256))?.byteLength, 150 * 1024);
    assert.equal(await blobs.cache.has(big.sha256), false);
    await blobs.close();
  });

  it('a damaged cached file is dropped and the S3 copy read instead', async () => {
    const { blobs, cacheRoot } = await cachedStore();
    const { sha256 } = await blobs.put(Buffer.from('good bytes'));
    writeFileSync(blobPath(cacheRoot, sha256), zstdCompressSync(Buffer.from('bad bytes')));
    assert.equal(Buffer.from((await blobs.get(sha256)) ?? []).toString(), 'good bytes');
    assert.equal(Buffer.from((await blobs.cache.get(sha256)) ?? []).toString(), 'good bytes');
    await blobs.close();
  });
});

describe('openBlobStore (FAAS_OBJECT_STORE_URL)', () => {
  const configOf = (env: Record<string, string>) =>
    loadConfig({ FAAS_DATA_DIR: join(root, randomUUID()), ...env });

  it('unset: the local store in the data dir', () => {
    const config = configOf({});
    assert.deepEqual(blobBackend(config), { kind: 'local', root: join(config.dataDir, 'blobs') });
  });

  it('s3://bucket/prefix with an endpoint: S3 behind a cache that works', async () => {
    const config = configOf({
      FAAS_OBJECT_STORE_URL: `s3://${s3.bucket}/open/${randomUUID()}/`,
      FAAS_S3_ENDPOINT: s3.endpoint,
    });
    const backend = blobBackend(config, s3.env);
    assert.equal(backend.kind, 's3');
    const blobs = await openBlobStore(backend, { verify: true });
    assert.ok(blobs instanceof CachedBlobStore);
    const { sha256 } = await blobs.put(Buffer.from('through the factory'));
    assert.equal(Buffer.from((await blobs.get(sha256)) ?? []).toString(), 'through the factory');
    await blobs.close();
  });

  it('a missing bucket stops the start with an error naming the setting', async () => {
    const config = configOf({
      FAAS_OBJECT_STORE_URL: 's3://no-such-bucket/x',
      FAAS_S3_ENDPOINT: s3.endpoint,
    });
    await assert.rejects(openBlobStore(blobBackend(config, s3.env), { verify: true }), (err: unknown) => {
      assert.ok(isFaasError(err));
      assert.equal(err.code, ErrorCode.STORAGE_UNAVAILABLE);
      assert.match(err.message, /^FAAS_OBJECT_STORE_URL: .*"no-such-bucket" does not exist/);
      return true;
    });
  });

  it('an endpoint with credentials in it is refused, the secret not repeated', () => {
    for (const bad of ['http://key:s3cret@127.0.0.1:9000', 'ftp://127.0.0.1', 'not a url']) {
      assert.throws(
        () => configOf({ FAAS_S3_ENDPOINT: bad }),
        (err: unknown) =>
          isFaasError(err) && /FAAS_S3_ENDPOINT/.test(err.message) && !/s3cret/.test(err.message),
        bad,
      );
    }
  });

  it('malformed URLs are refused by the configuration, naming the setting', () => {
    for (const bad of [
      'http://bucket/x',
      's3://',
      's3://UPPER/x',
      's3://key:secret@bucket/x',
      's3://bucket/../x',
      's3:/bucket',
    ]) {
      assert.throws(
        () => configOf({ FAAS_OBJECT_STORE_URL: bad }),
        (err: unknown) =>
          isFaasError(err) && /FAAS_OBJECT_STORE_URL/.test(err.message) && !/secret/.test(err.message),
        bad,
      );
    }
  });
});
