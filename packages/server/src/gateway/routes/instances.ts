import { checkProcessInput, type DependencyCache } from '@faas/core';
import type { FastifyInstance } from 'fastify';
import { argv, type InstanceRequest, instanceView } from '../../control/instance-service.ts';
import type { Platform } from '../../platform.ts';
import { dependencyCachesSchema } from '../schemas.ts';

/** Request body of POST /instances (snake_case, as the rest of the sandbox API). */
interface CreateBody {
  image?: string;
  command?: string | string[];
  env?: Record<string, string>;
  memory_mb?: number;
  cpus?: number;
  pids_limit?: number;
  disk_mb?: number;
  network?: boolean;
  isolation?: 'runc' | 'gvisor';
  idle_ttl_ms?: number;
  dependency_caches?: DependencyCache[];
}

interface ExecBody {
  command: string | string[];
  env?: Record<string, string>;
  cwd?: string;
  stdin?: string;
  timeout_ms?: number;
}

export const commandSchema = {
  description: 'A string runs with `sh -c`; an array is argv. Not empty, no NUL byte',
  // No minLength: checkProcessInput refuses an empty one in its own words, as `command`.
  anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 4096 }],
};
export const envSchema = { type: 'object', additionalProperties: { type: 'string' }, maxProperties: 256 };

const createBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    image: { type: 'string', minLength: 1, maxLength: 512, description: 'A local image; default faas/base' },
    command: { ...commandSchema, description: 'The main process; absent: the instance waits for exec' },
    env: envSchema,
    memory_mb: { type: 'integer', minimum: 16, maximum: 64 * 1024 },
    cpus: { type: 'number', minimum: 0.05, maximum: 64 },
    pids_limit: { type: 'integer', minimum: 8, maximum: 65_536 },
    disk_mb: { type: 'integer', minimum: 1, maximum: 64 * 1024, description: 'Size of /workspace and /tmp' },
    network: { type: 'boolean', description: 'Outbound network (default false)' },
    isolation: {
      type: 'string',
      enum: ['runc', 'gvisor'],
      description: 'gvisor: needed for memory snapshots',
    },
    idle_ttl_ms: { type: 'integer', minimum: 0, description: 'Stopped after this long unused; 0: never' },
    dependency_caches: dependencyCachesSchema,
  },
};

const execBody = {
  type: 'object',
  required: ['command'],
  additionalProperties: false,
  properties: {
    command: commandSchema,
    env: envSchema,
    cwd: { type: 'string', minLength: 1, maxLength: 4096, description: 'Default /workspace' },
    stdin: { type: 'string' },
    timeout_ms: { type: 'integer', minimum: 1, maximum: 60 * 60 * 1000, description: 'Default 60000' },
  },
};

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 64 } },
};

export function toInstanceRequest(body: CreateBody): InstanceRequest {
  return {
    ...(body.image !== undefined ? { image: body.image } : {}),
    ...(body.command !== undefined ? { command: body.command } : {}),
    ...(body.env ? { env: body.env } : {}),
    ...(body.memory_mb !== undefined ? { memoryMb: body.memory_mb } : {}),
    ...(body.cpus !== undefined ? { cpus: body.cpus } : {}),
    ...(body.pids_limit !== undefined ? { pidsLimit: body.pids_limit } : {}),
    ...(body.disk_mb !== undefined ? { diskMb: body.disk_mb } : {}),
    ...(body.network !== undefined ? { network: body.network } : {}),
    ...(body.isolation !== undefined ? { isolation: body.isolation } : {}),
    ...(body.idle_ttl_ms !== undefined ? { idleTtlMs: body.idle_ttl_ms } : {}),
    ...(body.dependency_caches ? { dependencyCaches: body.dependency_caches } : {}),
  };
}

export const instanceCreateBody = createBody;

export function instanceRoutes(app: FastifyInstance, platform: Platform): void {
  const { instances } = platform;
  const tags = ['instances'];

  app.post<{ Body: CreateBody }>(
    '/instances',
    {
      schema: {
        tags,
        summary: 'Start an instance: a sandbox that lives until stopped or idle',
        body: createBody,
      },
    },
    async (request, reply) => {
      // The key's id: a gateway forwarding the request names it in the caller's identity.
      const owner = request.identity?.keyId ?? request.apiKey?.id;
      const instance = await instances.create(
        { ...toInstanceRequest(request.body), project: request.project },
        owner ? { owner } : {},
      );
      return reply.code(201).send(instanceView(instance));
    },
  );

  app.get('/instances', { schema: { tags, summary: 'List instances, newest first' } }, async (request) => ({
    items: (await instances.list(request.projectScope)).map(instanceView),
  }));

  app.get<{ Params: { id: string } }>(
    '/instances/:id',
    { schema: { tags, summary: 'An instance: status, spec, running processes', params: idParams } },
    async (request) => instanceView(await instances.get(request.params.id, request.projectScope)),
  );

  app.post<{ Params: { id: string }; Body: ExecBody }>(
    '/instances/:id/exec',
    {
      schema: {
        tags,
        summary: 'Run a command in the instance and wait for it: stdout, stderr, exit code',
        params: idParams,
        body: execBody,
      },
    },
    async (request, reply) => {
      const { body } = request;
      // The schema's types, then what no process could start with (empty, NUL, a bad env name).
      checkProcessInput(body);
      const instance = await instances.get(request.params.id, request.projectScope);
      const aborter = new AbortController();
      // The client went away before the answer: the command is killed.
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) aborter.abort();
      });
      const result = await instance.exec(argv(body.command), {
        ...(body.env ? { env: body.env } : {}),
        ...(body.cwd ? { cwd: body.cwd } : {}),
        ...(body.stdin !== undefined ? { stdin: body.stdin } : {}),
        ...(body.timeout_ms !== undefined ? { timeoutMs: body.timeout_ms } : {}),
        signal: aborter.signal,
      });
      return {
        stdout: result.stdout.toString('utf8'),
        stderr: result.stderr.toString('utf8'),
        exit_code: result.exitCode,
        pid: result.pid ?? null,
        duration_ms: result.durationMs,
        timed_out: result.timedOut,
        truncated: result.truncated,
      };
    },
  );

  app.post<{ Params: { id: string } }>(
    '/instances/:id/stop',
    {
      schema: {
        tags,
        summary: 'Stop the instance (processes end; it can be started again)',
        params: idParams,
      },
    },
    async (request) => {
      await instances.get(request.params.id, request.projectScope);
      return instanceView(await instances.stop(request.params.id));
    },
  );

  app.post<{ Params: { id: string } }>(
    '/instances/:id/start',
    { schema: { tags, summary: 'Start a stopped instance again', params: idParams } },
    async (request) => {
      await instances.get(request.params.id, request.projectScope);
      return instanceView(await instances.start(request.params.id));
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/instances/:id',
    { schema: { tags, summary: 'Remove the instance and its container', params: idParams } },
    async (request, reply) => {
      await instances.delete(request.params.id, request.projectScope);
      return reply.code(204).send();
    },
  );
}
