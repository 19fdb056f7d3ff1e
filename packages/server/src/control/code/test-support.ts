import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { type ErrorCode, type FaasError, isFaasError } from '@faas/core';
import { type Zippable, zipSync } from 'fflate';
import { type Header, pack } from 'tar-stream';

/** Helpers for the code pipeline's tests: archives with exactly the entries a case needs. */

export interface TarEntry extends Partial<Header> {
  name: string;
  content?: string | Uint8Array;
}

/** A tar (or tar.gz) written by tar-stream, an implementation independent of ours. */
export async function tarOf(entries: TarEntry[], options: { gzip?: boolean } = {}): Promise<Uint8Array> {
  const tar = pack();
  for (const { content, ...header } of entries) {
    const body = typeof content === 'string' ? Buffer.from(content) : Buffer.from(content ?? []);
    tar.entry({ type: 'file', ...header }, body);
  }
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of tar) chunks.push(chunk as Buffer);
  const bytes = Buffer.concat(chunks);
  return new Uint8Array(options.gzip ? gzipSync(bytes) : bytes);
}

/** A zip of text files; `modes` sets Unix modes (e.g. a symlink's 0o120777) per path. */
export function zipOf(
  files: Record<string, string | Uint8Array>,
  modes: Record<string, number> = {},
  options: { store?: boolean } = {},
): Uint8Array {
  const zippable: Zippable = {};
  for (const [path, content] of Object.entries(files)) {
    const data = typeof content === 'string' ? new TextEncoder().encode(content) : content;
    const mode = modes[path];
    zippable[path] = mode === undefined ? data : [data, { os: 3, attrs: mode << 16 }];
  }
  return zipSync(zippable, options.store ? { level: 0 } : {});
}

export function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

export function text(files: Map<string, Uint8Array>): Record<string, string> {
  return Object.fromEntries([...files].map(([path, bytes]) => [path, new TextDecoder().decode(bytes)]));
}

/** Asserts that `promise` rejects with a FaasError of this code and a message matching `pattern`. */
export async function rejectsWith(
  promise: Promise<unknown>,
  code: ErrorCode,
  pattern: RegExp,
): Promise<FaasError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught !== undefined, `expected a FaasError ${code}, but the call succeeded`);
  assert.ok(
    isFaasError(caught),
    `expected a FaasError ${code}, got ${String((caught as Error)?.stack ?? caught)}`,
  );
  assert.equal(caught.code, code, caught.message);
  assert.match(caught.message, pattern);
  return caught;
}
