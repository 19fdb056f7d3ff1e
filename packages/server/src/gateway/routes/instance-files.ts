import type { Readable } from 'node:stream';
import { ErrorCode, FaasError } from '@faas/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Platform } from '../../platform.ts';
import {
  instancePath,
  listFolder,
  pathInfo,
  readFileStream,
  tarFolderStream,
  untarFrom,
  writeFileFrom,
} from '../../runtimes/container/instances/instance-files.ts';

type FileRequest = { Params: { id: string }; Querystring: { path: string }; Body: Readable | undefined };

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
 * The request body as a stream, after a Content-Length over the limit is refused at once (the
 * stream itself is counted as it is sent on). The rest of an upload that fails is not read: the
 * connection closes.
 */
function uploadBody(
  request: FastifyRequest<FileRequest>,
  reply: FastifyReply,
  bodyLimit: number,
): Readable | [] {
  reply.header('connection', 'close');
  const declared = Number(request.headers['content-length']);
  if (declared > bodyLimit) {
    throw new FaasError(
      ErrorCode.BODY_TOO_LARGE,
      `The upload is over ${bodyLimit} bytes (FAAS_BODY_LIMIT_BYTES)`,
    );
  }
  return request.body ?? [];
}

/**
 * Files in an instance: one file as bytes, a folder as a listing or a tar. Registered in its own
 * scope: request bodies here are raw bytes of any type, streamed into the instance (never held
 * whole), and downloads stream out with backpressure.
 */
export function instanceFileRoutes(
  app: FastifyInstance,
  platform: Platform,
  options: { bodyLimit: number; maxDownloadBytes: number },
): void {
  const { instances } = platform;
  const { bodyLimit, maxDownloadBytes } = options;
  const tags = ['instances'];
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

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
      const instance = await instances.get(request.params.id, request.projectScope);
      const path = instancePath(request.query.path);
      const info = await pathInfo(instance, path);
      if (info.type === 'directory') {
        return { path, entries: await listFolder(instance, path) };
      }
      const stream = await readFileStream(instance, path, maxDownloadBytes, info);
      return reply.type('application/octet-stream').send(stream);
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
      const instance = await instances.get(request.params.id, request.projectScope);
      const path = instancePath(request.query.path);
      const size = await writeFileFrom(instance, path, uploadBody(request, reply, bodyLimit), bodyLimit);
      reply.removeHeader('connection');
      return reply.code(201).send({ path, size });
    },
  );

  app.get<FileRequest>(
    '/instances/:id/files/tar',
    { schema: { tags, summary: 'A folder as a tar stream', params, querystring: pathQuery } },
    async (request, reply) => {
      const instance = await instances.get(request.params.id, request.projectScope);
      const tar = await tarFolderStream(instance, instancePath(request.query.path), maxDownloadBytes);
      return reply.type('application/x-tar').send(tar);
    },
  );

  app.post<FileRequest>(
    '/instances/:id/files/tar',
    { schema: { tags, summary: 'Unpack a tar (the body) into a folder', params, querystring: pathQuery } },
    async (request, reply) => {
      const instance = await instances.get(request.params.id, request.projectScope);
      const path = instancePath(request.query.path);
      await untarFrom(instance, path, uploadBody(request, reply, bodyLimit), bodyLimit);
      reply.removeHeader('connection');
      return { path };
    },
  );
}
