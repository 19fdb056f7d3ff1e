import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { BackendHealth, BlobInfo, BlobStore, StoredBlob } from '@faas/core';

/**
 * A BlobStore in memory, for tests that need one but are not about storage. Copies bytes in and
 * out so callers cannot change what is stored.
 */
export class MemoryBlobStore implements BlobStore {
  #blobs = new Map<string, { data: Uint8Array; storedAt: number }>();

  async put(data: Uint8Array): Promise<BlobInfo> {
    const sha256 = createHash('sha256').update(data).digest('hex');
    const stored = this.#blobs.get(sha256)?.data ?? new Uint8Array(data);
    this.#blobs.set(sha256, { data: stored, storedAt: Date.now() });
    return { sha256, sizeBytes: data.byteLength };
  }

  async putStream(stream: Readable): Promise<BlobInfo> {
    const chunks: Uint8Array[] = [];
    for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    return this.put(Buffer.concat(chunks));
  }

  async get(sha256: string): Promise<Uint8Array | undefined> {
    const data = this.#blobs.get(sha256)?.data;
    return data && new Uint8Array(data);
  }

  async getStream(sha256: string): Promise<Readable | undefined> {
    const data = await this.get(sha256);
    return data && Readable.from([data]);
  }

  async has(sha256: string): Promise<boolean> {
    return this.#blobs.has(sha256);
  }

  async delete(sha256: string, options: { storedBefore?: number } = {}): Promise<boolean> {
    const stored = this.#blobs.get(sha256);
    if (!stored || stored.storedAt >= (options.storedBefore ?? Number.POSITIVE_INFINITY)) return false;
    return this.#blobs.delete(sha256);
  }

  async *list(): AsyncIterable<StoredBlob> {
    for (const [sha256, { data, storedAt }] of [...this.#blobs]) {
      yield { sha256, storedAt, storedBytes: data.byteLength };
    }
  }

  async health(): Promise<BackendHealth> {
    return { ok: true };
  }

  async close(): Promise<void> {
    this.#blobs.clear();
  }
}

export function createMemoryBlobStore(): MemoryBlobStore {
  return new MemoryBlobStore();
}
