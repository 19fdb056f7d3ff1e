import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CONFIG_FIELDS, loadConfig, redactUrl } from './config.ts';
import { isFaasError } from './errors.ts';

describe('loadConfig', () => {
  it('uses defaults, then environment, then flags', () => {
    assert.equal(loadConfig({}).port, 8080);
    assert.equal(loadConfig({ FAAS_PORT: '9000' }).port, 9000);
    assert.equal(loadConfig({ FAAS_PORT: '9000' }, { port: 7000 }).port, 7000);
    assert.equal(loadConfig({ FAAS_AUTH: 'false' }).auth, false);
    assert.equal(loadConfig({}, { auth: false }).auth, false);
  });

  it('reports every problem at once, unknown FAAS_ variables included', () => {
    try {
      loadConfig({ FAAS_PORT: 'x', FAAS_AUTH: 'maybe', FAAS_PROT: '1', OTHER: 'ignored' });
      assert.fail('expected an error');
    } catch (err) {
      assert.ok(isFaasError(err));
      assert.deepEqual(
        (err.details as string[]).map((p) => p.split(':')[0]),
        ['FAAS_PROT', 'FAAS_PORT', 'FAAS_AUTH'],
      );
    }
  });

  it('takes trusted proxies as addresses and CIDR ranges, and refuses anything else', () => {
    assert.deepEqual(loadConfig({}).trustedProxies, []);
    assert.deepEqual(
      loadConfig({ FAAS_TRUSTED_PROXIES: ' 10.0.0.0/8, 192.0.2.7,fd00::/8 ' }).trustedProxies,
      ['10.0.0.0/8', '192.0.2.7', 'fd00::/8'],
    );
    for (const bad of ['10.0.0.0/33', 'fd00::/129', 'example.com', '10.0.0.0/8/1', '10.0.0.0/x', '*']) {
      assert.throws(
        () => loadConfig({ FAAS_TRUSTED_PROXIES: bad }),
        /FAAS_TRUSTED_PROXIES: must be IP addresses/,
        bad,
      );
    }
  });

  it('leaves the test suite’s FAAS_TEST_* variables alone', () => {
    assert.equal(loadConfig({ FAAS_TEST_DATABASE_URL: 'postgres://x@y/z' }).port, 8080);
    assert.throws(() => loadConfig({ FAAS_TESTS: '1' }), /FAAS_TESTS: unknown setting/);
  });

  it('takes a strong admin key and refuses a weak one without echoing it', () => {
    const strong = 'faas_Xq3vT9pLm2Rz8KwYc4Nb7Hd1Gf6Js5A0eUo';
    assert.equal(loadConfig({ FAAS_ADMIN_KEY: strong }).adminKey, strong);
    assert.equal(loadConfig({}).adminKey, undefined);
    for (const weak of [
      'secret',
      'faas_short_0123456789',
      'a'.repeat(40),
      'abababababababababababababababababababab',
      'faas key with spaces 0123456789abcdefghij',
      `faas_${'x'.repeat(600)}`,
    ]) {
      try {
        loadConfig({ FAAS_ADMIN_KEY: weak });
        assert.fail(`accepted ${weak}`);
      } catch (err) {
        assert.ok(isFaasError(err), String(err));
        assert.match(err.message, /FAAS_ADMIN_KEY: is too weak: it must be 32 to 512 characters/);
        assert.ok(!err.message.includes(weak), 'the key is not echoed');
      }
    }
  });

  it('has operator caps and auth throttling with safe defaults', () => {
    const c = loadConfig({});
    assert.equal(c.maxFunctionMemoryMb, 1024);
    assert.equal(c.maxFunctionConcurrency, 100);
    assert.equal(c.authFailureLimit, 20);
    assert.equal(c.authFailureWindowMs, 60_000);
    assert.equal(loadConfig({ FAAS_MAX_FUNCTION_MEMORY_MB: '256' }).maxFunctionMemoryMb, 256);
    assert.throws(() => loadConfig({ FAAS_MAX_FUNCTION_CONCURRENCY: '0' }), /FAAS_MAX_FUNCTION_CONCURRENCY/);
  });

  it('limits public triggers per client address by default, and takes 0 or a rate a function could have', () => {
    const c = loadConfig({});
    assert.equal(c.publicRateLimitRps, 50);
    assert.equal(c.publicRateLimitBurst, 100);
    assert.equal(loadConfig({ FAAS_PUBLIC_RATE_LIMIT_RPS: '0' }).publicRateLimitRps, 0);
    assert.equal(loadConfig({ FAAS_PUBLIC_RATE_LIMIT_RPS: '0.5' }).publicRateLimitRps, 0.5);
    for (const bad of ['0.0000001', '-1', 'fast'])
      assert.throws(() => loadConfig({ FAAS_PUBLIC_RATE_LIMIT_RPS: bad }), /FAAS_PUBLIC_RATE_LIMIT_RPS/);
    assert.throws(() => loadConfig({ FAAS_PUBLIC_RATE_LIMIT_BURST: '0' }), /FAAS_PUBLIC_RATE_LIMIT_BURST/);
  });

  it('takes a PostgreSQL URL for the store and refuses others without echoing them', () => {
    const c = loadConfig({});
    assert.equal(c.databaseUrl, undefined, 'the embedded store by default');
    assert.equal(c.databasePoolSize, 10);
    assert.equal(c.databaseMigrate, true);
    for (const good of ['postgres://faas:pw@db.internal:5432/faas', 'postgresql://localhost/faas']) {
      assert.equal(loadConfig({ FAAS_DATABASE_URL: good }).databaseUrl, good);
    }
    assert.equal(loadConfig({ FAAS_DATABASE_MIGRATE: 'false' }).databaseMigrate, false);
    for (const [bad, reason] of [
      ['s3cret at db.internal', /is not a URL/],
      ['mysql://root:s3cret@db/faas', /must be a postgres:\/\/ or postgresql:\/\/ URL/],
      ['s3cret:5432/faas', /must be a postgres:\/\/ or postgresql:\/\/ URL/],
      ['postgres://faas:s3cret%zz@db/faas', /malformed %-escape in its password/],
    ] as const) {
      try {
        loadConfig({ FAAS_DATABASE_URL: bad });
        assert.fail(`accepted ${bad}`);
      } catch (err) {
        assert.ok(isFaasError(err), String(err));
        assert.match(err.message, /FAAS_DATABASE_URL: /);
        assert.match(err.message, reason);
        assert.ok(!err.message.includes('s3cret'), `the URL is not echoed: ${err.message}`);
      }
    }
    assert.throws(() => loadConfig({ FAAS_DATABASE_POOL_SIZE: '0' }), /FAAS_DATABASE_POOL_SIZE/);
  });

  it('takes a Redis queue URL, refuses other forms, and never echoes its password', () => {
    assert.equal(loadConfig({}).queueUrl, undefined);
    assert.equal(loadConfig({}).queuePrefix, 'faas');
    for (const good of ['redis://localhost:6379', 'rediss://u:p@cache.internal:6380/2', 'redis://10.0.0.5']) {
      assert.equal(loadConfig({ FAAS_QUEUE_URL: good }).queueUrl, good);
    }
    for (const bad of [
      'localhost:6379',
      'http://s3cret-pass@localhost:6379',
      'redis://:s3cret-pass@localhost:6379/db',
      'redis:///tmp/redis.sock',
      'not a url s3cret-pass',
    ]) {
      try {
        loadConfig({ FAAS_QUEUE_URL: bad });
        assert.fail(`accepted ${bad}`);
      } catch (err) {
        assert.ok(isFaasError(err), String(err));
        assert.match(err.message, /FAAS_QUEUE_URL: /);
        assert.ok(!err.message.includes('s3cret-pass'), `the password is echoed: ${err.message}`);
      }
    }
    // ioredis takes a password from the query too: printed URLs (/ready, errors) drop it.
    assert.equal(
      redactUrl('redis://redis.internal:6379/0?password=s3cret-pass'),
      'redis://redis.internal:6379/0?***',
    );
    assert.equal(loadConfig({ FAAS_QUEUE_PREFIX: 'team-a' }).queuePrefix, 'team-a');
    assert.throws(() => loadConfig({ FAAS_QUEUE_PREFIX: 'a{b}' }), /FAAS_QUEUE_PREFIX/);
  });

  it('refuses credentials in the package index and registry URLs, without echoing them', () => {
    for (const [env, bad] of [
      ['FAAS_PIP_INDEX_URL', 'https://user:s3cret-token@pypi.internal/simple'],
      ['FAAS_NPM_REGISTRY', 'https://registry.internal/?token=s3cret-token'],
      ['FAAS_NPM_REGISTRY', 'ftp://user:s3cret-token@registry.internal/'],
    ] as const) {
      try {
        loadConfig({ [env]: bad });
        assert.fail(`accepted ${bad}`);
      } catch (err) {
        assert.ok(isFaasError(err), String(err));
        assert.match(err.message, new RegExp(`${env}: `));
        assert.ok(!err.message.includes('s3cret-token'), `the secret is echoed: ${err.message}`);
      }
    }
    assert.equal(
      loadConfig({ FAAS_PIP_INDEX_URL: 'https://pypi.internal/simple' }).pipIndexUrl,
      'https://pypi.internal/simple',
    );
  });

  it("ignores the test suites' FAAS_TEST_* variables, which servers started by tests inherit", () => {
    assert.equal(loadConfig({ FAAS_TEST_REDIS_URL: 'redis://127.0.0.1:6379' }).queueUrl, undefined);
    assert.throws(() => loadConfig({ FAAS_TESTS: '1' }), /FAAS_TESTS: unknown setting/);
  });

  it("takes OpenTelemetry's sampler variables, and refuses samplers it does not implement", () => {
    const defaults = loadConfig({});
    assert.equal(defaults.otelTracesSampler, 'parentbased_always_on');
    assert.equal(defaults.otelTracesSamplerArg, 1);
    const ratio = loadConfig({
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
    });
    assert.equal(ratio.otelTracesSampler, 'parentbased_traceidratio');
    assert.equal(ratio.otelTracesSamplerArg, 0.25);
    assert.throws(
      () => loadConfig({ OTEL_TRACES_SAMPLER: 'jaeger_remote' }),
      /OTEL_TRACES_SAMPLER: must be one of/,
    );
    for (const arg of ['1.5', '-0.1', 'half']) {
      assert.throws(() => loadConfig({ OTEL_TRACES_SAMPLER_ARG: arg }), /OTEL_TRACES_SAMPLER_ARG/, arg);
    }
  });

  it('takes a 32-byte secret key as hex or base64, and refuses anything else with a clear message', () => {
    const hex = 'ab'.repeat(32);
    const base64 = Buffer.alloc(32, 7).toString('base64');
    assert.equal(loadConfig({ FAAS_SECRET_KEY: hex }).secretKey, hex);
    assert.equal(loadConfig({ FAAS_SECRET_KEY: base64 }).secretKey, base64);
    assert.equal(loadConfig({ FAAS_SECRET_KEY_PREVIOUS: base64 }).secretKeyPrevious, base64);
    for (const bad of ['ab'.repeat(31), Buffer.alloc(16).toString('base64'), 'not a key!', 'x'.repeat(64)]) {
      assert.throws(() => loadConfig({ FAAS_SECRET_KEY: bad }), /FAAS_SECRET_KEY: must be a 32-byte key/);
    }
  });

  it('runs every role in one process by default, and takes gateway or worker with the shared backends and a cluster secret', () => {
    const base = loadConfig({});
    assert.equal(base.role, 'all');
    assert.equal(base.workerTimeoutMs, 5000);
    assert.equal(base.advertiseUrl, undefined);
    const cluster = {
      FAAS_DATABASE_URL: 'postgres://u:p@db:5432/faas',
      FAAS_QUEUE_URL: 'redis://redis:6379',
      FAAS_OBJECT_STORE_URL: 's3://bucket/faas',
      FAAS_CLUSTER_SECRET: 'faas_Xq3vT9pLm2Rz8KwYc4Nb7Hd1Gf6Js5A0eUo',
    };
    const worker = loadConfig(
      { ...cluster, FAAS_ADVERTISE_URL: 'http://10.0.0.7:8080/' },
      { role: 'worker' },
    );
    assert.equal(worker.role, 'worker');
    assert.equal(worker.advertiseUrl, 'http://10.0.0.7:8080');
    assert.equal(worker.clusterSecret, cluster.FAAS_CLUSTER_SECRET);
    assert.equal(loadConfig({ ...cluster, FAAS_ROLE: 'gateway' }).role, 'gateway');
    assert.throws(
      () => loadConfig({ FAAS_ROLE: 'scheduler' }),
      /FAAS_ROLE: must be one of all, gateway, worker/,
    );
  });

  it('refuses a gateway or worker without the backends and cluster secret, naming each one missing', () => {
    try {
      loadConfig({ FAAS_ROLE: 'worker', FAAS_QUEUE_URL: 'redis://redis:6379' });
      assert.fail('expected an error');
    } catch (err) {
      assert.ok(isFaasError(err));
      assert.match(
        err.message,
        /FAAS_ROLE=worker: .*set FAAS_DATABASE_URL, FAAS_OBJECT_STORE_URL, FAAS_CLUSTER_SECRET$/,
      );
    }
  });

  it('refuses a weak cluster secret or an advertised URL with credentials, without echoing them', () => {
    assert.throws(
      () => loadConfig({ FAAS_CLUSTER_SECRET: 'short-secret' }),
      (err: unknown) => {
        assert.ok(isFaasError(err));
        assert.match(err.message, /FAAS_CLUSTER_SECRET: is too weak/);
        assert.ok(!err.message.includes('short-secret'));
        return true;
      },
    );
    assert.throws(
      () => loadConfig({ FAAS_ADVERTISE_URL: 'http://user:hunter2@10.0.0.7:8080' }),
      (err: unknown) => {
        assert.ok(isFaasError(err));
        assert.match(err.message, /FAAS_ADVERTISE_URL: must be a plain http\(s\):\/\/host:port URL/);
        assert.ok(!err.message.includes('hunter2'));
        return true;
      },
    );
    assert.throws(
      () => loadConfig({ FAAS_ADVERTISE_URL: 'ftp://10.0.0.7' }),
      /FAAS_ADVERTISE_URL: must be an http\(s\) URL/,
    );
    assert.throws(
      () => loadConfig({ FAAS_WORKER_TIMEOUT_MS: '10' }),
      /FAAS_WORKER_TIMEOUT_MS: must be an integer from 1000/,
    );
  });

  it('returns a frozen object', () => {
    assert.ok(Object.isFrozen(loadConfig({})));
  });

  it('has every setting documented in docs/configuration.md', () => {
    const doc = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
    const missing = Object.values(CONFIG_FIELDS)
      .map((f) => f.env)
      .filter((env) => !doc.includes(`\`${env}\``));
    assert.deepEqual(missing, []);
  });
});
