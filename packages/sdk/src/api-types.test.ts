import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type * as core from '@faas/core';
import { ERROR_STATUS as CORE_ERROR_STATUS, TERMINAL_STATUSES as CORE_TERMINAL } from '@faas/core';
import type * as sdk from './api-types.ts';
import { ERROR_STATUS, TERMINAL_STATUSES } from './api-types.ts';

/** `true` only when A and B are assignable both ways: tsc (npm run check) fails otherwise. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

// The published SDK's copies of the API's types still match the server's (the point of this file).
const sameTypes: Array<true> = [
  true satisfies Same<sdk.FunctionRuntime, core.FunctionRuntime>,
  true satisfies Same<sdk.RouteSpec, core.RouteSpec>,
  true satisfies Same<sdk.FunctionConfig, core.FunctionConfig>,
  true satisfies Same<sdk.FunctionVersion, core.FunctionVersion>,
  true satisfies Same<sdk.FunctionRecord, core.FunctionRecord>,
  true satisfies Same<sdk.CodeInput, core.CodeInput>,
  true satisfies Same<sdk.FunctionInput, core.FunctionInput>,
  true satisfies Same<sdk.InvocationStatus, core.InvocationStatus>,
  true satisfies Same<sdk.Invocation, core.Invocation>,
  true satisfies Same<sdk.LogLine, core.LogLine>,
  true satisfies Same<sdk.StoredLogLine, core.StoredLogLine>,
  true satisfies Same<sdk.ApiKeyRecord, core.ApiKeyRecord>,
  true satisfies Same<sdk.Scope, core.Scope>,
  true satisfies Same<sdk.ApiKeyRole, core.ApiKeyRole>,
  true satisfies Same<sdk.SecretSummary, core.SecretSummary>,
  true satisfies Same<sdk.Page<string>, core.Page<string>>,
  true satisfies Same<sdk.PageRequest, core.PageRequest>,
  true satisfies Same<sdk.InstanceView, core.InstanceView>,
  true satisfies Same<sdk.SnapshotView, core.SnapshotView>,
  true satisfies Same<sdk.Isolation, core.Isolation>,
  true satisfies Same<sdk.DependencyCache, core.DependencyCache>,
  true satisfies Same<sdk.ErrorBody, core.ErrorBody>,
  true satisfies Same<sdk.RateLimit, core.RateLimit>,
];

describe("the SDK's copy of the API's types", () => {
  it('matches core (types checked by tsc)', () => {
    assert.ok(sameTypes.every((t) => t === true));
  });

  it('has every error code with its status, and the terminal invocation statuses', () => {
    assert.deepEqual({ ...ERROR_STATUS }, { ...CORE_ERROR_STATUS });
    assert.deepEqual([...TERMINAL_STATUSES].sort(), [...CORE_TERMINAL].sort());
  });
});
