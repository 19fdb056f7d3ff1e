import type { IncomingMessage } from 'node:http';
import { ErrorCode, FaasError } from '@faas/core';
import { bodyTooLarge } from '../errors.ts';

/**
 * How much of a body over the limit is read (and dropped) before the 413 goes out. A server that
 * answers and closes while the client is still sending leaves unread bytes behind, and the kernel
 * then resets the connection, often before the client has read the answer (seen: 1 in 4 clients
 * got nothing). Reading the rest first lets the answer arrive; past this much, the server answers
 * at once and the client may see a reset instead.
 */
const MAX_DRAIN_BYTES = 64 * 1024 * 1024;

/**
 * Reads a request's body up to the limit. One over the limit (by its Content-Length, or as it
 * arrives when chunked) is read to its end and dropped, then refused with 413; one that stops
 * short (its connection closed) is a 400 BAD_REQUEST.
 */
export function readBody(
  req: IncomingMessage,
  limit: number,
  done: (err: unknown, body: Buffer) => void,
): void {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    drain(req, 0, () => done(bodyTooLarge(limit), Buffer.alloc(0)));
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let settled = false;
  const onData = (chunk: Buffer) => {
    size += chunk.length;
    if (size <= limit) {
      chunks.push(chunk);
      return;
    }
    settled = true;
    req.off('data', onData);
    chunks.length = 0;
    drain(req, size, () => done(bodyTooLarge(limit), Buffer.alloc(0)));
  };
  req.on('data', onData);
  req.on('end', () => {
    if (settled) return;
    settled = true;
    done(undefined, chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
  });
  // The body stopped short: the client went away (node's `aborted`), or the server refused bytes
  // that are not HTTP (http-server.ts answers those itself, then closes the request).
  const cut = (cause?: unknown) => {
    if (settled) return;
    settled = true;
    done(bodyCut(cause), Buffer.alloc(0));
  };
  req.on('error', cut);
  req.on('close', () => cut());
}

/**
 * A body that did not arrive whole, as a 400 for a connection that can still take an answer
 * (an HTTP/2 stream, say); usually nobody is left to read it.
 */
function bodyCut(cause: unknown): FaasError {
  const message = 'The request body did not arrive whole: its connection closed';
  return new FaasError(ErrorCode.BAD_REQUEST, message, { cause });
}

/** Reads and drops the rest of a body (see MAX_DRAIN_BYTES), then calls `then` once. */
export function drain(req: IncomingMessage, alreadyRead: number, then: () => void): void {
  let read = alreadyRead;
  let called = false;
  const finish = () => {
    if (called) return;
    called = true;
    req.off('data', onData);
    then();
  };
  const onData = (chunk: Buffer) => {
    read += chunk.length;
    if (read > MAX_DRAIN_BYTES) finish();
  };
  req.on('data', onData);
  req.once('end', finish);
  req.once('error', finish);
  req.once('close', finish);
  if (req.readableEnded) finish();
}
