import { ErrorCode, FaasError } from '@faas/core';
import { startLine } from './exit-marker.ts';

/** Where the host's static busybox is mounted in every sandbox: it runs the shim in any image. */
export const BUSYBOX_MOUNT = '/.faas/busybox';

/**
 * The sandbox container's main process, started before any request: it blocks reading one line
 * (a base64 shell script: files, env, then the command), then runs it; the rest of stdin becomes
 * the command's stdin. `read` takes stdin a byte at a time, so nothing is lost.
 */
export const SHIM_SCRIPT = `IFS= read -r job || exit 125; eval "$(printf %s "$job" | ${BUSYBOX_MOUNT} base64 -d)"`;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * Finds `$1` on the image's PATH as a shell would, into `faas_path`. The shim's busybox shell
 * would otherwise run its own applet for any name it knows (`sed`, `sh`, `wget`…) instead of
 * the image's program: a name with a slash is the only way to make it exec the image's file.
 */
const FIND_ON_PATH = `faas_find() {
  faas_ifs=$IFS; IFS=:; set -f
  for faas_dir in \${PATH-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}; do
    faas_path=\${faas_dir:-.}/$1
    if [ -f "$faas_path" ] && [ -x "$faas_path" ]; then IFS=$faas_ifs; set +f; return 0; fi
  done
  IFS=$faas_ifs; set +f; return 1
}`;

export interface SandboxJob {
  /** A string runs with the image's `/bin/sh -c`; an array is argv, its first word found on PATH. */
  command: string | string[];
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
  // First of all: the host knows from it that the job reached a live container (exit-marker.ts).
  const lines = [`printf '%s\\n' ${shellQuote(startLine(job.exitMarker).trimEnd())} >&2`];
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
  lines.push(...commandLines(job.command));
  lines.push('code=$?');
  const marker = `printf '%s%s\\n' ${shellQuote(job.exitMarker)} "$code"`;
  lines.push(`${marker}; ${marker} >&2; exit "$code"`);
  return `${Buffer.from(lines.join('\n'), 'utf8').toString('base64')}\n`;
}

/**
 * The image's own tools run the command: a string with the image's `/bin/sh`, an argv with its
 * first word found on the image's PATH. BusyBox stands in only in an image without `/bin/sh`
 * (a string runs with its `sh`, an argv not on PATH with its applet of that name).
 */
function commandLines(command: string | string[]): string[] {
  if (typeof command === 'string') {
    const script = shellQuote(command);
    return [`if [ -x /bin/sh ]; then /bin/sh -c ${script}; else ${BUSYBOX_MOUNT} sh -c ${script}; fi`];
  }
  const [name, ...args] = command.map(shellQuote) as [string, ...string[]];
  const rest = args.length > 0 ? ` ${args.join(' ')}` : '';
  if ((command[0] as string).includes('/')) return [`${name}${rest}`];
  return [
    FIND_ON_PATH,
    // exec -a in a subshell: the program sees the name it was called by, as from any shell.
    `if faas_find ${name}; then (exec -a ${name} "$faas_path"${rest})`,
    `elif [ ! -x /bin/sh ] && ${BUSYBOX_MOUNT} --list | ${BUSYBOX_MOUNT} grep -qxF -- ${name}; then ${BUSYBOX_MOUNT} ${name}${rest}`,
    `else printf '%s: not found\\n' ${name} >&2; (exit 127); fi`,
  ];
}
