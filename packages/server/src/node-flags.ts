/**
 * Node's flags for every process of the server: `npm start` and the container image's entrypoint
 * spell them out (node-flags.test.ts keeps them in step), the isolate hosts get them here, and
 * the tests' and benchmarks' servers run with them.
 *
 * `--max-semi-space-size=16`: V8 sizes a heap's young generation from its limit, which on a
 * machine of 24 GB is 64 MB a semi-space: up to 128 MB in the main thread, each gateway thread
 * and each isolate host, mostly garbage kept until the next scavenge. 16 MB was V8's default
 * before that. One function at 32 connections, twice each: the main process 414-421 -> 322-349 MB,
 * at 5.4-7.8k -> 7.3-8.4k req/s.
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=16'];
