import {
  ErrorCode,
  FaasError,
  type FunctionVersion,
  isRefusedBeforeStart,
  type LogLine,
  refusedBeforeStart,
} from '@faas/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  CLUSTER_AUTH_HEADER,
  type ExecuteCall,
  type ExecuteLine,
  fromWire,
  type InvokeAnswer,
  type InvokeCall,
  NOT_STARTED_HEADER,
  outcomeToWire,
  type WireValue,
} from '../../cluster/wire.ts';
import { EXECUTE_MODES, type ExecuteRequest, type RunMode } from '../../control/execute-service.ts';
import type { Platform, WorkerVersions } from '../../platform.ts';
import { clusterSecretCheck } from '../cluster-principal.ts';
import { setErrorHeaders, toFaasError } from '../errors.ts';
import { ndjsonAnswer } from '../ndjson-answer.ts';

const RUN_MODES: ReadonlySet<string> = new Set(EXECUTE_MODES.filter((mode) => mode !== 'persistent'));

/**
 * Log bytes a worker keeps of one call before it stops keeping more: the gateway cuts at 256 KiB
 * anyway, so more would only be memory and traffic.
 */
const MAX_LOG_BYTES = 512 * 1024;

/**
 * The cluster's internal API on a worker: gateways send container calls, deploys' preparations
 * and retirements here. Only the cluster secret opens it (compared in constant time); a user's
 * key never does, and the secret opens nothing under /api/v1 (it is no key).
 */
export function internalRoutes(
  app: FastifyInstance,
  platform: Platform,
  secret: string,
  versions: WorkerVersions,
): void {
  const authorized = clusterSecretCheck(secret);
  app.addHook('onRequest', async (request) => {
    if (!authorized(request.headers[CLUSTER_AUTH_HEADER])) throw notTheClusterSecret();
  });
  const bodyLimit = internalBodyLimit(platform.config.bodyLimitBytes);

  // Served ahead of the router on a worker (internal-invoke-adapter.ts); here for what it leaves.
  app.post('/invoke', { bodyLimit, schema: { hide: true } }, async (request, reply) =>
    internalInvoke(platform, versions, request.body, abortOnHangUp(request, reply).signal).catch(
      (err: unknown) => {
        setErrorHeaders(err, notStartedHeaders(err));
        throw err;
      },
    ),
  );

  // Files and stdin of a run ride in its body, as in the user's request: the same room, and more.
  app.post('/execute', { bodyLimit, schema: { hide: true } }, async (request, reply) => {
    const call = executeCall(request.body);
    if (platform.draining) {
      const refusal = draining();
      setErrorHeaders(refusal, notStartedHeaders(refusal));
      throw refusal;
    }
    const aborter = abortOnHangUp(request, reply);
    // A gateway that does not take the output as fast as it comes is dropped, the run stopped.
    const out = ndjsonAnswer(() => {
      aborter.abort(new Error('the gateway took the output too slowly'));
      reply.raw.destroy();
    });
    const writeLine = (line: ExecuteLine) => out.write(line);
    platform.execute
      .execute(call.request, call.mode, {
        signal: aborter.signal,
        ...(call.stream
          ? {
              onOutput: (type, chunk) => {
                writeLine({ type, base64: chunk.toString('base64') });
                return out.behind();
              },
            }
          : {}),
      })
      .then(
        (result) => writeLine({ type: 'result', result }),
        (err: unknown) => writeLine({ type: 'error', ...toFaasError(err).toJSON() }),
      )
      .finally(() => out.end());
    return reply.type('application/x-ndjson').send(out.body);
  });

  app.post('/prepare', { schema: { hide: true } }, async (request, reply) => {
    const fn = functionVersion((request.body as { fn?: unknown } | undefined)?.fn);
    await workerRuntime(platform, fn).prepare(fn);
    return reply.status(204).send();
  });

  app.post('/retire', { schema: { hide: true } }, async (request, reply) => {
    const body = request.body as { name?: unknown; version?: unknown } | undefined;
    if (typeof body?.name !== 'string' || (body.version !== undefined && typeof body.version !== 'number')) {
      throw new FaasError(ErrorCode.VALIDATION, 'retire takes { name, version? }');
    }
    versions.retire(body.name, body.version);
    await platform.runtimes.retire(body.name, body.version);
    return reply.status(204).send();
  });
}

/** The path of a container call sent by a gateway. */
export const INTERNAL_INVOKE_PATH = '/internal/v1/invoke';

/** The event (base64 for bytes) and the function's settings: room for a full-size body and more. */
export function internalBodyLimit(bodyLimitBytes: number): number {
  return bodyLimitBytes * 2 + 1024 * 1024;
}

export function notTheClusterSecret(): FaasError {
  return new FaasError(ErrorCode.UNAUTHORIZED, 'The internal API takes the cluster secret only');
}

/**
 * Runs a gateway's container call (an InvokeCall, checked here) in this worker's container
 * runtime; `signal` stops it when the gateway hangs up. The answer is the outcome and the
 * function's log lines, up to MAX_LOG_BYTES of them; or `unknownVersion` when the call names a
 * version by a digest this worker keeps no copy of (the gateway sends it again with the version).
 */
export async function internalInvoke(
  platform: Platform,
  versions: WorkerVersions,
  body: unknown,
  signal: AbortSignal,
): Promise<InvokeAnswer> {
  const call = invokeCall(body);
  // Before anything else: a draining worker's calls go to another worker, not back with the version.
  if (platform.draining) throw draining();
  let fn = call.fn;
  if (fn) versions.put(fn);
  else fn = versions.get(call.digest);
  if (!fn) return { unknownVersion: true };
  const runtime = workerRuntime(platform, fn);
  const logs: LogLine[] = [];
  let bytes = 0;
  const outcome = await runtime.invoke({
    invocationId: call.invocationId,
    fn,
    event: fromWire(call.event),
    deadline: call.deadline,
    log: (level, message, ts) => {
      bytes += message.length;
      if (bytes <= MAX_LOG_BYTES) logs.push({ ts: ts ?? Date.now(), level, message });
    },
    signal,
    ...(call.traceparent
      ? { trace: { traceId: call.traceparent.split('-')[1] ?? '', traceparent: call.traceparent } }
      : {}),
  });
  return { outcome: outcomeToWire(outcome), logs };
}

/** The local container runtime, unless this worker drains: then the gateway tries another. */
function workerRuntime(platform: Platform, fn: FunctionVersion) {
  if (platform.draining) throw draining();
  const runtime = platform.runtimes.forFunction(fn.runtime);
  if (runtime.kind !== 'container') {
    throw new FaasError(ErrorCode.VALIDATION, `Workers run container functions, not "${fn.runtime}"`);
  }
  return runtime;
}

function draining(): FaasError {
  return refusedBeforeStart(new FaasError(ErrorCode.RUNTIME_UNAVAILABLE, 'This worker is draining'));
}

/**
 * The headers of an internal call's error answer: NOT_STARTED_HEADER on a refusal only (nothing
 * of the call ran), the one answer a gateway may send to another worker.
 */
export function notStartedHeaders(err: unknown): Record<string, string> {
  return isRefusedBeforeStart(err) ? { [NOT_STARTED_HEADER]: '1' } : {};
}

/** The gateway hung up (its caller went away, or it died): the function is stopped. */
function abortOnHangUp(request: FastifyRequest, reply: FastifyReply): AbortController {
  const aborter = new AbortController();
  request.raw.once('close', () => {
    if (!reply.raw.writableFinished) aborter.abort(new Error('the gateway hung up'));
  });
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) aborter.abort(new Error('the gateway hung up'));
  });
  return aborter;
}

function invokeCall(body: unknown): InvokeCall {
  const call = body as Partial<InvokeCall> | undefined;
  if (
    typeof call?.invocationId !== 'string' ||
    typeof call.digest !== 'string' ||
    typeof call.deadline !== 'number' ||
    !isWireValue(call.event) ||
    (call.traceparent !== undefined && typeof call.traceparent !== 'string')
  ) {
    throw new FaasError(
      ErrorCode.VALIDATION,
      'invoke takes { invocationId, digest, fn?, event, deadline, traceparent? }',
    );
  }
  return (call.fn === undefined ? call : { ...call, fn: functionVersion(call.fn) }) as InvokeCall;
}

/**
 * The gateway checked the caller and set the project; the worker checks the shape only, and its
 * ExecuteService checks the values as for a request of its own.
 */
function executeCall(body: unknown): { request: ExecuteRequest; mode: RunMode; stream: boolean } {
  const call = body as Partial<ExecuteCall> | undefined;
  const request = call?.request as Partial<ExecuteRequest> | undefined;
  if (
    typeof call?.stream !== 'boolean' ||
    !RUN_MODES.has(call.mode as string) ||
    typeof request?.project !== 'string' ||
    (typeof request.command !== 'string' && !Array.isArray(request.command))
  ) {
    throw new FaasError(
      ErrorCode.VALIDATION,
      'execute takes { request: { project, command, … }, mode, stream }',
    );
  }
  return call as { request: ExecuteRequest; mode: RunMode; stream: boolean };
}

function functionVersion(fn: unknown): FunctionVersion {
  const v = fn as Partial<FunctionVersion> | undefined;
  if (typeof v?.name !== 'string' || typeof v.version !== 'number' || typeof v.runtime !== 'string') {
    throw new FaasError(ErrorCode.VALIDATION, 'fn must be a function version');
  }
  return v as FunctionVersion;
}

function isWireValue(value: unknown): value is WireValue {
  const v = value as { kind?: unknown; base64?: unknown; value?: unknown } | undefined;
  if (v?.kind === 'bytes') return typeof v.base64 === 'string';
  if (v?.kind === 'text') return typeof v.value === 'string';
  return v?.kind === 'json';
}
