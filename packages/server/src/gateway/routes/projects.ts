import type { ProjectQuotas } from '@faas/core';
import type { FastifyInstance } from 'fastify';
import type { Platform } from '../../platform.ts';
import { createProjectBody, patchProjectBody } from '../schemas.ts';

/** Projects (tenants): platform admins make them; a project's key sees its own only. */
export function projectRoutes(app: FastifyInstance, platform: Platform): void {
  const { projects } = platform;
  const tags = ['projects'];

  app.post<{ Body: { name: string } }>(
    '/projects',
    { schema: { tags, summary: 'Create a project (platform admins)', body: createProjectBody } },
    async (request, reply) => {
      return reply.status(201).send(await projects.create(request.body.name));
    },
  );

  app.patch<{
    Params: { name: string };
    Body: { host?: string | null; quotas?: { [K in keyof ProjectQuotas]?: number | null } };
  }>(
    '/projects/:name',
    {
      schema: {
        tags,
        summary: "Change a project's settings: its host name, its quotas (platform admins)",
        params: { type: 'object', properties: { name: { type: 'string', maxLength: 63 } } },
        body: patchProjectBody,
      },
    },
    async (request) => {
      const { name } = request.params;
      let project = await projects.get(name);
      if (request.body.host !== undefined) {
        project = await projects.setHost(name, request.body.host);
        // This process's table now; other processes' on their poll of the revision.
        await platform.routes.refresh();
      }
      if (request.body.quotas !== undefined) {
        project = await projects.setQuotas(name, request.body.quotas);
        await platform.routes.refresh();
      }
      return project;
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
