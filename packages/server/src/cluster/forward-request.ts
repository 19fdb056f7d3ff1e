import {
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type ClusterNodeRecord, ErrorCode, FaasError } from '@faas/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { closedUnderReuse } from './node-client.ts';
import { CLUSTER_AUTH_HEADER, clusterAuthValue, PRINCIPAL_HEADER } from './wire.ts';
import { NotStarted } from './worker-failure.ts';

/** Errors that, while the connection is being made, mean none was: the worker never saw the request. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'ETIMEDOUT']);
/** How long a connection to a worker may take to open; past it the worker is not reached. */
const CONNECT_TIMEOUT_MS = 5_000;
/**
 * TCP keepalive on the hop: a worker whose machine vanished (no RST) is found out by the kernel
 * within about this plus its probes, so a forwarded exec or event stream never hangs for ever.
 */
const KEEPALIVE_MS = 10_000;

/**
 * How long a worker may take to answer a forwarded WebSocket handshake (it only looks the
 * instance up): past it the worker is taken as hung, even while it still heartbeats.
 */
const HANDSHAKE_TIMEOUT_MS = 10_000;

/** How often a forwarded request checks that its worker is still in the cluster. */
const WATCH_EVERY_MS = 500;

/**
 * Whether the worker is still in the cluster, and how long it may be out before its request is
 * given up: a worker that hangs (stopped, swapping, deadlocked) keeps its connections open and
 * never answers; out of the registry that long, its request ends as WORKER_LOST instead of hanging.
 */
export interface WorkerWatch {
  present: () => boolean;
  graceMs: number;
}

/** One send of a forwarded request (RequestForwarder#send). */
interface Send {
  request: FastifyRequest;
  reply: FastifyReply;
  node: ClusterNodeRecord;
  watch: WorkerWatch | undefined;
  headers: OutgoingHttpHeaders;
  /** The JSON bytes, or the caller's stream (sent once only). */
  body: Buffer | Readable | undefined;
  /** The second send, after the kept-alive connection of the first was closed under it. */
  replay: boolean;
}

/** Headers of one hop only, or the caller's credentials: never passed to the worker or back. */
const NOT_FORWARDED = new Set([
  'authorization',
  'cookie',
  'connection',
  'keep-alive',
  'host',
  'transfer-encoding',
  'upgrade',
  'proxy-connection',
  'te',
  'trailer',
  'x-faas-project',
  PRINCIPAL_HEADER,
]);

/**
 * Sends a user's request, as the gateway authenticated it, to the same route on a worker: the
 * cluster secret and the caller's principal instead of the caller's credentials, the body as it
 * came (a stream stays a stream; a parsed JSON body is sent as JSON), and the worker's answer
 * back as it comes, status, headers and body (an event stream included). Resolves once the
 * answer started; the request is then the worker's.
 * @throws NotStarted when no connection was made; FaasError WORKER_LOST when the worker went away
 *   before its answer started (once connected: it may have taken the request)
 */
export class RequestForwarder {
  #secret: string;
  #principal: (request: FastifyRequest) => string | undefined;
  #http = new HttpAgent({ keepAlive: true });
  #https = new HttpsAgent({ keepAlive: true });

  /** `principal`: the header value naming the request's caller (undefined with auth off). */
  constructor(secret: string, principal: (request: FastifyRequest) => string | undefined) {
    this.#secret = secret;
    this.#principal = principal;
  }

  /** The headers a worker takes a gateway's request on a caller's behalf with. */
  callerHeaders(request: FastifyRequest): Record<string, string> {
    const headers: Record<string, string> = { [CLUSTER_AUTH_HEADER]: clusterAuthValue(this.#secret) };
    const principal = this.#principal(request);
    if (principal !== undefined) headers[PRINCIPAL_HEADER] = principal;
    return headers;
  }

  forward(
    request: FastifyRequest,
    reply: FastifyReply,
    node: ClusterNodeRecord,
    watch?: WorkerWatch,
  ): Promise<void> {
    const headers = this.#headers(request);
    const body = request.body;
    const streamed = body instanceof Readable;
    const json = !streamed && body !== undefined ? Buffer.from(JSON.stringify(body)) : undefined;
    if (json) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = json.length;
    } else if (!streamed) {
      delete headers['content-length'];
      delete headers['content-type'];
    }
    return this.#send({ request, reply, node, watch, headers, body: streamed ? body : json, replay: false });
  }

  /**
   * One send of a forwarded request; one closed under its reuse (`closedUnderReuse`) once more,
   * on a new connection to the same worker, whose failure is WORKER_LOST, never NotStarted
   * (another worker must not make the instance a second time). A streamed body cannot be sent
   * twice: it always goes on a connection of its own, which no such race touches.
   */
  #send(s: Send): Promise<void> {
    const { request, reply, node, watch, body } = s;
    const url = workerUrl(node, request.raw.url ?? request.url);
    const https = url.protocol === 'https:';
    const streamed = body instanceof Readable;
    const agent = streamed || s.replay ? false : https ? this.#https : this.#http;
    return new Promise<void>((resolve, reject) => {
      let answered = false;
      let connected = false;
      const upstream = (https ? httpsRequest : httpRequest)(
        url,
        { method: request.method, headers: s.headers, agent, timeout: CONNECT_TIMEOUT_MS },
        (res) => {
          answered = true;
          upstream.setTimeout(0);
          reply.hijack();
          reply.raw.writeHead(res.statusCode ?? 502, answerHeaders(res.headers));
          reply.raw.flushHeaders();
          resolve();
          pipeline(res, reply.raw)
            .catch(() => reply.raw.destroy())
            .finally(stopWatching);
        },
      );
      const stopWatching = giveUpWhenGone(watch, (graceMs) =>
        upstream.destroy(
          new Error(`it left the cluster (no heartbeat) and was given up after ${graceMs} ms`),
        ),
      );
      upstream.on('socket', (socket) => {
        socket.setKeepAlive(true, KEEPALIVE_MS);
        // A kept-alive socket is connected already; a new one once it says so (TLS: once secure).
        if (!socket.connecting) connected = true;
        else socket.once(https ? 'secureConnect' : 'connect', () => (connected = true));
      });
      upstream.on('timeout', () => {
        if (!answered && upstream.socket?.connecting) {
          upstream.destroy(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' }));
        }
      });
      upstream.on('error', (err: NodeJS.ErrnoException) => {
        stopWatching();
        if (answered) {
          reply.raw.destroy();
          return;
        }
        if (!s.replay && !streamed && closedUnderReuse(upstream, err) && !reply.raw.destroyed) {
          this.#send({ ...s, replay: true }).then(resolve, reject);
          return;
        }
        const lost = (message: string) =>
          new FaasError(ErrorCode.WORKER_LOST, message, { details: { worker: node.id }, cause: err });
        // Only while the connection was still being made did the worker see nothing of the
        // request; once made (a keepalive or retransmission timeout later), it may have taken it.
        if (!connected && !s.replay && err.code && NOT_CONNECTED.has(err.code)) {
          reject(new NotStarted(lost(`Worker ${node.id} could not be reached (${err.code})`)));
        } else {
          reject(lost(`Worker ${node.id} went away before it answered (${err.code ?? err.message})`));
        }
      });
      // The caller went away: the worker's request ends too (its exec is killed, its stream closed).
      const onCallerClose = () => {
        stopWatching();
        if (!reply.raw.writableFinished) upstream.destroy();
      };
      reply.raw.once('close', onCallerClose);
      upstream.once('close', () => reply.raw.off('close', onCallerClose));
      if (streamed) {
        body.pipe(upstream);
      } else {
        upstream.end(body);
      }
    });
  }

  /**
   * A WebSocket upgrade (the instance's stream): the worker's handshake answer is written to the
   * caller's socket, then the two sockets are joined both ways until either ends. A refusal (401,
   * 404…) is passed back as the worker wrote it.
   * @throws NotStarted, FaasError WORKER_LOST as `forward`
   */
  forwardUpgrade(
    request: FastifyRequest,
    reply: FastifyReply,
    node: ClusterNodeRecord,
    watch?: WorkerWatch,
  ): Promise<void> {
    const url = workerUrl(node, request.raw.url ?? request.url);
    const headers = this.#headers(request);
    headers.connection = 'Upgrade';
    headers.upgrade = String(request.headers.upgrade);
    delete headers['content-length'];
    const client = request.raw.socket;
    const head = upgradeHead(request);
    const https = url.protocol === 'https:';
    return new Promise<void>((resolve, reject) => {
      let answered = false;
      let joined: Socket | undefined;
      // Its own connection: an upgraded socket never goes back to a pool.
      const upstream = (https ? httpsRequest : httpRequest)(url, {
        method: 'GET',
        headers,
        agent: false,
        timeout: HANDSHAKE_TIMEOUT_MS,
      });
      let connected = false;
      upstream.on('socket', (socket) =>
        socket.once(https ? 'secureConnect' : 'connect', () => (connected = true)),
      );
      // Before the handshake's answer too: a hung worker accepts the connection and never answers.
      const stopWatching = giveUpWhenGone(watch, (graceMs) => {
        if (joined) joined.destroy();
        else
          upstream.destroy(
            new Error(`it left the cluster (no heartbeat) and was given up after ${graceMs} ms`),
          );
      });
      const take = () => {
        answered = true;
        upstream.setTimeout(0);
        reply.hijack();
        resolve();
      };
      upstream.on('timeout', () => {
        if (answered) return;
        upstream.destroy(
          upstream.socket?.connecting
            ? Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' })
            : new Error(`it did not answer the stream's handshake within ${HANDSHAKE_TIMEOUT_MS} ms`),
        );
      });
      upstream.on('upgrade', (res, worker, workerHead) => {
        take();
        joined = worker;
        client.write(
          statusBlock(res.statusCode ?? 101, res.statusMessage ?? 'Switching Protocols', res.headers),
        );
        if (workerHead.length > 0) client.write(workerHead);
        if (head && head.length > 0) worker.write(head);
        const end = () => {
          stopWatching();
          worker.destroy();
          client.destroy();
        };
        worker.on('error', end).on('close', end);
        client.on('error', end).on('close', end);
        worker.pipe(client);
        client.pipe(worker);
      });
      upstream.on('response', (res) => {
        // Refused: its answer goes back as it is, and the connection ends with it.
        take();
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          stopWatching();
          const body = Buffer.concat(chunks);
          const answer = { ...res.headers, 'content-length': String(body.length), connection: 'close' };
          delete answer['transfer-encoding'];
          client.end(
            Buffer.concat([statusBlock(res.statusCode ?? 502, res.statusMessage ?? '', answer), body]),
          );
        });
        res.on('error', () => client.destroy());
      });
      upstream.on('error', (err: NodeJS.ErrnoException) => {
        stopWatching();
        if (answered) {
          client.destroy();
          return;
        }
        const lost = (message: string) =>
          new FaasError(ErrorCode.WORKER_LOST, message, { details: { worker: node.id }, cause: err });
        if (!connected && err.code && NOT_CONNECTED.has(err.code)) {
          reject(new NotStarted(lost(`Worker ${node.id} could not be reached (${err.code})`)));
        } else {
          reject(lost(`Worker ${node.id} went away before it answered (${err.code ?? err.message})`));
        }
      });
      client.once('close', () => {
        stopWatching();
        if (!answered) upstream.destroy();
      });
      upstream.end();
    });
  }

  close(): void {
    this.#http.destroy();
    this.#https.destroy();
  }

  #headers(request: FastifyRequest): OutgoingHttpHeaders {
    const headers: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(request.headers)) {
      if (value !== undefined && !NOT_FORWARDED.has(name)) headers[name] = value;
    }
    return Object.assign(headers, this.callerHeaders(request));
  }
}

/**
 * The worker's URL for the request's path and query, and nothing else of it: a request in
 * absolute form (`GET http://elsewhere/api/v1/…`, which the router takes) or with a path of the
 * form `//host/…` must never send the cluster secret to a host the caller named.
 */
export function workerUrl(node: Pick<ClusterNodeRecord, 'url'>, requestUrl: string): URL {
  const given = new URL(requestUrl, 'http://gateway.invalid');
  const url = new URL(node.url);
  url.pathname = given.pathname;
  url.search = given.search;
  return url;
}

/** The bytes a client sent after its upgrade request (kept by @fastify/websocket under a symbol). */
function upgradeHead(request: FastifyRequest): Buffer | undefined {
  const raw = request.raw as unknown as Record<symbol, unknown>;
  const key = Object.getOwnPropertySymbols(raw).find((s) => s.description === 'ws-head');
  const head = key ? raw[key] : undefined;
  return Buffer.isBuffer(head) ? head : undefined;
}

/** An HTTP/1.1 status line and headers, as written on a socket taken over from the server. */
function statusBlock(status: number, message: string, headers: IncomingHttpHeaders): Buffer {
  const lines = [`HTTP/1.1 ${status} ${message.replace(/[\r\n]/g, '')}`];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name === 'keep-alive') continue;
    for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${v}`);
  }
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`);
}

function answerHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !NOT_FORWARDED.has(name)) out[name] = value;
  }
  return out;
}

/**
 * Calls `giveUp` once the watched worker has been out of the cluster for its grace time (checked
 * every WATCH_EVERY_MS; back in before then, the count starts again). Returns the stop.
 */
function giveUpWhenGone(watch: WorkerWatch | undefined, giveUp: (graceMs: number) => void): () => void {
  if (!watch) return () => {};
  let absentSince: number | undefined;
  const timer = setInterval(() => {
    if (watch.present()) {
      absentSince = undefined;
      return;
    }
    absentSince ??= Date.now();
    if (Date.now() - absentSince >= watch.graceMs) giveUp(watch.graceMs);
  }, WATCH_EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}
