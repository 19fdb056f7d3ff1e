// A stand-in OpenTelemetry collector for section 1b: takes OTLP/HTTP trace exports
// (`POST /v1/traces`), reads them to the end and answers 200 `{}`, counting the spans it was sent
// so the section can tell that the traced server really exported. Its own process: the bench's
// load generator blocks the bench's event loop, and an exporter whose collector does not answer
// costs a server differently from one whose collector does.
// Prints "otlp sink listening on http://127.0.0.1:PORT"; `GET /count` answers the spans taken.
import { createServer } from 'node:http';

let spans = 0;
const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/count') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ spans }));
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as {
        resourceSpans?: { scopeSpans?: { spans?: unknown[] }[] }[];
      };
      for (const resource of body.resourceSpans ?? [])
        for (const scope of resource.scopeSpans ?? []) spans += scope.spans?.length ?? 0;
    } catch {
      // Not OTLP/JSON: answered all the same, counted as nothing.
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address && typeof address === 'object')
    console.log(`otlp sink listening on http://127.0.0.1:${address.port}`);
});
