import type { FastifyInstance } from 'fastify';
import type { Platform } from '../../platform.ts';
import {
  instancePath,
  listFolder,
  pathKind,
  readFile,
  tarFolder,
  untarInto,
  writeFile,
} from '../../runtimes/container/instances/instance-files.ts';

type FileRequest = { Params: { id: string }; Querystring: { path: string }; Body: Buffer };

const params = { type: 'object', required: ['id'], properties: { id: { type: 'string' } } };
const pathQuery = {
  type: 'object',
  required: ['path'],
  additionalProperties: false,
  properties: {
    path: { type: 'string', minLength: 1, maxLength: 4096, description: 'Relative: under /workspace' },
  },
};

/**
 * Files in an instance: one file as bytes, a folder as a listing or a tar. Registered in its own
 * scope: request bodies here are raw bytes of any type, not JSON.
 */
export function instanceFileRoutes(app: FastifyInstance, platform: Platform, bodyLimit: number): void {
  const { instances } = platform;
  const tags = ['instances'];
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, body));

  app.get<FileRequest>(
    '/instances/:id/files',
    {
      schema: {
        tags,
        summary: 'A file (its bytes) or a folder (a JSON listing)',
        params,
        querystring: pathQuery,
      },
    },
    async (request, reply) => {
      const instance = await instances.manager.get(request.params.id);
      const path = instancePath(request.query.path);
      if ((await pathKind(instance, path)) === 'directory') {
        return { path, entries: await listFolder(instance, path) };
      }
      return reply.type('application/octet-stream').send(await readFile(instance, path));
    },
  );

  app.put<FileRequest>(
    '/instances/:id/files',
    {
      schema: {
        tags,
        summary: 'Write a file (the body is its bytes); folders are made',
        params,
        querystring: pathQuery,
      },
    },
    async (request, reply) => {
      const instance = await instances.manager.get(request.params.id);
      const path = instancePath(request.query.path);
      const data = request.body ?? Buffer.alloc(0);
      await writeFile(instance, path, data);
      return reply.code(201).send({ path, size: data.length });
    },
  );

  app.get<FileRequest>(
    '/instances/:id/files/tar',
    { schema: { tags, summary: 'A folder as a tar stream', params, querystring: pathQuery } },
    async (request, reply) => {
      const instance = await instances.manager.get(request.params.id);
      const tar = await tarFolder(instance, instancePath(request.query.path));
      return reply.type('application/x-tar').send(tar);
    },
  );

  app.post<FileRequest>(
    '/instances/:id/files/tar',
    { schema: { tags, summary: 'Unpack a tar (the body) into a folder', params, querystring: pathQuery } },
    async (request) => {
      const instance = await instances.manager.get(request.params.id);
      const path = instancePath(request.query.path);
      await untarInto(instance, path, request.body ?? Buffer.alloc(0));
      return { path };
    },
  );
}
