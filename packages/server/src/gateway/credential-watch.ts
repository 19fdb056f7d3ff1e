import { FaasError } from '@faas/core';
import type { FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * Checks again the credential the auth hook took (a Bearer key or token, a session, a
     * ticket's key) and throws as the hook would once it is revoked, expired or signed out.
     * Undefined when there is none to check: auth off, or a request a gateway forwarded (that
     * gateway watches its caller's credential).
     */
    recheckCredential?: () => Promise<unknown>;
  }
}

/** Statuses that mean "no longer allowed"; any other failure (a store unreachable) is retried. */
const REFUSED = new Set([401, 403]);

/**
 * Re-checks a long-lived stream's credential every `everyMs` (FAAS_ROUTE_SYNC_MS, how long a key
 * is trusted anyway) and calls `end` once with the refusal, so a stream lasts no longer than the
 * key, token or session it was opened with. Checks run on the timer only, never per message.
 * Returns the stop, for when the stream ends first.
 */
export function watchCredential(
  request: FastifyRequest,
  everyMs: number,
  end: (refusal: FaasError) => void,
): () => void {
  const recheck = request.recheckCredential;
  if (!recheck) return () => {};
  let stopped = false;
  let checking = false;
  const stop = () => {
    stopped = true;
    clearInterval(timer);
  };
  const timer = setInterval(() => {
    if (checking) return;
    checking = true;
    recheck().then(
      () => {
        checking = false;
      },
      (err: unknown) => {
        checking = false;
        if (stopped || !(err instanceof FaasError) || !REFUSED.has(err.status)) return;
        stop();
        end(err);
      },
    );
  }, everyMs);
  // An open stream holds the process anyway; the timer alone should not.
  timer.unref();
  return stop;
}

/** A WebSocket close reason from a refusal: UTF-8, at most 123 bytes (RFC 6455). */
export function closeReason(refusal: FaasError): string {
  const bytes = Buffer.from(refusal.message);
  return bytes.length <= 123
    ? refusal.message
    : bytes
        .subarray(0, 120)
        .toString()
        .replace(/\uFFFD+$/, '');
}
