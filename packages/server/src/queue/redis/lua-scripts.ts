import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

const SCRIPTS_DIR = new URL('./scripts/', import.meta.url);
const PRELUDE = readFileSync(new URL('prelude.lua', SCRIPTS_DIR), 'utf8');

/** The queue's operations, one Lua script each (scripts/<name>.lua). */
export const SCRIPT_NAMES = [
  'enqueue',
  'lease',
  'start',
  'ack',
  'fail',
  'release',
  'extend',
  'requeue-dead',
  'list-dead',
  'list-dead-after',
  'delete-dead',
  'stats',
  'next-due',
  'oldest-due',
] as const;
export type ScriptName = (typeof SCRIPT_NAMES)[number];

interface Script {
  source: string;
  sha: string;
}

/** Each script with the shared prelude in front: Redis scripts cannot include one another. */
const SCRIPTS = new Map<ScriptName, Script>(
  SCRIPT_NAMES.map((name) => {
    const source = `${PRELUDE}\n${readFileSync(new URL(`${name}.lua`, SCRIPTS_DIR), 'utf8')}`;
    return [name, { source, sha: createHash('sha1').update(source).digest('hex') }];
  }),
);

/**
 * Runs the queue's scripts by their SHA (EVALSHA), sending a script's source only when Redis does
 * not have it cached (after a restart or SCRIPT FLUSH). A script runs atomically: nothing else
 * runs on the Redis server meanwhile, which is what makes every multi-key step of the queue one
 * step.
 */
export class LuaScripts {
  #redis: Redis;
  #keys: string[];

  /** `keys` are the KEYS every script gets (see prelude.lua). */
  constructor(redis: Redis, keys: string[]) {
    this.#redis = redis;
    this.#keys = keys;
  }

  /** Sends every script once, so a Redis that refuses scripts is found at start. */
  async load(): Promise<void> {
    for (const script of SCRIPTS.values()) await this.#redis.script('LOAD', script.source);
  }

  async run(name: ScriptName, args: Array<string | number>): Promise<unknown> {
    const script = SCRIPTS.get(name) as Script;
    try {
      return await this.#redis.evalsha(script.sha, this.#keys.length, ...this.#keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return this.#redis.eval(script.source, this.#keys.length, ...this.#keys, ...args);
    }
  }
}
