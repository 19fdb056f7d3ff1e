import { describe } from 'node:test';
import {
  defineStoreSuite,
  dropTestSchema,
  postgresSkipReason,
  postgresTestUrl,
  uniquePostgresName,
} from '@faas/testkit';
import { openPostgresStore } from './postgres-store.ts';

const url = postgresTestUrl();

if (url === undefined) {
  describe('MetadataStore conformance: PostgresStore', { skip: postgresSkipReason() }, () => {});
} else {
  // A schema per case: every case starts on an empty, freshly migrated store.
  defineStoreSuite('PostgresStore', async () => {
    const schema = uniquePostgresName('store');
    const store = await openPostgresStore({ url, schema, poolSize: 4 });
    return {
      store,
      openPeer: () => openPostgresStore({ url, schema, poolSize: 4 }),
      cleanup: async () => {
        await store.close();
        await dropTestSchema(url, schema);
      },
    };
  });
}
