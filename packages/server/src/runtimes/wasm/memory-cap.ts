/** A WebAssembly page: memory sizes in a module are counted in these. */
export const WASM_PAGE_BYTES = 64 * 1024;
/** The most pages a 32-bit memory can have (4 GiB). */
const MAX_PAGES_32 = 65_536;
const TABLE_SECTION = 4;
const MEMORY_SECTION = 5;
/**
 * Elements a table may reach: V8 allows 10 million (80 MB of a thread's memory, outside any
 * heap limit); a C program's table holds its address-taken functions, thousands at most.
 */
export const MAX_TABLE_ELEMENTS = 100_000;
const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/** Why a module's memory (or table) cannot be capped: shown to the deployer. */
export class MemoryCapProblem extends Error {}

/** The pages `memoryMb` allows, at most what a 32-bit memory can hold. */
export function pagesFor(memoryMb: number): number {
  return Math.min(Math.floor((memoryMb * 1024 * 1024) / WASM_PAGE_BYTES), MAX_PAGES_32);
}

/**
 * Rewrites the module's memory section so its memory's maximum is at most `maxPages`: V8 does not
 * count wasm memory against any heap limit, so the module's own declared maximum is the bound
 * `memory.grow` cannot pass. Tables are bounded the same way (MAX_TABLE_ELEMENTS). Everything
 * but those sections is copied as it is.
 * Refused: an initial size above `maxPages`, more than one memory, shared and 64-bit memories,
 * a table starting above MAX_TABLE_ELEMENTS.
 * A module without a memory section is returned unchanged (an imported memory is refused where
 * imports are checked).
 * @throws MemoryCapProblem; also for bytes that are not a well-formed module (truncated sections).
 */
export function capMemory(bytes: Uint8Array, maxPages: number): Uint8Array {
  if (bytes.length < HEADER.length || HEADER.some((b, i) => bytes[i] !== b)) {
    throw new MemoryCapProblem('not a WebAssembly module (version 1): the header is wrong');
  }
  const reader = new Reader(bytes, HEADER.length);
  const parts: Uint8Array[] = [];
  let copiedTo = 0;
  while (!reader.done) {
    const sectionStart = reader.offset;
    const id = reader.byte();
    const size = reader.u32();
    const contentStart = reader.offset;
    const end = contentStart + size;
    if (end > bytes.length) throw new MemoryCapProblem('a section runs past the end of the module');
    if (id !== MEMORY_SECTION && id !== TABLE_SECTION) {
      reader.offset = end;
      continue;
    }
    const section = new Reader(bytes.subarray(0, end), contentStart);
    const content = id === MEMORY_SECTION ? rewriteMemories(section, maxPages) : rewriteTables(section);
    parts.push(
      bytes.subarray(copiedTo, sectionStart),
      new Uint8Array([id, ...leb128(content.length), ...content]),
    );
    copiedTo = end;
    reader.offset = end;
  }
  if (parts.length === 0) return bytes;
  parts.push(bytes.subarray(copiedTo));
  return Buffer.concat(parts);
}

/** Each table's maximum becomes at most MAX_TABLE_ELEMENTS; a larger initial size is refused. */
function rewriteTables(reader: Reader): number[] {
  const count = reader.u32();
  const out = [...leb128(count)];
  for (let i = 0; i < count; i++) {
    const refType = reader.byte();
    const flags = reader.byte();
    if (flags & ~0x01) throw new MemoryCapProblem('only 32-bit tables are supported');
    const min = reader.u32();
    const declaredMax = flags & 0x01 ? reader.u32() : MAX_TABLE_ELEMENTS;
    if (min > MAX_TABLE_ELEMENTS) {
      throw new MemoryCapProblem(`a table starts at ${min} elements, more than ${MAX_TABLE_ELEMENTS}`);
    }
    out.push(refType, 0x01, ...leb128(min), ...leb128(Math.min(declaredMax, MAX_TABLE_ELEMENTS)));
  }
  if (!reader.done) throw new MemoryCapProblem('the table section has trailing bytes');
  return out;
}

function rewriteMemories(reader: Reader, maxPages: number): number[] {
  const count = reader.u32();
  if (count === 0) return [0];
  if (count > 1) throw new MemoryCapProblem(`the module declares ${count} memories; one is supported`);
  const flags = reader.byte();
  if (flags & 0x02) throw new MemoryCapProblem('shared memories are not supported (no threads)');
  if (flags & ~0x01) throw new MemoryCapProblem('only 32-bit memories are supported');
  const min = reader.u32();
  const declaredMax = flags & 0x01 ? reader.u32() : MAX_PAGES_32;
  if (!reader.done) throw new MemoryCapProblem('the memory section has trailing bytes');
  if (min > maxPages) {
    throw new MemoryCapProblem(
      `the module's memory starts at ${min} pages (${mib(min)} MiB), more than the function's ` +
        `memoryMb allows (${maxPages} pages of 64 KiB)`,
    );
  }
  return [1, 0x01, ...leb128(min), ...leb128(Math.min(declaredMax, maxPages))];
}

function mib(pages: number): string {
  return ((pages * WASM_PAGE_BYTES) / (1024 * 1024)).toFixed(1).replace(/\.0$/, '');
}

function leb128(value: number): number[] {
  const out: number[] = [];
  let rest = value;
  do {
    let byte = rest & 0x7f;
    rest = Math.floor(rest / 128);
    if (rest !== 0) byte |= 0x80;
    out.push(byte);
  } while (rest !== 0);
  return out;
}

/** Reads bytes and unsigned LEB128 numbers, refusing to run past the end. */
class Reader {
  #bytes: Uint8Array;
  offset: number;

  constructor(bytes: Uint8Array, offset: number) {
    this.#bytes = bytes;
    this.offset = offset;
  }

  get done(): boolean {
    return this.offset >= this.#bytes.length;
  }

  byte(): number {
    const value = this.#bytes[this.offset];
    if (value === undefined) throw new MemoryCapProblem('the module ends in the middle of a section');
    this.offset++;
    return value;
  }

  /** An unsigned LEB128 of at most 5 bytes (32 bits), as the format allows. */
  u32(): number {
    let value = 0;
    for (let i = 0; i < 5; i++) {
      const byte = this.byte();
      value += (byte & 0x7f) * 2 ** (7 * i);
      if ((byte & 0x80) === 0) {
        if (value > 0xffff_ffff) throw new MemoryCapProblem('a number in the module is out of range');
        return value;
      }
    }
    throw new MemoryCapProblem('a number in the module is too long');
  }
}
