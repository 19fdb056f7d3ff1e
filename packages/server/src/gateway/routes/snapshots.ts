import type { FastifyInstance, FastifyReply } from 'fastify';
import { instanceView } from '../../control/instance-service.ts';
import { snapshotView } from '../../control/snapshot-service.ts';
import type { Platform } from '../../platform.ts';

const params = { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 64 } } };

export function snapshotRoutes(app: FastifyInstance, platform: Platform): void {
  const { snapshots } = platform;
  const tags = ['snapshots'];

  app.post<{ Body: { instance_id: string; name?: string } }>(
    '/snapshots',
    {
      schema: {
        tags,
        summary: 'Snapshot an instance: memory and files under gVisor, /workspace only under runc',
        body: {
          type: 'object',
          required: ['instance_id'],
          additionalProperties: false,
          properties: {
            instance_id: { type: 'string', minLength: 1, maxLength: 64 },
            name: { type: 'string', minLength: 1, maxLength: 200 },
          },
        },
      },
    },
    async (request, reply) => {
      const { instance_id, name } = request.body;
      await platform.instances.get(instance_id, request.projectScope);
      const snapshot = await snapshots.create(instance_id, name ? { name } : {});
      return reply.code(201).send(snapshotView(snapshot));
    },
  );

  app.get<{ Querystring: { instance_id?: string; limit?: number; cursor?: string } }>(
    '/snapshots',
    {
      schema: {
        tags,
        summary: 'List snapshots, newest first',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            instance_id: { type: 'string' },
            limit: { type: 'integer', minimum: 1, maximum: 500 },
            cursor: { type: 'string' },
          },
        },
      },
    },
    async (request) => {
      const { instance_id, limit, cursor } = request.query;
      const filter = {
        ...(instance_id ? { instanceId: instance_id } : {}),
        ...(request.projectScope !== undefined ? { project: request.projectScope } : {}),
      };
      const page = await snapshots.list(filter, {
        ...(limit ? { limit } : {}),
        ...(cursor ? { cursor } : {}),
      });
      return {
        items: page.items.map(snapshotView),
        ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
      };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/snapshots/:id',
    { schema: { tags, summary: 'A snapshot', params } },
    async (request) => snapshotView(await snapshots.get(request.params.id, request.projectScope)),
  );

  app.delete<{ Params: { id: string } }>(
    '/snapshots/:id',
    { schema: { tags, summary: 'Delete a snapshot and its data', params } },
    async (request, reply) => {
      await snapshots.delete(request.params.id, request.projectScope);
      return reply.code(204).send();
    },
  );

  app.post<{ Params: { id: string } }>(
    '/snapshots/:id/restore',
    { schema: { tags, summary: 'A new instance from the snapshot; processes continue (gVisor)', params } },
    async (request, reply) => {
      const owner = request.identity?.keyId ?? request.apiKey?.id;
      const gone = callerGone(reply);
      const instance = await snapshots.restore(request.params.id, {
        scope: request.projectScope,
        ...(owner ? { owner } : {}),
      });
      if (gone()) return dropUnanswered(platform, [instance.id], request.projectScope);
      return reply.code(201).send(instanceView(instance));
    },
  );

  app.post<{ Params: { id: string }; Body: { count?: number } }>(
    '/snapshots/:id/fork',
    {
      schema: {
        tags,
        summary: 'count independent instances from one snapshot',
        params,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { count: { type: 'integer', minimum: 1, maximum: 16, description: 'Default 2' } },
        },
      },
    },
    async (request, reply) => {
      const owner = request.identity?.keyId ?? request.apiKey?.id;
      const gone = callerGone(reply);
      const forks = await snapshots.fork(request.params.id, request.body?.count ?? 2, {
        scope: request.projectScope,
        ...(owner ? { owner } : {}),
      });
      if (gone()) {
        return dropUnanswered(
          platform,
          forks.map((f) => f.id),
          request.projectScope,
        );
      }
      return reply.code(201).send({ instances: forks.map(instanceView) });
    },
  );
}

/** Whether the caller went away before its answer (a client hung up, a gateway gave up). */
function callerGone(reply: FastifyReply): () => boolean {
  let gone = false;
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) gone = true;
  });
  return () => gone || reply.raw.destroyed;
}

/**
 * Instances made for a caller that went away: nobody learns their ids, and a gateway that gave up
 * on a fork's share has answered "none" (all or none), so none is kept.
 */
async function dropUnanswered(platform: Platform, ids: string[], scope: string | undefined): Promise<void> {
  await Promise.all(ids.map((id) => platform.instances.delete(id, scope).catch(() => {})));
}
