import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_r, body, done) => done(null, body));
app.post('/api/v1/functions/:name/invoke', async (req, reply) => {
  const e = JSON.parse((req.body as Buffer).toString());
  return reply
    .header('content-type', 'application/json; charset=utf-8')
    .header('x-invocation-id', 'inv_01m8r8v429xvtxw9qn2wz4yvs3')
    .header('x-function-version', '1')
    .header('x-duration-ms', '0.023')
    .send(JSON.stringify({ ok: true, n: e.n }));
});
await app.listen({ port: 18182, host: '127.0.0.1' });
console.log('up');
process.on('SIGTERM', () => process.exit(0));
