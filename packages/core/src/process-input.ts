import { ErrorCode, FaasError } from './errors.ts';

/**
 * What a process in a sandbox or instance can be started with: the one set of rules for the
 * execute API, instances (create, REST exec, stream exec), function env and secrets. Every string
 * is refused with a NUL byte: the instance agent reads cwd, argv and env as NUL-separated strings
 * (so what follows a NUL would land in another field), a shell drops it, and exec ends a string
 * there, so no runtime could pass the value on as sent.
 */

/** A field a request names and why it cannot be taken: the `details` of a VALIDATION error. */
export interface InputProblem {
  field: string;
  message: string;
}

/** A name `sh` can export and every runtime passes on as `NAME=value`. */
export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const PROCESS_INPUT_LIMITS = {
  /** Words of an argv command. */
  argvWords: 4096,
  /** Variables of one env. */
  envEntries: 256,
  /** Characters of a working dir (PATH_MAX). */
  cwdLength: 4096,
  /** Bytes of a file's path (PATH_MAX), and of each of its names (NAME_MAX). */
  pathBytes: 4096,
  nameBytes: 255,
} as const;

export const NUL_MESSAGE = 'must not hold a NUL byte';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A command as the API takes it: a non-empty string (run with `sh -c`) or an argv, a non-empty
 * array of strings whose first (the program) is not empty.
 */
export function commandProblems(command: unknown, field = 'command'): InputProblem[] {
  const shape = 'must be a non-empty string or a non-empty array of strings';
  if (typeof command === 'string') {
    if (command.length === 0) return [{ field, message: shape }];
    return command.includes('\0') ? [{ field, message: NUL_MESSAGE }] : [];
  }
  if (!Array.isArray(command) || command.length === 0) return [{ field, message: shape }];
  if (command.length > PROCESS_INPUT_LIMITS.argvWords)
    return [{ field, message: `must have at most ${PROCESS_INPUT_LIMITS.argvWords} words` }];
  const problems: InputProblem[] = [];
  command.forEach((word: unknown, i) => {
    if (typeof word !== 'string') problems.push({ field: `${field}[${i}]`, message: 'must be a string' });
    else if (word.includes('\0')) problems.push({ field: `${field}[${i}]`, message: NUL_MESSAGE });
  });
  if (command[0] === '')
    problems.push({ field: `${field}[0]`, message: 'must not be empty: it is the program' });
  return problems;
}

/** One env variable: a name a process can see, and a value it can get whole. */
export function envEntryProblems(name: string, value: unknown, field = 'env'): InputProblem[] {
  const problems: InputProblem[] = [];
  if (!ENV_NAME_PATTERN.test(name))
    problems.push({
      field: `${field}.${name}`,
      message: 'is not a valid variable name: a letter or _, then letters, digits or _',
    });
  if (typeof value !== 'string') problems.push({ field: `${field}.${name}`, message: 'must be a string' });
  else if (value.includes('\0')) problems.push({ field: `${field}.${name}`, message: NUL_MESSAGE });
  return problems;
}

/** An env (absent is fine): an object of at most 256 variables, each as envEntryProblems says. */
export function envProblems(env: unknown, field = 'env'): InputProblem[] {
  if (env === undefined) return [];
  if (!isRecord(env)) return [{ field, message: 'must be an object of strings' }];
  const entries = Object.entries(env);
  if (entries.length > PROCESS_INPUT_LIMITS.envEntries)
    return [{ field, message: `must have at most ${PROCESS_INPUT_LIMITS.envEntries} variables` }];
  return entries.flatMap(([name, value]) => envEntryProblems(name, value, field));
}

/** A working dir (absent is fine: the default). */
export function cwdProblems(cwd: unknown, field = 'cwd'): InputProblem[] {
  if (cwd === undefined) return [];
  if (typeof cwd !== 'string' || cwd.length === 0 || cwd.length > PROCESS_INPUT_LIMITS.cwdLength)
    return [{ field, message: `must be a string of 1 to ${PROCESS_INPUT_LIMITS.cwdLength} characters` }];
  return cwd.includes('\0') ? [{ field, message: NUL_MESSAGE }] : [];
}

/** Why one file path can never be written, or undefined when it may be. */
function pathProblem(path: string): string | undefined {
  if (path.length === 0) return 'is an empty path';
  if (path.includes('\0')) return NUL_MESSAGE;
  if (Buffer.byteLength(path) > PROCESS_INPUT_LIMITS.pathBytes)
    return `is longer than ${PROCESS_INPUT_LIMITS.pathBytes} bytes`;
  if (path.endsWith('/')) return 'ends with "/": it names a folder, not a file';
  const names = (path.startsWith('/') ? path.slice(1) : path).split('/');
  if (names.includes('')) return 'has an empty name between two "/"';
  if (names.includes('.') || names.includes('..')) return 'has a "." or ".." in it: name the file itself';
  const long = names.find((name) => Buffer.byteLength(name) > PROCESS_INPUT_LIMITS.nameBytes);
  if (long !== undefined) return `has a name longer than ${PROCESS_INPUT_LIMITS.nameBytes} bytes`;
  return undefined;
}

/**
 * Files to write before a command runs (absent is fine): each path relative to `workdir` or
 * absolute, one that can name a file (not empty, no `.` or `..`, no trailing `/`, names of at
 * most 255 bytes, no NUL), and no path both a file and a folder of another.
 */
export function filesProblems(files: unknown, workdir: string, field = 'files'): InputProblem[] {
  if (files === undefined) return [];
  if (!isRecord(files)) return [{ field, message: 'must be an object of { path: content }' }];
  const problems: InputProblem[] = [];
  const byFullPath = new Map<string, string>();
  for (const [path, content] of Object.entries(files)) {
    const isContent = typeof content === 'string' || content instanceof Uint8Array;
    const problem = pathProblem(path) ?? (isContent ? undefined : 'must be a string');
    if (problem) {
      problems.push({ field: `${field}.${path}`, message: problem });
      continue;
    }
    const full = path.startsWith('/') ? path : `${workdir.replace(/\/$/, '')}/${path}`;
    const same = byFullPath.get(full);
    if (same !== undefined)
      problems.push({ field: `${field}.${path}`, message: `is the same file as "${same}"` });
    else byFullPath.set(full, path);
  }
  for (const [full, path] of byFullPath) {
    for (let slash = full.lastIndexOf('/'); slash > 0; slash = full.lastIndexOf('/', slash - 1)) {
      const folder = byFullPath.get(full.slice(0, slash));
      if (folder !== undefined)
        problems.push({
          field: `${field}.${folder}`,
          message: `is a file, and a folder of "${path}" too`,
        });
    }
  }
  return problems;
}

/** The refusal of input with these problems: 422 naming each field. */
export function invalidInput(problems: readonly InputProblem[]): FaasError {
  return new FaasError(
    ErrorCode.VALIDATION,
    `Invalid request: ${problems.map((p) => `${p.field} ${p.message}`).join('; ')}`,
    { details: problems },
  );
}

/**
 * A file of a request's `files` the sandbox could not write (a read-only folder, a full disk, a
 * folder of that name): the caller's error, 422 naming it, with the sandbox's reason.
 */
export function fileNotWritten(path: string, reason: string, cause?: unknown): FaasError {
  const message = `could not be written in the sandbox: ${reason}`;
  return new FaasError(ErrorCode.VALIDATION, `files.${path} ${message}`, {
    details: [{ field: `files.${path}`, message }],
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * Checks a process's command, env and working dir.
 * @throws FaasError VALIDATION naming every bad field
 */
export function checkProcessInput(input: { command: unknown; env?: unknown; cwd?: unknown }): void {
  const problems = [...commandProblems(input.command), ...envProblems(input.env), ...cwdProblems(input.cwd)];
  if (problems.length > 0) throw invalidInput(problems);
}
