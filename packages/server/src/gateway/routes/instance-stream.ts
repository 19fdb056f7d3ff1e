import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { argv, instanceView } from '../../control/instance-service.ts';
import { snapshotView } from '../../control/snapshot-service.ts';
import type { Platform } from '../../platform.ts';
import type { Instance } from '../../runtimes/container/instances/instance.ts';
import type { SequencedEvent } from '../../runtimes/container/instances/instance-events.ts';
import { closeReason, watchCredential } from '../credential-watch.ts';
import { toFaasError } from '../errors.ts';

/**
 * A watcher whose unsent events pass this many bytes is disconnected (WebSocket close 1013,
 * SSE end): the instance never waits for a slow client.
 */
export const MAX_UNSENT_BYTES = 4 * 1024 * 1024;
const DEFAULT_HEARTBEAT_MS = 15_000;

type StreamRequest = FastifyRequest<{ Params: { id: string }; Querystring: { heartbeat_ms?: number } }>;

const params = { type: 'object', required: ['id'], properties: { id: { type: 'string' } } };
const querystring = {
  type: 'object',
  additionalProperties: false,
  properties: {
    heartbeat_ms: { type: 'integer', minimum: 100, maximum: 300_000 },
    // A browser's credential (POST /instances/{id}/stream-ticket), checked by the auth hook.
    ticket: { type: 'string', maxLength: 256 },
  },
};

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };

/** A command a stream client sends (seed 003), plus `resize` and `signal`. */
interface ClientCommand {
  type: string;
  data?: string;
  process?: number;
  command?: string | string[];
  tty?: boolean;
  rows?: number;
  cols?: number;
  env?: Record<string, string>;
  cwd?: string;
  name?: string;
  signal?: string | number;
}

/** A terminal's rows or columns: the agent's frames carry each in 16 bits. */
function terminalSize(value: unknown, name: 'rows' | 'cols'): number {
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > 0xffff) {
    throw new Error(`"${name}" must be a whole number from 1 to 65535`);
  }
  return value as number;
}

/**
 * Runs one client command. `foreground` is the process this client started last: where `stdin`,
 * `resize` and `signal` go when the command names no process.
 */
async function runCommand(
  platform: Platform,
  instance: Instance,
  command: ClientCommand,
  session: { foreground?: number },
): Promise<unknown> {
  const target = command.process ?? session.foreground ?? instance.mainProcess;
  const needTarget = () => {
    if (target === undefined)
      throw new Error('No process to send to: start one with exec, or name one in "process"');
    if (!instance.hasProcess(target)) {
      throw new Error(
        `No running process ${target} in this instance (processes started before a server restart cannot be addressed)`,
      );
    }
    return target;
  };
  switch (command.type) {
    case 'stdin':
      if (typeof command.data !== 'string') throw new Error('stdin needs "data" (a string)');
      instance.writeStdin(needTarget(), command.data);
      return undefined;
    case 'stdin_close':
      instance.closeStdin(needTarget());
      return undefined;
    case 'exec': {
      if (command.command === undefined || command.command.length === 0)
        throw new Error('exec needs "command"');
      const started = instance.start(argv(command.command), {
        ...(command.env ? { env: command.env } : {}),
        ...(command.cwd ? { cwd: command.cwd } : {}),
        ...(command.tty
          ? {
              tty: {
                rows: terminalSize(command.rows ?? 24, 'rows'),
                cols: terminalSize(command.cols ?? 80, 'cols'),
              },
            }
          : {}),
      });
      session.foreground = started.process;
      return { type: 'started', process: started.process, command: started.command.join(' ') };
    }
    case 'resize':
      if (command.rows === undefined || command.cols === undefined)
        throw new Error('resize needs "rows" and "cols"');
      instance.resize(needTarget(), terminalSize(command.rows, 'rows'), terminalSize(command.cols, 'cols'));
      return undefined;
    case 'signal': {
      const signal =
        typeof command.signal === 'number' ? command.signal : SIGNALS[command.signal ?? 'SIGTERM'];
      if (!signal) throw new Error(`Unknown signal ${String(command.signal)}`);
      instance.signal(needTarget(), signal);
      return undefined;
    }
    case 'get_state':
      return { type: 'state', state: instance.state, instance: instanceView(instance) };
    case 'checkpoint': {
      const snapshot = await platform.snapshots.create(
        instance.id,
        command.name ? { name: command.name } : {},
      );
      return { type: 'checkpoint', snapshot: snapshotView(snapshot) };
    }
    case 'stop':
      await platform.instances.manager.stop(instance.id);
      return undefined;
    default:
      throw new Error(`Unknown command type "${command.type}"`);
  }
}

function errorEvent(err: unknown) {
  const error =
    err instanceof Error && !('code' in err)
      ? { code: 'FAAS_ERR_BAD_REQUEST', message: err.message }
      : toFaasError(err).toJSON().error;
  return { type: 'error', error };
}

/** The instance's event stream: WebSocket (both ways) and Server-Sent Events (events only). */
export function instanceStreamRoutes(app: FastifyInstance, platform: Platform): void {
  const tags = ['instances'];
  // Unknown instances get a plain 404 before the upgrade.
  const exists = async (request: StreamRequest) => {
    // A gateway's routing finds the instance on its worker (cluster/instance-routing.ts).
    if (platform.instanceRouting) return;
    await platform.instances.get(request.params.id, request.projectScope);
  };

  const websocketHandler = async (socket: WebSocket, request: StreamRequest) => {
    const instance = await platform.instances.get(request.params.id, request.projectScope);
    const session: { foreground?: number } = {};
    const send = (event: object) => {
      if (socket.readyState !== socket.OPEN) return;
      if (socket.bufferedAmount > MAX_UNSENT_BYTES) {
        socket.close(1013, 'slow consumer: too many unsent events');
        return;
      }
      socket.send(JSON.stringify(event));
    };
    const unsubscribe = instance.events.subscribe((event: SequencedEvent) => {
      send(event);
      if (event.type === 'state' && event.state === 'deleted') socket.close(1000, 'instance deleted');
    });
    const heartbeat = setInterval(
      () => send({ type: 'heartbeat', time: Date.now() }),
      request.query.heartbeat_ms ?? DEFAULT_HEARTBEAT_MS,
    );
    // 1008 (policy violation): the key was revoked or expired, or the session ended.
    const stopWatch = watchCredential(request, platform.config.routeSyncMs, (refusal) =>
      socket.close(1008, closeReason(refusal)),
    );
    socket.on('close', () => {
      unsubscribe();
      clearInterval(heartbeat);
      stopWatch();
      instance.touch();
    });
    socket.on('message', (raw) => {
      let command: ClientCommand;
      try {
        command = JSON.parse(raw.toString()) as ClientCommand;
        if (!command || typeof command.type !== 'string')
          throw new Error('A command is a JSON object with a "type"');
      } catch (err) {
        send(errorEvent(err));
        return;
      }
      // Commands run in the order they came; a slow checkpoint holds the later ones back.
      queue = queue.then(async () => {
        try {
          const reply = await runCommand(platform, instance, command, session);
          if (reply) send(reply);
        } catch (err) {
          send(errorEvent(err));
        }
      });
    });
    let queue: Promise<void> = Promise.resolve();
    send({ type: 'state', state: instance.state, instance: instanceView(instance) });
  };

  for (const path of ['/instances/:id/stream', '/containers/:id/stream']) {
    app.get(
      path,
      {
        websocket: true,
        preValidation: exists,
        schema: { tags, summary: 'WebSocket: the instance’s events; send commands', params, querystring },
      },
      websocketHandler,
    );
  }

  app.get<{ Params: { id: string }; Querystring: { heartbeat_ms?: number } }>(
    '/instances/:id/events',
    { schema: { tags, summary: 'Server-Sent Events: the instance’s events', params, querystring } },
    async (request, reply) => {
      const instance = await platform.instances.get(request.params.id, request.projectScope);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });
      let unsubscribe = () => {};
      let heartbeat: NodeJS.Timeout | undefined;
      let stopWatch = () => {};
      const finish = () => {
        unsubscribe();
        clearInterval(heartbeat);
        stopWatch();
        if (!res.writableEnded) res.end();
      };
      const write = (event: { type: string; seq?: number }) => {
        if (res.writableEnded) return;
        if (res.writableLength > MAX_UNSENT_BYTES) {
          finish();
          return;
        }
        res.write(
          `event: ${event.type}\n${event.seq ? `id: ${event.seq}\n` : ''}data: ${JSON.stringify(event)}\n\n`,
        );
      };
      write({ type: 'state', state: instance.state, instance: instanceView(instance) } as never);
      unsubscribe = instance.events.subscribe((event) => {
        write(event);
        if (event.type === 'state' && event.state === 'deleted') finish();
      });
      heartbeat = setInterval(
        () => write({ type: 'heartbeat', time: Date.now() } as never),
        request.query.heartbeat_ms ?? DEFAULT_HEARTBEAT_MS,
      );
      stopWatch = watchCredential(request, platform.config.routeSyncMs, (refusal) => {
        write({ type: 'error', ...refusal.toJSON() } as never);
        finish();
      });
      res.on('close', () => {
        finish();
        instance.touch();
      });
    },
  );
}
