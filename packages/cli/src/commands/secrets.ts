import type { FaaSClient } from '@faas/sdk';
import { CliError, EXIT } from '../exit-codes.ts';
import { readStdin } from '../input.ts';
import { ago, type Output, print, table } from '../output.ts';

/**
 * `faas secrets set NAME`: the value comes from stdin (piped) or a prompt that does not echo it,
 * never from argv, so it stays out of shell history and `ps`.
 */
export async function setSecret(
  client: FaaSClient,
  out: Output,
  name: string,
  extra: string[],
): Promise<void> {
  if (extra.length > 0) {
    throw new CliError(
      'faas secrets set takes only the name: the value is read from stdin or a prompt, never from the command line (it would stay in shell history)',
      EXIT.USAGE,
    );
  }
  const value = process.stdin.isTTY
    ? await promptHidden(`Value of ${name}: `)
    : withoutFinalNewline(await readStdin());
  if (value.length === 0) throw new CliError('The value is empty: nothing was set', EXIT.USAGE);
  const secret = await client.setSecret(name, value);
  print(out, secret, () => `Set secret ${secret.name}`);
}

export async function listSecrets(client: FaaSClient, out: Output): Promise<void> {
  const secrets = await client.listSecrets();
  print(out, secrets, () =>
    table(
      ['NAME', 'CREATED', 'UPDATED'],
      secrets.map((s) => [s.name, ago(s.createdAt), ago(s.updatedAt)]),
    ),
  );
}

export async function deleteSecret(client: FaaSClient, out: Output, name: string): Promise<void> {
  await client.deleteSecret(name);
  print(out, { deleted: name }, () => `Deleted secret ${name}`);
}

/** `echo value | faas secrets set X` sends a final newline that is not part of the value. */
function withoutFinalNewline(text: string): string {
  return text.replace(/\r?\n$/, '');
}

/** Reads a line from the terminal without echoing it. */
function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  let value = '';
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new CliError('Cancelled', EXIT.USAGE));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on('data', onData);
  });
}
