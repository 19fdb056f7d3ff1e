// Checks of the Kubernetes manifests in deploy/kubernetes, without a cluster: each object against
// the Kubernetes OpenAPI schema (kubernetes-models' validators, compiled from the API's own
// schema), then the rules of this project a schema cannot state (known settings, probes on
// /health and /ready, resources, selectors that select, references that resolve).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_FIELDS } from '@faas/core';
import { DaemonSet, Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';

/** A parsed manifest object (loosely typed: the schema check is what types it). */
// biome-ignore lint/suspicious/noExplicitAny: untyped YAML, checked against the schema below
export type Manifest = Record<string, any>;

export interface ManifestFile {
  file: string;
  objects: Manifest[];
}

interface Validating {
  validate(): void;
}

/** The kinds the manifests may hold, each with the model that validates it. */
const MODELS: Record<string, (data: Manifest) => Validating> = {
  'v1/Namespace': (d) => new Namespace(d as never),
  'v1/ConfigMap': (d) => new ConfigMap(d as never),
  'v1/Secret': (d) => new Secret(d as never),
  'v1/Service': (d) => new Service(d as never),
  'apps/v1/Deployment': (d) => new Deployment(d as never),
  'apps/v1/DaemonSet': (d) => new DaemonSet(d as never),
  'policy/v1/PodDisruptionBudget': (d) => new PodDisruptionBudget(d as never),
};

const KUSTOMIZATION = 'kustomization.yaml';
const NAMESPACE = 'faas';
const KNOWN_ENV = new Set(Object.values(CONFIG_FIELDS).map((field) => field.env));

/** Reads every YAML file of a folder, each document an object. Throws on YAML syntax errors. */
export function readManifests(dir: string): ManifestFile[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.yaml') || name.endsWith('.yml'))
    .sort()
    .map((file) => {
      const docs = parseAllDocuments(readFileSync(join(dir, file), 'utf8'));
      const objects = docs.map((doc) => {
        if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]?.message}`);
        return doc.toJS() as Manifest;
      });
      return { file, objects: objects.filter((o) => o !== null) };
    });
}

/** Every problem of the manifests, each naming its file and object; empty when they are good. */
export function checkManifests(files: readonly ManifestFile[]): string[] {
  const problems: string[] = [];
  const objects: Array<{ file: string; object: Manifest }> = [];
  for (const { file, objects: list } of files) {
    if (file === KUSTOMIZATION) continue;
    for (const object of list) objects.push({ file, object });
  }
  problems.push(...checkKustomization(files));
  for (const { file, object } of objects) {
    const where = `${file}: ${object.kind}/${object.metadata?.name}`;
    problems.push(...checkSchema(object).map((p) => `${where}: ${p}`));
    problems.push(...checkObject(object, objects).map((p) => `${where}: ${p}`));
  }
  return problems;
}

function checkSchema(object: Manifest): string[] {
  const make = MODELS[`${object.apiVersion}/${object.kind}`];
  if (!make) return [`no schema for ${object.apiVersion} ${object.kind} here: add its model`];
  try {
    make(object).validate();
    return [];
  } catch (err) {
    return [`schema: ${(err as Error).message}`];
  }
}

/** The kustomization lists every other file, and only files that exist. */
function checkKustomization(files: readonly ManifestFile[]): string[] {
  const kustomization = files.find((f) => f.file === KUSTOMIZATION)?.objects[0];
  if (!kustomization) return [`${KUSTOMIZATION} is missing`];
  const listed = new Set<string>(kustomization.resources ?? []);
  const present = new Set(files.map((f) => f.file).filter((f) => f !== KUSTOMIZATION));
  const problems: string[] = [];
  for (const file of present) if (!listed.has(file)) problems.push(`${KUSTOMIZATION} does not list ${file}`);
  for (const file of listed)
    if (!present.has(file)) problems.push(`${KUSTOMIZATION} lists ${file}, which is not there`);
  if (kustomization.namespace !== NAMESPACE) problems.push(`${KUSTOMIZATION}: namespace is not ${NAMESPACE}`);
  return problems;
}

function checkObject(object: Manifest, all: ReadonlyArray<{ object: Manifest }>): string[] {
  const problems: string[] = [];
  if (object.kind !== 'Namespace' && object.metadata?.namespace !== NAMESPACE) {
    problems.push(`not in namespace ${NAMESPACE}`);
  }
  if (object.kind === 'ConfigMap' || object.kind === 'Secret') {
    const keys = [...Object.keys(object.data ?? {}), ...Object.keys(object.stringData ?? {})];
    problems.push(...unknownSettings(keys));
  }
  if (object.kind === 'Deployment' || object.kind === 'DaemonSet') {
    problems.push(...checkWorkload(object, all));
  }
  if (object.kind === 'Service' || object.kind === 'PodDisruptionBudget') {
    const selector: Record<string, string> =
      object.kind === 'Service' ? (object.spec?.selector ?? {}) : (object.spec?.selector?.matchLabels ?? {});
    if (Object.keys(selector).length === 0) problems.push('selects nothing (empty selector)');
    else if (!all.some(({ object: o }) => isWorkload(o) && labelsMatch(podLabels(o), selector))) {
      problems.push(`its selector ${JSON.stringify(selector)} matches no pod template`);
    }
  }
  return problems;
}

function checkWorkload(workload: Manifest, all: ReadonlyArray<{ object: Manifest }>): string[] {
  const problems: string[] = [];
  const spec = workload.spec?.template?.spec ?? {};
  if (!labelsMatch(podLabels(workload), workload.spec?.selector?.matchLabels ?? {})) {
    problems.push('spec.selector does not match the pod template labels (the API refuses it)');
  }
  if (typeof spec.terminationGracePeriodSeconds !== 'number') {
    problems.push('no terminationGracePeriodSeconds: the drain after SIGTERM needs a bound');
  }
  const containers: Manifest[] = spec.containers ?? [];
  for (const container of containers) {
    const where = `container ${container.name}`;
    const env: Manifest[] = container.env ?? [];
    problems.push(...unknownSettings(env.map((e) => e.name)).map((p) => `${where}: ${p}`));
    for (const e of env) {
      const ref = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
      if (ref) problems.push(...missingReference(ref.name, ref.key, all).map((p) => `${where}: ${p}`));
    }
    for (const from of (container.envFrom ?? []) as Manifest[]) {
      const ref = from.configMapRef ?? from.secretRef;
      if (ref) problems.push(...missingReference(ref.name, undefined, all).map((p) => `${where}: ${p}`));
    }
    if (!container.resources?.requests?.cpu || !container.resources?.requests?.memory) {
      problems.push(`${where}: no resources.requests (cpu and memory)`);
    }
    if (!container.resources?.limits?.memory) problems.push(`${where}: no resources.limits.memory`);
    // Unset, the isolates may take half the machine's memory: the node's, not the pod's limit.
    const isolateMb = Number(env.find((e) => e.name === 'FAAS_ISOLATE_MEMORY_MB')?.value);
    const limitMb = memoryMb(container.resources?.limits?.memory);
    if (!(isolateMb > 0) || limitMb === undefined || isolateMb >= limitMb) {
      problems.push(`${where}: FAAS_ISOLATE_MEMORY_MB must be set, and below the memory limit`);
    }
    problems.push(...checkProbe(container, 'livenessProbe', '/health').map((p) => `${where}: ${p}`));
    problems.push(...checkProbe(container, 'readinessProbe', '/ready').map((p) => `${where}: ${p}`));
    if (!container.lifecycle?.preStop) {
      problems.push(`${where}: no lifecycle.preStop: requests still routed to it fail during the drain`);
    }
    const role = env.find((e) => e.name === 'FAAS_ROLE')?.value;
    if (role !== 'gateway' && role !== 'worker')
      problems.push(`${where}: FAAS_ROLE is not gateway or worker`);
    if (role === 'gateway' && !runsAsNonRoot(spec, container)) {
      problems.push(`${where}: a gateway needs no privileges and must run as non-root`);
    }
    if (role === 'gateway' && workload.kind === 'Deployment' && (workload.spec?.replicas ?? 1) < 2) {
      problems.push(`${where}: fewer than 2 gateways: one dying takes the API down`);
    }
    if (!env.some((e) => e.name === 'FAAS_ADVERTISE_URL' && /\$\(POD_IP\)/.test(e.value ?? ''))) {
      problems.push(`${where}: FAAS_ADVERTISE_URL is not built from the pod IP`);
    }
  }
  return problems;
}

function checkProbe(container: Manifest, probe: string, path: string): string[] {
  const get = container[probe]?.httpGet;
  if (!get) return [`no ${probe}.httpGet`];
  const problems: string[] = [];
  if (get.path !== path) problems.push(`${probe} is on ${get.path}, not ${path}`);
  const ports: Manifest[] = container.ports ?? [];
  const known = ports.some((p) => p.name === get.port || p.containerPort === get.port);
  if (!known) problems.push(`${probe} port ${get.port} is not a port of the container`);
  return problems;
}

function unknownSettings(names: readonly string[]): string[] {
  return names
    .filter((name) => name.startsWith('FAAS_') && !KNOWN_ENV.has(name))
    .map((name) => `${name} is not a setting (packages/core/src/config.ts): the server refuses to start`);
}

function missingReference(
  name: string,
  key: string | undefined,
  all: ReadonlyArray<{ object: Manifest }>,
): string[] {
  const target = all.find(
    ({ object }) =>
      (object.kind === 'Secret' || object.kind === 'ConfigMap') && object.metadata?.name === name,
  )?.object;
  if (!target) return [`refers to ${name}, which no manifest defines`];
  if (key === undefined) return [];
  const keys = new Set([...Object.keys(target.data ?? {}), ...Object.keys(target.stringData ?? {})]);
  return keys.has(key) ? [] : [`refers to key ${key} of ${name}, which has no such key`];
}

function runsAsNonRoot(pod: Manifest, container: Manifest): boolean {
  const nonRoot = container.securityContext?.runAsNonRoot ?? pod.securityContext?.runAsNonRoot;
  const user = container.securityContext?.runAsUser ?? pod.securityContext?.runAsUser;
  return nonRoot === true && user !== 0 && container.securityContext?.privileged !== true;
}

function isWorkload(object: Manifest): boolean {
  return object.kind === 'Deployment' || object.kind === 'DaemonSet';
}

function podLabels(workload: Manifest): Record<string, string> {
  return workload.spec?.template?.metadata?.labels ?? {};
}

function labelsMatch(labels: Record<string, string>, selector: Record<string, string>): boolean {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

/**
 * The environment a pod's first container starts with, as the kubelet builds it: `envFrom`
 * (ConfigMaps and Secrets, in order), then `env`, `fieldRef`s from `fieldValues`, and `$(NAME)`
 * references expanded. `secretValues` replace the Secret's values (its placeholders, or real ones).
 */
export function podEnvironment(
  workload: Manifest,
  files: readonly ManifestFile[],
  fieldValues: Record<string, string>,
  secretValues: Record<string, string> = {},
): Record<string, string> {
  const all = files.flatMap((f) => f.objects);
  const container: Manifest = workload.spec.template.spec.containers[0];
  const env: Record<string, string> = {};
  for (const from of (container.envFrom ?? []) as Manifest[]) {
    const ref = from.configMapRef ?? from.secretRef;
    const kind = from.configMapRef ? 'ConfigMap' : 'Secret';
    const source = all.find((o) => o.kind === kind && o.metadata?.name === ref?.name);
    Object.assign(env, source?.data ?? {}, source?.stringData ?? {});
    if (kind === 'Secret') {
      for (const key of Object.keys(secretValues)) if (key in env) env[key] = secretValues[key] as string;
    }
  }
  for (const e of (container.env ?? []) as Manifest[]) {
    const field = e.valueFrom?.fieldRef?.fieldPath;
    const raw: string = field !== undefined ? (fieldValues[field] ?? '') : String(e.value ?? '');
    env[e.name] = raw.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => env[name] ?? whole);
  }
  return env;
}

/** A memory quantity (`2Gi`, `512Mi`, `1G`, bytes) in MiB; undefined when it is not one. */
function memoryMb(quantity: unknown): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(String(quantity ?? ''));
  if (!m) return undefined;
  const factor: Record<string, number> = {
    '': 1 / 2 ** 20,
    Ki: 1 / 1024,
    Mi: 1,
    Gi: 1024,
    Ti: 1024 ** 2,
    k: 1e3 / 2 ** 20,
    M: 1e6 / 2 ** 20,
    G: 1e9 / 2 ** 20,
    T: 1e12 / 2 ** 20,
  };
  return Number(m[1]) * (factor[m[2] ?? ''] as number);
}
