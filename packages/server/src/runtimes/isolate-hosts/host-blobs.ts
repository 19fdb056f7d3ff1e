import type { Readable } from 'node:stream';
import {
  type BackendHealth,
  type BlobInfo,
  type BlobStore,
  ErrorCode,
  FaasError,
  type StoredBlob,
} from '@faas/core';

/** Asks the server to bring a blob to this machine's disk; answers whether it exists. */
export type FetchMissing = (sha256: string) => Promise<boolean>;

/**
 * An isolate host's view of the blobs: the folder on this machine (the embedded store, or S3's
 * cache), and for a blob not there yet, the server, which fetches it into that folder. The host
 * process runs tenant code and holds no credentials, so it never talks to S3 itself. Read-only.
 */
export class HostBlobs implements BlobStore {
  #local: BlobStore;
  #fetchMissing: FetchMissing | undefined;

  constructor(local: BlobStore, fetchMissing?: FetchMissing) {
    this.#local = local;
    this.#fetchMissing = fetchMissing;
  }

  async get(sha256: string): Promise<Uint8Array | undefined> {
    const local = await this.#local.get(sha256);
    if (local || !this.#fetchMissing) return local;
    return (await this.#fetchMissing(sha256)) ? this.#local.get(sha256) : undefined;
  }

  async getStream(sha256: string): Promise<Readable | undefined> {
    const local = await this.#local.getStream(sha256);
    if (local || !this.#fetchMissing) return local;
    return (await this.#fetchMissing(sha256)) ? this.#local.getStream(sha256) : undefined;
  }

  async has(sha256: string): Promise<boolean> {
    return (await this.#local.has(sha256)) || ((await this.#fetchMissing?.(sha256)) ?? false);
  }

  put(): Promise<BlobInfo> {
    return Promise.reject(readOnly());
  }

  putStream(): Promise<BlobInfo> {
    return Promise.reject(readOnly());
  }

  delete(): Promise<boolean> {
    return Promise.reject(readOnly());
  }

  list(): AsyncIterable<StoredBlob> {
    return { [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(readOnly()) }) };
  }

  health(): Promise<BackendHealth> {
    return this.#local.health();
  }

  close(): Promise<void> {
    return this.#local.close();
  }
}

function readOnly(): FaasError {
  return new FaasError(ErrorCode.INTERNAL, 'An isolate host only reads blobs');
}

/**
 * Fetches over the host's IPC channel to the server: one request per blob at a time, answered by
 * `blob-fetched` messages with the same id.
 */
export function fetchOverIpc(
  send: (event: { type: 'fetch-blob'; id: number; sha256: string }) => void,
  onAnswer: (listener: (answer: { id: number; found: boolean; error?: string }) => void) => void,
): FetchMissing {
  let next = 0;
  const waiting = new Map<number, { resolve: (found: boolean) => void; reject: (err: Error) => void }>();
  onAnswer((answer) => {
    const waiter = waiting.get(answer.id);
    if (!waiter) return;
    waiting.delete(answer.id);
    if (answer.error !== undefined) {
      waiter.reject(new FaasError(ErrorCode.STORAGE_UNAVAILABLE, `Fetching a blob failed: ${answer.error}`));
    } else {
      waiter.resolve(answer.found);
    }
  });
  return (sha256) =>
    new Promise<boolean>((resolve, reject) => {
      const id = ++next;
      waiting.set(id, { resolve, reject });
      send({ type: 'fetch-blob', id, sha256 });
    });
}
