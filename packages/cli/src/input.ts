import { readFileSync, statSync } from 'node:fs';
import type { Command } from '@faas/sdk';
import { CliError, EXIT, fileProblem, localFileError } from './exit-codes.ts';

/** An integer flag value, or a usage error naming the flag. */
export function int(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new CliError(`${flag} takes an integer, got "${value}"`, EXIT.USAGE);
  return n;
}

/** A number flag value (`--cpus 0.5`), or a usage error naming the flag. */
export function num(value: string, flag: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n))
    throw new CliError(`${flag} takes a number, got "${value}"`, EXIT.USAGE);
  return n;
}

/** Repeated `--env KEY=VALUE` flags as an object (the value may contain `=`). */
export function envPairs(pairs: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CliError(`--env takes KEY=VALUE, got "${pair}"`, EXIT.USAGE);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}

/**
 * The words after a command name: one word is a shell line (`sh -c`, so `;` and pipes work when
 * quoted), several are argv (`faas exec -- ls -la`).
 */
export function commandOf(words: string[]): Command {
  if (words.length === 0) throw new CliError('Say which command to run', EXIT.USAGE);
  return words.length === 1 ? (words[0] as string) : words;
}

/** One of `allowed`, or a usage error listing them. */
export function oneOf<const T extends string>(value: string, allowed: readonly T[], flag: string): T {
  if (!(allowed as readonly string[]).includes(value))
    throw new CliError(`${flag} is one of ${allowed.join(', ')}; got "${value}"`, EXIT.USAGE);
  return value as T;
}

export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A local file's bytes, or a usage error naming it: missing, unreadable, not a regular file (a
 * FIFO blocks for ever, /dev/zero never ends), or over `maxBytes`. Checked before reading.
 * `hint`: why the limit is what it is, for the message.
 */
export function readLocalFile(path: string, maxBytes: number, hint?: string): Buffer {
  try {
    const stat = statSync(path);
    if (!stat.isFile()) throw new CliError(`${path} is not a regular file`, EXIT.USAGE);
    if (stat.size > maxBytes)
      throw new CliError(
        `${path} is ${stat.size} bytes, over the limit of ${maxBytes} bytes${hint ? ` (${hint})` : ''}`,
        EXIT.USAGE,
      );
    return readFileSync(path);
  } catch (err) {
    throw localFileError(err) ? new CliError(`Cannot read ${path}: ${fileProblem(err)}`, EXIT.USAGE) : err;
  }
}
