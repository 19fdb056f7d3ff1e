import { ErrorCode, FaasError } from '@faas/core';
import { capMemory, MemoryCapProblem, pagesFor } from './memory-cap.ts';
import { WASI_FUNCTIONS, WASI_MODULE } from './wasi-functions.ts';

/** The most imports an error message names before "and N more". */
const LISTED_IMPORTS = 5;

/**
 * Compiles a function's module with its memory capped at `memoryMb` (see capMemory) and checks
 * that it is a WASI command this runtime can run: it imports only WASI preview 1 functions (no
 * memory, table or global from outside, nothing from another module) and exports `_start` and
 * `memory`. Compiling is asynchronous (V8 compiles off the calling thread).
 * @throws FaasError COMPILE_ERROR saying what is wrong, naming the refused imports.
 */
export async function loadWasmModule(bytes: Uint8Array, memoryMb: number): Promise<WebAssembly.Module> {
  let capped: Uint8Array;
  try {
    capped = capMemory(bytes, pagesFor(memoryMb));
  } catch (err) {
    if (!(err instanceof MemoryCapProblem)) throw err;
    // A malformed module is better explained by the compiler's message, with its byte offset
    // (compile, not the synchronous validate: this runs on the thread that serves requests).
    await compile(bytes);
    throw problem(err.message);
  }
  const module = await compile(capped);
  const refused = WebAssembly.Module.imports(module).filter(
    (i) => i.module !== WASI_MODULE || i.kind !== 'function' || !WASI_FUNCTIONS.has(i.name),
  );
  if (refused.length > 0) {
    const named = refused.slice(0, LISTED_IMPORTS).map((i) => `${i.module}.${i.name} (${i.kind})`);
    const more = refused.length > LISTED_IMPORTS ? ` and ${refused.length - LISTED_IMPORTS} more` : '';
    throw problem(
      `the module imports ${named.join(', ')}${more}: only functions of ${WASI_MODULE} (WASI preview 1) can be imported`,
    );
  }
  const exports = new Map(WebAssembly.Module.exports(module).map((e) => [e.name, e.kind]));
  if (exports.get('_start') !== 'function') {
    throw problem('the module does not export a "_start" function: build it as a WASI command');
  }
  if (exports.get('memory') !== 'memory') throw problem('the module does not export its "memory"');
  return module;
}

async function compile(bytes: Uint8Array): Promise<WebAssembly.Module> {
  try {
    return await WebAssembly.compile(bytes);
  } catch (err) {
    throw problem((err as Error).message.replace(/^WebAssembly\.compile\(\): /, ''), err);
  }
}

function problem(message: string, cause?: unknown): FaasError {
  const text = `main.wasm is not a module this runtime can run: ${message}`;
  return new FaasError(ErrorCode.COMPILE_ERROR, text, {
    details: [{ file: 'main.wasm', message }],
    ...(cause === undefined ? {} : { cause }),
  });
}
