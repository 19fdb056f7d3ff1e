import { PassThrough } from 'node:stream';
import type { FunctionRecord } from '@faas/core';
import type { FastifyReply } from 'fastify';
import type { DeployResult } from '../../control/function-service.ts';
import { toFaasError } from '../errors.ts';

export const deployQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    stream: {
      type: 'boolean',
      description: 'Answer NDJSON progress lines while a container version is prepared',
    },
  },
};

export type DeployQuery = { stream?: boolean };

/**
 * Answers a deploy as NDJSON: `{type:'progress', message}` lines while a container version is
 * prepared (image build, dependency install), then `{type:'deployed', outcome, function}` or
 * `{type:'error', error}`. Until the first progress line the status is open, so a deploy refused
 * at once still gets its 4xx/5xx, and one with nothing slow to do answers as without `stream`.
 */
export async function deployStream(
  reply: FastifyReply,
  run: (onProgress: (message: string) => void) => Promise<DeployResult>,
  plain: (result: DeployResult) => FastifyReply,
): Promise<FastifyReply> {
  const out = new PassThrough();
  const writeLine = (line: unknown) => out.write(`${JSON.stringify(line)}\n`);
  let streaming = false;
  let markStarted: () => void = () => {};
  const started = new Promise<void>((resolve) => {
    markStarted = resolve;
  });
  const done = run((message) => {
    streaming = true;
    markStarted();
    writeLine({ type: 'progress', message });
  });
  await Promise.race([started, done.catch(() => {})]);
  if (!streaming) return plain(await done);
  done.then(
    ({ record, outcome }: { record: FunctionRecord; outcome: DeployResult['outcome'] }) => {
      writeLine({ type: 'deployed', outcome, function: record });
      out.end();
    },
    (err: unknown) => {
      writeLine({ type: 'error', ...toFaasError(err).toJSON() });
      out.end();
    },
  );
  return reply.type('application/x-ndjson; charset=utf-8').header('cache-control', 'no-store').send(out);
}
