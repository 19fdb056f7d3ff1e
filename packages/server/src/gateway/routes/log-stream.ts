import type { ServerResponse } from 'node:http';
import { shownName, storedName } from '@faas/core';
import type { FastifyInstance } from 'fastify';
import type { IdentifiedEvent } from '../../observability/log-tail.ts';
import type { Platform } from '../../platform.ts';
import { mustReachFunction } from '../auth.ts';
import { watchCredential } from '../credential-watch.ts';

/** A comment line this often keeps proxies and idle timeouts from closing a quiet stream. */
const HEARTBEAT_MS = 15_000;
/**
 * Bytes waiting for a slow reader past which its stream is ended: it reconnects with
 * Last-Event-ID and resumes, instead of the server holding an unbounded backlog for it.
 */
const MAX_BACKLOG_BYTES = 1024 * 1024;
/** What EventSource waits before it reconnects. */
const RETRY_MS = 1_000;

const streamQuery = {
  type: 'object',
  additionalProperties: false,
  required: ['functionName'],
  properties: {
    functionName: { type: 'string', minLength: 1, maxLength: 80 },
    /** For clients that cannot set the Last-Event-ID header. */
    lastEventId: { type: 'string', maxLength: 64 },
  },
};

/**
 * `GET /api/v1/logs/stream?functionName=…`: a function's invocations live, as Server-Sent
 * Events (`start`, `log`, `end`; docs/api.md), resumable with Last-Event-ID. An id the server
 * cannot resume from (a restart, or older than what it keeps) gets a `gap` event first.
 */
export function logStreamRoutes(app: FastifyInstance, platform: Platform): void {
  const tail = platform.observability.tail;
  // Open streams never end on their own: a server that closes ends them, or its close would wait.
  const open = new Set<ServerResponse>();
  app.addHook('preClose', (done) => {
    for (const res of open) res.end();
    done();
  });
  app.get<{ Querystring: { functionName: string; lastEventId?: string } }>(
    '/logs/stream',
    {
      schema: {
        tags: ['invocations'],
        summary:
          "A function's invocations live (start, log lines, end) as Server-Sent Events; resumable with Last-Event-ID",
        querystring: streamQuery,
      },
    },
    async (request, reply) => {
      const shown = request.query.functionName;
      // 404 for a function that does not exist, is another project's, or beyond the key's list.
      mustReachFunction(request.identity, shown);
      await platform.functions.get(shown, { scope: request.projectScope, project: request.project });
      const functionName = storedName(request.project, shown);
      const header = request.headers['last-event-id'];
      const lastEventId = (Array.isArray(header) ? header[0] : header) ?? request.query.lastEventId;

      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        'x-accel-buffering': 'no',
        connection: 'keep-alive',
      });
      // HEAD, which the router answers on every GET route: the head, and no stream (node sends
      // a HEAD answer's head only once it ends).
      if (request.method === 'HEAD') {
        res.end();
        return;
      }
      res.write(`retry: ${RETRY_MS}\n\n`);
      // Resumed and subscribed in one turn: no event falls between the replay and the live ones.
      if (lastEventId) {
        const { events, complete } = tail.resume(functionName, lastEventId);
        if (!complete) {
          res.write(
            `event: gap\ndata: ${JSON.stringify({ reason: 'events after Last-Event-ID are no longer kept (or the server restarted): read GET /api/v1/logs for what was missed' })}\n\n`,
          );
        }
        write(res, events);
      }
      const unsubscribe = tail.subscribe(functionName, (events) => {
        if (res.writableLength > MAX_BACKLOG_BYTES) return res.end();
        write(res, events);
      });
      const heartbeat = setInterval(() => res.write(': ping\n\n'), HEARTBEAT_MS);
      heartbeat.unref();
      // The key revoked or expired, or the session ended: an `error` event, then the end.
      const stopWatch = watchCredential(request, platform.config.routeSyncMs, (refusal) => {
        if (!res.writableEnded) res.end(`event: error\ndata: ${JSON.stringify(refusal.toJSON())}\n\n`);
      });
      open.add(res);
      res.on('close', () => {
        open.delete(res);
        clearInterval(heartbeat);
        stopWatch();
        unsubscribe();
      });
      request.raw.on('error', () => res.destroy());
    },
  );
}

function write(res: ServerResponse, events: IdentifiedEvent[]): void {
  if (events.length === 0 || res.writableEnded) return;
  let text = '';
  for (const { id, event } of events) {
    const shown = { ...event, functionName: shownName(event.functionName) };
    text += `id: ${id}\nevent: ${event.type}\ndata: ${JSON.stringify(shown)}\n\n`;
  }
  res.write(text);
}
