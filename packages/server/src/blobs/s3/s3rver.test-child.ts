// An S3 protocol server (s3rver) on loopback, as a process of its own: tests that measure their
// own memory must not count the server's. Prints `{"port":N}` once listening; stops on SIGTERM.
// Usage: node s3rver.test-child.ts <directory> <bucket> [port]
import S3rver from 's3rver';

const [directory, bucket, port] = process.argv.slice(2);
if (!directory || !bucket) throw new Error('usage: s3rver.test-child.ts <directory> <bucket> [port]');
const server = new S3rver({
  address: '127.0.0.1',
  port: Number(port ?? 0),
  silent: true,
  directory,
  configureBuckets: [{ name: bucket, configs: [] }],
});
const address = await server.run();
process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
process.once('SIGTERM', () => {
  void server.close().then(() => process.exit(0));
});
