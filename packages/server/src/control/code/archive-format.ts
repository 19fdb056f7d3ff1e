import { ErrorCode, FaasError } from '@faas/core';

export const ARCHIVE_FORMATS = ['zip', 'tar.gz', 'tar'] as const;
export type ArchiveFormat = (typeof ARCHIVE_FORMATS)[number];

/** The format the bytes announce, by magic number: zip `PK`, gzip `1f 8b`, ustar at offset 257. */
export function sniffArchiveFormat(bytes: Uint8Array): ArchiveFormat | undefined {
  if (
    bytes[0] === 0x50 &&
    bytes[1] === 0x4b &&
    (bytes[2] === 3 || bytes[2] === 5) &&
    (bytes[3] === 4 || bytes[3] === 6)
  ) {
    return 'zip';
  }
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) return 'tar.gz';
  const magic = new TextDecoder('latin1').decode(bytes.subarray(257, 262));
  if (magic === 'ustar') return 'tar';
  return undefined;
}

/**
 * The archive's format: the declared one (checked against the magic number when the bytes have
 * one, so a mislabelled upload gets a clear message) or the sniffed one.
 */
export function archiveFormat(bytes: Uint8Array, declared: ArchiveFormat | undefined): ArchiveFormat {
  const sniffed = sniffArchiveFormat(bytes);
  if (declared) {
    if (sniffed && sniffed !== declared) {
      throw invalidArchive(`code.format is "${declared}" but the archive looks like ${sniffed}`);
    }
    return declared;
  }
  if (!sniffed) {
    throw invalidArchive(
      'code.archive is not a recognised archive (expected zip, tar.gz or tar); set code.format if it is one',
    );
  }
  return sniffed;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/;

/** Strict base64 (standard alphabet, padding optional, whitespace ignored): Buffer's own decoder skips junk. */
export function decodeBase64(text: string, field = 'code.archive'): Uint8Array {
  const compact = text.replace(/\s+/g, '');
  if (!BASE64.test(compact)) {
    const bad = /[^A-Za-z0-9+/=]/.exec(compact);
    const why = bad ? `character ${JSON.stringify(bad[0])} at ${bad.index}` : 'bad length or padding';
    throw invalidArchive(`${field} is not valid base64: ${why}`, field);
  }
  return new Uint8Array(Buffer.from(compact, 'base64'));
}

function invalidArchive(message: string, field = 'code.archive'): FaasError {
  return new FaasError(ErrorCode.INVALID_ARCHIVE, message, { details: [{ field, message }] });
}
