import type { FastifyInstance } from 'fastify';
import type { Platform } from '../../platform.ts';
import { createProjectBody } from '../schemas.ts';

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
