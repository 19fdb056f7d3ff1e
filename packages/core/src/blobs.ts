import type { Readable } from 'node:stream';
import type { BackendHealth } from './health.ts';

export interface BlobInfo {
  sha256: string;
  /** Uncompressed size. */
  sizeBytes: number;
}

/** A blob as the store holds it, for the collection of blobs nothing names. */
export interface StoredBlob {
  sha256: string;
  /** When its bytes were last put (ms since the epoch): a put of bytes already stored renews it. */
  storedAt: number;
  /** What it takes in the store (compressed). */
  storedBytes: number;
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
  /**
   * Returns false when absent, or with `storedBefore`, when it was put at or after that time: a
   * put that answered for these bytes just now (its record about to name them) keeps them.
   */
  delete(sha256: string, options?: { storedBefore?: number }): Promise<boolean>;
  /** Every stored blob, in no set order. */
  list(): AsyncIterable<StoredBlob>;
  /** Whether the store answers (for `/ready`): the folder is there, the bucket answers. */
  health(): Promise<BackendHealth>;
  close(): Promise<void>;
}
