/** A WebAssembly page: memory sizes in a module are counted in these. */
export const WASM_PAGE_BYTES = 64 * 1024;
/** The most pages a 32-bit memory can have (4 GiB). */
const MAX_PAGES_32 = 65_536;
const MEMORY_SECTION = 5;
const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/** Why a module's memory cannot be capped: shown to the deployer. */
export class MemoryCapProblem extends Error {}

/** The pages `memoryMb` allows, at most what a 32-bit memory can hold. */
export function pagesFor(memoryMb: number): number {
  return Math.min(Math.floor((memoryMb * 1024 * 1024) / WASM_PAGE_BYTES), MAX_PAGES_32);
}

/**
 * Rewrites the module's memory section so its memory's maximum is at most `maxPages`: V8 does not
 * count wasm memory against any heap limit, so the module's own declared maximum is the bound
 * `memory.grow` cannot pass. Everything but that section is copied as it is.
 * Refused: an initial size above `maxPages`, more than one memory, shared and 64-bit memories.
 * A module without a memory section is returned unchanged (an imported memory is refused where
 * imports are checked).
 * @throws MemoryCapProblem; also for bytes that are not a well-formed module (truncated sections).
 */
export function capMemory(bytes: Uint8Array, maxPages: number): Uint8Array {
  if (bytes.length < HEADER.length || HEADER.some((b, i) => bytes[i] !== b)) {
    throw new MemoryCapProblem('not a WebAssembly module (version 1): the header is wrong');
  }
  const reader = new Reader(bytes, HEADER.length);
  while (!reader.done) {
    const sectionStart = reader.offset;
    const id = reader.byte();
    const size = reader.u32();
    const contentStart = reader.offset;
    const end = contentStart + size;
    if (end > bytes.length) throw new MemoryCapProblem('a section runs past the end of the module');
    if (id !== MEMORY_SECTION) {
      reader.offset = end;
      continue;
    }
    const content = rewriteMemories(new Reader(bytes.subarray(0, end), contentStart), maxPages);
    const section = [MEMORY_SECTION, ...leb128(content.length), ...content];
    const out = new Uint8Array(sectionStart + section.length + (bytes.length - end));
    out.set(bytes.subarray(0, sectionStart), 0);
    out.set(section, sectionStart);
    out.set(bytes.subarray(end), sectionStart + section.length);
    return out;
  }
  return bytes;
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
