import assert from 'node:assert/strict';
import { it } from 'node:test';
import { API_KEY_ROLES, ErrorCode, isFaasError, isProjectId, ROLE_SCOPES } from '@faas/core';
import { fuzz } from '@faas/testkit';
import { decodePrincipal, encodePrincipal } from './cluster-principal.ts';

it('decodePrincipal accepts only well-formed principals and refuses the rest with 401', async () => {
  const seeds = [
    {
      identity: {
        keyId: 'key_1',
        project: 'team-a',
        role: 'developer',
        scopes: ['sandboxes:read'],
        allProjects: false,
      },
      project: 'team-a',
      projectScope: 'team-a',
    },
    {
      identity: {
        keyId: 'key_2',
        project: 'default',
        role: 'admin',
        scopes: [],
        functions: ['hello'],
        allProjects: true,
      },
      project: 'team-b',
      projectScope: null,
    },
  ].map((p) => new TextEncoder().encode(JSON.stringify(p)));
  await fuzz({
    seeds,
    // The JSON is mutated, then sent as a header is: base64url.
    run: (input) => {
      const principal = decodePrincipal(Buffer.from(input).toString('base64url'));
      assert.ok(isProjectId(principal.project));
      assert.ok(principal.projectScope === null || isProjectId(principal.projectScope));
      assert.ok(principal.identity.scopes.every((s) => typeof s === 'string'));
      assert.deepEqual(decodePrincipal(encodePrincipal(principal)), principal);
    },
    rejects: (err) => isFaasError(err) && err.code === ErrorCode.UNAUTHORIZED,
  });
});

it("decodePrincipal takes every key role, the legacy `user` included: a worker acts as the gateway's caller", () => {
  for (const role of API_KEY_ROLES) {
    const principal = {
      identity: {
        keyId: 'key_1',
        project: 'team-a',
        role,
        scopes: [...ROLE_SCOPES[role]],
        allProjects: false,
      },
      project: 'team-a',
      projectScope: 'team-a',
    };
    assert.deepEqual(decodePrincipal(encodePrincipal(principal)), principal, role);
  }
});
