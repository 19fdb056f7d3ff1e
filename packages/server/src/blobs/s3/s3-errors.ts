import { ErrorCode, FaasError } from '@faas/core';

interface SdkError {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  $metadata?: { httpStatusCode?: number };
}

/** Whether an S3 answer says the object is not there (GetObject's NoSuchKey, HeadObject's bare 404). */
export function isMissingObject(err: unknown): boolean {
  const e = err as SdkError | null;
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

/** Why S3 refused or failed, in words an operator can act on. */
function reasonOf(err: unknown, bucket: string): string {
  const e = err as SdkError | null;
  const status = e?.$metadata?.httpStatusCode;
  const name = typeof e?.name === 'string' ? e.name : 'Error';
  if (name === 'NoSuchBucket' || (name === 'NotFound' && status === 404)) {
    return `the bucket "${bucket}" does not exist`;
  }
  if (status === 403 || name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch') {
    return `access to the bucket "${bucket}" was refused (${name}): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`;
  }
  const code = typeof e?.code === 'string' ? ` ${e.code}` : '';
  return `${name}${code}: ${String(e?.message ?? err)}`;
}

/**
 * An error of the S3 client as the FaasError a caller gets: S3 unreachable, refusing or failing is
 * STORAGE_UNAVAILABLE (503), naming the endpoint and bucket, never the credentials.
 */
export function toS3StorageError(err: unknown, where: { endpoint: string; bucket: string }): FaasError {
  if (err instanceof FaasError) return err;
  return new FaasError(
    ErrorCode.STORAGE_UNAVAILABLE,
    `The blob store's S3 (${where.endpoint}) failed: ${reasonOf(err, where.bucket)}`,
    { details: { backend: 'blobs', endpoint: where.endpoint, bucket: where.bucket }, cause: err },
  );
}

/** The error that stops a server whose S3 cannot be used at start: it names the setting. */
export function s3StartError(
  err: unknown,
  where: { endpoint: string; bucket: string; setting: string },
): FaasError {
  return new FaasError(
    ErrorCode.STORAGE_UNAVAILABLE,
    `${where.setting}: cannot use the S3 bucket "${where.bucket}" at ${where.endpoint}: ${reasonOf(err, where.bucket)}`,
    {
      details: { setting: where.setting, endpoint: where.endpoint, bucket: where.bucket },
      cause: err,
    },
  );
}
