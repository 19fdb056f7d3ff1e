import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';

/**
 * Bytes per part. S3 wants at least 5 MiB per part (but the last) and at most 10,000 parts:
 * 8 MiB parts carry a compressed blob of up to 78 GiB.
 */
export const PART_BYTES = 8 * 1024 * 1024;

/** Which side failed an upload: the bytes given, or S3. Only S3's failure is a storage error. */
export class SourceFailed extends Error {
  constructor(cause: unknown) {
    super('the source of an upload failed', { cause });
  }
}

/**
 * Uploads a stream of unknown length to `key`: one PUT when it fits in a part, else a multipart
 * upload whose parts go one at a time from one buffer, reused. Memory stays at one part however
 * large the stream; an upload that fails is aborted, so no parts are left to pay for.
 * @throws SourceFailed (its cause the source's error) when `source` fails; S3's errors as they are
 */
export async function uploadStream(
  client: S3Client,
  target: { bucket: string; key: string },
  source: AsyncIterable<Buffer>,
): Promise<void> {
  const part = Buffer.allocUnsafe(PART_BYTES);
  let filled = 0;
  let uploadId: string | undefined;
  const parts: CompletedPart[] = [];
  const Bucket = target.bucket;
  const Key = target.key;
  const sendPart = async () => {
    if (uploadId === undefined) {
      const created = await client.send(new CreateMultipartUploadCommand({ Bucket, Key }));
      uploadId = created.UploadId;
      if (!uploadId) throw new Error('S3 gave no UploadId for a multipart upload');
    }
    const PartNumber = parts.length + 1;
    const body = part.subarray(0, filled);
    const sent = await client.send(
      new UploadPartCommand({ Bucket, Key, UploadId: uploadId, PartNumber, Body: body }),
    );
    parts.push({ ETag: sent.ETag, PartNumber });
    filled = 0;
  };
  try {
    const chunks = source[Symbol.asyncIterator]();
    for (;;) {
      let next: IteratorResult<Buffer>;
      try {
        next = await chunks.next();
      } catch (err) {
        throw new SourceFailed(err);
      }
      if (next.done) break;
      const chunk = next.value;
      let offset = 0;
      while (offset < chunk.byteLength) {
        const n = chunk.copy(part, filled, offset);
        filled += n;
        offset += n;
        if (filled === PART_BYTES) await sendPart();
      }
    }
    if (uploadId === undefined) {
      await client.send(new PutObjectCommand({ Bucket, Key, Body: part.subarray(0, filled) }));
      return;
    }
    if (filled > 0) await sendPart();
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket,
        Key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
  } catch (err) {
    if (uploadId !== undefined) {
      await client
        .send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId: uploadId }))
        .catch(() => undefined);
    }
    throw err;
  }
}
