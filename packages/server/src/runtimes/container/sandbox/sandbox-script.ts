import { ErrorCode, FaasError } from '@faas/core';

/** Where the host's static busybox is mounted in every sandbox: it runs the shim in any image. */
export const BUSYBOX_MOUNT = '/.faas/busybox';

/**
 * The sandbox container's main process, started before any request: it blocks reading one line
 * (a base64 shell script: files, env, then `exec` of the command), then runs it; the rest of
 * stdin becomes the command's stdin. `read` takes stdin a byte at a time, so nothing is lost.
 */
export const SHIM_SCRIPT = `IFS= read -r job || exit 125; eval "$(printf %s "$job" | ${BUSYBOX_MOUNT} base64 -d)"`;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

export interface SandboxJob {
  command: string[];
  env?: Record<string, string>;
  /** Written before the command runs; relative paths are under `workdir`. */
  files?: Record<string, string | Uint8Array>;
  /** Where the command runs; the image's own working dir when absent. */
  workdir?: string;
  /** Written with the exit code on stdout and stderr once the command exits (exit-marker.ts). */
  exitMarker: string;
}

/** The job line the shim reads: the script, base64, newline-terminated. */
export function jobLine(job: SandboxJob): string {
  if (job.command.length === 0) throw new FaasError(ErrorCode.VALIDATION, 'The command is empty');
  const lines: string[] = [];
  if (job.workdir) lines.push(`cd ${shellQuote(job.workdir)} || exit 126`);
  for (const [path, content] of Object.entries(job.files ?? {})) {
    if (path.split('/').includes('..'))
      throw new FaasError(ErrorCode.VALIDATION, `File path "${path}" leaves the working dir`);
    const slash = path.lastIndexOf('/');
    if (slash > 0) lines.push(`${BUSYBOX_MOUNT} mkdir -p ${shellQuote(path.slice(0, slash))} || exit 126`);
    const base64 = Buffer.from(typeof content === 'string' ? Buffer.from(content, 'utf8') : content).toString(
      'base64',
    );
    lines.push(
      `printf %s ${shellQuote(base64)} | ${BUSYBOX_MOUNT} base64 -d > ${shellQuote(path)} || exit 126`,
    );
  }
  for (const [name, value] of Object.entries(job.env ?? {})) {
    if (!ENV_NAME.test(name))
      throw new FaasError(ErrorCode.VALIDATION, `"${name}" is not a valid environment variable name`);
    lines.push(`export ${name}=${shellQuote(value)}`);
  }
  // A child, not exec: the shim outlives the command to write the markers.
  lines.push(job.command.map(shellQuote).join(' '));
  lines.push('code=$?');
  const marker = `printf '%s%s\\n' ${shellQuote(job.exitMarker)} "$code"`;
  lines.push(`${marker}; ${marker} >&2; exit "$code"`);
  return `${Buffer.from(lines.join('\n'), 'utf8').toString('base64')}\n`;
}
