import { ErrorCode, FaasError } from '@faas/core';
import ivm from 'isolated-vm';

/**
 * An event that is already JSON text (it crossed a process boundary as such): passed to the
 * isolate as it is, not parsed and serialised again.
 */
export class JsonText {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

/**
 * The event as the prelude's `invoke(…, kind, payload)` takes it (see prelude/invoke.js).
 * @throws FaasError BAD_REQUEST when the event is not a JSON value, string or bytes.
 */
export function encodeEvent(event: unknown): [kind: string, payload: unknown] {
  if (event === undefined) return ['undefined', undefined];
  if (event instanceof JsonText) return ['json', event.text];
  if (typeof event === 'string') return ['text', event];
  if (event instanceof Uint8Array) {
    // A plain copy: a Buffer may be a view into a larger pooled ArrayBuffer.
    const bytes = event.constructor === Uint8Array ? event : new Uint8Array(event);
    return ['bytes', new ivm.ExternalCopy(bytes).copyInto({ release: true })];
  }
  // Measured: for JSON values, stringify here and parse in the isolate is as fast as
  // isolated-vm's structured copy for small events and faster for large ones.
  let json: string | undefined;
  try {
    json = JSON.stringify(event);
  } catch (cause) {
    throw new FaasError(ErrorCode.BAD_REQUEST, 'The event is not a JSON value', { cause });
  }
  return json === undefined ? ['undefined', undefined] : ['json', json];
}
