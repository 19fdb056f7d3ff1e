// The WebAssembly JS API as this runtime uses it. TypeScript declares it only in its DOM and
// webworker libs, which this project does not load (lib: es2024, types: node); these are the
// declarations of lib.dom.d.ts for the members used here.
export {};

declare global {
  namespace WebAssembly {
    type ImportExportKind = 'function' | 'global' | 'memory' | 'table';
    interface ModuleImportDescriptor {
      kind: ImportExportKind;
      module: string;
      name: string;
    }
    interface ModuleExportDescriptor {
      kind: ImportExportKind;
      name: string;
    }
    class Module {
      constructor(bytes: Uint8Array);
      static imports(module: Module): ModuleImportDescriptor[];
      static exports(module: Module): ModuleExportDescriptor[];
    }
    class Memory {
      readonly buffer: ArrayBuffer;
      grow(delta: number): number;
    }
    type ExportValue = unknown;
    type Exports = Record<string, ExportValue>;
    type Imports = Record<string, Record<string, unknown>>;
    class Instance {
      constructor(module: Module, imports?: Imports);
      readonly exports: Exports;
    }
    class CompileError extends Error {}
    class LinkError extends Error {}
    class RuntimeError extends Error {}
    function compile(bytes: Uint8Array): Promise<Module>;
    function validate(bytes: Uint8Array): boolean;
  }
}
