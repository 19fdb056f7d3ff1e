import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { ErrorCode, FaasError } from '@faas/core';
import { BUSYBOX_MOUNT } from '../sandbox/sandbox-script.ts';
import type { Instance } from './instance.ts';
import { INSTANCE_WORKDIR } from './instance-container.ts';
import type { ExecResult } from './instance-exec.ts';
import { ProcessTransfer } from './process-transfer.ts';

/**
 * Files in an instance, moved through its agent with the mounted busybox (`cat`, `tar`, `stat`),
 * as streams with backpressure both ways: the server holds a few hundred KiB per transfer
 * whatever the file's size. The engine's archive API cannot see tmpfs folders, nor anything
 * inside a gVisor sandbox.
 */
export interface FileEntry {
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'other';
  size: number;
  modified_at: string;
}

/** A transfer may take this long, on the server's clock; then its process is killed. */
export const TRANSFER_TIMEOUT_MS = 10 * 60 * 1000;
/** A folder listing's output (names and sizes) is at most this long. */
const MAX_LISTING_BYTES = 16 * 1024 * 1024;

/** An absolute path; relative ones are under /workspace. */
export function instancePath(path: string): string {
  if (!path || path.includes('\0'))
    throw new FaasError(ErrorCode.VALIDATION, 'path is empty or has a NUL byte');
  return posix.resolve(INSTANCE_WORKDIR, path);
}

function busybox(instance: Instance, args: string[]): Promise<ExecResult> {
  return instance.exec([BUSYBOX_MOUNT, ...args], {
    silent: true,
    maxOutputBytes: MAX_LISTING_BYTES,
    timeoutMs: TRANSFER_TIMEOUT_MS,
  });
}

/** The error a failed file command means: a missing path is 404, anything else 400. */
function failure(stderr: string, code: number, path: string): FaasError {
  const message = stderr.trim() || `exit code ${code}`;
  if (/No such file|not found|cannot access|can't open/i.test(message)) {
    return new FaasError(ErrorCode.NOT_FOUND, `No file or folder ${path} in the instance`, {
      details: { message },
    });
  }
  return new FaasError(ErrorCode.BAD_REQUEST, `The file operation on ${path} failed: ${message}`, {
    details: { message },
  });
}

export interface PathInfo {
  type: FileEntry['type'];
  /** In bytes (of what a link points to). */
  size: number;
}

/** What the path is, following symlinks. */
export async function pathInfo(instance: Instance, path: string): Promise<PathInfo> {
  const result = await busybox(instance, ['stat', '-L', '-c', '%F|%s', path]);
  if (result.exitCode !== 0) throw failure(result.stderr.toString('utf8'), result.exitCode, path);
  const [kind = '', size = '0'] = result.stdout.toString('utf8').trim().split('|');
  return { type: entryType(kind), size: Number(size) };
}

/**
 * A regular file's bytes as a stream. Anything else (a device such as /dev/zero, a FIFO) is
 * refused, and a file past `maxBytes` is 413; should it grow while read, or be swapped for
 * something endless, the stream fails there instead of going on.
 */
export async function readFileStream(
  instance: Instance,
  path: string,
  maxBytes: number,
  known?: PathInfo,
): Promise<Readable> {
  const info = known ?? (await pathInfo(instance, path));
  if (info.type !== 'file') {
    throw new FaasError(ErrorCode.BAD_REQUEST, `${path} is not a regular file (it is: ${info.type})`);
  }
  if (info.size > maxBytes) {
    throw new FaasError(
      ErrorCode.BODY_TOO_LARGE,
      `${path} is ${info.size} bytes, over the ${maxBytes}-byte download bound: download its folder as a tar, or split it`,
      {
        details: { size: info.size, limit: maxBytes },
      },
    );
  }
  const script = `[ -f "$1" ] || { echo "not a regular file: $1" >&2; exit 3; }; exec ${BUSYBOX_MOUNT} cat -- "$1"`;
  return streamOf(instance, [BUSYBOX_MOUNT, 'sh', '-c', script, 'sh', path], path, maxBytes);
}

/** The folder's contents as a tar stream (paths relative to it), failing past `maxBytes`. */
export async function tarFolderStream(instance: Instance, path: string, maxBytes: number): Promise<Readable> {
  const info = await pathInfo(instance, path);
  if (info.type !== 'directory') throw new FaasError(ErrorCode.BAD_REQUEST, `${path} is not a folder`);
  return streamOf(instance, [BUSYBOX_MOUNT, 'tar', '-c', '-f', '-', '-C', path, '.'], path, maxBytes);
}

function streamOf(instance: Instance, command: string[], path: string, maxBytes: number): Readable {
  return new ProcessTransfer(instance, command, {
    timeoutMs: TRANSFER_TIMEOUT_MS,
    maxOutputBytes: maxBytes,
    what: path,
    failure: (end) => failure(end.stderr, end.code, path),
  }).output;
}

/**
 * Writes the file from a stream, making its folders. The bytes go to a temporary name beside it,
 * renamed over the path at the end, so a failed or oversized upload leaves the old file.
 * @throws FaasError BODY_TOO_LARGE past `maxBytes` (nothing is left behind)
 */
export async function writeFileFrom(
  instance: Instance,
  path: string,
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  maxBytes: number,
): Promise<number> {
  const partial = `${path}.faas-upload-${randomBytes(6).toString('hex')}`;
  const bb = BUSYBOX_MOUNT;
  const script = `${bb} mkdir -p "$(${bb} dirname "$1")" && ${bb} cat > "$2" && ${bb} mv -f "$2" "$1" || { s=$?; ${bb} rm -f "$2"; exit $s; }`;
  return uploadTo(
    instance,
    [bb, 'sh', '-c', script, 'sh', path, partial],
    path,
    source,
    maxBytes,
    async () => {
      await busybox(instance, ['rm', '-f', partial]).catch(() => {});
    },
  );
}

/** Writes a small file (the execute API's `files`). */
export async function writeFile(instance: Instance, path: string, data: Uint8Array): Promise<void> {
  await writeFileFrom(instance, path, [data], data.length);
}

/** Unpacks a tar stream into the folder, making it first. */
export async function untarFrom(
  instance: Instance,
  path: string,
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  maxBytes: number,
): Promise<void> {
  const script = `${BUSYBOX_MOUNT} mkdir -p "$1" && ${BUSYBOX_MOUNT} tar -x -f - -C "$1"`;
  await uploadTo(instance, [BUSYBOX_MOUNT, 'sh', '-c', script, 'sh', path], path, source, maxBytes);
}

async function uploadTo(
  instance: Instance,
  command: string[],
  path: string,
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  maxBytes: number,
  cleanUp?: () => Promise<void>,
): Promise<number> {
  const transfer = new ProcessTransfer(instance, command, { timeoutMs: TRANSFER_TIMEOUT_MS });
  transfer.output.resume();
  let sent: number;
  try {
    sent = await transfer.send(source, maxBytes);
  } catch (err) {
    await transfer.ended;
    await cleanUp?.();
    throw err;
  }
  const end = await transfer.ended;
  if (end.timedOut) throw new FaasError(ErrorCode.FUNCTION_TIMEOUT, `Writing ${path} took too long`);
  if (end.code !== 0) throw failure(end.stderr, end.code, path);
  return sent;
}

export async function listFolder(instance: Instance, path: string): Promise<FileEntry[]> {
  // One line per entry: type|size|mtime|name. A name with a newline would read as two lines: it
  // is not listed (a tar of the folder has it).
  const script = `cd "$1" || exit 2; nl='\n'; for f in * .[!.]* ..?*; do [ -e "$f" ] || [ -L "$f" ] || continue; case "$f" in *"$nl"*) continue;; esac; ${BUSYBOX_MOUNT} stat -c '%F|%s|%Y|%n' "$f"; done`;
  const result = await busybox(instance, ['sh', '-c', script, 'sh', path]);
  if (result.exitCode !== 0) throw failure(result.stderr.toString('utf8'), result.exitCode, path);
  if (result.truncated) {
    throw new FaasError(
      ErrorCode.BODY_TOO_LARGE,
      `The listing of ${path} is over ${MAX_LISTING_BYTES} bytes: download it as a tar`,
    );
  }
  return result.stdout
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [type = '', size = '0', mtime = '0', ...name] = line.split('|');
      return {
        name: name.join('|'),
        type: entryType(type),
        size: Number(size),
        modified_at: new Date(clampToDate(Number(mtime) * 1000)).toISOString(),
      };
    });
}

/** A file's time as far as a Date reaches: `touch` sets times past year 275760, or none at all. */
function clampToDate(ms: number): number {
  if (!Number.isFinite(ms)) return 0;
  return Math.max(-MAX_DATE_MS, Math.min(MAX_DATE_MS, ms));
}

const MAX_DATE_MS = 8.64e15;

function entryType(stat: string): FileEntry['type'] {
  if (stat === 'directory') return 'directory';
  if (stat.startsWith('regular')) return 'file';
  if (stat === 'symbolic link') return 'symlink';
  return 'other';
}
