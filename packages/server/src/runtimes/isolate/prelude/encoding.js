// biome-ignore-all lint/correctness/noUnusedVariables: the prelude fragments share one scope (see prelude.ts)
// Prelude fragment: TextEncoder/TextDecoder (UTF-8 only, as in the Encoding standard's common
// case), atob/btoa. Plain JavaScript: V8 alone provides none of these.

function utf8Encode(input) {
  const text = String(input).toWellFormed();
  const out = new Uint8Array(text.length * 3);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i);
    if (code < 0x80) {
      out[n++] = code;
    } else if (code < 0x800) {
      out[n++] = 0xc0 | (code >> 6);
      out[n++] = 0x80 | (code & 0x3f);
    } else if (code >= 0xd800 && code <= 0xdbff) {
      code = 0x10000 + ((code - 0xd800) << 10) + (text.charCodeAt(++i) - 0xdc00);
      out[n++] = 0xf0 | (code >> 18);
      out[n++] = 0x80 | ((code >> 12) & 0x3f);
      out[n++] = 0x80 | ((code >> 6) & 0x3f);
      out[n++] = 0x80 | (code & 0x3f);
    } else {
      out[n++] = 0xe0 | (code >> 12);
      out[n++] = 0x80 | ((code >> 6) & 0x3f);
      out[n++] = 0x80 | (code & 0x3f);
    }
  }
  return out.slice(0, n);
}

class TextEncoder {
  get encoding() {
    return 'utf-8';
  }
  encode(input = '') {
    return utf8Encode(input);
  }
  encodeInto(source, destination) {
    const text = String(source).toWellFormed();
    let read = 0;
    let written = 0;
    for (const char of text) {
      const bytes = utf8Encode(char);
      if (written + bytes.length > destination.length) break;
      destination.set(bytes, written);
      written += bytes.length;
      read += char.length;
    }
    return { read, written };
  }
}

const UTF8_LABELS = new Set([
  'utf-8',
  'utf8',
  'unicode-1-1-utf-8',
  'unicode11utf8',
  'unicode20utf8',
  'x-unicode20utf8',
]);

function toBytes(input) {
  if (input === undefined) return new Uint8Array(0);
  if (input instanceof ArrayBuffer || input instanceof SharedArrayBuffer) return new Uint8Array(input);
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  throw new TypeError('The "input" argument must be an ArrayBuffer or ArrayBufferView');
}

/** Bytes needed after a lead byte, and the valid range of the first continuation byte. */
function utf8Sequence(lead) {
  if (lead >= 0xc2 && lead <= 0xdf) return [1, 0x80, 0xbf];
  if (lead === 0xe0) return [2, 0xa0, 0xbf];
  if (lead === 0xed) return [2, 0x80, 0x9f];
  if (lead >= 0xe1 && lead <= 0xef) return [2, 0x80, 0xbf];
  if (lead === 0xf0) return [3, 0x90, 0xbf];
  if (lead === 0xf4) return [3, 0x80, 0x8f];
  if (lead >= 0xf1 && lead <= 0xf3) return [3, 0x80, 0xbf];
  return undefined;
}

class TextDecoder {
  #fatal;
  #ignoreBOM;
  #pending = new Uint8Array(0);
  #bomSeen = false;

  constructor(label = 'utf-8', options = {}) {
    if (!UTF8_LABELS.has(String(label).trim().toLowerCase())) {
      throw new RangeError(`The "${label}" encoding is not supported (only utf-8 is)`);
    }
    this.#fatal = Boolean(options.fatal);
    this.#ignoreBOM = Boolean(options.ignoreBOM);
  }
  get encoding() {
    return 'utf-8';
  }
  get fatal() {
    return this.#fatal;
  }
  get ignoreBOM() {
    return this.#ignoreBOM;
  }

  decode(input, options = {}) {
    const stream = Boolean(options.stream);
    const fresh = toBytes(input);
    let bytes = fresh;
    if (this.#pending.length > 0) {
      bytes = new Uint8Array(this.#pending.length + fresh.length);
      bytes.set(this.#pending);
      bytes.set(fresh, this.#pending.length);
    }
    this.#pending = new Uint8Array(0);
    const units = [];
    const chunks = [];
    let i = 0;
    const replace = () => {
      if (this.#fatal) throw new TypeError('The encoded data was not valid for encoding utf-8');
      units.push(0xfffd);
    };
    while (i < bytes.length) {
      if (units.length >= 8192) chunks.push(String.fromCharCode(...units.splice(0)));
      const lead = bytes[i];
      if (lead < 0x80) {
        units.push(lead);
        i++;
        continue;
      }
      const sequence = utf8Sequence(lead);
      if (!sequence) {
        replace();
        i++;
        continue;
      }
      const [needed, low, high] = sequence;
      let code = lead & (0x3f >> needed);
      let j = 1;
      for (; j <= needed && i + j < bytes.length; j++) {
        const byte = bytes[i + j];
        const [min, max] = j === 1 ? [low, high] : [0x80, 0xbf];
        if (byte < min || byte > max) break;
        code = (code << 6) | (byte & 0x3f);
      }
      if (j <= needed) {
        if (i + j >= bytes.length && stream) {
          this.#pending = bytes.slice(i);
          break;
        }
        replace();
        i += j;
        continue;
      }
      if (code > 0xffff) {
        code -= 0x10000;
        units.push(0xd800 + (code >> 10), 0xdc00 + (code & 0x3ff));
      } else {
        units.push(code);
      }
      i += needed + 1;
    }
    chunks.push(String.fromCharCode(...units));
    let text = chunks.join('');
    if (!this.#bomSeen && text.length > 0) {
      this.#bomSeen = true;
      if (!this.#ignoreBOM && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (!stream) this.#bomSeen = false;
    return text;
  }
}

const BASE64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const BASE64_INDEX = new Map([...BASE64_ALPHABET].map((c, i) => [c, i]));

function btoa(data) {
  const text = String(data);
  let out = '';
  for (let i = 0; i < text.length; i += 3) {
    const codes = [text.charCodeAt(i), text.charCodeAt(i + 1), text.charCodeAt(i + 2)];
    for (const code of codes) {
      if (code > 0xff) throw new DOMException('Invalid character', 'InvalidCharacterError');
    }
    const [a, b = 0, c = 0] = codes.map((code) => (Number.isNaN(code) ? undefined : code));
    const bits = (a << 16) | (b << 8) | c;
    const remaining = text.length - i;
    out += BASE64_ALPHABET[(bits >> 18) & 63] + BASE64_ALPHABET[(bits >> 12) & 63];
    out += remaining > 1 ? BASE64_ALPHABET[(bits >> 6) & 63] : '=';
    out += remaining > 2 ? BASE64_ALPHABET[bits & 63] : '=';
  }
  return out;
}

function atob(data) {
  let text = String(data).replace(/[\t\n\f\r ]/g, '');
  if (text.length % 4 === 0) text = text.replace(/==?$/, '');
  if (text.length % 4 === 1 || /[^A-Za-z0-9+/]/.test(text)) {
    throw new DOMException('The string to be decoded is not correctly encoded.', 'InvalidCharacterError');
  }
  let out = '';
  let bits = 0;
  let count = 0;
  for (const char of text) {
    bits = (bits << 6) | BASE64_INDEX.get(char);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += String.fromCharCode((bits >> count) & 0xff);
    }
  }
  return out;
}

defineGlobal('TextEncoder', TextEncoder);
defineGlobal('TextDecoder', TextDecoder);
defineGlobal('btoa', btoa);
defineGlobal('atob', atob);
defineGlobal('DOMException', DOMException);
