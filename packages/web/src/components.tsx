import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { CodeEditor, LineProblem } from './code-editor.ts';

export { ms } from './format.ts';

/** Data from the API, with its loading and error states; `reload` asks again. */
export function useApi<T>(
  load: () => Promise<T>,
  deps: unknown[],
): { data?: T; error?: Error; reload: () => void } {
  const [state, setState] = useState<{ data?: T; error?: Error }>({});
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (data) => live && setState({ data }),
      (error: Error) => live && setState({ error }),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return { ...state, reload: () => setTick((n) => n + 1) };
}

export function Loading({ error, children }: { error?: Error; children?: ComponentChildren }) {
  if (error) {
    return (
      <p role="alert" class="error">
        {error.message}
      </p>
    );
  }
  return <>{children ?? <p class="loading">Loading…</p>}</>;
}

export function time(iso?: string): string {
  return iso ? new Date(iso).toLocaleString() : '';
}

/** CodeMirror, loaded when first shown; `editorRef` gets it once it is there. */
export function Editor(props: {
  initial: string;
  language: string;
  label: string;
  problems?: LineProblem[];
  editorRef: { current: CodeEditor | undefined };
}) {
  const host = useRef<HTMLDivElement>(null);
  const [editor, setEditor] = useState<CodeEditor>();
  useEffect(() => {
    let made: CodeEditor | undefined;
    let live = true;
    void import('./code-editor.ts').then(({ createEditor }) => {
      if (!live || !host.current) return;
      made = createEditor(
        host.current,
        props.editorRef.current?.value() ?? props.initial,
        props.language,
        props.label,
      );
      props.editorRef.current = made;
      setEditor(made);
    });
    return () => {
      live = false;
      made?.destroy();
    };
  }, [props.language]);
  useEffect(() => {
    editor?.showProblems(props.problems ?? []);
  }, [editor, props.problems]);
  return <div class="editor" ref={host} data-ready={editor ? 'true' : 'false'} />;
}
