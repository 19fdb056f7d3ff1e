// Fields the Kubernetes API does not know, in manifests. The schema validators (kubernetes-models)
// accept unknown fields, as the API's OpenAPI schema does, but `kubectl apply` refuses them
// (strict field validation, its default) and a misspelt optional field (`livenesProbe`) would
// otherwise pass every check here and do nothing. kubernetes-models' type declarations state
// every field, so each object is compiled as a literal of its type and TypeScript's excess
// property check names each unknown field, at any depth.
import ts from 'typescript';
import type { Manifest, ManifestFile } from './kubernetes-manifests.ts';

/** The type declaration of each kind the manifests may hold. */
const TYPES: Record<string, { module: string; type: string }> = {
  'v1/Namespace': { module: 'kubernetes-models/v1/Namespace', type: 'INamespace' },
  'v1/ConfigMap': { module: 'kubernetes-models/v1/ConfigMap', type: 'IConfigMap' },
  'v1/Secret': { module: 'kubernetes-models/v1/Secret', type: 'ISecret' },
  'v1/Service': { module: 'kubernetes-models/v1/Service', type: 'IService' },
  'apps/v1/Deployment': { module: 'kubernetes-models/apps/v1/Deployment', type: 'IDeployment' },
  'apps/v1/DaemonSet': { module: 'kubernetes-models/apps/v1/DaemonSet', type: 'IDaemonSet' },
  'policy/v1/PodDisruptionBudget': {
    module: 'kubernetes-models/policy/v1/PodDisruptionBudget',
    type: 'IPodDisruptionBudget',
  },
};

/** TypeScript's "Object literal may only specify known properties" (and its "did you mean"). */
const EXCESS_PROPERTY = new Set([2353, 2561]);

/** Every unknown field of the manifests' objects, each naming its file and object. */
export function unknownFields(files: readonly ManifestFile[]): string[] {
  const entries: Array<{ where: string; object: Manifest; kind: { module: string; type: string } }> = [];
  for (const { file, objects } of files) {
    for (const object of objects) {
      const kind = TYPES[`${object.apiVersion}/${object.kind}`];
      // A kind without types is refused by checkManifests already (no schema for it).
      if (kind) entries.push({ where: `${file}: ${object.kind}/${object.metadata?.name}`, object, kind });
    }
  }
  const head = entries
    .map(({ kind }, i) => `import type { ${kind.type} as T${i} } from '${kind.module}';\n`)
    .join('');
  // Where each object's literal lies in the source, to map a diagnostic back to its object.
  const spans: Array<{ where: string; start: number; end: number }> = [];
  let body = '';
  entries.forEach(({ where, object }, i) => {
    const start = head.length + body.length;
    body += `export const o${i}: T${i} = ${JSON.stringify(object, null, 1)};\n`;
    spans.push({ where, start, end: head.length + body.length });
  });
  const source = head + body;
  // Beside the tests, so that `kubernetes-models` resolves from the repository's node_modules.
  const fileName = new URL('../deploy/manifests.generated.ts', import.meta.url).pathname;
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, language, ...rest) =>
    name === fileName ? ts.createSourceFile(name, source, language) : getSourceFile(name, language, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === fileName || fileExists(name);
  const program = ts.createProgram([fileName], options, host);
  const problems: string[] = [];
  for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
    const start = diagnostic.start ?? -1;
    const span = spans.find((o) => start >= o.start && start < o.end);
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ');
    if (diagnostic.file?.fileName !== fileName) {
      problems.push(`the field check itself failed: ${message}`);
    } else if (EXCESS_PROPERTY.has(diagnostic.code)) {
      problems.push(`${span?.where ?? 'an object'}: unknown field: ${message}`);
    } else if (diagnostic.code === 2307) {
      problems.push(`the field check cannot find the types: ${message}`);
    }
  }
  return problems;
}
