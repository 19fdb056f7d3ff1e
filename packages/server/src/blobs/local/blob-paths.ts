import { join } from 'node:path';

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Whether `value` is a blob name: 64 lowercase hex characters. Anything else cannot be stored. */
export function isSha256Hex(value: string): boolean {
  return SHA256_HEX.test(value);
}

/**
 * Where a blob lives: `<root>/ab/cdef….zst`. The first two hex characters make 256 folders, so
 * no folder grows past what file systems list quickly (seed 003's layout, as git does).
 */
export function blobPath(root: string, sha256: string): string {
  return join(root, sha256.slice(0, 2), `${sha256.slice(2)}.zst`);
}

/** Where writes are staged before their rename: the same file system as every blob folder. */
export function stagingDir(root: string): string {
  return join(root, '.tmp');
}
