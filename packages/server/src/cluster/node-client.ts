import {
  type ClientRequest,
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingHttpHeaders,
  type RequestOptions,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** A connection not made in this long counts as the worker unreachable (as fetch's was). */
const CONNECT_TIMEOUT_MS = 10_000;
/** The error code of that: another worker may take the call. */
export const CONNECT_TIMEOUT = 'ECONNECT_TIMEOUT';

/** Why a request to another node failed, and whether a connection was made first. */
export class SendFailure extends Error {
  readonly connected: boolean;
  constructor(cause: unknown, connected: boolean) {
    super((cause as Error)?.message ?? String(cause), { cause });
    this.connected = connected;
  }
}

export interface NodeAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/**
 * JSON posts from a gateway to the workers over kept-alive connections. node:http rather than
 * fetch: on the gateway → worker hop of every container call, fetch's WHATWG layer cost about
 * 0.3–0.7 ms of CPU per call more than node:http (both ends in one process, measured on this
 * project's 2-core machine), a large part of the hop's added latency on a busy machine.
 */
export class NodeClient {
  #http = new HttpAgent({ keepAlive: true, maxSockets: 256 });
  #https = new HttpsAgent({ keepAlive: true, maxSockets: 256 });
  /** Each URL posted to, parsed once: a gateway posts to a few paths of a few workers, call after call. */
  #targets = new Map<string, Target>();

  post(
    url: string,
    headers: Record<string, string>,
    payload: string,
    signal: AbortSignal,
  ): Promise<NodeAnswer> {
    return this.#send(url, headers, payload, signal, false);
  }

  /**
   * One send; a call closed under its reuse (`closedUnderReuse`) once more, on a new connection
   * to the same worker, whose failure counts as connected (the call may have run: WORKER_LOST,
   * never another worker).
   */
  #send(
    url: string,
    headers: Record<string, string>,
    payload: string,
    signal: AbortSignal,
    replay: boolean,
  ): Promise<NodeAnswer> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(new SendFailure(abortError(signal), replay));
        return;
      }
      let connected = replay;
      let answered = false;
      let req: ClientRequest;
      let target: Target;
      try {
        target = this.#target(url);
        const agent = replay ? false : target.tls ? this.#https : this.#http;
        req = (target.tls ? httpsRequest : httpRequest)({
          ...target.options,
          method: 'POST',
          agent,
          headers: { ...headers, 'content-length': String(Buffer.byteLength(payload)) },
        });
      } catch (err) {
        reject(new SendFailure(err, replay));
        return;
      }
      // A listener of our own rather than request's `signal` option, whose stream plumbing
      // (addAbortSignal, end-of-stream) cost more than the rest of the request's setup.
      const onAbort = () => req.destroy(abortError(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      const done = () => signal.removeEventListener('abort', onAbort);
      const connectTimer = setTimeout(() => {
        const err = Object.assign(new Error(`no connection in ${CONNECT_TIMEOUT_MS} ms`), {
          code: CONNECT_TIMEOUT,
        });
        req.destroy(err);
      }, CONNECT_TIMEOUT_MS);
      const onConnected = () => {
        connected = true;
        clearTimeout(connectTimer);
      };
      req.once('socket', (socket) => {
        // A kept-alive socket is connected already; a new one once it says so (TLS: once secure).
        if (!socket.connecting) onConnected();
        else socket.once(target.tls ? 'secureConnect' : 'connect', onConnected);
      });
      req.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(connectTimer);
        done();
        if (!replay && !answered && closedUnderReuse(req, err) && !signal.aborted) {
          this.#send(url, headers, payload, signal, true).then(resolve, reject);
          return;
        }
        reject(new SendFailure(err, connected));
      });
      req.once('response', (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.once('end', () => {
          done();
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          });
        });
        // The connection cut during the answer: the call may have run.
        res.once('error', (err) => {
          done();
          reject(new SendFailure(err, true));
        });
        res.once('aborted', () => {
          done();
          reject(new SendFailure(new Error('the answer was cut'), true));
        });
      });
      req.end(payload);
    });
  }

  close(): void {
    this.#http.destroy();
    this.#https.destroy();
  }

  #target(url: string): Target {
    let target = this.#targets.get(url);
    if (target === undefined) {
      const parsed = new URL(url);
      target = {
        tls: parsed.protocol === 'https:',
        options: {
          protocol: parsed.protocol,
          hostname: parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname,
          port: parsed.port,
          path: `${parsed.pathname}${parsed.search}`,
        },
      };
      // Workers come and go (each with its URL): a bound, not a leak.
      if (this.#targets.size >= MAX_TARGETS) this.#targets.clear();
      this.#targets.set(url, target);
    }
    return target;
  }
}

/** URLs kept parsed at most (NodeClient#target). */
const MAX_TARGETS = 1024;

interface Target {
  tls: boolean;
  options: Pick<RequestOptions, 'protocol' | 'hostname' | 'port' | 'path'>;
}

/** What request's `signal` option destroys a request with: an AbortError caused by the reason. */
function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted', { cause: signal.reason }), {
    name: 'AbortError',
    code: 'ABORT_ERR',
  });
}

/**
 * Whether a request failed because the worker had closed its kept-alive connection as the
 * request went out on it (node's reuse race), before any byte of the answer came. Such a request
 * is sent once more, on a new connection to the same worker: the standard rule of HTTP clients
 * for a request the server never read. A server closes a kept-alive connection on its own only
 * while it is idle, between requests, and the kernel resets what arrives on a closed socket
 * unread; so a reset (ECONNRESET, EPIPE) on a reused connection means the worker read nothing,
 * unless it died while reading it. That case is why the replay goes to the same worker only, and
 * why its failure is never taken for "not started".
 */
export function closedUnderReuse(req: ClientRequest, err: NodeJS.ErrnoException): boolean {
  return req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE');
}
