// Test support for the S3 blob store: an S3 protocol server (s3rver) on loopback with one bucket,
// run as a child process (s3rver.test-child.ts). Imported by tests and benchmarks only.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** s3rver's one account. It checks the access key id; it does not check v4 signatures. */
export const TEST_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
export const TEST_S3_BUCKET = 'faas-test-blobs';

const CHILD = fileURLToPath(new URL('./s3rver.test-child.ts', import.meta.url));

export interface TestS3 {
  endpoint: string;
  bucket: string;
  /** The environment a server process needs to reach it (credentials as the AWS SDK reads them). */
  env: Record<string, string>;
  close(): Promise<void>;
}

/** The shared S3 server `.ci/run` starts (scripts/start-s3.sh), if any. */
export const SHARED_TEST_S3_ENDPOINT = process.env.FAAS_TEST_S3_ENDPOINT || undefined;

/**
 * The S3 server of a test file: the shared one when FAAS_TEST_S3_ENDPOINT is set (its bucket
 * FAAS_TEST_S3_BUCKET, credentials from AWS_* or s3rver's), else a private s3rver on a free
 * loopback port, its objects in a temporary folder. Tests keep apart by prefixes of their own.
 * `private`: always a server of its own (a test that stops it).
 */
export async function startTestS3(options: { private?: boolean } = {}): Promise<TestS3> {
  if (SHARED_TEST_S3_ENDPOINT && !options.private) {
    return {
      endpoint: SHARED_TEST_S3_ENDPOINT,
      bucket: process.env.FAAS_TEST_S3_BUCKET || TEST_S3_BUCKET,
      env: {
        AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID || TEST_S3_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY || TEST_S3_CREDENTIALS.secretAccessKey,
        AWS_REGION: process.env.AWS_REGION || 'us-east-1',
      },
      close: async () => undefined,
    };
  }
  const directory = mkdtempSync(join(tmpdir(), 'faas-s3rver-'));
  const child = spawn(process.execPath, [CHILD, directory, TEST_S3_BUCKET], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const first = await Promise.race([
    once(lines, 'line').then(([line]) => String(line)),
    once(child, 'exit').then(([code]) => {
      throw new Error(`s3rver exited with ${code} before listening`);
    }),
  ]);
  const { port } = JSON.parse(first) as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket: TEST_S3_BUCKET,
    env: {
      AWS_ACCESS_KEY_ID: TEST_S3_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: TEST_S3_CREDENTIALS.secretAccessKey,
      AWS_REGION: 'us-east-1',
    },
    close: async () => {
      if (child.exitCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
