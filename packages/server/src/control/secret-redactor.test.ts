import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import { redactJson, redactOutcome, redactorOf } from './secret-redactor.ts';

const PEM = [
  '-----BEGIN PRIVATE KEY-----',
  'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7',
  'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMN',
  '-----END PRIVATE KEY-----',
].join('\n');
const PEM_BODY = /MIIEvQ|abcdefgh/;

describe('redactorOf', () => {
  it('hides each value and its base64, longest first, and leaves very short values alone', () => {
    const redact = redactorOf(['s3cr3t-value', 's3cr3t', 'ab']);
    assert.equal(redact('a s3cr3t-value b s3cr3t ab'), 'a [secret] b [secret] ab');
    assert.equal(redact(`x${Buffer.from('s3cr3t-value').toString('base64')}x`), 'x[secret]x');
    assert.equal(redactorOf([])('unchanged'), 'unchanged');
  });

  it('hides values in every string of a JSON value and in an error, not in bytes', () => {
    const redact = redactorOf(['topsecret']);
    assert.deepEqual(redactJson({ a: ['topsecret!', 1, null], topsecret: true }, redact), {
      a: ['[secret]!', 1, null],
      '[secret]': true,
    });
    const bytes = new Uint8Array([1, 2, 3]);
    assert.equal(redactJson(bytes, redact), bytes);
    const failed = redactOutcome(
      {
        status: 'failed',
        error: { type: 'Error', message: 'bad topsecret', stack: 'Error: bad topsecret\n at x' },
        metrics: { durationMs: 1 },
      },
      redact,
    );
    assert.ok(failed.status === 'failed');
    assert.equal(failed.error.message, 'bad [secret]');
    assert.equal(failed.error.stack, 'Error: bad [secret]\n at x');
  });

  it('hides each line of a multi-line value printed as separate log lines, indented or not', () => {
    const redact = redactorOf([PEM]);
    // An image function's stderr, a python print, wasm stderr: one log message per line.
    for (const line of PEM.split('\n')) assert.doesNotMatch(redact(line), PEM_BODY);
    assert.equal(redact('MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7'), '[secret]');
    // console.group's indent, a logger's prefix.
    assert.equal(
      redact(`  ${PEM.replaceAll('\n', '\n  ')}`),
      '  [secret]\n  [secret]\n  [secret]\n  [secret]',
    );
    assert.equal(
      redact('ERROR key: abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMN\r'),
      'ERROR key: [secret]\r',
    );
    // Node's inspect of an object splits a long multi-line string into one quoted piece per line.
    assert.doesNotMatch(redact(inspect({ key: PEM })), PEM_BODY);
  });

  it('leaves short lines of a multi-line value alone where they appear by themselves', () => {
    const redact = redactorOf(['{\n  "token": "abcd1234efgh5678"\n}', 'x\n-----\nshort']);
    assert.equal(redact('{'), '{');
    assert.equal(redact('}'), '}');
    assert.equal(redact('-----'), '-----');
    assert.equal(redact('short'), 'short');
    assert.equal(redact('  "token": "abcd1234efgh5678"'), '  [secret]');
  });

  it('hides the JSON-escaped and inspect-escaped forms of a value', () => {
    const tricky = `it's a "quoted" \\back\\slash\tand\nnewline`;
    for (const value of [PEM, tricky]) {
      const redact = redactorOf([value]);
      const json = JSON.stringify({ key: value });
      assert.equal(redact(json), '{"key":"[secret]"}');
      assert.doesNotMatch(redact(inspect({ key: value })), /back|quoted|MIIEvQ/);
      assert.doesNotMatch(redact(inspect(value)), /back|quoted|MIIEvQ/);
    }
    // The isolate's console quotes with ' and escapes it, whatever other quotes the value holds.
    const redact = redactorOf([tricky]);
    assert.equal(
      redact(`{ key: 'it\\'s a "quoted" \\\\back\\\\slash\\tand\\nnewline' }`),
      "{ key: '[secret]' }",
    );
    // Python's repr of a value holding both quotes: ' quotes, ' escaped.
    assert.equal(redactorOf([`a'b"c-value`])(`{'k': 'a\\'b"c-value'}`), "{'k': '[secret]'}");
  });

  it('hides the URL-encoded forms of a value (a password in a connection string)', () => {
    const password = 'p@ss/w:rd"x y+z&q=1';
    const redact = redactorOf([password]);
    assert.equal(
      redact(`postgres://app:${encodeURIComponent(password)}@db:5432/app`),
      'postgres://app:[secret]@db:5432/app',
    );
    const url = new URL('postgres://db:5432/app');
    url.username = 'app';
    url.password = password;
    assert.equal(redact(url.href), 'postgres://app:[secret]@db:5432/app');
    assert.equal(redact(new URLSearchParams({ password }).toString()), 'password=[secret]');
  });

  it('hides the whole span where hidden forms overlap', () => {
    const redact = redactorOf(['abcdefgh', 'efghijklmn']);
    assert.equal(redact('xx abcdefghijklmn yy'), 'xx [secret] yy');
    assert.equal(redact('abcdefgh abcdefgh'), '[secret] [secret]');
  });

  it('handles the largest value (64 KiB, many lines), whose forms are too many for one pattern', () => {
    const lines = Array.from({ length: 1300 }, (_, i) =>
      `line-${i}-`.padEnd(48, String.fromCharCode(97 + (i % 26))),
    );
    const value = lines.join('\n');
    const redact = redactorOf([value]);
    assert.equal(redact(`key=${value};`), 'key=[secret];');
    assert.equal(redact(`at ${lines[777]}`), 'at [secret]');
    assert.equal(redact(JSON.stringify(value)), '"[secret]"');
    assert.equal(redact('nothing here'), 'nothing here');
  });
});
