import { createHash } from 'node:crypto';
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import { createZstdDecompress } from 'node:zlib';
import { type BlobInfo, ErrorCode, FaasError } from '@faas/core';

/**
 * The decompressed bytes of `source` (a blob as stored: zstd), checked against `sha256` once all
 * have passed. `where` names the copy (a path, an S3 key) in the error of a damaged blob.
 */
export async function* verifiedBytes(
  source: Readable,
  sha256: string,
  where: string,
): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  const decompressor = createZstdDecompress();
  source.once('error', (err) => decompressor.destroy(err));
  source.pipe(decompressor);
  try {
    for await (const chunk of decompressor as AsyncIterable<Buffer>) {
      hash.update(chunk);
      yield chunk;
    }
  } catch (err) {
    throw corrupted(sha256, where, err);
  } finally {
    // Also runs when the consumer stops early: the file or connection is closed either way.
    source.destroy();
    decompressor.destroy();
  }
  const actual = hash.digest('hex');
  if (actual !== sha256) throw corrupted(sha256, where, undefined, actual);
}

/** The error of a blob whose stored bytes do not decompress or hash to its name. */
export function corrupted(sha256: string, where: string, cause?: unknown, actual?: string): FaasError {
  return new FaasError(ErrorCode.INTERNAL, `Blob ${sha256} is corrupted or unreadable (${where})`, {
    details: { sha256, path: where, ...(actual ? { actualSha256: actual } : {}) },
    cause,
  });
}

/**
 * A pass-through that hashes and counts what goes through it: a stream's blob name is known only
 * once it has all passed. `info()` is its BlobInfo after the end.
 */
export function measuringStream(): { stream: Transform; info: () => BlobInfo } {
  const hash = createHash('sha256');
  let sizeBytes = 0;
  const stream = new Transform({
    transform(chunk: Buffer | string, _encoding, callback: TransformCallback) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      hash.update(bytes);
      sizeBytes += bytes.byteLength;
      callback(null, bytes);
    },
  });
  return { stream, info: () => ({ sha256: hash.digest('hex'), sizeBytes }) };
}
