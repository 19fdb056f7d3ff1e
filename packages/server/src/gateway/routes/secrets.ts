import type { FastifyInstance } from 'fastify';
import type { Platform } from '../../platform.ts';
import { putSecretBody } from '../schemas.ts';

/**
 * A project's secrets: set and deleted by name, listed by name and times. No route answers a
 * value: only the functions that name a secret see it, as env.
 */
export function secretRoutes(app: FastifyInstance, platform: Platform): void {
  const { secrets } = platform;
  const tags = ['secrets'];

  app.put<{ Params: { name: string }; Body: { value: string } }>(
    '/secrets/:name',
    {
      schema: {
        tags,
        summary: 'Create or replace a secret of the project (the value is never shown again)',
        body: putSecretBody,
      },
    },
    async (request, reply) => {
      const { created, ...summary } = await secrets.set(
        request.project,
        request.params.name,
        request.body.value,
      );
      return reply.status(created ? 201 : 200).send(summary);
    },
  );

  app.get(
    '/secrets',
    { schema: { tags, summary: "The project's secrets: names and times, never values" } },
    async (request) => {
      return { items: await secrets.list(request.project) };
    },
  );

  app.delete<{ Params: { name: string } }>(
    '/secrets/:name',
    { schema: { tags, summary: 'Delete a secret of the project' } },
    async (request, reply) => {
      await secrets.delete(request.project, request.params.name);
      return reply.status(204).send();
    },
  );
}
