import { ErrorCode, FaasError } from './errors.ts';

/**
 * The deepest nesting of arrays and objects an event, a result or an API body may have. Such a
 * value parses (V8's JSON.parse does not recurse), but JSON.stringify and every recursive reader
 * after it overflow the stack at a few thousand levels: the answer, the record, the queue and
 * an isolate host's frame encoder. No real payload comes near it.
 */
export const MAX_JSON_DEPTH = 1000;

/** Whether JSON text nests arrays and objects deeper than `max`; brackets in strings do not count. */
export function jsonNestsDeeperThan(text: string, max = MAX_JSON_DEPTH): boolean {
  // A level takes two characters, its opening and closing bracket: shorter text cannot be deeper.
  if (text.length <= 2 * max + 1) return false;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      for (i++; i < text.length; i++) {
        const s = text.charCodeAt(i);
        if (s === 0x5c /* \ */) i++;
        else if (s === 0x22) break;
      }
    } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > max) return true;
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) {
      depth--;
    }
  }
  return false;
}

/** 400 for a request body nested deeper than MAX_JSON_DEPTH. */
export function jsonTooDeep(): FaasError {
  return new FaasError(
    ErrorCode.INVALID_JSON,
    `The body nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`,
    { details: { maxDepth: MAX_JSON_DEPTH } },
  );
}
