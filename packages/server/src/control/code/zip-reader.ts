import { setImmediate as nextTurn } from 'node:timers/promises';
import { crc32 } from 'node:zlib';
import { ErrorCode } from '@faas/core';
import { Inflate } from 'fflate';
import { type CodeLimits, SourceCollector, type SourceFiles } from './source-files.ts';

/** One file as the zip's central directory describes it. */
interface ZipEntry {
  name: string;
  versionMadeBy: number;
  flags: number;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  externalAttrs: number;
  localOffset: number;
}

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const MSDOS_DIRECTORY = 0x10;
/** Compressed bytes inflated per step: bounds how far one step can overshoot the size limit. */
const INFLATE_STEP_BYTES = 16 * 1024;
/** Inflated bytes between yields to the event loop, so a large archive does not stall the server. */
const YIELD_EVERY_BYTES = 4 * 1024 * 1024;

class ZipFormatError extends Error {}

/**
 * Reads a zip into files. The central directory is parsed here rather than by fflate because fflate
 * does not expose the entries' Unix modes, which is how a zip marks a symlink; fflate inflates.
 * Sizes are counted while inflating (declared sizes can lie) and checked against the CRC after.
 */
export async function readZip(
  bytes: Uint8Array,
  limits: CodeLimits,
  allowEmpty = false,
): Promise<SourceFiles> {
  const out = new SourceCollector(limits, ErrorCode.INVALID_ARCHIVE, 'The zip archive');
  let entries: ZipEntry[];
  try {
    entries = centralDirectory(bytes, limits.maxFiles);
  } catch (err) {
    if (err instanceof ZipFormatError) out.fail(`The zip archive is corrupt: ${err.message}`, err);
    throw err;
  }
  let sinceYield = 0;
  for (const entry of entries) {
    const mode = entry.versionMadeBy >> 8 === 3 ? entry.externalAttrs >>> 16 : 0;
    const type = mode & S_IFMT;
    if (entry.name.endsWith('/') || type === S_IFDIR || (entry.externalAttrs & MSDOS_DIRECTORY) !== 0) {
      continue;
    }
    if (type === S_IFLNK) {
      out.fail(`The zip archive has a symbolic link ${JSON.stringify(entry.name)}: links are not allowed`);
    }
    if (type !== 0 && type !== S_IFREG) {
      out.fail(
        `The zip archive has a special file ${JSON.stringify(entry.name)}: only regular files are allowed`,
      );
    }
    const path = out.path(entry.name);
    if (entry.flags & 1) out.fail(`The zip archive's entry ${JSON.stringify(entry.name)} is encrypted`);
    try {
      out.add(path, inflateEntry(bytes, entry, out));
    } catch (err) {
      if (err instanceof ZipFormatError) {
        out.fail(`The zip archive is corrupt at ${JSON.stringify(entry.name)}: ${err.message}`, err);
      }
      throw err;
    }
    sinceYield += entry.size;
    if (sinceYield > YIELD_EVERY_BYTES) {
      sinceYield = 0;
      await nextTurn();
    }
  }
  return out.done(allowEmpty);
}

function centralDirectory(bytes: Uint8Array, maxFiles = Number.POSITIVE_INFINITY): ZipEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const eocd = findEndOfCentralDirectory(view);
  let count = view.getUint16(eocd + 10, true);
  let offset = view.getUint32(eocd + 16, true);
  if (count === 0xffff || offset === 0xffffffff) {
    const locator = eocd - 20;
    if (locator < 0 || view.getUint32(locator, true) !== ZIP64_LOCATOR_SIGNATURE) {
      throw new ZipFormatError('missing zip64 end of central directory');
    }
    const zip64 = safeNumber(view.getBigUint64(locator + 8, true));
    if (zip64 + 56 > bytes.byteLength || view.getUint32(zip64, true) !== ZIP64_EOCD_SIGNATURE) {
      throw new ZipFormatError('bad zip64 end of central directory');
    }
    count = safeNumber(view.getBigUint64(zip64 + 32, true));
    offset = safeNumber(view.getBigUint64(zip64 + 48, true));
  }
  // Directories count as entries too, so allow some slack before refusing on the count alone.
  if (count > maxFiles * 2 + 1000) throw new ZipFormatError(`it declares ${count} entries`);
  const decoder = new TextDecoder();
  const entries: ZipEntry[] = [];
  for (let i = 0; i < count; i++) {
    if (offset + 46 > bytes.byteLength || view.getUint32(offset, true) !== CENTRAL_SIGNATURE) {
      throw new ZipFormatError('bad central directory entry');
    }
    const nameLength = view.getUint16(offset + 28, true);
    const extraLength = view.getUint16(offset + 30, true);
    const commentLength = view.getUint16(offset + 32, true);
    const nameStart = offset + 46;
    if (nameStart + nameLength + extraLength > bytes.byteLength) {
      throw new ZipFormatError('central directory runs past the end');
    }
    const entry: ZipEntry = {
      versionMadeBy: view.getUint16(offset + 4, true),
      flags: view.getUint16(offset + 8, true),
      method: view.getUint16(offset + 10, true),
      crc: view.getUint32(offset + 16, true),
      compressedSize: view.getUint32(offset + 20, true),
      size: view.getUint32(offset + 24, true),
      externalAttrs: view.getUint32(offset + 38, true),
      localOffset: view.getUint32(offset + 42, true),
      name: decoder.decode(bytes.subarray(nameStart, nameStart + nameLength)),
    };
    applyZip64Extra(view, entry, nameStart + nameLength, extraLength);
    entries.push(entry);
    offset = nameStart + nameLength + extraLength + commentLength;
  }
  return entries;
}

function findEndOfCentralDirectory(view: DataView): number {
  const last = view.byteLength - 22;
  const first = Math.max(0, last - 0xffff);
  for (let at = last; at >= first; at--) {
    if (view.getUint32(at, true) === EOCD_SIGNATURE) return at;
  }
  throw new ZipFormatError('no end of central directory record (truncated?)');
}

/** Zip64 moves sizes and offsets that do not fit 32 bits into an extra field, in this order. */
function applyZip64Extra(view: DataView, entry: ZipEntry, start: number, length: number): void {
  const fields = (['size', 'compressedSize', 'localOffset'] as const).filter((f) => entry[f] === 0xffffffff);
  if (fields.length === 0) return;
  const end = start + length;
  for (let at = start; at + 4 <= end; ) {
    const id = view.getUint16(at, true);
    const size = view.getUint16(at + 2, true);
    // A field's size is the archive's word: past its block lie other bytes, or the end of the file.
    if (at + 4 + size > end) throw new ZipFormatError('zip64 extra field runs past its block');
    if (id === 0x0001) {
      let field = at + 4;
      for (const name of fields) {
        if (field + 8 > at + 4 + size) throw new ZipFormatError('short zip64 extra field');
        entry[name] = safeNumber(view.getBigUint64(field, true));
        field += 8;
      }
      return;
    }
    at += 4 + size;
  }
  throw new ZipFormatError('missing zip64 extra field');
}

function safeNumber(value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipFormatError('zip64 value out of range');
  return Number(value);
}

function inflateEntry(bytes: Uint8Array, entry: ZipEntry, out: SourceCollector): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const local = entry.localOffset;
  if (local + 30 > bytes.byteLength || view.getUint32(local, true) !== LOCAL_SIGNATURE) {
    throw new ZipFormatError('bad local file header');
  }
  const dataStart = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
  const dataEnd = dataStart + entry.compressedSize;
  if (dataEnd > bytes.byteLength) throw new ZipFormatError('file data runs past the end');
  const compressed = bytes.subarray(dataStart, dataEnd);

  let data: Uint8Array;
  if (entry.method === 0) {
    out.count(compressed.byteLength);
    data = compressed.slice();
  } else if (entry.method === 8) {
    data = inflateCounted(compressed, out);
  } else {
    throw new ZipFormatError(`compression method ${entry.method} is not supported (use deflate or store)`);
  }
  if (data.byteLength !== entry.size) {
    throw new ZipFormatError(`size is ${data.byteLength} bytes, the directory says ${entry.size}`);
  }
  if (crc32(data) !== entry.crc) throw new ZipFormatError('CRC mismatch');
  return data;
}

function inflateCounted(compressed: Uint8Array, out: SourceCollector): Uint8Array {
  const chunks: Uint8Array[] = [];
  let length = 0;
  const inflate = new Inflate((chunk) => {
    out.count(chunk.byteLength);
    chunks.push(chunk);
    length += chunk.byteLength;
  });
  try {
    for (let at = 0; at < compressed.byteLength || at === 0; at += INFLATE_STEP_BYTES) {
      const end = Math.min(at + INFLATE_STEP_BYTES, compressed.byteLength);
      inflate.push(compressed.subarray(at, end), end === compressed.byteLength);
    }
  } catch (err) {
    if (err instanceof Error && 'code' in err && typeof err.code === 'number') {
      throw new ZipFormatError(`bad deflate data (${err.message})`);
    }
    throw err;
  }
  const data = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    data.set(chunk, at);
    at += chunk.byteLength;
  }
  return data;
}
