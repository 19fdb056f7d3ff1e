import { commandProblems, envProblems, filesProblems, invalidInput } from '@faas/core';
import { fileFailureHead, startLine } from './exit-marker.ts';

/** Where the host's static busybox is mounted in every sandbox: it runs the shim in any image. */
export const BUSYBOX_MOUNT = '/.faas/busybox';

/**
 * The sandbox container's main process, started before any request: it blocks reading one line
 * (a base64 shell script: files, env, then the command), then runs it; the rest of stdin becomes
 * the command's stdin. `read` takes stdin a byte at a time, so nothing is lost.
 */
export const SHIM_SCRIPT = `IFS= read -r job || exit 125; eval "$(printf %s "$job" | ${BUSYBOX_MOUNT} base64 -d)"`;

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
  // The API checked all of it; checked again here, whoever calls.
  const problems = [
    ...commandProblems(job.command),
    ...envProblems(job.env),
    ...filesProblems(job.files, job.workdir ?? '.'),
  ];
  if (problems.length > 0) throw invalidInput(problems);
  const marker = (code: string) => `printf '%s%s\\n' ${shellQuote(job.exitMarker)} ${code}`;
  const lines: string[] = [];
  if (job.workdir) lines.push(`cd ${shellQuote(job.workdir)} || exit 126`);
  const files = Object.entries(job.files ?? {});
  if (files.length > 0) lines.push(fileFailedFunction(job.exitMarker, marker('126')));
  files.forEach(([path, content], index) => {
    const slash = path.lastIndexOf('/');
    const mkdir = slash > 0 ? `${BUSYBOX_MOUNT} mkdir -p ${shellQuote(path.slice(0, slash))} && ` : '';
    const base64 = Buffer.from(typeof content === 'string' ? Buffer.from(content, 'utf8') : content).toString(
      'base64',
    );
    // The shell's complaint is kept, not printed: the host answers it as the caller's error.
    lines.push(
      `faas_err=$( { ${mkdir}printf %s ${shellQuote(base64)} | ${BUSYBOX_MOUNT} base64 -d > ${shellQuote(path)}; } 2>&1 ) || faas_file_failed ${index} "$faas_err"`,
    );
  });
  // Once the files are written: the host knows from it that the job reached a live container
  // and the command is about to run (exit-marker.ts).
  lines.push(`printf '%s\\n' ${shellQuote(startLine(job.exitMarker).trimEnd())} >&2`);
  for (const [name, value] of Object.entries(job.env ?? {}))
    lines.push(`export ${name}=${shellQuote(value)}`);
  // A child, not exec: the shim outlives the command to write the markers.
  lines.push(...commandLines(job.command));
  lines.push('code=$?');
  lines.push(`${marker('"$code"')}; ${marker('"$code"')} >&2; exit "$code"`);
  return `${Buffer.from(lines.join('\n'), 'utf8').toString('base64')}\n`;
}

/**
 * `faas_file_failed <index> <reason>`: a file could not be written (a read-only folder, a full
 * disk). Reported in the start line's place, as `<marker>file <index> <reason, base64>`, then the
 * markers with 126: nothing of the command runs.
 */
function fileFailedFunction(exitMarker: string, marker126: string): string {
  const reason = `$(printf %s "$2" | ${BUSYBOX_MOUNT} head -c 1024 | ${BUSYBOX_MOUNT} base64 -w 0)`;
  return [
    'faas_file_failed() {',
    `  printf '%s%s %s\\n' ${shellQuote(fileFailureHead(exitMarker))} "$1" "${reason}" >&2`,
    `  ${marker126}; ${marker126} >&2; exit 126`,
    '}',
  ].join('\n');
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
