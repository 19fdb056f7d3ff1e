import type { FastifyInstance } from 'fastify';
import { extractArchive } from '../../control/code/canonical-archive.ts';
import type { Platform } from '../../platform.ts';
import { versionParams } from '../schemas.ts';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A version's source: `?format=tar` the deployed archive itself (deploy it again with
 * `code: { archive, format: "tar" }` to roll back), else its files as text for an editor, with
 * the paths of those that are not UTF-8 listed apart.
 */
export function functionSourceRoutes(app: FastifyInstance, platform: Platform): void {
  app.get<{ Params: { name: string; version: number }; Querystring: { format?: 'json' | 'tar' } }>(
    '/functions/:name/versions/:version/code',
    {
      schema: {
        tags: ['functions'],
        summary: 'A version’s source: its files as text, or ?format=tar the archive',
        params: versionParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { format: { type: 'string', enum: ['json', 'tar'] } },
        },
      },
    },
    async (request, reply) => {
      const { name, version } = request.params;
      const tar = await platform.functions.sourceArchive(name, version, { scope: request.projectScope });
      if (request.query.format === 'tar') {
        return reply
          .header('content-type', 'application/x-tar')
          .header('content-disposition', `attachment; filename="${name}-v${version}.tar"`)
          .send(Buffer.from(tar));
      }
      const files: Record<string, string> = {};
      const binaryFiles: string[] = [];
      for (const [path, bytes] of await extractArchive(tar)) {
        try {
          files[path] = strictUtf8.decode(bytes);
        } catch {
          binaryFiles.push(path);
        }
      }
      return { name, version, files, binaryFiles };
    },
  );
}
