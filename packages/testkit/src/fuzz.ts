/**
 * A small mutation fuzzer for parsers of untrusted bytes (agent messages, instance frames, code
 * archives). Deterministic for a seed, bounded in runs and time, so it can run in every CI run
 * (`npm test`) and for longer by hand:
 *
 *   FAAS_FUZZ_MS=60000 FAAS_FUZZ_SEED=42 node --test packages/server/src/…/x.fuzz.test.ts
 *
 * The target gets each input and must either accept it or reject it the way it promises to
 * (`rejects` decides); any other throw, or a run slower than `maxRunMs`, fails the fuzz with the
 * seed, the run number and the input in hex, so the failure can be replayed.
 */
export interface FuzzOptions {
  /** Valid (or interesting) inputs the mutations start from. */
  seeds: Uint8Array[];
  /** Called with every input. */
  run: (input: Uint8Array) => void | Promise<void>;
  /** Whether a throw is the target's documented refusal. @default () => false */
  rejects?: (err: unknown) => boolean;
  /** @default 20000 */
  maxRuns?: number;
  /** Stops early after this long. @default FAAS_FUZZ_MS, else 2000 */
  timeMs?: number;
  /** A run slower than this is a failure (a quadratic loop, a hang). @default 1000 */
  maxRunMs?: number;
  /** @default FAAS_FUZZ_SEED, else random */
  seed?: number;
  /** Largest input made. @default 1 MiB */
  maxBytes?: number;
}

export interface FuzzReport {
  runs: number;
  rejected: number;
  seed: number;
}

/** A failure found by the fuzzer: replay with `seed` and `input`. */
export class FuzzFailure extends Error {
  readonly seed: number;
  readonly run: number;
  readonly input: Uint8Array;

  constructor(message: string, seed: number, run: number, input: Uint8Array, cause: unknown) {
    super(message, { cause });
    this.name = 'FuzzFailure';
    this.seed = seed;
    this.run = run;
    this.input = input;
  }
}

export async function fuzz(options: FuzzOptions): Promise<FuzzReport> {
  if (options.seeds.length === 0) throw new Error('fuzz needs at least one seed input');
  const seed = options.seed ?? envInt('FAAS_FUZZ_SEED') ?? Math.floor(Math.random() * 2 ** 31);
  const timeMs = options.timeMs ?? envInt('FAAS_FUZZ_MS') ?? 2000;
  const maxRuns =
    options.maxRuns ?? (envInt('FAAS_FUZZ_MS') !== undefined ? Number.MAX_SAFE_INTEGER : 20_000);
  const maxRunMs = options.maxRunMs ?? 1000;
  const maxBytes = options.maxBytes ?? 1024 * 1024;
  const rejects = options.rejects ?? (() => false);
  const random = xorshift(seed);
  const corpus: Uint8Array[] = options.seeds.map((s) => Uint8Array.from(s));
  const stopAt = performance.now() + timeMs;
  let rejected = 0;
  let runs = 0;
  for (; runs < maxRuns && performance.now() < stopAt; runs++) {
    // The seeds as they are first, then mutations of mutations.
    const input = runs < corpus.length ? (corpus[runs] as Uint8Array) : mutate(corpus, random, maxBytes);
    const startedAt = performance.now();
    try {
      await options.run(input);
    } catch (err) {
      if (!rejects(err)) {
        throw new FuzzFailure(
          `fuzz run ${runs} (seed ${seed}) threw ${String(err)}; input ${hex(input)}`,
          seed,
          runs,
          input,
          err,
        );
      }
      rejected++;
    }
    const tookMs = performance.now() - startedAt;
    if (tookMs > maxRunMs) {
      throw new FuzzFailure(
        `fuzz run ${runs} (seed ${seed}) took ${tookMs.toFixed(0)} ms on ${input.length} bytes`,
        seed,
        runs,
        input,
        undefined,
      );
    }
    // Keep some mutants as new starting points, so mutations compound.
    if (runs >= corpus.length && random() < 0.05 && corpus.length < 256) corpus.push(input);
  }
  return { runs, rejected, seed };
}

const INTERESTING = [0, 1, 0x7f, 0x80, 0xff, 0x0a, 0x22, 0x5c, 0x7b, 0x7d];
const INTERESTING_U32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 16 * 1024 * 1024, 16 * 1024 * 1024 + 1];

function mutate(corpus: Uint8Array[], random: () => number, maxBytes: number): Uint8Array {
  let bytes = Array.from(pick(corpus, random));
  const steps = 1 + Math.floor(random() * 4);
  for (let s = 0; s < steps; s++) {
    const at = Math.floor(random() * (bytes.length + 1));
    switch (Math.floor(random() * 9)) {
      case 0:
        if (bytes.length > 0)
          bytes[at % bytes.length] = (bytes[at % bytes.length] as number) ^ (1 << Math.floor(random() * 8));
        break;
      case 1:
        if (bytes.length > 0) bytes[at % bytes.length] = Math.floor(random() * 256);
        break;
      case 2:
        if (bytes.length > 0) bytes[at % bytes.length] = pick(INTERESTING, random);
        break;
      case 3: {
        const value = pick(INTERESTING_U32, random);
        bytes.splice(at, 4, (value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
        break;
      }
      case 4:
        bytes.splice(at, 1 + Math.floor(random() * 16));
        break;
      case 5:
        bytes.splice(at, 0, ...randomBytes(random, 1 + Math.floor(random() * 16)));
        break;
      case 6: {
        // Repeat a slice: long runs, deep nesting.
        const from = Math.floor(random() * Math.max(1, bytes.length));
        const slice = bytes.slice(from, from + 1 + Math.floor(random() * 32));
        const times = 1 + Math.floor(random() * 64);
        for (let t = 0; t < times; t++) bytes.splice(at, 0, ...slice);
        break;
      }
      case 7: {
        const other = Array.from(pick(corpus, random));
        const cut = Math.floor(random() * (other.length + 1));
        bytes = [...bytes.slice(0, at), ...other.slice(cut)];
        break;
      }
      default:
        bytes = bytes.slice(0, at);
    }
    if (bytes.length > maxBytes) bytes = bytes.slice(0, maxBytes);
  }
  return Uint8Array.from(bytes);
}

function randomBytes(random: () => number, n: number): number[] {
  return Array.from({ length: n }, () => Math.floor(random() * 256));
}

function pick<T>(list: readonly T[], random: () => number): T {
  return list[Math.floor(random() * list.length)] as T;
}

/** xorshift32: fast, seedable, good enough to drive mutations. */
function xorshift(seed: number): () => number {
  let state = seed >>> 0 || 0x9e3779b9;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 2 ** 32;
  };
}

function envInt(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  return Number.isFinite(n) ? n : undefined;
}

function hex(input: Uint8Array): string {
  const text = Buffer.from(input.subarray(0, 512)).toString('hex');
  return input.length > 512 ? `${text}… (${input.length} bytes)` : text;
}
