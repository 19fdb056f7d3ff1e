import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { wabtMissing, watModule } from '@faas/testkit';
import { capMemory, MAX_TABLE_ELEMENTS, MemoryCapProblem, pagesFor } from './memory-cap.ts';

/** A module of one memory with these limits, exporting it (hand-assembled: no wabt needed). */
function moduleWithMemory(limits: number[]): Uint8Array {
  const memory = [1, ...limits];
  const exportSection = [1, 6, ...new TextEncoder().encode('memory'), 2, 0];
  return new Uint8Array([
    ...[0, 97, 115, 109, 1, 0, 0, 0],
    ...[5, memory.length, ...memory],
    ...[7, exportSection.length, ...exportSection],
  ]);
}

/** The exported memory of an instance of the module, its imports (if any) stubbed. */
function memoryOf(bytes: Uint8Array): WebAssembly.Memory {
  const module = new WebAssembly.Module(bytes);
  const imports: Record<string, Record<string, unknown>> = {};
  for (const i of WebAssembly.Module.imports(module)) {
    imports[i.module] = { ...imports[i.module], [i.name]: () => 0 };
  }
  return new WebAssembly.Instance(module, imports).exports.memory as WebAssembly.Memory;
}

/** How many pages the memory can reach: grows one page at a time until refused. */
function reachablePages(memory: WebAssembly.Memory): number {
  for (;;) {
    try {
      memory.grow(1);
    } catch {
      return memory.buffer.byteLength / 65536;
    }
  }
}

describe('capMemory', () => {
  it('gives a memory without a maximum the cap as its maximum', () => {
    const capped = capMemory(moduleWithMemory([0x00, 1]), 4);
    assert.equal(reachablePages(memoryOf(capped)), 4);
    assert.equal(memoryOf(moduleWithMemory([0x00, 1])).grow(8), 1, 'uncapped, it grows past 4 pages');
  });

  it('lowers a larger maximum and keeps a smaller one', () => {
    assert.equal(reachablePages(memoryOf(capMemory(moduleWithMemory([0x01, 1, 100]), 8))), 8);
    assert.equal(reachablePages(memoryOf(capMemory(moduleWithMemory([0x01, 1, 3]), 8))), 3);
  });

  it('writes multi-byte sizes (LEB128) and keeps the sections after it', () => {
    // min 200 pages = [0xc8, 0x01]; the cap 300 = [0xac, 0x02] is longer than no max at all.
    const capped = capMemory(moduleWithMemory([0x00, 0xc8, 0x01]), 300);
    const memory = memoryOf(capped);
    assert.equal(memory.buffer.byteLength, 200 * 65536);
    assert.equal(reachablePages(memory), 300);
  });

  it('refuses what it cannot bound', () => {
    const refused: Array<[Uint8Array, RegExp]> = [
      [moduleWithMemory([0x00, 9]), /starts at 9 pages \(0\.6 MiB\)/],
      [moduleWithMemory([0x03, 1, 2]), /shared memories/],
      [moduleWithMemory([0x04, 1]), /only 32-bit memories/],
      [new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 5, 3, 2, 0, 1]), /declares 2 memories/],
      [new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 5, 9, 1]), /runs past the end/],
      [new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 5, 3, 1, 0, 0xff]), /ends in the middle/],
      [new Uint8Array([0, 97, 115, 109, 2, 0, 0, 0]), /header is wrong/],
    ];
    for (const [bytes, message] of refused) {
      assert.throws(
        () => capMemory(bytes, 8),
        (err) => err instanceof MemoryCapProblem && message.test(err.message),
      );
    }
  });

  it('bounds tables at MAX_TABLE_ELEMENTS: a larger maximum is lowered, a larger start refused', () => {
    // A funcref table exported as "t"; then a memory section after it, exported as "memory".
    const withTable = (limits: number[]) => {
      const table = [1, 0x70, ...limits];
      const exports = [2, 1, 116, 1, 0, 6, ...new TextEncoder().encode('memory'), 2, 0];
      return new Uint8Array([
        ...[0, 97, 115, 109, 1, 0, 0, 0],
        ...[4, table.length, ...table],
        ...[5, 3, 1, 0x00, 1],
        ...[7, exports.length, ...exports],
      ]);
    };
    const capped = capMemory(withTable([0x00, 1]), 2);
    const table = new WebAssembly.Instance(new WebAssembly.Module(capped)).exports.t as {
      grow(n: number): number;
      length: number;
    };
    table.grow(MAX_TABLE_ELEMENTS - 1);
    assert.throws(() => table.grow(1), RangeError);
    assert.equal(reachablePages(memoryOf(capped)), 2, 'the memory after it is capped too');
    // 200000 elements = LEB128 [0xc0, 0x9a, 0x0c]
    assert.throws(
      () => capMemory(withTable([0x00, 0xc0, 0x9a, 0x0c]), 2),
      (err) => err instanceof MemoryCapProblem && /table starts at 200000 elements/.test(err.message),
    );
  });

  it('returns a module without a memory section as it is', () => {
    const empty = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]);
    assert.equal(capMemory(empty, 1), empty);
  });

  it('counts memoryMb in 64 KiB pages, at most 4 GiB', () => {
    assert.equal(pagesFor(16), 256);
    assert.equal(pagesFor(8192), 65_536);
  });

  it('caps a real module built by wat2wasm', { skip: wabtMissing() }, () => {
    const capped = capMemory(watModule('echo'), 3);
    assert.equal(WebAssembly.validate(capped), true);
    assert.equal(reachablePages(memoryOf(capped)), 3);
  });
});
