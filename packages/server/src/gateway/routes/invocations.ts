import type { InvocationFilter, InvocationStatus } from '@faas/core';
import { ErrorCode, FaasError, shownInvocation, shownLogLine, shownName, storedName } from '@faas/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Platform } from '../../platform.ts';
import { reachesFunction } from '../../tenancy/identity.ts';
import { mustReachFunction } from '../auth.ts';
import { invocationListQuery, logsQuery } from '../schemas.ts';
import { timeFilter } from '../time-filter.ts';

type ListQuery = {
  limit?: number;
  cursor?: string;
  functionName?: string;
  status?: InvocationStatus;
  since?: string;
  until?: string;
};

export function invocationRoutes(app: FastifyInstance, platform: Platform): void {
  const { invocations, store, recorder } = platform;
  const tags = ['invocations'];

  app.get<{ Params: { id: string } }>(
    '/invocations/:id',
    { schema: { tags, summary: 'An invocation: status, result or error, logs, timings, attempts' } },
    async (request) => {
      const { invocation, logs } = await invocations.getInvocation(request.params.id, request.projectScope);
      if (request.identity && !reachesFunction(request.identity, shownName(invocation.functionName))) {
        throw new FaasError(ErrorCode.INVOCATION_NOT_FOUND, `Invocation "${request.params.id}" not found`, {
          details: { id: request.params.id },
        });
      }
      return { ...shownInvocation(invocation), logs };
    },
  );

  app.post<{ Params: { id: string } }>(
    '/invocations/:id/retry',
    {
      schema: {
        tags,
        summary:
          'Run a dead-lettered async invocation again, with a fresh budget of attempts (409 FAAS_ERR_NOT_DEAD_LETTERED otherwise)',
      },
    },
    async (request, reply) => {
      if (request.identity?.functions) {
        const { invocation } = await invocations.getInvocation(request.params.id, request.projectScope);
        if (!reachesFunction(request.identity, shownName(invocation.functionName))) {
          throw new FaasError(ErrorCode.INVOCATION_NOT_FOUND, `Invocation "${request.params.id}" not found`, {
            details: { id: request.params.id },
          });
        }
      }
      const invocation = await invocations.retryDeadLettered(request.params.id, request.projectScope);
      return reply
        .status(202)
        .header('location', `/api/v1/invocations/${invocation.id}`)
        .send({ invocationId: invocation.id, status: invocation.status });
    },
  );

  app.get<{ Querystring: ListQuery }>(
    '/invocations',
    { schema: { tags, summary: 'List invocations, newest first', querystring: invocationListQuery } },
    async (request) => {
      const { limit, cursor, ...rest } = request.query;
      oneOfItsFunctions(request, rest.functionName);
      const filter: InvocationFilter = {};
      if (request.projectScope !== undefined) filter.project = request.projectScope;
      if (rest.functionName) filter.functionName = storedName(request.project, rest.functionName);
      if (rest.status) filter.status = rest.status;
      Object.assign(filter, timeFilter(rest));
      // Sync records are written in batches: make the list include everything finished so far.
      await recorder.flush();
      const page = await store.listInvocations(filter, {
        ...(limit ? { limit } : {}),
        ...(cursor ? { cursor } : {}),
      });
      return { ...page, items: page.items.map(shownInvocation) };
    },
  );

  app.get<{ Querystring: { functionName?: string; afterSeq?: number; limit?: number } }>(
    '/logs',
    {
      schema: {
        tags,
        summary: 'Log lines after a sequence number, oldest first (poll to follow)',
        querystring: logsQuery,
      },
    },
    async (request) => {
      const { functionName, afterSeq = 0, limit = 100 } = request.query;
      oneOfItsFunctions(request, functionName);
      await recorder.flush();
      const items = await store.tailLogs({
        ...(functionName ? { functionName: storedName(request.project, functionName) } : {}),
        ...(request.projectScope !== undefined ? { project: request.projectScope } : {}),
        afterSeq,
        limit,
      });
      return { items: items.map(shownLogLine), nextSeq: items.at(-1)?.seq ?? afterSeq };
    },
  );
}

/**
 * A key narrowed to some functions lists the invocations and logs of one of them at a time.
 * @throws FaasError VALIDATION without `functionName`; FUNCTION_NOT_FOUND for another function
 */
function oneOfItsFunctions(request: FastifyRequest, functionName: string | undefined): void {
  const identity = request.identity;
  if (!identity?.functions) return;
  if (functionName === undefined) {
    throw new FaasError(
      ErrorCode.VALIDATION,
      'This key is narrowed to some functions: name one with functionName',
      {
        details: [{ field: 'functionName', message: 'is required for a key narrowed to functions' }],
      },
    );
  }
  mustReachFunction(identity, functionName);
}
