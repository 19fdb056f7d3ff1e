// Section 7: a code blob read cold (from S3, then kept in the local cache) vs read again (a hit
// on the local disk cache), through the same CachedBlobStore the server uses. S3 is an S3
// protocol server on loopback (BENCH_S3_ENDPOINT or FAAS_TEST_S3_ENDPOINT, else a private s3rver),
// so the cold figure has no real network in it: against a remote S3 the gap is wider.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CachedBlobStore } from '../packages/server/src/blobs/cache/cached-blob-store.ts';
import { createLocalBlobStore } from '../packages/server/src/blobs/local/local-blob-store.ts';
import { S3BlobStore } from '../packages/server/src/blobs/s3/s3-blob-store.ts';
import { startTestS3, TEST_S3_CREDENTIALS } from '../packages/server/src/blobs/s3/test-support.ts';
import type { Metric } from './lib/report.ts';
import { percentile } from './lib/stats.ts';

/** Blobs read: each once cold, then each once warm. */
const BLOBS = 100;
/** A bundled function of moderate size: half source-like text, half incompressible. */
const BLOB_BYTES = 256 * 1024;

function codeLike(): Buffer {
  const text = Buffer.from('export const handler = async (event) => ({ ok: true, event });\n'.repeat(2048));
  return Buffer.concat([text.subarray(0, BLOB_BYTES / 2), randomBytes(BLOB_BYTES / 2)]);
}

async function timed(read: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  const bytes = await read();
  if (!bytes) throw new Error('a blob was missing');
  return performance.now() - start;
}

export async function measureBlobCache(log: (line: string) => void): Promise<Metric[]> {
  if (process.env.BENCH_S3_ENDPOINT) process.env.FAAS_TEST_S3_ENDPOINT = process.env.BENCH_S3_ENDPOINT;
  const s3 = await startTestS3();
  const dir = mkdtempSync(join(tmpdir(), 'faas-bench-cache-'));
  const remote = () =>
    new S3BlobStore({
      bucket: s3.bucket,
      prefix: `bench/${randomUUID()}`,
      endpoint: s3.endpoint,
      region: 'us-east-1',
      credentials: TEST_S3_CREDENTIALS,
    });
  const writer = remote();
  // The reader is another server: same bucket and prefix, its own (empty) cache.
  const reader = new CachedBlobStore({
    remote: new S3BlobStore({
      bucket: writer.bucket,
      prefix: writer.prefix,
      endpoint: s3.endpoint,
      region: 'us-east-1',
      credentials: TEST_S3_CREDENTIALS,
    }),
    cache: await createLocalBlobStore({ root: join(dir, 'cache') }),
    maxBytes: 1024 * 1024 * 1024,
  });
  try {
    const names: string[] = [];
    for (let i = 0; i < BLOBS; i++) names.push((await writer.put(codeLike())).sha256);
    // One read first so connection setup and lazy loading are not in the cold figures.
    await reader.get((await writer.put(codeLike())).sha256);
    const cold: number[] = [];
    for (const name of names) cold.push(await timed(() => reader.get(name)));
    const warm: number[] = [];
    for (const name of names) warm.push(await timed(() => reader.get(name)));
    const coldP50 = percentile(cold, 50);
    const warmP50 = percentile(warm, 50);
    const ratio = coldP50 / warmP50;
    log(`  ${BLOBS} code blobs of ${BLOB_BYTES / 1024} KiB, S3 at ${s3.endpoint}`);
    log(
      `  cold fetch (S3, then cached): p50 ${coldP50.toFixed(2)} ms, p99 ${percentile(cold, 99).toFixed(2)} ms`,
    );
    log(
      `  local cache hit:              p50 ${warmP50.toFixed(2)} ms, p99 ${percentile(warm, 99).toFixed(2)} ms`,
    );
    log(`  ratio cold/hit (p50): ${ratio.toFixed(1)}x`);
    return [
      { section: '7', metric: 'code blob cold fetch from S3, p50', unit: 'ms', faas: coldP50 },
      {
        section: '7',
        metric: 'code blob local cache hit, p50 (vs cold fetch)',
        unit: 'ms',
        faas: warmP50,
        baseline: coldP50,
        ratio: warmP50 / coldP50,
      },
    ];
  } finally {
    await writer.close();
    await reader.close();
    await s3.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
