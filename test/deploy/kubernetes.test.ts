// The Kubernetes manifests (deploy/kubernetes) checked offline: every object against the
// Kubernetes OpenAPI schema, then this project's rules. No cluster runs here, so each rule is also
// shown to catch a broken copy of the manifests: a check that passes everything would fail there.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { loadConfig } from '@faas/core';
import { parseAllDocuments } from 'yaml';
import { unknownFields } from '../support/kubernetes-fields.ts';
import {
  checkManifests,
  type Manifest,
  type ManifestFile,
  podEnvironment,
  readManifests,
} from '../support/kubernetes-manifests.ts';

const DIR = new URL('../../deploy/kubernetes/', import.meta.url).pathname;
const files = readManifests(DIR);

function object(list: readonly ManifestFile[], kind: string, name: string): Manifest {
  for (const file of list) {
    for (const o of file.objects) if (o.kind === kind && o.metadata?.name === name) return o;
  }
  throw new Error(`no ${kind}/${name} in the manifests`);
}

const gatewayContainer = (list: readonly ManifestFile[]): Manifest =>
  object(list, 'Deployment', 'faas-gateway').spec.template.spec.containers[0];
const workerContainer = (list: readonly ManifestFile[]): Manifest =>
  object(list, 'DaemonSet', 'faas-worker').spec.template.spec.containers[0];

/** The problems of a copy of the manifests broken by `mutate`. */
function problemsAfter(mutate: (copy: ManifestFile[]) => void): string[] {
  const copy = structuredClone(files) as ManifestFile[];
  mutate(copy);
  return checkManifests(copy);
}

describe('deploy/kubernetes manifests', () => {
  it('hold the objects a cluster needs', () => {
    const kinds = files.flatMap((f) => f.objects.map((o) => `${o.kind}/${o.metadata?.name}`));
    for (const expected of [
      'Namespace/faas',
      'ConfigMap/faas-config',
      'Secret/faas-secrets',
      'Deployment/faas-gateway',
      'Service/faas-gateway',
      'PodDisruptionBudget/faas-gateway',
      'DaemonSet/faas-worker',
      'PodDisruptionBudget/faas-worker',
    ]) {
      assert.ok(kinds.includes(expected), `${expected} is missing (have ${kinds.join(', ')})`);
    }
  });

  it('pass the Kubernetes schema and the project rules', () => {
    assert.deepEqual(checkManifests(files), []);
  });

  it('run gateways and workers in their roles, with the cluster secret from the Secret', () => {
    const roleOf = (c: Manifest) => c.env.find((e: Manifest) => e.name === 'FAAS_ROLE')?.value;
    assert.equal(roleOf(gatewayContainer(files)), 'gateway');
    assert.equal(roleOf(workerContainer(files)), 'worker');
    const secret = object(files, 'Secret', 'faas-secrets');
    for (const key of [
      'FAAS_CLUSTER_SECRET',
      'FAAS_ADMIN_KEY',
      'FAAS_SECRET_KEY',
      'FAAS_DATABASE_URL',
      'FAAS_QUEUE_URL',
    ]) {
      assert.ok(key in secret.stringData, `${key} belongs in the Secret`);
    }
    const config = object(files, 'ConfigMap', 'faas-config');
    for (const key of Object.keys(config.data)) {
      assert.doesNotMatch(
        key,
        /SECRET|PASSWORD|_KEY$|DATABASE_URL|QUEUE_URL/,
        `${key} belongs in the Secret`,
      );
    }
  });

  it('name no field the Kubernetes API does not know (kubectl refuses them)', () => {
    assert.deepEqual(unknownFields(files), []);
  });

  it('catch a misspelt field at any depth', () => {
    const copy = structuredClone(files) as ManifestFile[];
    const worker = workerContainer(copy);
    worker.livenesProbe = worker.livenessProbe;
    delete worker.livenessProbe;
    object(copy, 'Deployment', 'faas-gateway').spec.template.spec.terminationGracePeriod = 60;
    const problems = unknownFields(copy);
    assert.equal(problems.length, 2, problems.join('\n'));
    assert.match(problems.join('\n'), /DaemonSet\/faas-worker: unknown field: .*"livenesProbe"/);
    assert.match(problems.join('\n'), /Deployment\/faas-gateway: unknown field: .*"terminationGracePeriod"/);
  });

  describe('give each role a configuration the server accepts', () => {
    const fields = { 'status.podIP': '10.1.2.3' };
    // What the README's `kubectl create secret` makes: values of the right shape.
    const secrets = {
      FAAS_CLUSTER_SECRET: 'Kq2Vx7Lm4Pw9Ty3Nb6Hd1Gf5Js0AZr8q2Vx7Lm4Pw9T',
      FAAS_ADMIN_KEY: 'faas_3f9c1e7a5b2d8046e1c9a7b3d5f20846',
      FAAS_SECRET_KEY: Buffer.alloc(32, 7).toString('base64'),
      FAAS_DATABASE_URL: 'postgres://faas:pw@postgres.db:5432/faas',
      FAAS_QUEUE_URL: 'redis://:pw@redis.db:6379',
    };
    for (const [kind, name, role] of [
      ['Deployment', 'faas-gateway', 'gateway'],
      ['DaemonSet', 'faas-worker', 'worker'],
    ] as const) {
      it(`${role}: loadConfig takes the pod's environment`, () => {
        const env = podEnvironment(object(files, kind, name), files, fields, secrets);
        const config = loadConfig(env);
        assert.equal(config.role, role);
        assert.equal(config.advertiseUrl, 'http://10.1.2.3:8080');
        assert.equal(config.port, 8080);
        assert.equal(config.dataDir, '/var/lib/faas');
      });

      it(`${role}: the Secret's placeholders are refused, each named`, () => {
        const env = podEnvironment(object(files, kind, name), files, fields);
        assert.throws(
          () => loadConfig(env),
          (err: Error) => {
            for (const key of ['FAAS_CLUSTER_SECRET', 'FAAS_ADMIN_KEY', 'FAAS_SECRET_KEY']) {
              assert.match(err.message, new RegExp(key), `${key} is named in: ${err.message}`);
            }
            return true;
          },
        );
      });
    }
  });

  it('build with kustomize, the image set on every container', { skip: kustomizeSkipReason() }, () => {
    const built = parseAllDocuments(
      execFileSync('kubectl', ['kustomize', DIR], { timeout: 60_000 }).toString(),
    ).map((d) => d.toJS() as Manifest);
    const names = (list: Manifest[]) => list.map((o) => `${o.kind}/${o.metadata?.name}`).sort();
    assert.deepEqual(
      names(built),
      names(files.filter((f) => f.file !== 'kustomization.yaml').flatMap((f) => f.objects)),
    );
    const images = built
      .filter((o) => o.kind === 'Deployment' || o.kind === 'DaemonSet')
      .flatMap((o) => o.spec.template.spec.containers.map((c: Manifest) => c.image));
    assert.deepEqual(images, ['registry.example.com/faas:0.1.0', 'registry.example.com/faas:0.1.0']);
  });

  describe('catch a broken copy', () => {
    const cases: Array<[string, (copy: ManifestFile[]) => void, RegExp]> = [
      [
        'a field of the wrong type (schema)',
        (c) => {
          gatewayContainer(c).ports[0].containerPort = 'eighty';
        },
        /schema: .*containerPort must be integer/,
      ],
      [
        'a missing required field (schema)',
        (c) => {
          delete workerContainer(c).name;
        },
        /schema: .*must have required property name/,
      ],
      [
        'a kind no schema here knows',
        (c) => {
          object(c, 'Service', 'faas-gateway').kind = 'Servise';
        },
        /no schema for v1 Servise/,
      ],
      [
        'an unknown FAAS_ setting in a container',
        (c) => {
          gatewayContainer(c).env.push({ name: 'FAAS_NO_SUCH_SETTING', value: '1' });
        },
        /FAAS_NO_SUCH_SETTING is not a setting/,
      ],
      [
        'an unknown FAAS_ setting in the ConfigMap',
        (c) => {
          object(c, 'ConfigMap', 'faas-config').data.FAAS_PROT = '8080';
        },
        /FAAS_PROT is not a setting/,
      ],
      [
        'liveness on another path',
        (c) => {
          workerContainer(c).livenessProbe.httpGet.path = '/healthz';
        },
        /livenessProbe is on \/healthz, not \/health/,
      ],
      [
        'readiness on the liveness path',
        (c) => {
          gatewayContainer(c).readinessProbe.httpGet.path = '/health';
        },
        /readinessProbe is on \/health, not \/ready/,
      ],
      [
        'a probe on a port the container does not have',
        (c) => {
          gatewayContainer(c).readinessProbe.httpGet.port = 'metrics';
        },
        /readinessProbe port metrics is not a port/,
      ],
      [
        'a container without resources',
        (c) => {
          delete workerContainer(c).resources;
        },
        /container worker: no resources.requests/,
      ],
      [
        'no memory limit',
        (c) => {
          delete gatewayContainer(c).resources.limits;
        },
        /no resources.limits.memory/,
      ],
      [
        'isolates allowed more memory than the pod has',
        (c) => {
          const env = workerContainer(c).env.find((e: Manifest) => e.name === 'FAAS_ISOLATE_MEMORY_MB');
          env.value = '4096';
        },
        /container worker: FAAS_ISOLATE_MEMORY_MB must be set, and below the memory limit/,
      ],
      [
        'isolates sized by the node (unset)',
        (c) => {
          const container = gatewayContainer(c);
          container.env = container.env.filter((e: Manifest) => e.name !== 'FAAS_ISOLATE_MEMORY_MB');
        },
        /container gateway: FAAS_ISOLATE_MEMORY_MB must be set/,
      ],
      [
        'no preStop',
        (c) => {
          delete gatewayContainer(c).lifecycle;
        },
        /no lifecycle.preStop/,
      ],
      [
        'no grace period',
        (c) => {
          delete object(c, 'DaemonSet', 'faas-worker').spec.template.spec.terminationGracePeriodSeconds;
        },
        /no terminationGracePeriodSeconds/,
      ],
      [
        'a gateway running as root',
        (c) => {
          object(c, 'Deployment', 'faas-gateway').spec.template.spec.securityContext.runAsUser = 0;
        },
        /must run as non-root/,
      ],
      [
        'one gateway',
        (c) => {
          object(c, 'Deployment', 'faas-gateway').spec.replicas = 1;
        },
        /fewer than 2 gateways/,
      ],
      [
        'a Service that selects no pods',
        (c) => {
          object(c, 'Service', 'faas-gateway').spec.selector['app.kubernetes.io/component'] = 'gateways';
        },
        /matches no pod template/,
      ],
      [
        'a selector that does not match its template',
        (c) => {
          object(c, 'DaemonSet', 'faas-worker').spec.template.metadata.labels['app.kubernetes.io/component'] =
            'w';
        },
        /spec.selector does not match the pod template/,
      ],
      [
        'a reference to a Secret no manifest defines',
        (c) => {
          workerContainer(c).envFrom[1].secretRef.name = 'faas-secret';
        },
        /refers to faas-secret, which no manifest defines/,
      ],
      [
        'an advertised address that is not the pod IP',
        (c) => {
          const env = workerContainer(c).env.find((e: Manifest) => e.name === 'FAAS_ADVERTISE_URL');
          env.value = 'http://localhost:8080';
        },
        /FAAS_ADVERTISE_URL is not built from the pod IP/,
      ],
      [
        'an object in another namespace',
        (c) => {
          object(c, 'Service', 'faas-gateway').metadata.namespace = 'default';
        },
        /not in namespace faas/,
      ],
      [
        'a file the kustomization does not list',
        (c) => {
          c.push({ file: 'extra.yaml', objects: [] });
        },
        /does not list extra.yaml/,
      ],
    ];
    for (const [name, mutate, expected] of cases) {
      it(name, () => {
        const problems = problemsAfter(mutate);
        assert.ok(
          problems.some((p) => expected.test(p)),
          `expected a problem matching ${expected}, got:\n${problems.join('\n')}`,
        );
      });
    }
  });
});

/** kustomize comes with kubectl; without it, that one check is skipped. */
function kustomizeSkipReason(): string | false {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore', timeout: 20_000 });
    return false;
  } catch {
    return 'kubectl is not installed here (the kustomize build check needs it; the others do not)';
  }
}
