import type { SourceFiles } from './source-files.ts';
import { readTar } from './tar-reader.ts';

const BLOCK_BYTES = 512;
const encoder = new TextEncoder();

/**
 * The one tar a set of files makes: paths sorted, every header field that could vary (mtime,
 * owner, mode) fixed, no directory entries, no PAX headers unless a path does not fit ustar's
 * 100+155 bytes. Identical files therefore give identical bytes and the same sha256, which is
 * what lets the blob store dedupe code and a redeploy of unchanged code make no new version.
 */
export function canonicalArchive(files: SourceFiles): Uint8Array {
  const paths = [...files.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const blocks: Uint8Array[] = [];
  let length = 0;
  const push = (bytes: Uint8Array) => {
    blocks.push(bytes);
    length += bytes.byteLength;
  };
  for (const path of paths) {
    const data = files.get(path) as Uint8Array;
    const name = encoder.encode(path);
    const split = splitUstarName(name);
    if (!split) {
      const record = paxRecord('path', path);
      push(
        header({ name: encoder.encode('././@PaxHeader'), prefix: EMPTY, size: record.byteLength, type: 'x' }),
      );
      push(padded(record));
    }
    const fields = split ?? { name: name.subarray(0, 100), prefix: EMPTY };
    push(header({ ...fields, size: data.byteLength, type: '0' }));
    push(padded(data));
  }
  push(new Uint8Array(BLOCK_BYTES * 2));
  const out = new Uint8Array(length);
  let at = 0;
  for (const block of blocks) {
    out.set(block, at);
    at += block.byteLength;
  }
  return out;
}

/** Reads a code archive (canonical or any plain tar or tar.gz) back into files. */
export function extractArchive(tar: Uint8Array): Promise<SourceFiles> {
  const gzip = tar[0] === 0x1f && tar[1] === 0x8b;
  return readTar(tar, {
    gzip,
    limits: { maxBytes: Number.POSITIVE_INFINITY, maxFiles: Number.POSITIVE_INFINITY },
    allowEmpty: true,
  });
}

const EMPTY = new Uint8Array(0);

interface HeaderFields {
  name: Uint8Array;
  prefix: Uint8Array;
  size: number;
  type: '0' | 'x';
}

function header(fields: HeaderFields): Uint8Array {
  const block = new Uint8Array(BLOCK_BYTES);
  block.set(fields.name, 0);
  writeOctal(block, 100, 8, 0o644);
  writeOctal(block, 108, 8, 0);
  writeOctal(block, 116, 8, 0);
  writeOctal(block, 124, 12, fields.size);
  writeOctal(block, 136, 12, 0);
  block[156] = fields.type.charCodeAt(0);
  block.set(encoder.encode('ustar\u000000'), 257);
  writeOctal(block, 329, 8, 0);
  writeOctal(block, 337, 8, 0);
  block.set(fields.prefix, 345);
  // The checksum is the byte sum with its own field read as spaces.
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  writeOctal(block, 148, 7, sum);
  block[155] = 0x20;
  return block;
}

/** Zero-padded octal of `width - 1` digits and a NUL, as ustar numeric fields are. */
function writeOctal(block: Uint8Array, offset: number, width: number, value: number): void {
  const digits = value.toString(8);
  if (digits.length > width - 1) throw new RangeError(`${value} does not fit a ${width}-byte tar field`);
  block.set(encoder.encode(digits.padStart(width - 1, '0')), offset);
  block[offset + width - 1] = 0;
}

/** ustar keeps long paths as `prefix/name` (155 + 100 bytes), split at a slash. */
function splitUstarName(name: Uint8Array): { name: Uint8Array; prefix: Uint8Array } | undefined {
  if (name.byteLength <= 100) return { name, prefix: EMPTY };
  const slash = 0x2f;
  for (let i = Math.max(0, name.byteLength - 101); i < Math.min(156, name.byteLength); i++) {
    if (name[i] === slash && i <= 155 && name.byteLength - i - 1 <= 100 && i > 0) {
      return { prefix: name.subarray(0, i), name: name.subarray(i + 1) };
    }
  }
  return undefined;
}

/** A PAX record, `"<length> key=value\n"`, whose length counts its own digits. */
function paxRecord(key: string, value: string): Uint8Array {
  const body = ` ${key}=${value}\n`;
  const bodyBytes = encoder.encode(body).byteLength;
  let length = bodyBytes + 1;
  while (String(length).length + bodyBytes !== length) length = String(length).length + bodyBytes;
  return encoder.encode(`${length}${body}`);
}

function padded(data: Uint8Array): Uint8Array {
  const rest = data.byteLength % BLOCK_BYTES;
  if (rest === 0) return data;
  const out = new Uint8Array(data.byteLength + BLOCK_BYTES - rest);
  out.set(data);
  return out;
}
