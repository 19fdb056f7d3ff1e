/**
 * Events are JSON values, strings or bytes. The durable queue stores JSON, so bytes travel as
 * base64 inside a tagged wrapper and come back as Uint8Array.
 */
export type EncodedEvent =
  | { kind: 'json'; value: unknown }
  | { kind: 'text'; value: string }
  | { kind: 'bytes'; base64: string };

export function encodeEvent(event: unknown): EncodedEvent {
  if (event instanceof Uint8Array) return { kind: 'bytes', base64: Buffer.from(event).toString('base64') };
  if (typeof event === 'string') return { kind: 'text', value: event };
  return { kind: 'json', value: event };
}

export function decodeEvent(encoded: EncodedEvent): unknown {
  switch (encoded.kind) {
    case 'bytes':
      return new Uint8Array(Buffer.from(encoded.base64, 'base64'));
    case 'text':
    case 'json':
      return encoded.value;
  }
}
