import type { BlobStore, CodeInput, FunctionRuntime } from '@faas/core';
import { buildIsolateArtifact } from './build-isolate-artifact.ts';
import { canonicalArchive } from './canonical-archive.ts';
import { normalizeCode } from './normalize-code.ts';
import { HANDLER_EXTENSIONS, resolveHandler } from './resolve-handler.ts';
import type { SourceFiles } from './source-files.ts';

export interface PrepareCodeOptions {
  runtime: FunctionRuntime;
  /** `file.export`, already defaulted by the function's config. */
  handler: string;
  blobs: BlobStore;
  /** Largest total uncompressed size of the code. */
  maxBytes: number;
  /** Most files the code may have. @default 10000 */
  maxFiles?: number;
}

export interface PreparedCode {
  /** The canonical tar of the source in the blob store. */
  codeSha256: string;
  /** Size of that tar. */
  codeSizeBytes: number;
  /** What the runtime loads: the isolate bundle for js/ts, else the source tar itself. */
  artifactSha256: string;
  /** The handler's file; undefined for `image` functions, which have no handler file. */
  entryPath: string | undefined;
}

/**
 * The deploy-time pipeline: normalise the code, find the handler's file, store the canonical
 * source tar, and for js/ts build and store the isolate bundle. Nothing is stored when any step
 * fails. An `image` function may come without code; it gets an empty archive.
 * @throws FaasError VALIDATION, INVALID_ARCHIVE or COMPILE_ERROR (all 422).
 */
export async function prepareCode(
  input: CodeInput | undefined,
  options: PrepareCodeOptions,
): Promise<PreparedCode> {
  const { runtime, handler, blobs } = options;
  let files: SourceFiles;
  if (input === undefined && runtime === 'image') {
    files = new Map();
  } else {
    files = await normalizeCode(input ?? '', {
      maxBytes: options.maxBytes,
      ...(options.maxFiles === undefined ? {} : { maxFiles: options.maxFiles }),
      defaultFilename: defaultFilename(runtime, handler),
    });
  }
  const resolved = runtime === 'image' ? undefined : resolveHandler(files, handler, runtime);
  // Build before storing anything, so a compile error leaves the blob store untouched.
  const artifact =
    resolved && (runtime === 'js' || runtime === 'ts')
      ? await buildIsolateArtifact(files, resolved.entryPath, { runtime, exportName: resolved.exportName })
      : undefined;
  const code = await blobs.put(canonicalArchive(files));
  const built = artifact ? await blobs.put(artifact) : code;
  return {
    codeSha256: code.sha256,
    codeSizeBytes: code.sizeBytes,
    artifactSha256: built.sha256,
    entryPath: resolved?.entryPath,
  };
}

/**
 * The name of code sent as one string: the handler's file with the runtime's first extension,
 * so the default handlers give `index.js`, `index.ts` and `main.py`, and `app.handler` gives
 * `app.ts`. An `image` function's single file is `main`.
 */
export function defaultFilename(runtime: FunctionRuntime, handler: string): string {
  if (runtime === 'image') return 'main';
  const dot = handler.lastIndexOf('.');
  const file = dot > 0 ? handler.slice(0, dot) : 'index';
  const extensions = HANDLER_EXTENSIONS[runtime];
  if (extensions.some((ext) => file.endsWith(ext))) return file;
  const stem = runtime === 'python' ? file.replaceAll('.', '/') : file;
  return `${stem}${extensions[0]}`;
}
