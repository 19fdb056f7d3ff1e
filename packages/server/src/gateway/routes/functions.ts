import {
  ErrorCode,
  FaasError,
  type FunctionInput,
  type FunctionRecord,
  type FunctionVersion,
} from '@faas/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { DeployOptions, DeployResult, Scoped } from '../../control/function-service.ts';
import type { Platform } from '../../platform.ts';
import { reachesFunction } from '../../tenancy/identity.ts';
import { mayEdit } from '../auth.ts';
import {
  createFunctionBody,
  nameParams,
  pageQuery,
  patchFunctionBody,
  putFunctionBody,
  versionParams,
} from '../schemas.ts';
import { type DeployQuery, deployQuery, deployStream } from './deploy-stream.ts';

type NameParams = { name: string };
type PageQ = { limit?: number; cursor?: string };

export function functionRoutes(app: FastifyInstance, platform: Platform): void {
  const { functions } = platform;
  const tags = ['functions'];

  app.post<{ Body: FunctionInput; Querystring: DeployQuery }>(
    '/functions',
    {
      schema: {
        tags,
        summary: 'Create a function (version 1); ?stream=true answers NDJSON progress',
        body: createFunctionBody,
        querystring: deployQuery,
      },
    },
    async (request, reply) => {
      const { identity } = request;
      if (identity?.functions && !reachesFunction(identity, request.body.name as string)) {
        throw new FaasError(
          ErrorCode.FORBIDDEN,
          `This key is limited to the functions ${identity.functions.join(', ')}: it cannot create "${request.body.name}"`,
          { details: { name: request.body.name } },
        );
      }
      const create = async (onProgress?: (message: string) => void) => ({
        record: await functions.create(request.body, {
          ...deployIn(request),
          ...(onProgress ? { onProgress } : {}),
        }),
        outcome: 'created' as const,
      });
      if (!request.query.stream) return reply.status(201).send((await create()).record);
      return deployStream(reply, create, ({ record }) => reply.status(201).send(record));
    },
  );

  app.get<{ Querystring: PageQ }>(
    '/functions',
    { schema: { tags, summary: 'List functions by name', querystring: pageQuery } },
    async (request) => {
      // A key narrowed to some functions lists those: the store filters, so pages are full and
      // a cursor (the last row's name) never names a function the key does not reach.
      const page = await functions.list(request.query, scoped(request), request.identity?.functions);
      return { ...page, items: page.items.map((f) => shown(request, f)) };
    },
  );

  app.get<{ Params: NameParams }>(
    '/functions/:name',
    { schema: { tags, summary: 'Get a function and its latest version', params: nameParams } },
    async (request) => shown(request, await functions.get(request.params.name, scoped(request))),
  );

  app.put<{ Params: NameParams; Body: FunctionInput; Querystring: DeployQuery }>(
    '/functions/:name',
    {
      schema: {
        tags,
        summary:
          'Create or replace a function; a change makes a new version; ?stream=true answers NDJSON progress',
        params: nameParams,
        body: putFunctionBody,
        querystring: deployQuery,
      },
    },
    async (request, reply) => {
      const put = (onProgress?: (message: string) => void) =>
        functions.put(request.params.name, request.body, {
          ...deployIn(request),
          ...(onProgress ? { onProgress } : {}),
        });
      const answer = ({ record, outcome }: DeployResult) =>
        reply
          .status(outcome === 'created' ? 201 : 200)
          .header('x-faas-deploy', outcome)
          .send(record);
      if (!request.query.stream) return answer(await put());
      return deployStream(reply, put, answer);
    },
  );

  app.patch<{ Params: NameParams; Body: FunctionInput; Querystring: DeployQuery }>(
    '/functions/:name',
    {
      schema: {
        tags,
        summary: 'Change some fields; makes a new version; ?stream=true answers NDJSON progress',
        params: nameParams,
        body: patchFunctionBody,
        querystring: deployQuery,
      },
    },
    async (request, reply) => {
      const patch = (onProgress?: (message: string) => void) =>
        functions.patch(request.params.name, request.body, {
          ...deployIn(request),
          ...(onProgress ? { onProgress } : {}),
        });
      const answer = ({ record, outcome }: DeployResult) =>
        reply.header('x-faas-deploy', outcome).send(record);
      if (!request.query.stream) return answer(await patch());
      return deployStream(reply, patch, answer);
    },
  );

  app.delete<{ Params: NameParams }>(
    '/functions/:name',
    { schema: { tags, summary: 'Delete a function and its versions', params: nameParams } },
    async (request, reply) => {
      await functions.delete(request.params.name, scoped(request));
      return reply.status(204).send();
    },
  );

  app.get<{ Params: NameParams; Querystring: PageQ }>(
    '/functions/:name/versions',
    { schema: { tags, summary: 'List versions, newest first', params: nameParams, querystring: pageQuery } },
    async (request) => {
      const page = await functions.versions(request.params.name, request.query, scoped(request));
      return { ...page, items: page.items.map((v) => shownVersion(request, v)) };
    },
  );

  app.get<{ Params: { name: string; version: number } }>(
    '/functions/:name/versions/:version',
    { schema: { tags, summary: 'Get one version', params: versionParams } },
    async (request) =>
      shownVersion(
        request,
        await functions.version(request.params.name, request.params.version, scoped(request)),
      ),
  );
}

/** The request's project scope: another project's functions are not found. */
function scoped(request: FastifyRequest): Scoped {
  return { scope: request.projectScope, project: request.project };
}

/** Where a deploy makes a new function, what it may see, and which functions its key reaches. */
function deployIn(request: FastifyRequest): DeployOptions {
  const identity = request.identity;
  return {
    scope: request.projectScope,
    project: request.project,
    ...(identity?.functions ? { reach: identity.functions } : {}),
    ...(identity ? { mayInvoke: identity.scopes.includes('functions:invoke') } : {}),
  };
}

/** Env values are for those who may edit the function: others see the names only. */
export const HIDDEN_ENV_VALUE = '(hidden)';

function shown(request: FastifyRequest, record: FunctionRecord): FunctionRecord {
  return mayEdit(request) ? record : { ...record, latest: shownVersion(request, record.latest) };
}

function shownVersion(request: FastifyRequest, version: FunctionVersion): FunctionVersion {
  if (mayEdit(request)) return version;
  return { ...version, env: Object.fromEntries(Object.keys(version.env).map((k) => [k, HIDDEN_ENV_VALUE])) };
}
