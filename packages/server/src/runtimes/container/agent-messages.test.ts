import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AgentProtocolError, LineSplitter, maxMessageBytes, parseAgentMessage } from './agent-messages.ts';

const limits = { resultBytes: 1024, logMessageBytes: 100 };
const parse = (text: string) => parseAgentMessage(Buffer.from(text), limits);
const refused = (text: string, reason: RegExp) =>
  assert.throws(
    () => parse(text),
    (err: unknown) => err instanceof AgentProtocolError && reason.test(err.message),
    text.slice(0, 80),
  );

describe('agent messages', () => {
  it('parses each message of the protocol', () => {
    assert.deepEqual(parse('{"t":"hello","runtime":"node","pid":7,"version":"v24.1.0"}'), {
      t: 'hello',
      runtime: 'node',
      pid: 7,
      version: 'v24.1.0',
    });
    assert.deepEqual(parse('{"t":"loaded"}'), { t: 'loaded' });
    assert.deepEqual(
      parse('{"t":"load_failed","error":{"type":"SyntaxError","message":"x","file":"index.js","line":3}}'),
      { t: 'load_failed', error: { type: 'SyntaxError', message: 'x', file: 'index.js', line: 3 } },
    );
    assert.deepEqual(parse('{"t":"log","id":"inv_1","level":"warn","message":"careful"}'), {
      t: 'log',
      id: 'inv_1',
      level: 'warn',
      message: 'careful',
    });
    assert.deepEqual(parse('{"t":"result","id":"inv_1","ok":true,"value":{"a":[1,null]}}'), {
      t: 'result',
      id: 'inv_1',
      ok: true,
      value: { a: [1, null] },
    });
    assert.deepEqual(parse('{"t":"result","id":"inv_1","ok":true,"value":"AAE=","valueEncoding":"base64"}'), {
      t: 'result',
      id: 'inv_1',
      ok: true,
      value: 'AAE=',
      valueEncoding: 'base64',
    });
    assert.deepEqual(parse('{"t":"fatal","id":null,"error":{"type":"ProcessExited","message":"gone"}}'), {
      t: 'fatal',
      id: null,
      error: { type: 'ProcessExited', message: 'gone' },
    });
  });

  it('refuses the log line whose number message crashed the server (regression)', () => {
    refused('{"t":"log","id":null,"level":"info","message":12345}', /log\.message is not a string/);
  });

  it('refuses garbage, wrong shapes and wrong sizes with a reason', () => {
    refused('not json', /not JSON/);
    refused('[1,2]', /not a JSON object/);
    refused('null', /not a JSON object/);
    refused('{"t":"nope"}', /unknown type/);
    refused('{"t":"loaded","extra":1}', /unknown field/);
    refused('{"t":"log","id":5,"level":"info","message":"x"}', /log\.id is not a string/);
    refused('{"t":"log","id":null,"level":"loud","message":"x"}', /not a log level/);
    refused(`{"t":"log","id":null,"level":"info","message":"${'x'.repeat(101)}"}`, /longer than 100 bytes/);
    refused('{"t":"result","id":"a","ok":"yes","value":1}', /result\.ok/);
    refused('{"t":"result","id":"a","ok":true}', /value is missing/);
    refused('{"t":"result","id":"a","ok":false,"error":{"type":"","message":"m"}}', /type is empty/);
    refused('{"t":"result","id":"a","ok":false,"error":{"type":"E"}}', /message is not a string/);
    refused('{"t":"result","id":"a","ok":true,"value":"!!!!","valueEncoding":"base64"}', /not base64/);
    refused('{"t":"result","id":"a","ok":true,"value":1,"valueEncoding":"hex"}', /not base64/);
    refused('{"t":"hello","runtime":"node","pid":-1}', /non-negative integer/);
    refused('{"t":"load_failed","error":{"type":"E","message":"m","line":1.5}}', /non-negative integer/);
    refused(
      `{"t":"result","id":"a","ok":true,"value":"${'A'.repeat(1368)}","valueEncoding":"base64"}`,
      /result limit/,
    );
    assert.throws(() => parseAgentMessage(Buffer.from([0x7b, 0xff, 0x7d]), limits), /not UTF-8/);
  });

  it('refuses a JSON result larger than the limit plus its envelope', () => {
    const big = `{"t":"result","id":"a","ok":true,"value":"${'x'.repeat(maxMessageBytes(limits) - 100)}"}`;
    refused(big, /result limit/);
  });

  it('refuses a result nested deeper than the host can write out again', () => {
    const deep = (n: number) => `{"t":"result","id":"a","ok":true,"value":${'['.repeat(n)}${']'.repeat(n)}}`;
    assert.equal(Array.isArray((parse(deep(1000)) as { value: unknown }).value), true);
    refused(deep(1001), /deeper than 1000/);
    assert.throws(
      () => parseAgentMessage(Buffer.from(deep(100_000)), { ...limits, resultBytes: 1e6 }),
      AgentProtocolError,
    );
  });

  it('does not let __proto__ keys through as fields', () => {
    refused('{"t":"loaded","__proto__":{"polluted":true}}', /unknown field/);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

describe('LineSplitter', () => {
  it('joins lines split over chunks and splits chunks with several lines', () => {
    const splitter = new LineSplitter(64);
    assert.deepEqual(splitter.push(Buffer.from('ab')), []);
    assert.deepEqual(splitter.push(Buffer.from('c\nde')).map(String), ['abc']);
    assert.deepEqual(splitter.push(Buffer.from('f\n\ng\n')).map(String), ['def', '', 'g']);
    assert.equal(splitter.pending, 0);
  });

  it('cuts off a sender that never writes a newline as soon as it passes the limit', () => {
    const splitter = new LineSplitter(10);
    splitter.push(Buffer.from('12345'));
    assert.throws(() => splitter.push(Buffer.from('678901')), AgentProtocolError);
    assert.equal(splitter.pending, 0, 'nothing of the long line is held');
  });

  it('refuses a terminated line longer than the limit', () => {
    assert.throws(() => new LineSplitter(3).push(Buffer.from('abcd\n')), AgentProtocolError);
    assert.deepEqual(new LineSplitter(3).push(Buffer.from('abc\n')).map(String), ['abc']);
  });
});
