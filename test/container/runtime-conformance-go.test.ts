import { GO_SKIPPED_CASES } from '../../packages/testkit/src/fixtures/container-fixtures.ts';
import { defineContainerConformance } from './container-conformance.ts';

// The runtime conformance suite with the go fixtures (packages/testkit/src/fixtures/go). Each
// runtime compiles them first, as deploys do: the cases time the functions, not `go build`.
await defineContainerConformance('go', { skip: GO_SKIPPED_CASES, prepareFixtures: true });
