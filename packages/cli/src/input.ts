import type { Command } from '@faas/sdk';
import { CliError, EXIT } from './exit-codes.ts';

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
