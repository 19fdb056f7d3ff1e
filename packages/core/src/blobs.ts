import type { Readable } from 'node:stream';
import type { BackendHealth } from './health.ts';

export interface BlobInfo {
  sha256: string;
  /** Uncompressed size. */
  sizeBytes: number;
}

/**
 * Content-addressed storage: a blob's name is the sha256 of its (uncompressed) bytes, so writing
 * the same bytes twice stores them once. Implementations: local disk (zstd, sharded `ab/cdef…`),
 * S3. All must pass `defineBlobSuite`.
 */
export interface BlobStore {
  /** Stores bytes; idempotent. */
  put(data: Uint8Array): Promise<BlobInfo>;
  /** Stores a stream without holding it in memory; idempotent. */
  putStream(stream: Readable): Promise<BlobInfo>;
  /** The bytes, or undefined when absent. Verifies the hash. */
  get(sha256: string): Promise<Uint8Array | undefined>;
  /** A stream of the bytes, or undefined when absent. */
  getStream(sha256: string): Promise<Readable | undefined>;
  has(sha256: string): Promise<boolean>;
  /** Returns false when absent. */
  delete(sha256: string): Promise<boolean>;
  /** Whether the store answers (for `/ready`): the folder is there, the bucket answers. */
  health(): Promise<BackendHealth>;
  close(): Promise<void>;
}
