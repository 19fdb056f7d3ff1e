import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { BackendHealth, BlobInfo, BlobStore } from '@faas/core';

/**
 * A BlobStore in memory, for tests that need one but are not about storage. Copies bytes in and
 * out so callers cannot change what is stored.
 */
export class MemoryBlobStore implements BlobStore {
  #blobs = new Map<string, Uint8Array>();

  async put(data: Uint8Array): Promise<BlobInfo> {
    const sha256 = createHash('sha256').update(data).digest('hex');
    if (!this.#blobs.has(sha256)) this.#blobs.set(sha256, new Uint8Array(data));
    return { sha256, sizeBytes: data.byteLength };
  }

  async putStream(stream: Readable): Promise<BlobInfo> {
    const chunks: Uint8Array[] = [];
    for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    return this.put(Buffer.concat(chunks));
  }

  async get(sha256: string): Promise<Uint8Array | undefined> {
    const data = this.#blobs.get(sha256);
    return data && new Uint8Array(data);
  }

  async getStream(sha256: string): Promise<Readable | undefined> {
    const data = await this.get(sha256);
    return data && Readable.from([data]);
  }

  async has(sha256: string): Promise<boolean> {
    return this.#blobs.has(sha256);
  }

  async delete(sha256: string): Promise<boolean> {
    return this.#blobs.delete(sha256);
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
