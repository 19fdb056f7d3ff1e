import { Ajv, type Options } from 'ajv';
import formats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

/**
 * Fastify's own Ajv options (@fastify/ajv-compiler's), but every error reported and unknown
 * fields kept, to be refused (422) rather than silently dropped.
 */
const OPTIONS: Options = {
  useDefaults: true,
  removeAdditional: false,
  addUsedSchema: false,
  allErrors: true,
};

/**
 * The gateway's schema compiler, two Ajv instances where Fastify has one. A query string or a
 * path parameter is text, so its values are coerced to the schema's types (`?limit=5` is 5, one
 * `?status=a` is `["a"]`). A JSON body has its types already and is checked as sent: coerced,
 * `"command": ["echo", 5]` ran as the argv `["echo", "5"]` and `"timeoutMs": "1000"` passed.
 */
export function requestValidators(): FastifySchemaCompiler<unknown> {
  const coercing = new Ajv({ ...OPTIONS, coerceTypes: 'array' });
  const exact = new Ajv({ ...OPTIONS, coerceTypes: false });
  // A CommonJS module: to TypeScript its plugin is the `default` of what it exports.
  formats.default(coercing);
  formats.default(exact);
  return ({ schema, httpPart }) => (httpPart === 'body' ? exact : coercing).compile(schema as object);
}
