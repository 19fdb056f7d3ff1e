import { describe, it } from 'node:test';
import { ErrorCode } from '@faas/core';
import { rejectsWith } from './test-support.ts';
import { readZip } from './zip-reader.ts';

const LIMITS = { maxBytes: 1024 * 1024 };

/**
 * A zip whose only central directory entry sits after the end record and ends the file: its
 * zip64 extra field claims more bytes than its extra block (and the file) holds.
 */
function zip64ExtraPastTheEnd(): Uint8Array {
  const bytes = Buffer.alloc(22 + 46 + 1 + 8);
  bytes.writeUInt32LE(0x06054b50, 0); // end of central directory
  bytes.writeUInt16LE(1, 8);
  bytes.writeUInt16LE(1, 10);
  bytes.writeUInt32LE(55, 12);
  bytes.writeUInt32LE(22, 16);
  const entry = 22;
  bytes.writeUInt32LE(0x02014b50, entry);
  bytes.writeUInt32LE(0xffffffff, entry + 20); // compressed size: in the zip64 field
  bytes.writeUInt32LE(0xffffffff, entry + 24); // size: likewise
  bytes.writeUInt16LE(1, entry + 28); // name length
  bytes.writeUInt16LE(8, entry + 30); // extra length
  bytes.writeUInt32LE(0xffffffff, entry + 42); // local offset: likewise
  bytes.write('a', entry + 46);
  bytes.writeUInt16LE(0x0001, entry + 47); // zip64 extra field…
  bytes.writeUInt16LE(24, entry + 49); // …of 24 bytes, of which 4 are there
  return new Uint8Array(bytes);
}

describe('readZip', () => {
  // Regression: the zip64 field was read past its block, and past the end a RangeError (a 500).
  it('refuses a zip64 extra field longer than its block as corrupt', async () => {
    await rejectsWith(readZip(zip64ExtraPastTheEnd(), LIMITS), ErrorCode.INVALID_ARCHIVE, /zip64/);
  });
});
