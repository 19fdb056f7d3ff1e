import type { FunctionInvocationStats } from '@faas/core';
import { shownName, splitStoredName } from '@faas/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Platform } from '../../platform.ts';
import { reachesFunction } from '../../tenancy/identity.ts';

/** The windows `GET /api/v1/stats` answers for, by name. */
const WINDOWS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;
type WindowName = keyof typeof WINDOWS;

export interface FunctionStatsView {
  functionName: string;
  /** The function's project, when it is not the default one (names are per project). */
  project?: string;
  /** Absent: no invocation in that window. */
  minute?: Omit<FunctionInvocationStats, 'functionName'>;
  hour?: Omit<FunctionInvocationStats, 'functionName'>;
  day?: Omit<FunctionInvocationStats, 'functionName'>;
}

/**
 * `GET /api/v1/stats`: per function, calls, errors, cold starts and p50/p99 durations over the last minute,
 * hour and day, from the store (every node's invocations, not this node's metrics).
 */
export function statsRoutes(app: FastifyInstance, platform: Platform): void {
  app.get(
    '/stats',
    {
      schema: {
        tags: ['invocations'],
        summary:
          'Per function: calls, errors, cold starts, p50/p99 duration over the last minute, hour and day',
      },
    },
    async (request) => {
      // Sync records are written in batches: the numbers include everything finished so far.
      await platform.recorder.flush();
      const visible = await visibleFunctions(platform, request);
      const now = Date.now();
      const byFunction = new Map<string, FunctionStatsView>();
      for (const name of Object.keys(WINDOWS) as WindowName[]) {
        for (const { functionName, ...numbers } of await platform.store.invocationStats(
          now - WINDOWS[name],
          request.projectScope,
        )) {
          if (visible && !visible.has(functionName)) continue;
          const project = splitStoredName(functionName)?.project;
          const view = byFunction.get(functionName) ?? {
            functionName: shownName(functionName),
            ...(project ? { project } : {}),
          };
          view[name] = numbers;
          byFunction.set(functionName, view);
        }
      }
      const items = [...byFunction.values()].sort((a, b) => (a.functionName < b.functionName ? -1 : 1));
      return { generatedAt: new Date(now).toISOString(), items };
    },
  );
}

/**
 * The functions the request may see (its project's, narrowed as its key is); undefined: every
 * one (a platform admin naming no project, or auth off). Another project's functions are left
 * out, as every other route leaves them out.
 */
async function visibleFunctions(
  platform: Platform,
  request: FastifyRequest,
): Promise<Set<string> | undefined> {
  const { identity, projectScope } = request;
  if (projectScope === undefined && !identity?.functions) return undefined;
  const names = new Set<string>();
  let cursor: string | undefined;
  do {
    const page = await platform.store.listFunctions(
      { limit: 1000, ...(cursor ? { cursor } : {}) },
      projectScope,
    );
    for (const fn of page.items)
      if (!identity || reachesFunction(identity, shownName(fn.name))) names.add(fn.name);
    cursor = page.nextCursor;
  } while (cursor);
  return names;
}
