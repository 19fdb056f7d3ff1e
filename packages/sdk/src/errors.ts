import type { ErrorBody } from './api-types.ts';

/** An error answer of the API: the server's stable code, its status, message and details. */
export class FaasApiError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details: unknown;

  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.name = 'FaasApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** The server could not be reached at all. */
export class FaasConnectionError extends Error {
  constructor(url: string, cause: unknown) {
    super(`Cannot reach the faas server at ${url}: ${(cause as Error)?.message ?? cause}`, { cause });
    this.name = 'FaasConnectionError';
  }
}

/** The one place a response becomes an error (E2B's handleApiError). */
export async function errorFromResponse(res: Response): Promise<FaasApiError> {
  const text = await res.text();
  try {
    const body = JSON.parse(text) as ErrorBody;
    if (body?.error?.code)
      return new FaasApiError(res.status, body.error.code, body.error.message, body.error.details);
  } catch {
    // not our error body: fall through
  }
  return new FaasApiError(res.status, `HTTP_${res.status}`, text.slice(0, 500) || res.statusText);
}
