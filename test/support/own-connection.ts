import { request as httpRequest } from 'node:http';
import { ADMIN_KEY } from './server.ts';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * One request on a connection of its own (no agent): the kernel spreads such connections over
 * the server's gateway threads, where fetch's pool would keep them on one. `body` goes as JSON,
 * `text` as it is; `headers` come last, as given (an empty `authorization` sends none's worth),
 * and `path` is sent as written, not normalised.
 */
export function once(
  base: string,
  method: string,
  path: string,
  options: { body?: unknown; text?: string; key?: string | null; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const url = new URL(base);
  const { key = ADMIN_KEY, body } = options;
  const payload = body === undefined ? options.text : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        agent: false,
        headers: {
          ...(key ? { authorization: `Bearer ${key}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(payload !== undefined ? { 'content-length': Buffer.byteLength(payload) } : {}),
          ...options.headers,
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
