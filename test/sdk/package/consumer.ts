// Type-checked (not run) by package.test.ts against the packed .d.ts: the types a user writes with.
import {
  type Context,
  type ExecuteResult,
  type FaaSClient,
  FaasApiError,
  type Handler,
  type HttpHandler,
  type InstanceEvent,
} from '@faas/sdk';

export const hello: Handler<{ name: string }, { hi: string }> = (event, context: Context) => {
  context.log.info('called', context.functionName, context.getRemainingTimeMs());
  return { hi: event.name };
};

export const route: HttpHandler = async (event) => ({ statusCode: 200, body: { path: event.params.id } });

export async function use(client: FaaSClient): Promise<number> {
  const run: ExecuteResult = await client.execute(['echo', 'hi'], 'faas/base');
  for await (const event of client.stream('inst_x')) {
    const e: InstanceEvent = event;
    if (e.type === 'exit') return e.code;
  }
  const err = new FaasApiError(404, 'FAAS_ERR_NOT_FOUND', 'x');
  return run.exit_code + err.status;
}
