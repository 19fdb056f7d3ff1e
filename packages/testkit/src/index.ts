export * from './fixtures/js-fixtures.ts';
export * from './fixtures/runtime-fixtures.ts';
export * from './memory-blob-store.ts';
export * from './runtime-suite.ts';
