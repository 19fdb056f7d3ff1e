import { Readable, Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { ErrorCode, isFaasError } from '@faas/core';
import { extract } from 'tar-stream';
import { type CodeLimits, DEFAULT_MAX_FILES, SourceCollector, type SourceFiles } from './source-files.ts';

/** Tar headers, PAX records and padding a legitimate archive may add per file, beyond its data. */
const TAR_OVERHEAD_PER_FILE_BYTES = 4096;

export interface TarReadOptions {
  gzip: boolean;
  limits: CodeLimits;
  /** Whether a tar without files is fine (the canonical archive of an `image` function). */
  allowEmpty?: boolean;
}

/**
 * Reads a tar (gunzipped first when `gzip`) into files. File bytes are counted as they stream out
 * and reading stops at the first byte past the limit; the decompressed stream as a whole is capped
 * too, so a gzip bomb of padding or empty entries stops early as well.
 */
export async function readTar(bytes: Uint8Array, options: TarReadOptions): Promise<SourceFiles> {
  const { gzip, limits } = options;
  const what = gzip ? 'The tar.gz archive' : 'The tar archive';
  const out = new SourceCollector(limits, ErrorCode.INVALID_ARCHIVE, what);
  const maxStreamBytes =
    limits.maxBytes + ((limits.maxFiles ?? DEFAULT_MAX_FILES) + 16) * TAR_OVERHEAD_PER_FILE_BYTES;
  const source = Readable.from([Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]);
  const gunzip = gzip ? createGunzip() : undefined;
  const capped = streamCap(
    maxStreamBytes,
    () => `${what} is larger than ${limits.maxBytes} bytes uncompressed`,
  );
  const tar = extract();
  const decoded = gunzip ? source.pipe(gunzip) : source;
  decoded.pipe(capped).pipe(tar as unknown as NodeJS.WritableStream);
  for (const stage of [source, gunzip, capped]) stage?.on('error', (err: Error) => tar.destroy(err));

  try {
    for await (const entry of tar) {
      const { header } = entry;
      switch (header.type) {
        case 'directory':
          entry.resume();
          continue;
        case 'file':
        case 'contiguous-file':
          break;
        case 'symlink':
        case 'link':
          out.fail(
            `${what} has a ${header.type === 'link' ? 'hard' : 'symbolic'} link ${JSON.stringify(header.name)}: links are not allowed`,
          );
          break;
        default:
          out.fail(
            `${what} has a special file ${JSON.stringify(header.name)} (${header.type ?? 'unknown type'}): only regular files are allowed`,
          );
      }
      const path = out.path(header.name);
      // The header states the size up front: refuse without reading when it alone is too much.
      out.count(header.size);
      const chunks: Buffer[] = [];
      let read = 0;
      for await (const chunk of entry) {
        chunks.push(chunk as Buffer);
        read += (chunk as Buffer).byteLength;
      }
      if (read !== header.size) out.fail(`${what} is truncated at ${JSON.stringify(header.name)}`);
      out.add(path, new Uint8Array(Buffer.concat(chunks, read)));
    }
  } catch (err) {
    source.destroy();
    gunzip?.destroy();
    capped.destroy();
    if (isFaasError(err)) throw err;
    if (err instanceof StreamCapError) out.fail(err.message, err);
    out.fail(`${what} is corrupt: ${err instanceof Error ? err.message : String(err)}`, err);
  }
  return out.done(options.allowEmpty);
}

class StreamCapError extends Error {}

function streamCap(maxBytes: number, message: () => string): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      total += chunk.byteLength;
      if (total > maxBytes) callback(new StreamCapError(message()));
      else callback(null, chunk);
    },
  });
}
