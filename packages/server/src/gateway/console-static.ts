import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Where `npm install` builds the console (packages/web, `vite build`). */
export const CONSOLE_DIST = fileURLToPath(new URL('../../../web/dist/', import.meta.url));
/** The console's own URL space: its routes and its files (Vite's `base`). */
export const CONSOLE_PREFIX = '/console/';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};
/** Vite names these files by their content's hash: they never change under one name. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** index.html names the hashed files of the current build: always asked again. */
const REVALIDATE = 'no-cache';

interface ConsoleFile {
  type: string;
  body: Buffer;
  /** Gzipped, when that is smaller (text). */
  gzip?: Buffer;
  cacheControl: string;
}

function load(dir: string): Map<string, ConsoleFile> {
  const files = new Map<string, ConsoleFile>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const url = relative(dir, path).split(sep).join('/');
    const type = TYPES[extname(path)] ?? 'application/octet-stream';
    const body = readFileSync(path);
    const zipped = /^(text|image\/svg|application\/json)/.test(type) ? gzipSync(body) : undefined;
    files.set(url, {
      type,
      body,
      ...(zipped && zipped.length < body.length ? { gzip: zipped } : {}),
      cacheControl: url.startsWith('assets/') ? IMMUTABLE : REVALIDATE,
    });
  }
  return files;
}

function send(request: FastifyRequest, reply: FastifyReply, file: ConsoleFile) {
  const gzip = file.gzip && /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''));
  reply
    .header('content-type', file.type)
    .header('cache-control', file.cacheControl)
    .header('vary', 'accept-encoding')
    .header('x-content-type-options', 'nosniff');
  if (file.type.startsWith('text/html')) {
    // The console loads only its own files and talks only to this origin.
    reply
      .header(
        'content-security-policy',
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
      )
      .header('referrer-policy', 'same-origin');
  }
  if (gzip) reply.header('content-encoding', 'gzip');
  return reply.send(gzip ? file.gzip : file.body);
}

/**
 * Serves the web console's build: `/` and every path under /console/ that is not one of its files
 * get index.html (the console routes in the browser); its files by name. Nothing when the console
 * was not built (a 404 as before). Paths elsewhere, the API's included, keep their own answers.
 */
export function consoleRoutes(app: FastifyInstance, dir = CONSOLE_DIST): boolean {
  if (!existsSync(join(dir, 'index.html'))) return false;
  const files = load(dir);
  const index = files.get('index.html') as ConsoleFile;
  const hide = { hide: true };
  app.get('/', { schema: hide }, (request, reply) => send(request, reply, index));
  app.get('/console', { schema: hide }, (request, reply) => send(request, reply, index));
  app.get(`${CONSOLE_PREFIX}*`, { schema: hide }, (request, reply) => {
    const path = (request.params as { '*': string })['*'];
    const file = files.get(path);
    if (file) return send(request, reply, file);
    // A missing file is a 404 (a stale tab asking for an old build's chunk must not get HTML).
    if (path.startsWith('assets/') || extname(path) !== '') {
      reply.callNotFound();
      return reply;
    }
    return send(request, reply, index);
  });
  return true;
}
