// An isolate host's entry point and composition root: the child process where js/ts functions
// run (spawned by IsolateHosts, runtimes/isolate-hosts/). Tenant
// code never runs on a thread that serves HTTP: a function stuck in a native operation V8 cannot
// interrupt stops this process, which the server kills and replaces, never the server itself.
import { setFlagsFromString } from 'node:v8';
import { LocalBlobStore } from './blobs/local/local-blob-store.ts';
import { createIsolateRuntime } from './runtimes/isolate/isolate-runtime.ts';
import { fetchOverIpc, HostBlobs } from './runtimes/isolate-hosts/host-blobs.ts';
import type { HostCommand, HostEvent, IsolateHostOptions } from './runtimes/isolate-hosts/host-options.ts';
import { HostServer } from './runtimes/isolate-hosts/host-server.ts';

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '') as IsolateHostOptions;
  // WebAssembly is removed from every isolate (prelude/state.js); this cap on its memories is a
  // second wall. Set now, not as a flag: Node's own TypeScript loader needed WebAssembly to load
  // this file.
  setFlagsFromString('--wasm-max-mem-pages=16');
  const tell = (event: HostEvent) => process.send?.(event);
  // Blobs not on this disk yet (S3) are fetched by the server, which holds the credentials.
  const fetchMissing = options.fetchMissing
    ? fetchOverIpc(
        (event) => tell(event),
        (listener) =>
          process.on('message', (command: HostCommand) => {
            if (command.type === 'blob-fetched') listener(command);
          }),
      )
    : undefined;
  const blobs = new HostBlobs(new LocalBlobStore({ root: options.blobsRoot }), fetchMissing);
  const runtime = createIsolateRuntime({
    blobs,
    codeCacheDir: options.codeCacheDir,
    idleTimeoutMs: options.idleTimeoutMs,
    memoryBudgetMb: options.memoryBudgetMb,
    maxIsolates: options.maxIsolates,
    onCatastrophicError: (message) => {
      // V8 lost control of an isolate's memory, or a script would not stop: nothing in this
      // process can be trusted to finish. The server starts another host.
      process.send?.({ type: 'fatal', message } satisfies HostEvent, () => die());
      setTimeout(die, 1000);
    },
  });
  const server = await HostServer.listen({
    socketPath: options.socketPath,
    runtime,
    maxFrameBytes: options.maxFrameBytes,
    logger: console,
  });
  let closing = false;
  const close = async () => {
    if (closing) return;
    closing = true;
    await server.close();
    await runtime.close();
    await blobs.close();
    process.disconnect?.();
  };
  process.on('message', (command: HostCommand) => {
    if (command.type === 'close') void close();
    else if (command.type === 'ping') tell({ type: 'pong' });
  });
  // The server is gone (even killed): so is this host.
  process.on('disconnect', () => {
    if (!closing) die();
  });
  tell({ type: 'ready' });
}

/**
 * Ends this process at once. Not process.exit: a script that would not stop keeps its isolate's
 * thread, and exit's teardown waits for that thread forever, with the host's socket still open
 * (threads would connect and never hear back) and no exit for the server to see.
 */
function die(): void {
  process.kill(process.pid, 'SIGKILL');
}

main().catch((err: unknown) => {
  console.error('isolate host failed to start', err);
  process.exit(1);
});
