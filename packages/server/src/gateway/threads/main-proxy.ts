import { Agent, type ClientRequest, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { ErrorCode, FaasError } from '@faas/core';
import { bodyTooLarge, errorResponse } from '../errors.ts';
import { headerLines } from '../invoke/invoke-target.ts';
import { drain } from '../invoke/request-body.ts';
import { writeResponse } from '../response-parts.ts';

/** Headers of one hop, not passed on. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade']);
/**
 * Not passed back either: the answer's framing is this hop's (node frames it again), and HTTP/2
 * refuses every connection-specific header (writing one throws).
 */
const ANSWER_HOP_BY_HOP = new Set([...HOP_BY_HOP, 'transfer-encoding']);

/** A body up to this size is kept while it goes up, to send again if its connection was dead. */
const REPLAYABLE_BYTES = 64 * 1024;

/**
 * Passes requests a gateway thread does not serve itself to the main thread's internal
 * listener (a Unix socket): the whole API, streams and WebSocket upgrades included.
 */
export class MainProxy {
  #socketPath: string;
  #agent = new Agent({ keepAlive: true, maxSockets: 512 });

  constructor(socketPath: string) {
    this.#socketPath = socketPath;
  }

  /**
   * Forwards a request; `body` when this thread already read it. A body streamed on is cut at
   * `bodyLimit` with the router's 413, so the main thread never answers early while this thread
   * is still writing (that raced into EPIPE and a 503).
   */
  forward(
    req: IncomingMessage,
    res: ServerResponse,
    body?: Buffer,
    bodyLimit = Number.POSITIVE_INFINITY,
  ): void {
    // A small body is read whole first and goes up with the head in one write. Streamed, the
    // main thread could answer it and close the connection (Fastify does on a body it cannot
    // parse) before this thread's last write: EPIPE, and a 503 for what was the client's 400.
    const declared = Number(req.headers['content-length']);
    if (body === undefined && declared > 0 && declared <= Math.min(REPLAYABLE_BYTES, bodyLimit)) {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.once('end', () => this.forward(req, res, Buffer.concat(chunks), bodyLimit));
      return;
    }
    const headers: Record<string, string | string[] | undefined> = {};
    // HTTP/2's pseudo-headers (`:path`…) are not headers on HTTP/1.1: its Host carries `:authority`.
    for (const [name, value] of Object.entries(req.headers)) if (name[0] !== ':') headers[name] = value;
    headers['x-forwarded-for'] = forwardedFor(req);
    for (const name of HOP_BY_HOP) delete headers[name];
    // Sent joined, two keys would arrive as one "a, b", which the main thread would take
    // (invoke-target.ts refuses a repeated Idempotency-Key).
    if (headers['idempotency-key']?.includes(', ')) {
      headers['idempotency-key'] = headerLines(req.rawHeaders, 'idempotency-key');
    }
    // The body's framing on the internal hop: an HTTP/2 request may have no Content-Length, and
    // node sends a DELETE's (or a GET's) body unframed unless told: the main thread then read it
    // as the next request and hung up (503).
    if (body) {
      delete headers['transfer-encoding'];
      headers['content-length'] = String(body.length);
    } else if (req.httpVersionMajor === 2 && headers['content-length'] === undefined) {
      // END_STREAM on the headers: no body at all, which a DELETE without a type must say.
      const noBody = (req as unknown as { stream?: { endAfterHeaders?: boolean } }).stream?.endAfterHeaders;
      if (noBody === true) headers['content-length'] = '0';
      else headers['transfer-encoding'] = 'chunked';
    }
    let answered = false;
    // Given up from this side (see the response's close below): the hang-up that follows is not
    // a dead kept-alive connection to send the request again on.
    let abandoned = false;
    // What went up so far, while it is small enough to send again (see `retried` below).
    let sent: Buffer[] | undefined = body ? [body] : [];
    let sentBytes = 0;
    let ended = body !== undefined;
    let retried = false;
    const open = (agent: Agent | false): ClientRequest => {
      const up = request(
        { socketPath: this.#socketPath, method: req.method, path: req.url, headers, agent },
        (answer) => {
          answered = true;
          const out: string[] = [];
          const raw = answer.rawHeaders;
          for (let i = 0; i + 1 < raw.length; i += 2) {
            if (!ANSWER_HOP_BY_HOP.has((raw[i] as string).toLowerCase()))
              out.push(raw[i] as string, raw[i + 1] as string);
          }
          try {
            // HTTP/2 has no status message.
            if (req.httpVersionMajor === 2) res.writeHead(answer.statusCode ?? 502, out);
            else res.writeHead(answer.statusCode ?? 502, answer.statusMessage, out);
          } catch (err) {
            // A header the client's protocol cannot carry: this request fails, never the thread.
            answer.destroy();
            unavailable(res, err as Error);
            return;
          }
          answer.pipe(res);
          answer.on('error', () => res.destroy());
        },
      );
      up.on('error', (err: NodeJS.ErrnoException) => {
        if (answered || abandoned) return;
        // A kept-alive connection the main thread closed as this request went up on it (node's
        // documented race): the request never reached it, so it goes again, once, on a connection
        // of its own; when what went up of its body is still at hand.
        if (up.reusedSocket && !retried && sent && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
          retried = true;
          upstream = open(false);
          for (const chunk of sent) upstream.write(chunk);
          if (ended) upstream.end();
          else req.resume(); // It may have waited for the dead connection's drain.
          return;
        }
        unavailable(res, err);
      });
      return up;
    };
    let upstream = open(this.#agent);
    // The client went away, or was answered here before its body came (http-server.ts refuses a
    // body that is not HTTP): the main thread's request would wait for the rest forever. One the
    // main thread answered early takes the rest of the body still (node drops it), so the
    // connection can carry the client's next request.
    res.on('close', () => {
      if (res.writableFinished && (req.complete || answered)) return;
      abandoned = true;
      upstream.destroy();
    });
    if (body) {
      upstream.end(body);
      return;
    }
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= bodyLimit) {
        if (sent) {
          sentBytes += chunk.length;
          if (sentBytes <= REPLAYABLE_BYTES) sent.push(chunk);
          else sent = undefined;
        }
        if (!upstream.write(chunk)) {
          req.pause();
          upstream.once('drain', () => req.resume());
        }
        return;
      }
      if (answered) return;
      answered = true;
      upstream.destroy();
      drain(req, size, () => {
        if (!res.headersSent) writeResponse(res, errorResponse(bodyTooLarge(bodyLimit)));
      });
    });
    req.on('end', () => {
      ended = true;
      if (!answered || size <= bodyLimit) upstream.end();
    });
  }

  /** Forwards an upgrade (WebSocket) byte for byte once the request head is written again. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const upstream = connect(this.#socketPath);
    const close = () => {
      socket.destroy();
      upstream.destroy();
    };
    upstream.on('error', close);
    socket.on('error', close);
    upstream.on('connect', () => {
      let text = `${req.method} ${req.url} HTTP/1.1\r\n`;
      const raw = req.rawHeaders;
      for (let i = 0; i + 1 < raw.length; i += 2) {
        if ((raw[i] as string).toLowerCase() !== 'x-forwarded-for') text += `${raw[i]}: ${raw[i + 1]}\r\n`;
      }
      upstream.write(`${text}x-forwarded-for: ${forwardedFor(req)}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      socket.pipe(upstream).pipe(socket);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

function forwardedFor(req: IncomingMessage): string {
  const prior = req.headers['x-forwarded-for'];
  const address = req.socket.remoteAddress ?? '';
  return prior ? `${prior}, ${address}` : address;
}

function unavailable(res: ServerResponse, cause: Error): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const err = new FaasError(
    ErrorCode.RUNTIME_UNAVAILABLE,
    `The main gateway thread did not answer: ${cause.message}`,
  );
  const body = JSON.stringify(err.toJSON());
  res.writeHead(err.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
