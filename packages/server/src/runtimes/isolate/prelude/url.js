// biome-ignore-all lint/correctness/noUnusedVariables: the prelude fragments share one scope (see prelude.ts)
// Prelude fragment: URL (parsed by the host's WHATWG parser, so it follows the standard exactly)
// and URLSearchParams (plain JavaScript, application/x-www-form-urlencoded).

const URL_PARTS = [
  'href',
  'origin',
  'protocol',
  'username',
  'password',
  'host',
  'hostname',
  'port',
  'pathname',
  'search',
  'hash',
];
const searchParamsOwner = new WeakMap();
const updateSearchParams = new WeakMap();

function formEncode(text) {
  return encodeURIComponent(text.toWellFormed()).replace(/[!'()~]|%20/g, (c) =>
    c === '%20' ? '+' : `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function percentDecode(text) {
  if (!text.includes('%')) return text;
  const bytes = [];
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x25 && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(...utf8Encode(text[i]));
    }
  }
  return new TextDecoder().decode(Uint8Array.from(bytes));
}

function parseForm(query) {
  const text = query.startsWith('?') ? query.slice(1) : query;
  const list = [];
  for (const piece of text.split('&')) {
    if (piece === '') continue;
    const eq = piece.indexOf('=');
    const name = eq === -1 ? piece : piece.slice(0, eq);
    const value = eq === -1 ? '' : piece.slice(eq + 1);
    list.push([percentDecode(name.replaceAll('+', ' ')), percentDecode(value.replaceAll('+', ' '))]);
  }
  return list;
}

class URLSearchParams {
  #list = [];

  constructor(init = '') {
    if (typeof init === 'object' && init !== null) {
      if (init instanceof URLSearchParams) {
        this.#list = init.#list.map(([k, v]) => [k, v]);
      } else if (typeof init[Symbol.iterator] === 'function') {
        for (const pair of init) {
          const entry = Array.from(pair);
          if (entry.length !== 2)
            throw new TypeError('Each query pair must be an iterable [name, value] tuple');
          this.#list.push([String(entry[0]), String(entry[1])]);
        }
      } else {
        for (const key of Object.keys(init)) this.#list.push([key, String(init[key])]);
      }
    } else {
      this.#list = parseForm(String(init));
    }
    updateSearchParams.set(this, (query) => {
      this.#list = parseForm(query);
    });
  }

  #changed() {
    const url = searchParamsOwner.get(this);
    if (url) url.search = this.toString();
  }

  get size() {
    return this.#list.length;
  }
  append(name, value) {
    this.#list.push([String(name), String(value)]);
    this.#changed();
  }
  delete(name, value) {
    const key = String(name);
    this.#list = this.#list.filter(([k, v]) => k !== key || (value !== undefined && v !== String(value)));
    this.#changed();
  }
  get(name) {
    const key = String(name);
    return this.#list.find(([k]) => k === key)?.[1] ?? null;
  }
  getAll(name) {
    const key = String(name);
    return this.#list.filter(([k]) => k === key).map(([, v]) => v);
  }
  has(name, value) {
    const key = String(name);
    return this.#list.some(([k, v]) => k === key && (value === undefined || v === String(value)));
  }
  set(name, value) {
    const key = String(name);
    const index = this.#list.findIndex(([k]) => k === key);
    if (index === -1) {
      this.#list.push([key, String(value)]);
    } else {
      this.#list[index] = [key, String(value)];
      this.#list = this.#list.filter(([k], i) => k !== key || i <= index);
    }
    this.#changed();
  }
  sort() {
    this.#list.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    this.#changed();
  }
  forEach(callback, thisArg) {
    for (const [k, v] of this.#list) callback.call(thisArg, v, k, this);
  }
  *entries() {
    for (const [k, v] of this.#list) yield [k, v];
  }
  *keys() {
    for (const [k] of this.#list) yield k;
  }
  *values() {
    for (const [, v] of this.#list) yield v;
  }
  [Symbol.iterator]() {
    return this.entries();
  }
  toString() {
    return this.#list.map(([k, v]) => `${formEncode(k)}=${formEncode(v)}`).join('&');
  }
}

function invalidUrl(input) {
  const error = new TypeError(`Invalid URL: ${input}`);
  error.code = 'ERR_INVALID_URL';
  return error;
}

class URL {
  #parts;
  #searchParams;

  constructor(url, base) {
    const input = String(url);
    const parts = hostUrl('parse', input, base === undefined ? undefined : String(base));
    if (parts === null) throw invalidUrl(input);
    this.#parts = parts;
  }

  static canParse(url, base) {
    return hostUrl('parse', String(url), base === undefined ? undefined : String(base)) !== null;
  }
  static parse(url, base) {
    try {
      return new URL(url, base);
    } catch {
      return null;
    }
  }

  #part(name) {
    return this.#parts[URL_PARTS.indexOf(name)];
  }
  #set(name, value) {
    const parts = hostUrl('set', this.#parts[0], name, String(value));
    if (parts === null) {
      if (name === 'href') throw invalidUrl(String(value));
      return;
    }
    this.#parts = parts;
    if (this.#searchParams && name !== 'search')
      updateSearchParams.get(this.#searchParams)(this.#part('search'));
  }

  get href() {
    return this.#parts[0];
  }
  set href(value) {
    this.#set('href', value);
  }
  get origin() {
    return this.#part('origin');
  }
  get protocol() {
    return this.#part('protocol');
  }
  set protocol(value) {
    this.#set('protocol', value);
  }
  get username() {
    return this.#part('username');
  }
  set username(value) {
    this.#set('username', value);
  }
  get password() {
    return this.#part('password');
  }
  set password(value) {
    this.#set('password', value);
  }
  get host() {
    return this.#part('host');
  }
  set host(value) {
    this.#set('host', value);
  }
  get hostname() {
    return this.#part('hostname');
  }
  set hostname(value) {
    this.#set('hostname', value);
  }
  get port() {
    return this.#part('port');
  }
  set port(value) {
    this.#set('port', value);
  }
  get pathname() {
    return this.#part('pathname');
  }
  set pathname(value) {
    this.#set('pathname', value);
  }
  get search() {
    return this.#part('search');
  }
  set search(value) {
    this.#set('search', value);
    if (this.#searchParams) updateSearchParams.get(this.#searchParams)(this.#part('search'));
  }
  get hash() {
    return this.#part('hash');
  }
  set hash(value) {
    this.#set('hash', value);
  }
  get searchParams() {
    if (!this.#searchParams) {
      this.#searchParams = new URLSearchParams(this.#part('search'));
      searchParamsOwner.set(this.#searchParams, this);
    }
    return this.#searchParams;
  }
  toString() {
    return this.#parts[0];
  }
  toJSON() {
    return this.#parts[0];
  }
}

defineGlobal('URL', URL);
defineGlobal('URLSearchParams', URLSearchParams);
