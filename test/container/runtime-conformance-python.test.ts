import { defineContainerConformance } from './container-conformance.ts';

// The runtime conformance suite with the python fixtures (packages/testkit/src/fixtures/python):
// every case, nothing skipped.
await defineContainerConformance('python');
