import { join } from 'node:path';
import { type BlobStore, type Config, UnreachableCaseError } from '@faas/core';
import { CachedBlobStore } from './cache/cached-blob-store.ts';
import { createLocalBlobStore } from './local/local-blob-store.ts';
import { S3BlobStore } from './s3/s3-blob-store.ts';

/** The blob store implementations the configuration can select. Plain data: it crosses to child processes. */
export type BlobBackend =
  /** Embedded: files in the data dir. */
  | { kind: 'local'; root: string }
  /** An S3 bucket shared by every server of a deployment. */
  | {
      kind: 's3';
      bucket: string;
      prefix: string;
      endpoint: string | undefined;
      region: string;
      /** The local read-through cache's folder and cap. */
      cacheRoot: string;
      cacheMaxBytes: number;
    };

/** The setting whose value a failing S3 is reported under. */
export const OBJECT_STORE_SETTING = 'FAAS_OBJECT_STORE_URL';

/** FAAS_OBJECT_STORE_URL set: S3; unset: `<data dir>/blobs`. */
export function blobBackend(
  config: Pick<Config, 'dataDir' | 'objectStoreUrl' | 's3Endpoint' | 's3Region' | 'blobCacheMb'>,
  env: Record<string, string | undefined> = process.env,
): BlobBackend {
  if (config.objectStoreUrl === undefined) return { kind: 'local', root: join(config.dataDir, 'blobs') };
  // The form was checked by loadConfig: s3://bucket[/prefix].
  const rest = config.objectStoreUrl.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  const prefix = slash === -1 ? '' : rest.slice(slash + 1).replace(/^\/+|\/+$/g, '');
  return {
    kind: 's3',
    bucket,
    prefix,
    endpoint: config.s3Endpoint,
    // As the AWS SDK reads it, with a default: a bucket's region only matters to AWS itself.
    region: config.s3Region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
    cacheRoot: join(config.dataDir, 'blob-cache'),
    cacheMaxBytes: config.blobCacheMb * 1024 * 1024,
  };
}

/**
 * The folder a blob read from this server's disk is in: the store itself, or S3's cache. Isolate
 * hosts read artifacts there (and ask the server for those not there yet).
 */
export function localBlobRoot(backend: BlobBackend): string {
  return backend.kind === 'local' ? backend.root : backend.cacheRoot;
}

/**
 * Opens the selected blob store; S3 is read through its local cache. With `verify`, an S3 bucket is checked at once, so a server
 * with a wrong URL, endpoint or key stops at start rather than at its first deploy.
 * @throws FaasError STORAGE_UNAVAILABLE naming FAAS_OBJECT_STORE_URL when the bucket cannot be used
 */
export async function openBlobStore(
  backend: BlobBackend,
  options: { verify: boolean; logger?: Pick<Console, 'warn'> },
): Promise<BlobStore> {
  switch (backend.kind) {
    case 'local':
      return createLocalBlobStore({ root: backend.root });
    case 's3': {
      const s3 = new S3BlobStore({
        bucket: backend.bucket,
        prefix: backend.prefix,
        endpoint: backend.endpoint,
        region: backend.region,
      });
      if (options.verify) {
        try {
          await s3.verify(OBJECT_STORE_SETTING);
        } catch (err) {
          await s3.close();
          throw err;
        }
      }
      const cached = new CachedBlobStore({
        remote: s3,
        cache: await createLocalBlobStore({ root: backend.cacheRoot }),
        maxBytes: backend.cacheMaxBytes,
        ...(options.logger ? { logger: options.logger } : {}),
      });
      await cached.recount();
      return cached;
    }
    default:
      throw new UnreachableCaseError(backend);
  }
}
