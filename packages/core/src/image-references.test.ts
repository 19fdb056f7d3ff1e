import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { imageReferenceProblem } from './image-references.ts';

describe('imageReferenceProblem', () => {
  it('takes the references the Engine takes', () => {
    for (const image of [
      'alpine',
      'faas/base',
      'faas-test/node-echo:1',
      'localhost:5000/team/app:v1.2_3',
      'registry.example.com/a__b/c-d.e:latest',
      `alpine@sha256:${'a'.repeat(64)}`,
      `sha256:${'0'.repeat(64)}`,
    ]) {
      assert.equal(imageReferenceProblem(image), undefined, image);
    }
  });

  it('refuses what would change or break the Engine call', () => {
    for (const image of [
      'my image',
      'alpine\n',
      'alpine/json?',
      'alpine/../x',
      'Alpine',
      'a:b:c',
      'alpine:',
      '/alpine',
      'alpine/',
      'é',
      `a:${'t'.repeat(129)}`,
      'a'.repeat(513),
    ]) {
      assert.notEqual(imageReferenceProblem(image), undefined, JSON.stringify(image));
    }
  });
});
