export * from './blob-suite.ts';
export * from './fixtures/js-fixtures.ts';
export * from './fixtures/runtime-fixtures.ts';
export * from './fuzz.ts';
export * from './memory-blob-store.ts';
export * from './queue-suite/index.ts';
export * from './runtime-suite.ts';
export * from './store-suite/index.ts';
