import type { SourceMap } from 'node:module';
import type ivm from 'isolated-vm';

/**
 * V8 code cache for one source, shared by every isolate that compiles it: the first compile
 * produces it, later ones skip parsing. Scripts themselves cannot be shared (a Script belongs to
 * one isolate), so this is how "compile once per artifact" works across isolates.
 */
export interface CodeCache {
  readonly source: string;
  readonly filename: string;
  /** Maps the code's stack frames back to the function's source files (artifacts have one). */
  readonly sourceMap?: SourceMap;
  cachedData?: ivm.ExternalCopy<ArrayBuffer>;
  /**
   * Told of each code cache a compile makes, and (undefined) of one V8 refused: to keep caches
   * beyond this object (see CodeCacheFolder).
   */
  keep?: (cachedData: ivm.ExternalCopy<ArrayBuffer> | undefined) => void;
}

export function codeCache(source: string, filename: string, sourceMap?: SourceMap): CodeCache {
  return sourceMap ? { source, filename, sourceMap } : { source, filename };
}

export async function compileCached(isolate: ivm.Isolate, cache: CodeCache): Promise<ivm.Script> {
  const { cachedData } = cache;
  return kept(
    cache,
    cachedData,
    await isolate.compileScript(cache.source, scriptInfo(cache.filename, cachedData)),
  );
}

/**
 * As compileCached, on the calling thread: for a source small enough that compiling it costs
 * less than the two thread hops of the asynchronous call. The isolate must be idle.
 */
export function compileCachedSync(isolate: ivm.Isolate, cache: CodeCache): ivm.Script {
  const { cachedData } = cache;
  return kept(
    cache,
    cachedData,
    isolate.compileScriptSync(cache.source, scriptInfo(cache.filename, cachedData)),
  );
}

function scriptInfo(filename: string, cachedData: ivm.ExternalCopy<ArrayBuffer> | undefined): ivm.ScriptInfo {
  return { filename, ...(cachedData ? { cachedData } : { produceCachedData: true }) };
}

/** The compiled script, its code cache kept (or the refused `cachedData` it was given dropped). */
function kept(
  cache: CodeCache,
  cachedData: ivm.ExternalCopy<ArrayBuffer> | undefined,
  compiled: ivm.Script,
): ivm.Script {
  const script = compiled as ivm.Script & ivm.CachedDataResult & { cachedDataRejected?: boolean };
  if (cachedData && script.cachedDataRejected) {
    // Another V8's, or damaged: V8 compiled from source and made none; the next compile makes one.
    if (cache.cachedData === cachedData) cache.cachedData = undefined;
    cache.keep?.(undefined);
  } else if (!cachedData && script.cachedData) {
    cache.cachedData = script.cachedData;
    cache.keep?.(script.cachedData);
  }
  return script;
}
