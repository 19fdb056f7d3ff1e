const MIB = 1024 * 1024;
/** The server's default FAAS_BODY_LIMIT_BYTES (packages/core/src/config.ts). */
const DEFAULT_BODY_LIMIT_BYTES = 6 * MIB;

/**
 * The server's size limits as this shell knows them: from FAAS_BODY_LIMIT_BYTES when it is set
 * (a shell that runs `faas serve` has it), else the server's default. Local files are checked
 * against them before they are read, so a device or a huge file fails at once and clearly.
 * `codeBytes` is the server's uncompressed code limit (packages/server/src/platform.ts).
 */
export function serverLimits(env: NodeJS.ProcessEnv = process.env): { bodyBytes: number; codeBytes: number } {
  const set = Number(env.FAAS_BODY_LIMIT_BYTES);
  const bodyBytes = Number.isInteger(set) && set > 0 ? set : DEFAULT_BODY_LIMIT_BYTES;
  return { bodyBytes, codeBytes: Math.max(bodyBytes * 4, 50 * MIB) };
}

/** Why a local file is refused as too big: the limit and how to raise it. */
export const LIMIT_HINT =
  "the server's limit as this shell knows it; set FAAS_BODY_LIMIT_BYTES here to the server's value if it is larger";
