import { request as httpRequest } from 'node:http';
import { ADMIN_KEY } from './server.ts';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * One request on a connection of its own (no agent): the kernel spreads such connections over
 * the server's gateway threads, where fetch's pool would keep them on one.
 */
export function once(
  base: string,
  method: string,
  path: string,
  options: { body?: unknown; key?: string | null } = {},
): Promise<Answer> {
  const url = new URL(base + path);
  const { key = ADMIN_KEY, body } = options;
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method,
        path: url.pathname + url.search,
        agent: false,
        headers: {
          ...(key ? { authorization: `Bearer ${key}` } : {}),
          ...(payload !== undefined
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
            : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
