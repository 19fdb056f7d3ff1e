import { posix } from 'node:path';
import { ErrorCode, FaasError } from '@faas/core';
import { BUSYBOX_MOUNT } from '../sandbox/sandbox-script.ts';
import type { ExecResult, Instance } from './instance.ts';
import { INSTANCE_WORKDIR } from './instance-container.ts';

/**
 * Files in an instance, moved through its agent with the mounted busybox (`cat`, `tar`, `stat`).
 * The engine's archive API cannot see tmpfs folders, nor anything inside a gVisor sandbox.
 */
export interface FileEntry {
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'other';
  size: number;
  modified_at: string;
}

const MAX_FILE_BYTES = 1024 * 1024 * 1024;

/** An absolute path; relative ones are under /workspace. */
export function instancePath(path: string): string {
  if (!path || path.includes('\0'))
    throw new FaasError(ErrorCode.VALIDATION, 'path is empty or has a NUL byte');
  return posix.resolve(INSTANCE_WORKDIR, path);
}

function busybox(instance: Instance, args: string[], stdin?: Uint8Array): Promise<ExecResult> {
  return instance.exec([BUSYBOX_MOUNT, ...args], {
    silent: true,
    maxOutputBytes: MAX_FILE_BYTES,
    timeoutMs: 5 * 60 * 1000,
    ...(stdin ? { stdin } : {}),
  });
}

function failure(result: ExecResult, path: string): FaasError {
  const message = result.stderr.toString('utf8').trim() || `exit code ${result.exitCode}`;
  if (/No such file|not found|cannot access|can't open/i.test(message)) {
    return new FaasError(ErrorCode.NOT_FOUND, `No file or folder ${path} in the instance`, {
      details: { message },
    });
  }
  return new FaasError(ErrorCode.BAD_REQUEST, `The file operation on ${path} failed: ${message}`, {
    details: { message },
  });
}

/** `file` or `directory` (or the other kinds stat knows). */
export async function pathKind(instance: Instance, path: string): Promise<FileEntry['type']> {
  const result = await busybox(instance, ['stat', '-c', '%F', path]);
  if (result.exitCode !== 0) throw failure(result, path);
  return entryType(result.stdout.toString('utf8').trim());
}

export async function readFile(instance: Instance, path: string): Promise<Buffer> {
  const result = await busybox(instance, ['cat', path]);
  if (result.exitCode !== 0) throw failure(result, path);
  if (result.truncated)
    throw new FaasError(ErrorCode.BODY_TOO_LARGE, `${path} is over 1 GiB: download it as tar parts`);
  return result.stdout;
}

/** Writes the file, making its folders. */
export async function writeFile(instance: Instance, path: string, data: Uint8Array): Promise<void> {
  const script = `${BUSYBOX_MOUNT} mkdir -p "$(${BUSYBOX_MOUNT} dirname "$1")" && ${BUSYBOX_MOUNT} cat > "$1"`;
  const result = await busybox(instance, ['sh', '-c', script, 'sh', path], data);
  if (result.exitCode !== 0) throw failure(result, path);
}

export async function listFolder(instance: Instance, path: string): Promise<FileEntry[]> {
  // One line per entry: type|size|mtime|name (names with a newline are not listed).
  const script = `cd "$1" || exit 2; for f in * .[!.]* ..?*; do [ -e "$f" ] || [ -L "$f" ] || continue; ${BUSYBOX_MOUNT} stat -c '%F|%s|%Y|%n' "$f"; done`;
  const result = await busybox(instance, ['sh', '-c', script, 'sh', path]);
  if (result.exitCode !== 0) throw failure(result, path);
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
        modified_at: new Date(Number(mtime) * 1000).toISOString(),
      };
    });
}

/** The folder's contents as a tar (paths relative to it). */
export async function tarFolder(instance: Instance, path: string): Promise<Buffer> {
  const result = await busybox(instance, ['tar', '-c', '-f', '-', '-C', path, '.']);
  if (result.exitCode !== 0 || result.truncated) throw failure(result, path);
  return result.stdout;
}

/** Unpacks a tar into the folder, making it first. */
export async function untarInto(instance: Instance, path: string, tar: Uint8Array): Promise<void> {
  const script = `${BUSYBOX_MOUNT} mkdir -p "$1" && ${BUSYBOX_MOUNT} tar -x -f - -C "$1"`;
  const result = await busybox(instance, ['sh', '-c', script, 'sh', path], tar);
  if (result.exitCode !== 0) throw failure(result, path);
}

function entryType(stat: string): FileEntry['type'] {
  if (stat === 'directory') return 'directory';
  if (stat.startsWith('regular')) return 'file';
  if (stat === 'symbolic link') return 'symlink';
  return 'other';
}
