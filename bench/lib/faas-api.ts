import type { FaasServer } from './processes.ts';

/** Thin fetch wrapper for the admin API; throws with the response body on an unexpected status. */
export async function api(
  server: FaasServer,
  method: string,
  path: string,
  json?: unknown,
  expect: number[] = [200, 201, 204],
): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${server.adminKey}` };
  if (json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(server.url + path, {
    method,
    headers,
    ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
  });
  if (!expect.includes(res.status)) {
    throw new Error(`${method} ${path} → ${res.status}: ${await res.text()}`);
  }
  return res;
}

/** Creates a function; resolves once it is deployed (a container function: prepared). */
export async function deploy(server: FaasServer, spec: Record<string, unknown>): Promise<void> {
  await (await api(server, 'POST', '/api/v1/functions', spec)).arrayBuffer();
}

export async function remove(server: FaasServer, name: string): Promise<void> {
  await (await api(server, 'DELETE', `/api/v1/functions/${name}`, undefined, [204, 404])).arrayBuffer();
}

export interface TimedInvoke {
  /** Client round trip of the request. */
  roundTripMs: number;
  /** The server's own X-Duration-Ms header. */
  serverMs: number;
}

/** One sync invoke, timed from request start to the whole body read. */
export async function timedInvoke(server: FaasServer, name: string, event: unknown): Promise<TimedInvoke> {
  const started = performance.now();
  const res = await fetch(`${server.url}/api/v1/functions/${name}/invoke`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(event),
  });
  const text = await res.text();
  const roundTripMs = performance.now() - started;
  if (res.status !== 200) throw new Error(`invoke ${name} → ${res.status}: ${text}`);
  return { roundTripMs, serverMs: Number(res.headers.get('x-duration-ms') ?? Number.NaN) };
}
