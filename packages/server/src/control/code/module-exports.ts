import { type Identifier, type Literal, type Pattern, parse } from 'acorn';

/**
 * The names a JavaScript ES module exports, read from its own statements; undefined when they
 * cannot be known from it alone: a syntax acorn does not take, or `export * from`, whose names
 * are another module's. What esbuild's ES module build lists for a bundle of one file, without
 * that second build (half a small deploy's build time).
 */
export function moduleExports(source: string): string[] | undefined {
  let program: ReturnType<typeof parse>;
  try {
    program = parse(source, { ecmaVersion: 'latest', sourceType: 'module' });
  } catch {
    return undefined;
  }
  const names: string[] = [];
  for (const statement of program.body) {
    if (statement.type === 'ExportAllDeclaration') return undefined;
    if (statement.type === 'ExportDefaultDeclaration') names.push('default');
    if (statement.type !== 'ExportNamedDeclaration') continue;
    const declaration = statement.declaration;
    if (declaration?.type === 'VariableDeclaration') {
      for (const { id } of declaration.declarations) names.push(...boundNames(id));
    } else if (declaration) {
      names.push(declaration.id.name);
    }
    for (const specifier of statement.specifiers) names.push(nameOf(specifier.exported));
  }
  return names;
}

/** The names a binding pattern declares: `a`, `{ a, b: [c, ...d] }`, `[e = 1]`. */
function boundNames(p: Pattern): string[] {
  switch (p.type) {
    case 'Identifier':
      return [p.name];
    case 'ObjectPattern':
      return p.properties.flatMap((property) =>
        boundNames(property.type === 'RestElement' ? property : property.value),
      );
    case 'ArrayPattern':
      return p.elements.flatMap((element) => (element ? boundNames(element) : []));
    case 'RestElement':
      return boundNames(p.argument);
    case 'AssignmentPattern':
      return boundNames(p.left);
    case 'MemberExpression':
      return [];
  }
}

/** `export { a as b }` names b; `export { a as "b c" }` names the string. */
function nameOf(exported: Identifier | Literal): string {
  return exported.type === 'Identifier' ? exported.name : String(exported.value);
}
