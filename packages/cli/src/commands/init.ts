import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { CliError, EXIT } from '../exit-codes.ts';
import { checkFunctionName } from '../function-name.ts';
import { type Output, print } from '../output.ts';
import { INIT_RUNTIMES, type InitRuntime, template } from '../templates.ts';

/**
 * `faas init [--runtime r] <path>`: a new folder with a function that deploys as it is. The
 * function is named after the folder. An existing folder must be empty: nothing is overwritten.
 */
export async function init(out: Output, path: string, runtime = 'js'): Promise<void> {
  if (!(INIT_RUNTIMES as readonly string[]).includes(runtime))
    throw new CliError(`--runtime is one of ${INIT_RUNTIMES.join(', ')}`, EXIT.USAGE);
  const folder = resolve(path);
  const name = basename(folder);
  checkFunctionName(name);
  if (existsSync(folder) && readdirSync(folder).length > 0)
    throw new CliError(
      `${path} exists and is not empty: faas init writes only into a new or empty folder`,
      EXIT.USAGE,
    );
  const { files, testCommand } = template(name, runtime as InitRuntime);
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(dirname(join(folder, file)), { recursive: true });
    writeFileSync(join(folder, file), content, { flag: 'wx' });
  }
  const written = Object.keys(files).sort();
  print(
    out,
    { name, runtime, path: folder, files: written },
    () =>
      `Created ${runtime} function ${name} in ${path}: ${written.join(', ')}\n\n` +
      `  cd ${path}\n  ${testCommand}\n  faas deploy\n  faas invoke ${name} '{"name":"Ada"}'\n`,
  );
}
