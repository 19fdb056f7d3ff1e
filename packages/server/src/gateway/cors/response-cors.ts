import { DEFAULT_PROJECT, splitStoredName } from '@faas/core';
import type { HttpResponseParts } from '../response-parts.ts';

/** The project of a stored function name (`{project}.{name}`, or a name of the default project). */
export function projectOfStoredName(stored: string): string {
  return splitStoredName(stored)?.project ?? DEFAULT_PROJECT;
}

/**
 * The parts with the project's CORS headers. The project's settings are the truth: CORS headers
 * a function wrote itself go (a function cannot allow an origin, or credentials, the project did
 * not list), and a Vary it wrote is kept with Origin added.
 */
export function withCorsHeaders(parts: HttpResponseParts, cors: Record<string, string>): HttpResponseParts {
  const headers: HttpResponseParts['headers'] = {};
  let vary: string | undefined;
  for (const [name, value] of Object.entries(parts.headers)) {
    const lower = name.toLowerCase();
    if (lower.startsWith('access-control-')) continue;
    if (lower === 'vary') vary = Array.isArray(value) ? value.join(', ') : value;
    else headers[name] = value;
  }
  Object.assign(headers, cors);
  if (vary !== undefined) headers.vary = cors.vary ? `${vary}, ${cors.vary}` : vary;
  return { ...parts, headers };
}
