import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';

/**
 * A small tmpfs mounted on a folder, for tests of real storage failures: a disk that fills up, a
 * file system that turns read-only. Needs root (mount); `tmpfsSkipReason` says why not.
 */
export class Tmpfs {
  readonly path: string;

  private constructor(path: string) {
    this.path = path;
  }

  /** Mounts a tmpfs of `sizeBytes` on `path` (created when missing). */
  static mount(path: string, sizeBytes: number, options: { readOnly?: boolean } = {}): Tmpfs {
    mkdirSync(path, { recursive: true });
    const opts = `size=${Math.ceil(sizeBytes / 1024)}k${options.readOnly ? ',ro' : ''}`;
    execFileSync('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', path], { stdio: 'pipe' });
    return new Tmpfs(path);
  }

  /** Turns the mount read-only, or writable again. */
  remount(options: { readOnly: boolean }): void {
    execFileSync('mount', ['-o', `remount,${options.readOnly ? 'ro' : 'rw'}`, this.path], { stdio: 'pipe' });
  }

  unmount(): void {
    execFileSync('umount', ['-l', this.path], { stdio: 'pipe' });
  }
}

/** Why tmpfs tests skip: only when mounting one fails (not root, no CAP_SYS_ADMIN). */
export function tmpfsSkipReason(probeDir: string): string | false {
  try {
    Tmpfs.mount(probeDir, 64 * 1024).unmount();
    return false;
  } catch (err) {
    return `cannot mount a tmpfs here (needs root): ${(err as Error).message.split('\n')[0]}`;
  }
}
