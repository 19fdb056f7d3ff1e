import { type CodeInput, ErrorCode, FaasError } from '@faas/core';
import { ARCHIVE_FORMATS, type ArchiveFormat, archiveFormat, decodeBase64 } from './archive-format.ts';
import { type CodeLimits, SourceCollector, type SourceFiles } from './source-files.ts';
import { readTar } from './tar-reader.ts';
import { readZip } from './zip-reader.ts';

export interface NormalizeOptions extends CodeLimits {
  /** The name of a single-string function's one file: `index.js`, `index.ts`, `main.py`. */
  defaultFilename: string;
  /**
   * Whether `{ files }` or an archive may hold no file: an `image` function's code is optional, so
   * its own download (an empty tar) must deploy again.
   */
  allowEmpty?: boolean;
}

const encoder = new TextEncoder();

/** The one file of code sent as `{ wasm }`: the wasm runtime's default handler names it. */
export const WASM_MODULE_FILE = 'main.wasm';

/**
 * Turns code as the API receives it into files: a string is one file named `defaultFilename`,
 * `{ files }` maps paths to UTF-8 text, `{ archive, format? }` is a base64 zip, tar.gz or tar,
 * `{ wasm }` a base64 WebAssembly module stored as `main.wasm`.
 * Paths stay as given (a single top folder is not unwrapped), so the handler names what is there.
 * @throws FaasError VALIDATION (bad shape, bad path, empty, too big) or INVALID_ARCHIVE.
 */
export async function normalizeCode(input: CodeInput, options: NormalizeOptions): Promise<SourceFiles> {
  if (typeof input === 'string') {
    const out = new SourceCollector(options, ErrorCode.VALIDATION, 'code');
    if (input.length === 0) out.fail('code is empty');
    const bytes = encoder.encode(input);
    out.count(bytes.byteLength);
    out.add(out.path(options.defaultFilename), bytes);
    return out.done();
  }
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw invalid('code', 'must be a string, { files } or { archive, format? }');
  }
  const hasFiles = 'files' in input;
  const hasArchive = 'archive' in input;
  const hasWasm = 'wasm' in input;
  if (Number(hasFiles) + Number(hasArchive) + Number(hasWasm) !== 1) {
    throw invalid('code', 'must have exactly one of "files", "archive" or "wasm"');
  }
  if (hasWasm) return wasmModule(input.wasm, options);
  if (hasFiles) return filesObject(input.files, options);
  return archive(input.archive, input.format, options);
}

function filesObject(files: unknown, limits: CodeLimits & { allowEmpty?: boolean }): SourceFiles {
  if (typeof files !== 'object' || files === null || Array.isArray(files)) {
    throw invalid('code.files', 'must be an object of path → file content');
  }
  const out = new SourceCollector(limits, ErrorCode.VALIDATION, 'code.files');
  for (const [raw, content] of Object.entries(files)) {
    if (typeof content !== 'string') {
      out.fail(`code.files[${JSON.stringify(raw)}] must be a string (UTF-8 text), not ${typeof content}`);
    }
    const path = out.path(raw);
    const bytes = encoder.encode(content);
    out.count(bytes.byteLength);
    out.add(path, bytes);
  }
  return out.done(limits.allowEmpty);
}

function wasmModule(data: unknown, limits: CodeLimits): SourceFiles {
  if (typeof data !== 'string') throw invalid('code.wasm', 'must be a base64 string');
  const out = new SourceCollector(limits, ErrorCode.VALIDATION, 'code.wasm');
  // Measured before decoding: base64 is 4/3 of the bytes, so a huge string is refused unread.
  out.count(Math.floor((data.length * 3) / 4) - 2);
  const bytes = decodeBase64(data, 'code.wasm');
  if (bytes.byteLength === 0) out.fail('code.wasm is empty');
  out.add(out.path(WASM_MODULE_FILE), bytes);
  return out.done();
}

async function archive(
  data: unknown,
  format: unknown,
  limits: CodeLimits & { allowEmpty?: boolean },
): Promise<SourceFiles> {
  if (typeof data !== 'string') throw invalid('code.archive', 'must be a base64 string');
  if (format !== undefined && !(ARCHIVE_FORMATS as readonly unknown[]).includes(format)) {
    throw invalid('code.format', `must be one of ${ARCHIVE_FORMATS.join(', ')}`);
  }
  const bytes = decodeBase64(data);
  if (bytes.byteLength === 0) {
    throw new FaasError(ErrorCode.INVALID_ARCHIVE, 'code.archive is empty', {
      details: [{ field: 'code.archive', message: 'is empty' }],
    });
  }
  switch (archiveFormat(bytes, format as ArchiveFormat | undefined)) {
    case 'zip':
      return readZip(bytes, limits, limits.allowEmpty);
    case 'tar.gz':
      return readTar(bytes, { gzip: true, limits, allowEmpty: limits.allowEmpty ?? false });
    case 'tar':
      return readTar(bytes, { gzip: false, limits, allowEmpty: limits.allowEmpty ?? false });
  }
}

function invalid(field: string, message: string): FaasError {
  return new FaasError(ErrorCode.VALIDATION, `Invalid function: ${field} ${message}`, {
    details: [{ field, message }],
  });
}
