import { ErrorCode, FaasError } from '@faas/core';

/**
 * Media types an API invoke cannot turn into an event. `curl -d` sends the first unless told
 * otherwise, so a JSON payload arrives labelled as a form: say so rather than pass the function
 * a string it did not expect.
 */
const UNREADABLE_TYPES = new Set(['application/x-www-form-urlencoded', 'multipart/form-data']);

/**
 * Refuses an API invoke's body that cannot become an event, before it is decoded: a form (415),
 * or an empty body whose content type promises JSON (400: empty is not a JSON value). A body
 * that is absent, and so needs no reading, is fine whatever its content type says. Any invoke
 * path (the router's, the fast path's, a future pipeline's) calls this before decoding.
 * @throws FaasError UNSUPPORTED_MEDIA_TYPE, INVALID_JSON
 */
export function checkInvokeBody(contentType: string | undefined, body: Uint8Array | undefined): void {
  const type = mediaTypeOf(contentType);
  if (type === undefined) return;
  const empty = body === undefined || body.length === 0;
  if (empty) {
    if (type === 'application/json' || type.endsWith('+json')) {
      throw new FaasError(
        ErrorCode.INVALID_JSON,
        `The body is empty but its content type is ${type}: send a JSON value (such as {} or null), or no content type for no payload`,
      );
    }
    return;
  }
  if (UNREADABLE_TYPES.has(type)) {
    throw new FaasError(
      ErrorCode.UNSUPPORTED_MEDIA_TYPE,
      `An invoke cannot read a body of type ${type} (curl -d sends that type unless told otherwise): send the event as JSON with "Content-Type: application/json", or as text/plain or application/octet-stream`,
      {
        details: { contentType: type, accepted: ['application/json', 'text/*', 'application/octet-stream'] },
      },
    );
  }
}

function mediaTypeOf(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined;
  return contentType.split(';', 1)[0]?.trim().toLowerCase() || undefined;
}
