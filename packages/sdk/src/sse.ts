/** One Server-Sent Event (the `data` lines joined with newlines). */
export interface SseMessage {
  id?: string;
  event: string;
  data: string;
}

/** An event that grows past this without ending is refused: a server cannot make us buffer forever. */
export const MAX_SSE_EVENT_CHARS = 4 * 1024 * 1024;

/**
 * Parses a `text/event-stream` as its text arrives, per the HTML standard's rules: lines end in
 * LF, CR or CRLF; `:` starts a comment; a blank line ends an event; `retry` is read too.
 * @throws Error when one event passes MAX_SSE_EVENT_CHARS
 */
export class SseParser {
  #buffer = '';
  #data: string[] = [];
  #dataChars = 0;
  #event = '';
  #id: string | undefined;
  /** The reconnection delay the server asked for, in ms. */
  retryMs: number | undefined;

  push(text: string): SseMessage[] {
    this.#buffer += text;
    const out: SseMessage[] = [];
    let start = 0;
    for (;;) {
      let end = -1;
      for (let i = start; i < this.#buffer.length; i++) {
        const c = this.#buffer.charCodeAt(i);
        if (c === 10 || c === 13) {
          end = i;
          break;
        }
      }
      if (end < 0) break;
      // A CR at the very end may be the first half of a CRLF: wait for the next chunk.
      if (this.#buffer.charCodeAt(end) === 13 && end === this.#buffer.length - 1) break;
      const line = this.#buffer.slice(start, end);
      start = end + (this.#buffer.charCodeAt(end) === 13 && this.#buffer.charCodeAt(end + 1) === 10 ? 2 : 1);
      const message = this.#line(line);
      if (message) out.push(message);
    }
    this.#buffer = this.#buffer.slice(start);
    if (this.#buffer.length + this.#dataChars > MAX_SSE_EVENT_CHARS) {
      throw new Error(`a server-sent event passed ${MAX_SSE_EVENT_CHARS} characters`);
    }
    return out;
  }

  #line(line: string): SseMessage | undefined {
    if (line === '') {
      if (this.#data.length === 0) {
        this.#event = '';
        return undefined;
      }
      const message: SseMessage = {
        ...(this.#id !== undefined ? { id: this.#id } : {}),
        event: this.#event || 'message',
        data: this.#data.join('\n'),
      };
      this.#data = [];
      this.#dataChars = 0;
      this.#event = '';
      return message;
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') {
      this.#data.push(value);
      this.#dataChars += value.length + 1;
      if (this.#dataChars > MAX_SSE_EVENT_CHARS) {
        throw new Error(`a server-sent event passed ${MAX_SSE_EVENT_CHARS} characters`);
      }
    } else if (field === 'event') this.#event = value;
    else if (field === 'id' && !value.includes('\0')) this.#id = value;
    else if (field === 'retry' && /^\d{1,9}$/.test(value)) this.retryMs = Number(value);
    return undefined;
  }
}
