import { ErrorCode, FaasError, isFaasError } from '@faas/core';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { argv, instanceView } from '../../control/instance-service.ts';
import { snapshotView } from '../../control/snapshot-service.ts';
import type { Platform } from '../../platform.ts';
import type { Instance } from '../../runtimes/container/instances/instance.ts';
import type { SequencedEvent } from '../../runtimes/container/instances/instance-events.ts';
import { closeReason, watchCredential } from '../credential-watch.ts';
import { toFaasError } from '../errors.ts';
import { type ClientCommand, parseClientCommand } from '../stream-commands.ts';

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
  const named = 'process' in command ? command.process : undefined;
  const target = named ?? session.foreground ?? instance.mainProcess;
  const needTarget = () => {
    if (target === undefined)
      throw new FaasError(
        ErrorCode.BAD_REQUEST,
        'No process to send to: start one with exec, or name one in "process"',
      );
    if (!instance.hasProcess(target)) {
      throw new FaasError(
        ErrorCode.BAD_REQUEST,
        `No running process ${target} in this instance (processes started before a server restart cannot be addressed)`,
      );
    }
    return target;
  };
  switch (command.type) {
    case 'stdin':
      instance.writeStdin(needTarget(), command.data);
      return undefined;
    case 'stdin_close':
      instance.closeStdin(needTarget());
      return undefined;
    case 'exec': {
      const started = instance.start(argv(command.command), {
        ...(command.env ? { env: command.env } : {}),
        ...(command.cwd ? { cwd: command.cwd } : {}),
        ...(command.tty ? { tty: command.tty } : {}),
      });
      session.foreground = started.process;
      return { type: 'started', process: started.process, command: started.command.join(' ') };
    }
    case 'resize':
      instance.resize(needTarget(), command.rows, command.cols);
      return undefined;
    case 'signal':
      instance.signal(needTarget(), command.signal);
      return undefined;
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
  }
}

/**
 * The reply to a command that failed. What is not a FaasError is the platform's fault: logged,
 * and answered as FAAS_ERR_INTERNAL without its text (as an HTTP route answers it).
 */
function errorEvent(err: unknown, log: FastifyBaseLogger) {
  const faas = toFaasError(err);
  if (!isFaasError(err)) log.error({ err }, 'instance stream command failed');
  return { type: 'error', error: faas.toJSON().error };
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
        // Every field checked before anything runs: a refused command leaves nothing behind.
        command = parseClientCommand(raw.toString());
      } catch (err) {
        send(errorEvent(err, request.log));
        return;
      }
      // Commands run in the order they came; a slow checkpoint holds the later ones back.
      queue = queue.then(async () => {
        try {
          const reply = await runCommand(platform, instance, command, session);
          if (reply) send(reply);
        } catch (err) {
          send(errorEvent(err, request.log));
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
      // HEAD, which the router answers on every GET route: the head, and no stream (node sends
      // a HEAD answer's head only once it ends).
      if (request.method === 'HEAD') {
        res.end();
        return;
      }
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
