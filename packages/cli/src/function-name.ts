import { CliError, EXIT } from './exit-codes.ts';

/** The server's rule for function names (control/function-config.ts). */
const FUNCTION_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** Refuses, as a usage error, a name the server would refuse: before files or images are made. */
export function checkFunctionName(name: string): void {
  if (!FUNCTION_NAME.test(name))
    throw new CliError(
      `${name} cannot be a function name: lowercase letters, digits, - and _, starting with a letter or digit, at most 63`,
      EXIT.USAGE,
    );
}
