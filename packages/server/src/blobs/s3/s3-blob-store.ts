import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { createZstdCompress, zstdCompress, zstdDecompress } from 'node:zlib';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { type BackendHealth, type BlobInfo, type BlobStore, ErrorCode, type StoredBlob } from '@faas/core';
import { corrupted, measuringStream, verifiedBytes } from '../blob-integrity.ts';
import { isSha256Hex } from '../local/blob-paths.ts';
import { isMissingObject, s3StartError, toS3StorageError } from './s3-errors.ts';
import { SourceFailed, uploadStream } from './s3-multipart.ts';

const compress = promisify(zstdCompress);
const decompress = promisify(zstdDecompress);

/** A blob's key after the prefix: `ab/cdef….zst` (staged writes are under `.tmp/`). */
const BLOB_KEY = /^([0-9a-f]{2})\/([0-9a-f]{62})\.zst$/;

/** A connection that is not up by then is an endpoint that does not answer (a black hole). */
const CONNECT_TIMEOUT_MS = 5_000;
/** A request whose socket stays silent this long is failed, so no call hangs forever. */
const IDLE_TIMEOUT_MS = 120_000;

export interface S3BlobStoreOptions {
  bucket: string;
  /** Key prefix without slashes at its ends; '' for the bucket's root. */
  prefix: string;
  /** An S3-compatible endpoint; unset: AWS's own for `region`. */
  endpoint?: string | undefined;
  region: string;
  /** Given only by tests: otherwise the AWS SDK's chain (environment, profile, instance role). */
  credentials?: { accessKeyId: string; secretAccessKey: string } | undefined;
}

/**
 * Blobs in an S3 bucket, content-addressed as on local disk: `<prefix>/ab/cdef….zst` holds the
 * zstd of the bytes whose sha256 is `abcdef…`. Streams go through without being held: uploads in
 * multipart parts, downloads as the body arrives. Reads check the hash, so a damaged or swapped
 * object is an error, never wrong bytes.
 */
export class S3BlobStore implements BlobStore {
  readonly bucket: string;
  readonly prefix: string;
  /** For messages: the endpoint in use. */
  readonly endpoint: string;
  #client: S3Client;

  constructor(options: S3BlobStoreOptions) {
    this.bucket = options.bucket;
    this.prefix = options.prefix;
    this.endpoint = options.endpoint ?? `https://s3.${options.region}.amazonaws.com`;
    this.#client = new S3Client({
      region: options.region,
      ...(options.endpoint ? { endpoint: options.endpoint, forcePathStyle: true } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
      // Checksums only where S3 requires them: S3-compatible servers do not all take the
      // aws-chunked trailers the SDK adds otherwise. Integrity is ours: every read is hashed.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, requestTimeout: IDLE_TIMEOUT_MS },
    });
  }

  /** The object key of a blob. */
  keyOf(sha256: string): string {
    return this.#key(`${sha256.slice(0, 2)}/${sha256.slice(2)}.zst`);
  }

  async put(data: Uint8Array): Promise<BlobInfo> {
    const sha256 = createHash('sha256').update(data).digest('hex');
    const info = { sha256, sizeBytes: data.byteLength };
    // Written again when already there: that renews its LastModified, which a collection reads.
    const body = await compress(data);
    await this.#call((c) =>
      c.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.keyOf(sha256), Body: body })),
    );
    return info;
  }

  /**
   * The name is known only at the end: the bytes go to a staging key (in parts, never whole),
   * then are copied to their name, so a blob's key holds either nothing or the whole blob.
   */
  async putStream(stream: Readable): Promise<BlobInfo> {
    const { stream: measure, info } = measuringStream();
    const staged = this.#key(`.tmp/${randomUUID()}.zst`);
    const compressed = stream.pipe(measure).pipe(createZstdCompress());
    // pipe() does not pass errors on: the source's failure must reach the compressed stream.
    stream.once('error', (err) => measure.destroy(err));
    measure.once('error', (err) => compressed.destroy(err));
    try {
      await uploadStream(this.#client, { bucket: this.bucket, key: staged }, compressed);
    } catch (err) {
      stream.destroy();
      compressed.destroy();
      await this.#deleteKey(staged).catch(() => undefined);
      if (err instanceof SourceFailed) throw err.cause;
      throw this.#mapped(err);
    }
    const { sha256, sizeBytes } = info();
    try {
      // Copied even when already there, which renews its LastModified (as put does).
      await this.#call((c) =>
        c.send(
          new CopyObjectCommand({
            Bucket: this.bucket,
            Key: this.keyOf(sha256),
            CopySource: `${this.bucket}/${encodeURIComponent(staged).replaceAll('%2F', '/')}`,
          }),
        ),
      );
    } finally {
      await this.#deleteKey(staged).catch(() => undefined);
    }
    return { sha256, sizeBytes };
  }

  async get(sha256: string): Promise<Uint8Array | undefined> {
    if (!isSha256Hex(sha256)) return undefined;
    const key = this.keyOf(sha256);
    const body = await this.#body(key);
    if (!body) return undefined;
    let compressed: Buffer;
    try {
      compressed = Buffer.concat(await body.toArray());
    } catch (err) {
      throw this.#mapped(err);
    }
    let data: Buffer;
    try {
      data = await decompress(compressed);
    } catch (err) {
      throw corrupted(sha256, this.#where(key), err);
    }
    const actual = createHash('sha256').update(data).digest('hex');
    if (actual !== sha256) throw corrupted(sha256, this.#where(key), undefined, actual);
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }

  /** Bytes flow as they arrive; a damaged object fails the stream, at the latest at its end. */
  async getStream(sha256: string): Promise<Readable | undefined> {
    if (!isSha256Hex(sha256)) return undefined;
    const key = this.keyOf(sha256);
    const body = await this.#body(key);
    if (!body) return undefined;
    return Readable.from(verifiedBytes(body, sha256, this.#where(key)), { objectMode: false });
  }

  async has(sha256: string): Promise<boolean> {
    if (!isSha256Hex(sha256)) return false;
    try {
      await this.#client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.keyOf(sha256) }));
      return true;
    } catch (err) {
      if (isMissingObject(err)) return false;
      throw this.#mapped(err);
    }
  }

  /**
   * S3's delete answers the same whether the key was there: a HEAD before it tells, and gives the
   * time for `storedBefore`. A put landing between the two is lost with the blob; the collection
   * deletes only blobs no record named after a grace period, so that put is one of bytes nothing
   * had named for that long.
   */
  async delete(sha256: string, options: { storedBefore?: number } = {}): Promise<boolean> {
    if (!isSha256Hex(sha256)) return false;
    let head: HeadObjectCommandOutput;
    try {
      head = await this.#client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.keyOf(sha256) }));
    } catch (err) {
      if (isMissingObject(err)) return false;
      throw this.#mapped(err);
    }
    const storedAt = head.LastModified?.getTime() ?? 0;
    if (options.storedBefore !== undefined && storedAt >= options.storedBefore) return false;
    await this.#deleteKey(this.keyOf(sha256));
    return true;
  }

  /** Page by page (S3 gives up to 1,000 keys at a time). */
  async *list(): AsyncIterable<StoredBlob> {
    const prefix = this.#key('');
    let token: string | undefined;
    do {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.#client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
        );
      } catch (err) {
        throw this.#mapped(err);
      }
      for (const object of page.Contents ?? []) {
        const name = BLOB_KEY.exec(object.Key?.slice(prefix.length) ?? '');
        if (!name) continue;
        yield {
          sha256: `${name[1]}${name[2]}`,
          storedAt: object.LastModified?.getTime() ?? 0,
          storedBytes: object.Size ?? 0,
        };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** Unhealthy while the bucket does not answer (unreachable, gone, access refused). */
  async health(): Promise<BackendHealth> {
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return { ok: true };
    } catch (err) {
      return { ok: false, code: ErrorCode.STORAGE_UNAVAILABLE, reason: this.#mapped(err).message };
    }
  }

  /**
   * Checks the bucket answers to these credentials, so a server with a wrong URL, endpoint or
   * key stops at start with a message naming `setting` rather than failing its first deploy.
   */
  async verify(setting: string): Promise<void> {
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      throw s3StartError(err, { endpoint: this.endpoint, bucket: this.bucket, setting });
    }
  }

  async close(): Promise<void> {
    this.#client.destroy();
  }

  /** Writes raw bytes at a blob's key, behind the store's back: for tests of damaged objects. */
  async overwriteRaw(sha256: string, bytes: Uint8Array): Promise<void> {
    await this.#call((c) =>
      c.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.keyOf(sha256), Body: bytes })),
    );
  }

  /** The body of an object as a stream, or undefined when there is no such object. */
  async #body(key: string): Promise<Readable | undefined> {
    try {
      const out = await this.#client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return out.Body as Readable;
    } catch (err) {
      if (isMissingObject(err)) return undefined;
      throw this.#mapped(err);
    }
  }

  async #deleteKey(key: string): Promise<void> {
    await this.#call((c) => c.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })));
  }

  /** Runs one S3 call; its failure as a storage error. */
  async #call(call: (client: S3Client) => Promise<unknown>): Promise<void> {
    try {
      await call(this.#client);
    } catch (err) {
      throw this.#mapped(err);
    }
  }

  #key(rest: string): string {
    return this.prefix === '' ? rest : `${this.prefix}/${rest}`;
  }

  #where(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }

  #mapped(err: unknown) {
    return toS3StorageError(err, { endpoint: this.endpoint, bucket: this.bucket });
  }
}
