import assert from 'node:assert/strict';
import { it } from 'node:test';
import { fuzz } from '@faas/testkit';
import { AgentProtocolError, LineSplitter, maxMessageBytes, parseAgentMessage } from './agent-messages.ts';

const limits = { resultBytes: 4096, logMessageBytes: 512 };

const SEEDS = [
  '{"t":"hello","runtime":"node","pid":7,"version":"v24.1.0"}\n',
  '{"t":"loaded"}\n{"t":"load_failed","error":{"type":"SyntaxError","message":"x","file":"index.js","line":3,"column":1}}\n',
  '{"t":"log","id":"inv_1","level":"info","message":"hello"}\n{"t":"log","id":null,"level":"info","message":12345}\n',
  '{"t":"result","id":"inv_1","ok":true,"value":{"a":[1,2,{"b":null}],"c":"\\u00e9"}}\n',
  '{"t":"result","id":"inv_1","ok":true,"value":"AAECAw==","valueEncoding":"base64"}\n',
  '{"t":"result","id":"inv_1","ok":false,"error":{"type":"TypeError","message":"bad","stack":"at x"}}\n',
  '{"t":"fatal","id":null,"error":{"type":"ProcessExited","message":"exit 1"}}\n',
].map((s) => Buffer.from(s));

it('the agent message parser accepts or refuses any bytes, in bounded time and memory', async () => {
  const report = await fuzz({
    seeds: SEEDS,
    maxBytes: 64 * 1024,
    rejects: (err) => err instanceof AgentProtocolError,
    run: (input) => {
      // Chunk boundaries are part of the input: split it where its bytes say.
      const splitter = new LineSplitter(maxMessageBytes(limits));
      const step = 1 + ((input[0] ?? 0) % 97);
      for (let at = 0; at < input.length; at += step) {
        for (const line of splitter.push(Buffer.from(input.subarray(at, at + step)))) {
          const message = parseAgentMessage(line, limits);
          // What the parser accepts is a message again when written out.
          assert.deepEqual(parseAgentMessage(Buffer.from(JSON.stringify(message)), limits), message);
        }
        assert.ok(splitter.pending <= maxMessageBytes(limits));
      }
    },
  });
  assert.ok(report.runs > 0);
});
