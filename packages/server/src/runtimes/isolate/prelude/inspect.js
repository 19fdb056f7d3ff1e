// biome-ignore-all lint/correctness/noUnusedVariables: the prelude fragments share one scope (see prelude.ts)
// Prelude fragment: a small `util.inspect`/`util.format` so console output reads like Node's for
// the common cases (strings, numbers, plain objects, arrays, Maps, Sets, errors, dates).

const INSPECT_DEPTH = 2;
const MAX_ITEMS = 100;
const MAX_STRING_CHARS = 10_000;
const BREAK_LENGTH = 80;
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
const TypedArray = Object.getPrototypeOf(Uint8Array);

function quoteString(value) {
  let text = value;
  let suffix = '';
  if (text.length > MAX_STRING_CHARS) {
    suffix = `... ${text.length - MAX_STRING_CHARS} more characters`;
    text = text.slice(0, MAX_STRING_CHARS);
  }
  const quote = text.includes("'") ? (text.includes('"') ? (text.includes('`') ? "'" : '`') : '"') : "'";
  const escaped = text.replace(/[\\\n\r\t\b\f\v]/g, (c) => {
    const map = {
      '\\': '\\\\',
      '\n': '\\n',
      '\r': '\\r',
      '\t': '\\t',
      '\b': '\\b',
      '\f': '\\f',
      '\v': '\\v',
    };
    return map[c];
  });
  const body = quote === "'" ? escaped.replaceAll("'", "\\'") : escaped;
  return `${quote}${body}${quote}${suffix}`;
}

function describeFunction(fn) {
  const source = Function.prototype.toString.call(fn);
  const name = fn.name ? `: ${fn.name}` : ' (anonymous)';
  if (source.startsWith('class')) return fn.name ? `[class ${fn.name}]` : '[class (anonymous)]';
  const kind = fn.constructor?.name;
  const label = kind === 'AsyncFunction' || kind === 'GeneratorFunction' || kind === 'AsyncGeneratorFunction';
  return `[${label ? kind : 'Function'}${name}]`;
}

function formatKey(key) {
  if (typeof key === 'symbol') return `[${key.toString()}]`;
  return IDENTIFIER.test(key) ? key : quoteString(key);
}

/** Joins entries on one line when they fit, else one per line (Node's rule, without column grouping). */
function joinEntries(prefix, open, entries, close, indent) {
  if (entries.length === 0) return `${prefix}${open}${close}`;
  const width = entries.reduce((sum, e) => sum + e.length + 2, prefix.length + indent.length + 4);
  if (width <= BREAK_LENGTH && !entries.some((e) => e.includes('\n'))) {
    return `${prefix}${open} ${entries.join(', ')} ${close}`;
  }
  const inner = `${indent}  `;
  return `${prefix}${open}\n${inner}${entries.join(`,\n${inner}`)}\n${indent}${close}`;
}

function inspectProperty(obj, key, depth, seen, indent) {
  const descriptor = Object.getOwnPropertyDescriptor(obj, key);
  if (descriptor && !('value' in descriptor)) {
    const kind = descriptor.get && descriptor.set ? 'Getter/Setter' : descriptor.get ? 'Getter' : 'Setter';
    return `${formatKey(key)}: [${kind}]`;
  }
  return `${formatKey(key)}: ${inspectValue(obj[key], depth + 1, seen, `${indent}  `)}`;
}

function ownEntries(obj, depth, seen, indent, skipIndices) {
  const keys = Reflect.ownKeys(obj).filter((key) => {
    if (!Object.prototype.propertyIsEnumerable.call(obj, key)) return false;
    return !(skipIndices && typeof key === 'string' && /^(0|[1-9]\d*)$/.test(key));
  });
  return keys.map((key) => inspectProperty(obj, key, depth, seen, indent));
}

function listItems(items, total, depth, seen, indent) {
  const out = items.slice(0, MAX_ITEMS).map((item) => inspectValue(item, depth + 1, seen, `${indent}  `));
  if (total > MAX_ITEMS) out.push(`... ${total - MAX_ITEMS} more item${total - MAX_ITEMS > 1 ? 's' : ''}`);
  return out;
}

function constructorPrefix(obj, fallback) {
  const proto = Object.getPrototypeOf(obj);
  if (proto === null) return '[Object: null prototype] ';
  const name = proto.constructor?.name;
  return name && name !== fallback ? `${name} ` : '';
}

function inspectObject(obj, depth, seen, indent) {
  if (obj instanceof Error) {
    const text = typeof obj.stack === 'string' ? obj.stack : `${obj.name}: ${obj.message}`;
    return seen.size > 0 ? `[${text.split('\n')[0]}]` : text;
  }
  if (obj instanceof Date) return Number.isNaN(obj.getTime()) ? 'Invalid Date' : obj.toISOString();
  if (obj instanceof RegExp) return RegExp.prototype.toString.call(obj);
  if (obj instanceof Promise) return 'Promise { <unknown> }';
  if (obj instanceof WeakMap) return 'WeakMap { <items unknown> }';
  if (obj instanceof WeakSet) return 'WeakSet { <items unknown> }';
  if (obj instanceof ArrayBuffer) return `ArrayBuffer { byteLength: ${obj.byteLength} }`;
  if (seen.has(obj)) return '[Circular]';
  const isArray = Array.isArray(obj);
  if (depth > INSPECT_DEPTH) {
    if (isArray) return '[Array]';
    const name = Object.getPrototypeOf(obj)?.constructor?.name;
    return `[${name || 'Object'}]`;
  }
  seen.add(obj);
  try {
    if (isArray) {
      const entries = listItems(obj, obj.length, depth, seen, indent);
      entries.push(...ownEntries(obj, depth, seen, indent, true));
      return joinEntries(constructorPrefix(obj, 'Array'), '[', entries, ']', indent);
    }
    if (obj instanceof TypedArray) {
      const entries = listItems(Array.from(obj), obj.length, depth, seen, indent);
      return joinEntries(`${obj.constructor.name}(${obj.length}) `, '[', entries, ']', indent);
    }
    if (obj instanceof Map) {
      const pairs = Array.from(obj).slice(0, MAX_ITEMS);
      const entries = pairs.map(
        ([k, v]) =>
          `${inspectValue(k, depth + 1, seen, `${indent}  `)} => ${inspectValue(v, depth + 1, seen, `${indent}  `)}`,
      );
      if (obj.size > MAX_ITEMS) entries.push(`... ${obj.size - MAX_ITEMS} more items`);
      return joinEntries(`Map(${obj.size}) `, '{', entries, '}', indent);
    }
    if (obj instanceof Set) {
      const entries = listItems(Array.from(obj), obj.size, depth, seen, indent);
      return joinEntries(`Set(${obj.size}) `, '{', entries, '}', indent);
    }
    return joinEntries(
      constructorPrefix(obj, 'Object'),
      '{',
      ownEntries(obj, depth, seen, indent, false),
      '}',
      indent,
    );
  } finally {
    seen.delete(obj);
  }
}

function inspectValue(value, depth = 0, seen = new Set(), indent = '') {
  switch (typeof value) {
    case 'string':
      return quoteString(value);
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'bigint':
      return `${value}n`;
    case 'symbol':
      return value.toString();
    case 'function':
      return describeFunction(value);
    case 'undefined':
      return 'undefined';
    case 'boolean':
      return String(value);
    default:
      return value === null ? 'null' : inspectObject(value, depth, seen, indent);
  }
}

function formatDirective(directive, arg) {
  switch (directive) {
    case 's':
      if (typeof arg === 'string') return arg;
      if (typeof arg === 'bigint') return `${arg}n`;
      if (typeof arg === 'object' && arg !== null) return inspectValue(arg, 1);
      return String(arg);
    case 'd':
      return typeof arg === 'bigint' ? `${arg}n` : typeof arg === 'symbol' ? 'NaN' : String(Number(arg));
    case 'i':
      return typeof arg === 'bigint'
        ? `${arg}n`
        : typeof arg === 'symbol'
          ? 'NaN'
          : String(Number.parseInt(arg, 10));
    case 'f':
      return typeof arg === 'symbol' ? 'NaN' : String(Number.parseFloat(arg));
    case 'j':
      try {
        return String(jsonStringify(arg));
      } catch {
        return '[Circular]';
      }
    case 'o':
    case 'O':
      return inspectValue(arg);
    default:
      return '';
  }
}

/** `util.format`: printf-style directives in a leading string, then the rest inspected. */
function formatLogArgs(args) {
  let out = '';
  let next = 0;
  const first = args[0];
  if (typeof first === 'string') {
    next = 1;
    if (args.length > 1 && first.includes('%')) {
      out = first.replace(/%([sdifjoOc%])/g, (match, directive) => {
        if (directive === '%') return '%';
        if (next >= args.length) return match;
        return formatDirective(directive, args[next++]);
      });
    } else {
      out = first;
    }
  }
  for (let i = next; i < args.length; i++) {
    const arg = args[i];
    const text = typeof arg === 'string' ? arg : inspectValue(arg);
    out = i === 0 ? text : `${out} ${text}`;
  }
  return out;
}
