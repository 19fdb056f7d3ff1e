// A user of the packed @faas/sdk, in plain JavaScript: run by package.test.ts with Node 20 and
// Node 24 from a folder where only the tarball is installed, and once bundled by esbuild.
// Prints what it saw as one JSON line; FAAS_URL and FAAS_API_KEY come from the environment.
import { FaaSClient, FaasApiError } from '@faas/sdk';

const options = {};
if (process.env.WS_MODULE) options.WebSocket = (await import(process.env.WS_MODULE)).WebSocket;
const client = new FaaSClient(options);
const seen = { node: process.versions.node };

seen.health = (await client.health()).status;
const fn = `pkg-${process.versions.node.split('.')[0]}-${process.env.RUN_NAME ?? 'plain'}`;
await client.deploy(fn, { runtime: 'js', code: 'export default (e) => ({ hi: e.name })' });
seen.invoke = (await client.invoke(fn, { name: 'Ada' })).result;
try {
  await client.getFunction('no-such-function');
} catch (err) {
  seen.error = err instanceof FaasApiError ? [err.status, err.code] : String(err);
}

if (process.env.WITH_SANDBOX === '1') {
  const run = await client.execute('echo "Hello!"; exit 3');
  seen.execute = [run.stdout, run.exit_code];
  const box = await client.sandboxes.createInstance();
  try {
    const stream = client.stream(box.id);
    stream.send({ type: 'exec', command: 'echo streamed; exit 7' });
    let out = '';
    for await (const event of stream) {
      if (event.type === 'stdout') out += event.data;
      if (event.type === 'exit') {
        seen.stream = [out, event.code];
        break;
      }
    }
    seen.closed = (await stream.closed).code > 0;
  } finally {
    await client.sandboxes.deleteInstance(box.id);
  }
}
console.log(JSON.stringify(seen));
