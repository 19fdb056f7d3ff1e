import { FaaSClient } from '@faas/sdk';
import { Command, CommanderError } from 'commander';
import { deploy } from './commands/deploy.ts';
import { dev } from './commands/dev.ts';
import { exec } from './commands/exec.ts';
import { get, list, remove, versions } from './commands/functions.ts';
import { buildImages } from './commands/images.ts';
import { init } from './commands/init.ts';
import * as instances from './commands/instances.ts';
import { invoke } from './commands/invoke.ts';
import {
  createKey,
  createProject,
  listKeys,
  listProjects,
  revokeKey,
  setKey,
  setProject,
} from './commands/keys.ts';
import { invocation, invocations, logs, stats } from './commands/logs.ts';
import { migrate } from './commands/migrate.ts';
import { deleteSecret, listSecrets, setSecret } from './commands/secrets.ts';
import { rotateSecrets } from './commands/secrets-rotate.ts';
import * as snapshots from './commands/snapshots.ts';
import { CliError, describeError, EXIT, errorJson, exitCodeFor } from './exit-codes.ts';
import { int } from './input.ts';
import type { Output } from './output.ts';

interface Globals {
  url?: string;
  apiKey?: string;
  json?: boolean;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** Builds the `faas` program; each action resolves to an exit code. */
export function program(): Command {
  const p = new Command('faas')
    .description('Deploy and invoke functions, and run sandboxes, on a faas server')
    .option('--url <url>', 'server URL (env FAAS_URL)')
    // No default from the environment here: --help prints defaults, and this one is a secret.
    .option('--api-key <key>', 'API key (env FAAS_API_KEY)')
    .option('--json', 'machine-readable output')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  // `server: false`: the command never calls the server, so a bad FAAS_URL is not its problem.
  const run =
    (fn: (client: FaaSClient, out: Output, cmd: Command) => Promise<unknown>, { server = true } = {}) =>
    async (...args: unknown[]) => {
      const cmd = args.at(-1) as Command;
      const g = cmd.optsWithGlobals() as Globals;
      const url = g.url ?? process.env.FAAS_URL;
      if (url && server) checkUrl(url, g.url ? '--url' : 'FAAS_URL');
      const apiKey = g.apiKey ?? process.env.FAAS_API_KEY;
      const client = new FaaSClient({ ...(url ? { baseUrl: url } : {}), ...(apiKey ? { apiKey } : {}) });
      const code = await fn(client, { json: g.json === true }, cmd);
      process.exitCode = typeof code === 'number' ? code : EXIT.OK;
    };

  p.command('serve')
    .description('run the server (flags as in docs/configuration.md)')
    .allowUnknownOption()
    .allowExcessArguments()
    .helpOption(false)
    .action(async (_opts, cmd: Command) => {
      const { serve } = await import('@faas/server');
      await serve(cmd.args);
    });

  p.command('init <path>')
    .description(
      'write a new function in a new folder (named after it): handler, faas.json, a test, a README',
    )
    .option('--runtime <runtime>', 'js | ts | node | python | go | wasm | image', 'js')
    .action(
      run((_c, o, cmd) => init(o, cmd.args[0] as string, (cmd.opts() as { runtime: string }).runtime), {
        server: false,
      }),
    );

  p.command('deploy [path]')
    .description('deploy a folder (with faas.json) or a single file; creates or updates the function')
    .option('--name <name>')
    .option('--runtime <runtime>', 'js | ts | node | python | go | image | wasm')
    .option('--handler <file.export>')
    .option('--env <KEY=VALUE>', 'repeatable', collect)
    .option('--timeout <ms>')
    .option('--memory <mb>')
    .option('--concurrency <n>')
    .option('--route <"METHOD /path">', 'repeatable', collect)
    .option('--description <text>')
    .action(run((c, o, cmd) => deploy(c, o, (cmd.args[0] as string | undefined) ?? '.', cmd.opts())));

  p.command('dev [path]')
    .description('deploy a folder (with faas.json) on every save, showing refused deploys, and tail its logs')
    .option('--env <KEY=VALUE>', 'repeatable', collect)
    .action(run((c, o, cmd) => dev(c, o, (cmd.args[0] as string | undefined) ?? '.', cmd.opts())));

  p.command('invoke <name[:version]> [data]')
    .description('invoke a function with data from the argument, --file, or stdin')
    .option('-f, --file <file>')
    .option('--async', 'queue it and print the invocation id')
    .option('--wait', 'with --async: wait for the result')
    .option('--idempotency-key <key>')
    .action(run((c, o, cmd) => invoke(c, o, cmd.args[0] as string, cmd.args[1], cmd.opts())));

  p.command('ls')
    .description('list functions')
    .action(run((c, o) => list(c, o)));
  p.command('get <name>')
    .description('show a function')
    .action(run((c, o, cmd) => get(c, o, cmd.args[0] as string)));
  p.command('rm <name>')
    .description('delete a function and its versions')
    .option('-y, --yes', 'do not ask')
    .action(run((c, o, cmd) => remove(c, o, cmd.args[0] as string, cmd.opts().yes === true)));
  p.command('versions <name>')
    .description("list a function's versions")
    .action(run((c, o, cmd) => versions(c, o, cmd.args[0] as string)));
  p.command('logs <name>')
    .description("print a function's logs")
    .option('-f, --follow', 'keep printing new lines')
    .option('--invocation <id>', 'only this invocation')
    .action(run((c, o, cmd) => logs(c, o, cmd.args[0] as string, cmd.opts())));
  p.command('stats')
    .description('per function: calls, errors, p50/p99 duration over the last minute, hour and day')
    .action(run((c, o) => stats(c, o)));
  const invs = p.command('invocations').description('recent invocations; one with its logs');
  invs
    .command('ls [name]', { isDefault: true })
    .description('list recent invocations (the default: faas invocations [name])')
    .option('--status <status>')
    // Checked here, before the command sends anything; the command gets the text.
    .option('--limit <n>', 'default 20', (value: string) => String(int(value, '--limit')))
    .action(run((c, o, cmd) => invocations(c, o, cmd.args[0], cmd.opts())));
  invs
    .command('get <id>')
    .description('show one invocation: status, result or error with its stack, and its logs')
    .action(run((c, o, cmd) => invocation(c, o, cmd.args[0] as string)));

  p.command('exec <command...>')
    .description('run a command in a fresh sandbox; exits with its exit code (one word: sh -c)')
    .option('--image <image>', 'a local image (default the base image)')
    .option('--env <KEY=VALUE>', 'repeatable', collect)
    .option('--timeout <ms>')
    .option('--memory <mb>')
    .option('--network', 'outbound network')
    .option('-i, --stdin', "send this process's stdin to the command")
    .option('--mode <mode>', 'ephemeral | cached | checkpointed | branched | persistent')
    .option('--isolation <isolation>', 'runc | gvisor (checkpointed, branched)')
    .option('--checkpoint <snapshot>', 'checkpointed: start from this snapshot')
    .option('--parent <id>', 'branched: a snapshot or execution id')
    .option('--stream', 'print output as it is written')
    .action(run((c, o, cmd) => exec(c, o, cmd.args, cmd.opts())));

  const inst = p.command('instances').description('sandboxes that stay up: exec, stop, start');
  inst
    .command('ls')
    .description('list instances, newest first')
    .action(run((c, o) => instances.list(c, o)));
  inst
    .command('create')
    .description('start an instance and print its id')
    .option('--image <image>', 'a local image (default the base image)')
    .option('--command <command>', 'the main process (sh -c); default none: it waits for exec')
    .option('--env <KEY=VALUE>', 'repeatable', collect)
    .option('--memory <mb>')
    .option('--cpus <n>')
    .option('--disk <mb>', 'size of /workspace and /tmp')
    .option('--network', 'outbound network')
    .option('--isolation <isolation>', 'runc | gvisor (needed for memory snapshots)')
    .option('--idle-ttl <ms>', 'stopped after this long unused; 0: never')
    .option('--cache <name>', 'a shared dependency cache: npm | pip | go | cargo (repeatable)', collect)
    .action(run((c, o, cmd) => instances.create(c, o, cmd.opts())));
  inst
    .command('get <id>')
    .description('show an instance')
    .action(run((c, o, cmd) => instances.get(c, o, cmd.args[0] as string)));
  inst
    .command('exec <id> <command...>')
    .description("run a command in the instance; exits with the command's exit code")
    .option('--env <KEY=VALUE>', 'repeatable', collect)
    .option('--cwd <dir>', 'default /workspace')
    .option('--timeout <ms>', 'default 60000')
    .option('-i, --stdin', "send this process's stdin to the command")
    .action(run((c, o, cmd) => instances.execIn(c, o, cmd.args[0] as string, cmd.args.slice(1), cmd.opts())));
  inst
    .command('stop <id>')
    .description('stop it: processes end, /workspace is emptied; it can start again')
    .action(run((c, o, cmd) => instances.stop(c, o, cmd.args[0] as string)));
  inst
    .command('start <id>')
    .description('start a stopped instance')
    .action(run((c, o, cmd) => instances.start(c, o, cmd.args[0] as string)));
  inst
    .command('rm <id...>')
    .description('delete instances and their containers')
    .action(run((c, o, cmd) => instances.remove(c, o, cmd.args)));

  const snaps = p.command('snapshots').description('snapshots of instances; restores and forks');
  snaps
    .command('ls')
    .description('list snapshots, newest first')
    .option('--instance <id>', 'only those of this instance')
    .option('--limit <n>', 'default 50')
    .action(run((c, o, cmd) => snapshots.list(c, o, cmd.opts())));
  snaps
    .command('create <instance-id>')
    .description('snapshot an instance (memory under gVisor, /workspace under runc) and print its id')
    .option('--name <name>')
    .action(run((c, o, cmd) => snapshots.create(c, o, cmd.args[0] as string, cmd.opts())));
  snaps
    .command('get <id>')
    .description('show a snapshot')
    .action(run((c, o, cmd) => snapshots.get(c, o, cmd.args[0] as string)));
  snaps
    .command('rm <id...>')
    .description('delete snapshots')
    .action(run((c, o, cmd) => snapshots.remove(c, o, cmd.args)));
  snaps
    .command('restore <id>')
    .description('start a new instance from the snapshot and print its id')
    .action(run((c, o, cmd) => snapshots.restore(c, o, cmd.args[0] as string)));
  snaps
    .command('fork <id>')
    .description('start several independent instances from the snapshot; prints their ids')
    .option('--count <n>', '1-16, default 2')
    .action(run((c, o, cmd) => snapshots.fork(c, o, cmd.args[0] as string, cmd.opts())));

  p.command('images')
    .description('runtime images for container functions')
    .command('build')
    .description('build the node and python runtime images (skips what is built)')
    .option(
      '--data-dir <dir>',
      'the server data dir whose image cache to use',
      process.env.FAAS_DATA_DIR ?? './.faas',
    )
    .action(run((_c, o, cmd) => buildImages(o, cmd.opts().dataDir), { server: false }));

  p.command('migrate')
    .description(
      'apply the PostgreSQL store migrations to FAAS_DATABASE_URL (needed with FAAS_DATABASE_MIGRATE=false)',
    )
    .option('--database-url <url>', 'the database (env FAAS_DATABASE_URL)')
    .action(run((_c, o, cmd) => migrate(o, cmd.opts()), { server: false }));

  const keys = p.command('keys').description("manage API keys (a platform admin's or a project owner's key)");
  keys
    .command('create <name>')
    .option('--role <role>', 'admin | owner | developer | invoker | viewer', 'developer')
    .option('--project <project>', "the project the key acts in (default: the caller's)")
    .option('--scopes <scopes>', "comma-separated: only these of the role's scopes")
    .option('--functions <names>', 'comma-separated: only these functions')
    .option('--expires-at <time>', 'ISO time when the key stops working')
    .option('--rate-limit <rps/burst>', 'invocations per second made with the key, e.g. 10/20')
    .action(run((c, o, cmd) => createKey(c, o, cmd.args[0] as string, cmd.opts())));
  keys
    .command('set <id>')
    .description("change a key's name, rate limit or expiry (its role and scopes never change)")
    .option('--name <name>', 'a new name')
    .option(
      '--rate-limit <rps/burst>',
      'invocations per second made with the key, e.g. 10/20; "none" removes it',
    )
    .option('--expires-at <time>', 'ISO time when the key stops working; "none": never')
    .action(run((c, o, cmd) => setKey(c, o, cmd.args[0] as string, cmd.opts())));
  keys.command('ls').action(run((c, o) => listKeys(c, o)));
  keys.command('rm <id>').action(run((c, o, cmd) => revokeKey(c, o, cmd.args[0] as string)));
  const secrets = p
    .command('secrets')
    .description('the project\'s secrets: functions name them in "secrets" and see them as env');
  secrets
    .command('set <name>')
    .description('set a secret; the value is read from stdin, or a prompt that does not echo it')
    .allowExcessArguments()
    .action(run((c, o, cmd) => setSecret(c, o, cmd.args[0] as string, cmd.args.slice(1))));
  secrets
    .command('ls')
    .alias('list')
    .action(run((c, o) => listSecrets(c, o)));
  secrets
    .command('rm <name>')
    .alias('delete')
    .action(run((c, o, cmd) => deleteSecret(c, o, cmd.args[0] as string)));
  secrets
    .command('rotate')
    .description(
      "put FAAS_SECRET_KEY on record as the PostgreSQL store's key and re-encrypt the secrets under FAAS_SECRET_KEY_PREVIOUS; run once every server has both (docs/security.md)",
    )
    .option('--database-url <url>', 'the database (env FAAS_DATABASE_URL)')
    .action(run((_c, o, cmd) => rotateSecrets(o, cmd.opts())));
  const projects = p.command('projects').description('projects (tenants): create needs a platform admin key');
  projects.command('create <name>').action(run((c, o, cmd) => createProject(c, o, cmd.args[0] as string)));
  projects.command('ls').action(run((c, o) => listProjects(c, o)));
  projects
    .command('set <name>')
    .description("change a project's settings (a platform admin key)")
    .option('--host <host>', 'the host name (custom domain) its declared routes answer on, alone')
    .option('--no-host', 'its routes answer on any host again')
    .option('--max-functions <n>', 'quota: functions it may have ("none": unlimited)')
    .option('--max-concurrency <n>', 'quota: sync invocations running at once ("none": unlimited)')
    .option('--max-queued <n>', 'quota: async invocations queued or running ("none": the server\'s default)')
    .option('--max-instances <n>', 'quota: sandbox instances it may have ("none": unlimited)')
    .option('--max-snapshot-bytes <n>', 'quota: bytes of its snapshots ("none": unlimited)')
    .action(run((c, o, cmd) => setProject(c, o, cmd.args[0] as string, cmd.opts())));
  return p;
}

/** A server URL the client can use, or a usage error: not an unreachable server (exit 5). */
function checkUrl(url: string, source: string): void {
  let protocol: string | undefined;
  try {
    protocol = new URL(url).protocol;
  } catch {}
  if (protocol !== 'http:' && protocol !== 'https:')
    throw new CliError(
      `${source} takes an http(s) URL such as http://localhost:8080, got "${url}"`,
      EXIT.USAGE,
    );
}

export async function main(argv: string[]): Promise<number> {
  // Whether the failure, too, should be JSON: `--json` before a `--` that ends the options.
  const end = argv.indexOf('--');
  const json = (end < 0 ? argv : argv.slice(0, end)).includes('--json');
  try {
    await program().parseAsync(argv, { from: 'user' });
    return Number(process.exitCode ?? EXIT.OK);
  } catch (err) {
    if (err instanceof CommanderError) {
      // `--help` and `faas help <command>` end with these; help shown for a mistake is usage.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT.OK;
      if (err.code === 'commander.help') return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
      if (json) writeJson({ error: { code: 'FAAS_CLI_USAGE', message: err.message } });
      return EXIT.USAGE;
    }
    if (json) writeJson(errorJson(err));
    else process.stderr.write(`error: ${describeError(err)}\n`);
    return exitCodeFor(err);
  }
}

function writeJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
