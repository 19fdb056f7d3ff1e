import { javascript } from '@codemirror/lang-javascript';
import { json } from '@codemirror/lang-json';
import { python } from '@codemirror/lang-python';
import { type Diagnostic, lintGutter, setDiagnostics } from '@codemirror/lint';
import { basicSetup, EditorView } from 'codemirror';

/** A line-and-column problem, as the deploy's compile errors give them (1-based). */
export interface LineProblem {
  line: number;
  column?: number;
  message: string;
}

export interface CodeEditor {
  value(): string;
  setValue(text: string): void;
  showProblems(problems: LineProblem[]): void;
  destroy(): void;
}

function language(name: string) {
  if (name === 'python') return python();
  if (name === 'json') return json();
  return javascript({ typescript: name === 'ts' });
}

/** CodeMirror 6 in `parent` (loaded on demand: the first page does not carry it). */
export function createEditor(parent: HTMLElement, text: string, lang: string, label: string): CodeEditor {
  const view = new EditorView({
    doc: text,
    parent,
    extensions: [
      basicSetup,
      language(lang),
      lintGutter(),
      EditorView.contentAttributes.of({ 'aria-label': label }),
    ],
  });
  return {
    value: () => view.state.doc.toString(),
    setValue: (next) => view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: next } }),
    showProblems(problems) {
      const doc = view.state.doc;
      const diagnostics: Diagnostic[] = problems.map((problem) => {
        const line = doc.line(Math.min(Math.max(problem.line, 1), doc.lines));
        const from = Math.min(line.from + Math.max((problem.column ?? 1) - 1, 0), line.to);
        return { from, to: Math.max(from, line.to), severity: 'error', message: problem.message };
      });
      view.dispatch(setDiagnostics(view.state, diagnostics));
    },
    destroy: () => view.destroy(),
  };
}
