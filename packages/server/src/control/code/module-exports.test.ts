import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { moduleExports } from './module-exports.ts';

describe('moduleExports', () => {
  it('lists what each form of export statement names, in order', () => {
    const source = [
      'export default (e) => e;',
      'export function f() {}',
      'export async function* g() {}',
      'export class C {}',
      'export const { a, b: [c, , ...d], e = 1, ...rest } = {}, h = 2;',
      'let x = 1, y = 2;',
      'export { x, y as why, x as "a name" };',
    ].join('\n');
    assert.deepEqual(moduleExports(source), [
      'default',
      'f',
      'g',
      'C',
      'a',
      'c',
      'd',
      'e',
      'rest',
      'h',
      'x',
      'why',
      'a name',
    ]);
  });

  it('finds a default named in a list, and none in code without exports', () => {
    assert.deepEqual(moduleExports('const h = () => 1;\nexport { h as default };'), ['default']);
    assert.deepEqual(moduleExports('module.exports = () => 1;'), []);
    assert.deepEqual(moduleExports('const x = await Promise.resolve(1);\nexport default x;'), ['default']);
  });

  it("cannot tell another module's names, nor code it does not parse", () => {
    assert.equal(moduleExports("export * from 'pkg';\nexport const a = 1;"), undefined);
    assert.equal(moduleExports("export * as ns from 'pkg';"), undefined);
    assert.equal(moduleExports('export default (e: number) => e;'), undefined);
    assert.equal(moduleExports('export default () => {'), undefined);
  });
});
