import { createHash } from 'node:crypto';
import { type BlobStore, type CodeInput, ErrorCode, FaasError, type FunctionRuntime } from '@faas/core';
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
  /** What the runtime loads: the isolate bundle for js/ts, the module for wasm, else the source tar itself. */
  artifactSha256: string;
  /** The handler's file; undefined for `image` functions, which have no handler file. */
  entryPath: string | undefined;
  /** What `artifactSha256` names, when it is not the source tar (js/ts, wasm). */
  artifact: Uint8Array | undefined;
  /** Settles once the source tar and the artifact are in the blob store; rejects if a put failed. */
  stored: Promise<void>;
}

/** The export a WASI command runs: a wasm function's handler names it. */
const WASI_ENTRY = '_start';

/**
 * The deploy-time pipeline: normalise the code, find the handler's file, store the canonical
 * source tar, and for js/ts build and store the isolate bundle (for wasm, the module). Answers
 * once the names are known, with the writes under way (`stored`); nothing is written when a
 * step before them fails. An `image` function may come without code; it gets an empty archive.
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
      allowEmpty: runtime === 'image',
    });
  }
  const resolved = runtime === 'image' ? undefined : resolveHandler(files, handler, runtime);
  // Build before storing anything, so a compile error leaves the blob store untouched.
  let artifact: Uint8Array | undefined;
  if (resolved && (runtime === 'js' || runtime === 'ts')) {
    artifact = await buildIsolateArtifact(files, resolved.entryPath, {
      runtime,
      exportName: resolved.exportName,
    });
  } else if (resolved && runtime === 'wasm') {
    // The module itself; the wasm runtime compiles and checks it when the deploy prepares it.
    if (resolved.exportName !== WASI_ENTRY) {
      const message = `a wasm function's handler must name its module's "${WASI_ENTRY}", e.g. "main.${WASI_ENTRY}"`;
      throw new FaasError(ErrorCode.VALIDATION, `Invalid function: ${message}`, {
        details: [{ field: 'handler', message }],
      });
    }
    artifact = files.get(resolved.entryPath);
  }
  const archive = canonicalArchive(files);
  const code = { sha256: sha256Of(archive), sizeBytes: archive.byteLength };
  const artifactSha256 = artifact ? sha256Of(artifact) : code.sha256;
  // Both at once: each put waits for its fsyncs, which were most of a small deploy's time when
  // one waited for the other (1,000 sequential deploys: 16 of 28 s in the two puts).
  const stored = Promise.all([blobs.put(archive), artifact ? blobs.put(artifact) : undefined]).then(
    ([putCode, putArtifact]) => {
      if (putCode.sha256 !== code.sha256 || (putArtifact && putArtifact.sha256 !== artifactSha256)) {
        throw new FaasError(ErrorCode.INTERNAL, 'The blob store named the code by another sha256');
      }
    },
  );
  // Marked handled: a deploy refused before it waits for the puts must not end the process.
  stored.catch(() => {});
  return {
    codeSha256: code.sha256,
    codeSizeBytes: code.sizeBytes,
    artifactSha256,
    entryPath: resolved?.entryPath,
    artifact,
    stored,
  };
}

function sha256Of(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
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
