import { StringDecoder } from 'node:string_decoder';
import type { DependencyCache } from '@faas/core';
import type { FastifyInstance, FastifyReply } from 'fastify';
import {
  EXECUTE_MODES,
  type ExecuteMode,
  type ExecuteOptions,
  type ExecuteRequest,
  type ExecuteResult,
} from '../../control/execute-service.ts';
import { instanceView } from '../../control/instance-service.ts';
import type { Platform } from '../../platform.ts';
import { toFaasError } from '../errors.ts';
import { ndjsonAnswer } from '../ndjson-answer.ts';
import { dependencyCachesSchema } from '../schemas.ts';

/** Request body; each limit is accepted in snake_case (seed 004) and camelCase. */
interface ExecuteBody {
  command: string | string[];
  image?: string;
  env?: Record<string, string>;
  stdin?: string;
  files?: Record<string, string>;
  timeout_ms?: number;
  timeoutMs?: number;
  memory_mb?: number;
  memoryMb?: number;
  cpus?: number;
  network?: boolean;
  mode?: ExecuteMode;
  isolation?: 'runc' | 'gvisor';
  checkpoint?: string;
  parent?: string;
  dependency_caches?: DependencyCache[];
}

const timeout = { type: 'integer', minimum: 1, maximum: 15 * 60 * 1000, description: 'Kill after (ms)' };
const memory = { type: 'integer', minimum: 16, maximum: 16 * 1024, description: 'Memory limit (MiB)' };
const strings = { type: 'object', additionalProperties: { type: 'string' } };

const executeFields = {
  command: {
    description:
      "A string runs with the image's /bin/sh -c; an array is argv, its first word found on the image's PATH",
    // No minLength: the service refuses an empty one in its own words, as `command`.
    anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 4096 }],
  },
  image: { type: 'string', minLength: 1, maxLength: 512, description: 'A local image; default faas/base' },
  env: { ...strings, maxProperties: 256 },
  stdin: { type: 'string' },
  files: { ...strings, maxProperties: 1024, description: '{ path: content }, relative to /workspace' },
  timeout_ms: timeout,
  timeoutMs: timeout,
  memory_mb: memory,
  memoryMb: memory,
  cpus: { type: 'number', minimum: 0.05, maximum: 64, description: 'CPUs (default 1)' },
  network: {
    type: 'boolean',
    description:
      'Outbound network to the public internet only: no host, private ranges or other sandboxes (default false)',
  },
  dependency_caches: dependencyCachesSchema,
};

const executeBody = {
  type: 'object',
  required: ['command'],
  additionalProperties: false,
  properties: executeFields,
};

const advancedBody = {
  ...executeBody,
  properties: {
    ...executeFields,
    mode: { type: 'string', enum: [...EXECUTE_MODES] },
    isolation: {
      type: 'string',
      enum: ['runc', 'gvisor'],
      description: 'checkpointed/branched default gvisor',
    },
    checkpoint: { type: 'string', minLength: 1, description: 'checkpointed: resume from this snapshot' },
    parent: { type: 'string', minLength: 1, description: 'branched: a snapshot or execution id' },
  },
};

const streamQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { stream: { type: 'boolean', description: 'Answer NDJSON lines as output arrives' } },
};

function toRequest(body: ExecuteBody, project: string, owner: string | undefined): ExecuteRequest {
  const timeoutMs = body.timeout_ms ?? body.timeoutMs;
  const memoryMb = body.memory_mb ?? body.memoryMb;
  return {
    project,
    command: body.command,
    ...(body.image !== undefined ? { image: body.image } : {}),
    ...(body.env ? { env: body.env } : {}),
    ...(body.stdin !== undefined ? { stdin: body.stdin } : {}),
    ...(body.files ? { files: body.files } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(memoryMb !== undefined ? { memoryMb } : {}),
    ...(body.cpus !== undefined ? { cpus: body.cpus } : {}),
    ...(body.network !== undefined ? { network: body.network } : {}),
    ...(body.isolation !== undefined ? { isolation: body.isolation } : {}),
    ...(body.checkpoint !== undefined ? { checkpoint: body.checkpoint } : {}),
    ...(body.parent !== undefined ? { parent: body.parent } : {}),
    ...(body.dependency_caches ? { dependencyCaches: body.dependency_caches } : {}),
    ...(owner ? { owner } : {}),
  };
}

function toResponse(result: ExecuteResult) {
  return {
    stdout: result.stdout,
    stderr: result.stderr,
    exit_code: result.exitCode,
    duration_ms: result.durationMs,
    timed_out: result.timedOut,
    oom_killed: result.oomKilled,
    truncated: result.truncated,
    mode: result.mode,
    ...(result.cache ? { cache: result.cache } : {}),
    ...(result.executionId ? { execution_id: result.executionId } : {}),
    ...(result.snapshotId ? { snapshot_id: result.snapshotId } : {}),
  };
}

/**
 * Answers NDJSON: `{type:'stdout'|'stderr', data}` lines as the container writes, then
 * `{type:'exit', …}` (or `{type:'error', error}`). Until the first output the status is open, so
 * a request that cannot start (no engine, missing image) still gets its 4xx/5xx. A client too
 * slow to take the lines is dropped and the run stopped (ndjson-answer.ts).
 */
async function stream(
  reply: FastifyReply,
  run: (options: ExecuteOptions) => Promise<ExecuteResult>,
): Promise<FastifyReply> {
  const aborter = abortOnClose(reply);
  const out = ndjsonAnswer(() => {
    aborter.abort();
    reply.raw.destroy();
  });
  const writeLine = out.write;
  const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  let markStarted: () => void = () => {};
  const started = new Promise<void>((resolve) => {
    markStarted = resolve;
  });
  const done = run({
    signal: aborter.signal,
    onOutput: (name, chunk) => {
      const data = decoders[name].write(chunk);
      if (data) writeLine({ type: name, data });
      markStarted();
      return out.behind();
    },
  });
  await Promise.race([started, done]);
  done.then(
    (result) => {
      if (result.cache === 'hit') {
        // Nothing ran: the stored output is the stream.
        if (result.stdout) writeLine({ type: 'stdout', data: result.stdout });
        if (result.stderr) writeLine({ type: 'stderr', data: result.stderr });
      }
      for (const name of ['stdout', 'stderr'] as const) {
        const rest = decoders[name].end();
        if (rest) writeLine({ type: name, data: rest });
      }
      const { stdout: _o, stderr: _e, ...summary } = toResponse(result);
      writeLine({ type: 'exit', ...summary });
      out.end();
    },
    (err: unknown) => {
      writeLine({ type: 'error', ...toFaasError(err).toJSON() });
      out.end();
    },
  );
  return reply.type('application/x-ndjson; charset=utf-8').header('cache-control', 'no-store').send(out.body);
}

/**
 * Aborted when the client goes away before the answer is sent: the sandbox is killed rather than
 * run for no one, and a checkpointed run takes no snapshot nobody would learn of.
 */
function abortOnClose(reply: FastifyReply): AbortController {
  const aborter = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) aborter.abort();
  });
  return aborter;
}

/** A run answered in one body, stopped if its client leaves first. */
async function answer(
  reply: FastifyReply,
  run: (options: ExecuteOptions) => Promise<ExecuteResult>,
): Promise<ReturnType<typeof toResponse>> {
  return toResponse(await run({ signal: abortOnClose(reply).signal }));
}

export function executeRoutes(app: FastifyInstance, platform: Platform): void {
  const { execute } = platform;
  const tags = ['execute'];

  app.post<{ Body: ExecuteBody; Querystring: { stream?: boolean } }>(
    '/execute',
    {
      schema: {
        tags,
        summary: 'Run a command in a fresh sandbox (ephemeral); ?stream=true answers NDJSON',
        body: executeBody,
        querystring: streamQuery,
      },
    },
    async (request, reply) => {
      const req = toRequest(request.body, request.project, request.identity?.keyId ?? request.apiKey?.id);
      if (request.query.stream) return stream(reply, (options) => execute.execute(req, 'ephemeral', options));
      return answer(reply, (options) => execute.execute(req, 'ephemeral', options));
    },
  );

  app.post<{ Body: ExecuteBody }>(
    '/execute/stream',
    {
      schema: {
        tags,
        summary: 'Run a command in a fresh sandbox, answering NDJSON lines as output arrives',
        body: executeBody,
      },
    },
    async (request, reply) => {
      const req = toRequest(request.body, request.project, request.identity?.keyId ?? request.apiKey?.id);
      return stream(reply, (options) => execute.execute(req, 'ephemeral', options));
    },
  );

  app.post<{ Body: ExecuteBody; Querystring: { stream?: boolean } }>(
    '/execute/advanced',
    {
      schema: {
        tags,
        summary:
          'Run a command with a mode: ephemeral, cached (same inputs → stored result), checkpointed, branched, persistent (an instance)',
        body: advancedBody,
        querystring: streamQuery,
      },
    },
    async (request, reply) => {
      const req = toRequest(request.body, request.project, request.identity?.keyId ?? request.apiKey?.id);
      const mode = request.body.mode ?? 'ephemeral';
      if (mode === 'persistent') {
        const instance = await execute.persistent(req);
        return reply.code(201).send({ mode, instance_id: instance.id, instance: instanceView(instance) });
      }
      if (request.query.stream) return stream(reply, (options) => execute.execute(req, mode, options));
      return answer(reply, (options) => execute.execute(req, mode, options));
    },
  );
}
