import { type CorsSettings, ErrorCode, FaasError, type ProjectQuotas, type RateLimit } from '@faas/core';
import type { FastifyInstance } from 'fastify';
import type { Platform } from '../../platform.ts';
import { createProjectBody, nameParams, patchProjectBody } from '../schemas.ts';

/** Projects (tenants): platform admins make them; a project's key sees its own only. */
export function projectRoutes(app: FastifyInstance, platform: Platform): void {
  const { projects } = platform;
  const tags = ['projects'];

  app.post<{ Body: { name: string } }>(
    '/projects',
    { schema: { tags, summary: 'Create a project (platform admins)', body: createProjectBody } },
    async (request, reply) => {
      const project = await projects.create(request.body.name);
      request.auditProject = project.name;
      return reply.status(201).send(project);
    },
  );

  app.patch<{
    Params: { name: string };
    Body: {
      host?: string | null;
      quotas?: { [K in keyof ProjectQuotas]?: number | null };
      rateLimit?: RateLimit | null;
      cors?: CorsSettings | null;
    };
  }>(
    '/projects/:name',
    {
      schema: {
        tags,
        summary:
          "Change a project's settings: its rate limit and CORS (its owner, or platform admins), its host name and quotas (platform admins)",
        params: nameParams,
        body: patchProjectBody,
      },
    },
    async (request) => {
      const { name } = request.params;
      // An owner changes only its own project: another is as absent as an unknown one.
      if (request.projectScope !== undefined && name !== request.projectScope) throw projectNotFound(name);
      request.auditProject = name;
      const { host, quotas, rateLimit, cors } = request.body;
      // What a project may take is the platform's to say, not its owner's.
      if (request.projectScope !== undefined && (host !== undefined || quotas !== undefined))
        throw new FaasError(
          ErrorCode.FORBIDDEN,
          "Only a platform admin sets a project's host name and quotas",
        );
      let project = await projects.get(name);
      if (host !== undefined) {
        project = await projects.setHost(name, host);
        // This process's table now; other processes' on their poll of the revision.
        await platform.routes.refresh();
      }
      if (quotas !== undefined) {
        project = await projects.setQuotas(name, quotas);
        await platform.routes.refresh();
      }
      if (rateLimit !== undefined) project = await projects.setRateLimit(name, rateLimit ?? undefined);
      if (cors !== undefined) {
        project = await projects.setCors(name, cors);
        // Every gateway thread takes the project table in with the routes, before this answers.
        await platform.routes.refresh();
      }
      return project;
    },
  );

  app.get<{ Params: { name: string } }>(
    '/projects/:name',
    { schema: { tags, summary: 'One project and its settings', params: nameParams } },
    async (request) => {
      const { name } = request.params;
      if (request.projectScope !== undefined && name !== request.projectScope) throw projectNotFound(name);
      return projects.get(name);
    },
  );

  app.get(
    '/projects',
    { schema: { tags, summary: 'List the projects this key may see' } },
    async (request) => {
      const scope = request.projectScope;
      const all = await projects.list();
      return { items: scope === undefined ? all : all.filter((p) => p.name === scope) };
    },
  );
}

function projectNotFound(name: string): FaasError {
  return new FaasError(ErrorCode.PROJECT_NOT_FOUND, `Project "${name}" not found`, { details: { name } });
}
