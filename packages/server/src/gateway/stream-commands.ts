import {
  commandProblems,
  cwdProblems,
  ErrorCode,
  envProblems,
  FaasError,
  type InputProblem,
  invalidInput,
} from '@faas/core';

/** Signals a client may name; a number may be any signal from 1 to 64. */
const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };
const MAX_SIGNAL = 64;
/** Longest snapshot name, as POST /snapshots takes it. */
const MAX_SNAPSHOT_NAME = 200;

/**
 * A command a stream client sends (docs/instances.md#stream), its fields checked: the ones an
 * exec shares with POST /instances/{id}/exec by the same rules.
 */
export type ClientCommand =
  | {
      type: 'exec';
      command: string | string[];
      env?: Record<string, string>;
      cwd?: string;
      tty?: { rows: number; cols: number };
    }
  | { type: 'stdin'; data: string; process?: number }
  | { type: 'stdin_close'; process?: number }
  | { type: 'resize'; rows: number; cols: number; process?: number }
  | { type: 'signal'; signal: number; process?: number }
  | { type: 'get_state' }
  | { type: 'checkpoint'; name?: string }
  | { type: 'stop' };

/** The fields each command takes besides `type`: any other is refused, as in the REST bodies. */
const FIELDS: Record<ClientCommand['type'], readonly string[]> = {
  exec: ['command', 'env', 'cwd', 'tty', 'rows', 'cols'],
  stdin: ['data', 'process'],
  stdin_close: ['process'],
  resize: ['rows', 'cols', 'process'],
  signal: ['signal', 'process'],
  get_state: [],
  checkpoint: ['name'],
  stop: [],
};

type Message = Record<string, unknown>;

/**
 * A client's message as a command, or the reason it is none.
 * @throws FaasError INVALID_JSON (not JSON), BAD_REQUEST (no object with a known `type`),
 *   VALIDATION (a field missing, unknown or of the wrong kind, naming each)
 */
export function parseClientCommand(text: string): ClientCommand {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    throw new FaasError(ErrorCode.INVALID_JSON, 'A command is a JSON object with a "type"; this is not JSON');
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message))
    throw new FaasError(ErrorCode.BAD_REQUEST, 'A command is a JSON object with a "type"');
  const fields = message as Message;
  const type = fields.type;
  if (typeof type !== 'string')
    throw new FaasError(ErrorCode.BAD_REQUEST, 'A command needs a "type" (a string)');
  if (!Object.hasOwn(FIELDS, type))
    throw new FaasError(ErrorCode.BAD_REQUEST, `Unknown command type "${type.slice(0, 64)}"`);
  const known = FIELDS[type as ClientCommand['type']];
  const problems: InputProblem[] = Object.keys(fields)
    .filter((name) => name !== 'type' && !known.includes(name))
    .map((field) => ({ field, message: 'is not a known field' }));
  const command = commandOf(type as ClientCommand['type'], fields, problems);
  if (problems.length > 0) throw invalidInput(problems);
  return command;
}

function commandOf(type: ClientCommand['type'], m: Message, problems: InputProblem[]): ClientCommand {
  switch (type) {
    case 'exec': {
      problems.push(...commandProblems(m.command), ...envProblems(m.env), ...cwdProblems(m.cwd));
      if (m.tty !== undefined && typeof m.tty !== 'boolean')
        problems.push({ field: 'tty', message: 'must be a boolean' });
      const rows = terminalSize(m.rows ?? 24, 'rows', problems);
      const cols = terminalSize(m.cols ?? 80, 'cols', problems);
      return {
        type,
        command: m.command as string | string[],
        ...(m.env !== undefined ? { env: m.env as Record<string, string> } : {}),
        ...(m.cwd !== undefined ? { cwd: m.cwd as string } : {}),
        ...(m.tty === true ? { tty: { rows, cols } } : {}),
      };
    }
    case 'stdin':
      if (typeof m.data !== 'string') problems.push({ field: 'data', message: 'is required: a string' });
      return { type, data: m.data as string, ...processOf(m, problems) };
    case 'stdin_close':
      return { type, ...processOf(m, problems) };
    case 'resize':
      return {
        type,
        rows: terminalSize(m.rows, 'rows', problems),
        cols: terminalSize(m.cols, 'cols', problems),
        ...processOf(m, problems),
      };
    case 'signal':
      return { type, signal: signalOf(m.signal, problems), ...processOf(m, problems) };
    case 'checkpoint': {
      const name = m.name;
      if (
        name !== undefined &&
        (typeof name !== 'string' || name.length === 0 || name.length > MAX_SNAPSHOT_NAME)
      )
        problems.push({ field: 'name', message: `must be a string of 1 to ${MAX_SNAPSHOT_NAME} characters` });
      return { type, ...(name !== undefined ? { name: name as string } : {}) };
    }
    case 'get_state':
    case 'stop':
      return { type };
  }
}

/** A terminal's rows or columns: the agent's frames carry each in 16 bits. */
function terminalSize(value: unknown, field: 'rows' | 'cols', problems: InputProblem[]): number {
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > 0xffff)
    problems.push({ field, message: 'must be a whole number from 1 to 65535' });
  return value as number;
}

/** `process`, when named: a process number of the instance (whether it runs is checked later). */
function processOf(m: Message, problems: InputProblem[]): { process?: number } {
  if (m.process === undefined) return {};
  if (!Number.isInteger(m.process) || (m.process as number) < 1 || (m.process as number) > 0xffffffff)
    problems.push({ field: 'process', message: 'must be a process number (a whole number from 1)' });
  return { process: m.process as number };
}

/** A signal's name or number; SIGTERM when absent. The agent's frames carry it in one byte. */
function signalOf(signal: unknown, problems: InputProblem[]): number {
  if (signal === undefined) return SIGNALS.SIGTERM as number;
  if (typeof signal === 'string' && Object.hasOwn(SIGNALS, signal)) return SIGNALS[signal] as number;
  if (Number.isInteger(signal) && (signal as number) >= 1 && (signal as number) <= MAX_SIGNAL)
    return signal as number;
  problems.push({
    field: 'signal',
    message: `must be one of ${Object.keys(SIGNALS).join(', ')} or a number from 1 to ${MAX_SIGNAL}, not ${String(JSON.stringify(signal)).slice(0, 64)}`,
  });
  return 0;
}
