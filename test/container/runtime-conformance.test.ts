import { defineContainerConformance } from './container-conformance.ts';

// The runtime conformance suite with the node fixtures, under runc and gVisor.
await defineContainerConformance('node', { gvisor: true });
