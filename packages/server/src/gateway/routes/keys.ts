import type { ApiKeyRole } from '@faas/core';
import type { FastifyInstance } from 'fastify';
import type { Platform } from '../../platform.ts';
import { requireRole } from '../auth.ts';
import { createKeyBody } from '../schemas.ts';

export function keyRoutes(app: FastifyInstance, platform: Platform): void {
  const { keys, projects } = platform;
  const tags = ['keys'];

  app.post<{ Body: { name: string; role?: ApiKeyRole; project?: string } }>(
    '/keys',
    {
      schema: {
        tags,
        summary: 'Create an API key in a project (the key is shown once)',
        body: createKeyBody,
      },
    },
    async (request, reply) => {
      requireRole(request, 'admin');
      const project = request.body.project ?? request.project;
      await projects.mustExist(project);
      const { record, key } = await keys.createNamed(request.body.name, request.body.role ?? 'user', project);
      return reply.status(201).send({ ...record, key });
    },
  );

  app.get('/keys', { schema: { tags, summary: 'List active API keys' } }, async (request) => {
    requireRole(request, 'admin');
    return { items: await keys.list(request.projectScope) };
  });

  app.delete<{ Params: { id: string } }>(
    '/keys/:id',
    { schema: { tags, summary: 'Revoke an API key' } },
    async (request, reply) => {
      requireRole(request, 'admin');
      await keys.revoke(request.params.id, request.projectScope);
      return reply.status(204).send();
    },
  );
}
