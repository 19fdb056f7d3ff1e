/**
 * The arguments after node's own flags that start a server from `main` on a free loopback port
 * with `dataDir` as its data folder; `args` come last, so `--port 8123` there wins.
 */
export function serveArgs(main: string, dataDir: string, args: readonly string[] = []): string[] {
  return [main, 'serve', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, ...args];
}
