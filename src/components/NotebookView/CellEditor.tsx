// An editable code cell: CodeMirror 6 with TypeScript highlighting, loaded in the browser only (the
// server-rendered page shows the code as a plain block until the editor is there).
import { useEffect, useId, useRef, useState } from 'react';
import styles from './styles.module.css';

interface Props {
  value: string;
  label: string;
  onChange(source: string): void;
  /** Shift+Enter, as in JupyterLab. */
  onRun(): void;
}

export function CellEditor({ value, label, onChange, onRun }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<import('@codemirror/view').EditorView | null>(null);
  const handlers = useRef({ onChange, onRun });
  handlers.current = { onChange, onRun };
  const [ready, setReady] = useState(false);
  const hint = useId();

  useEffect(() => {
    let cancelled = false;
    (async () => {
      const [
        { EditorView, keymap, lineNumbers, highlightActiveLine, drawSelection },
        { EditorState },
        { defaultKeymap, history, historyKeymap, indentWithTab },
        { javascript },
        { syntaxHighlighting, HighlightStyle, bracketMatching, indentOnInput },
        { tags },
      ] = await Promise.all([
        import('@codemirror/view'),
        import('@codemirror/state'),
        import('@codemirror/commands'),
        import('@codemirror/lang-javascript'),
        import('@codemirror/language'),
        import('@lezer/highlight'),
      ]);
      if (cancelled || !host.current) return;
      // Colours from the site's theme variables (styles.module.css), so both themes read well.
      const highlight = HighlightStyle.define([
        {
          tag: [tags.keyword, tags.controlKeyword, tags.moduleKeyword, tags.operatorKeyword],
          color: 'var(--lab-code-keyword)',
        },
        { tag: [tags.string, tags.special(tags.string), tags.regexp], color: 'var(--lab-code-string)' },
        { tag: [tags.number, tags.bool, tags.null], color: 'var(--lab-code-number)' },
        {
          tag: [tags.comment, tags.lineComment, tags.blockComment],
          color: 'var(--lab-code-comment)',
          fontStyle: 'italic',
        },
        {
          tag: [tags.function(tags.variableName), tags.function(tags.propertyName)],
          color: 'var(--lab-code-function)',
        },
        { tag: [tags.typeName, tags.className], color: 'var(--lab-code-type)' },
        { tag: tags.propertyName, color: 'var(--lab-code-property)' },
      ]);
      view.current = new EditorView({
        parent: host.current,
        state: EditorState.create({
          doc: value,
          extensions: [
            lineNumbers(),
            history(),
            drawSelection(),
            highlightActiveLine(),
            bracketMatching(),
            indentOnInput(),
            javascript({ typescript: true }),
            syntaxHighlighting(highlight),
            keymap.of([
              { key: 'Shift-Enter', run: () => (handlers.current.onRun(), true) },
              indentWithTab,
              ...defaultKeymap,
              ...historyKeymap,
            ]),
            EditorView.updateListener.of((u) => {
              if (u.docChanged) handlers.current.onChange(u.state.doc.toString());
            }),
            EditorView.contentAttributes.of({ 'aria-label': label, 'aria-describedby': hint }),
            EditorView.theme({
              '&': {
                backgroundColor: 'var(--prism-background-color, var(--ifm-code-background))',
                fontSize: 'var(--ifm-code-font-size)',
              },
              '.cm-content': {
                fontFamily: 'var(--ifm-font-family-monospace)',
                caretColor: 'var(--ifm-font-color-base)',
              },
              '.cm-gutters': { backgroundColor: 'transparent', border: 'none', color: 'var(--ifm-color-emphasis-700)' },
              '.cm-activeLine': { backgroundColor: 'var(--lab-code-active-line)' },
              '&.cm-focused': { outline: '2px solid var(--ifm-color-primary)' },
            }),
          ],
        }),
      });
      setReady(true);
    })();
    return () => {
      cancelled = true;
      view.current?.destroy();
      view.current = null;
    };
    // The editor is created once; later value changes come in through the effect below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  // A reset (or an edit restored from storage) replaces the document.
  useEffect(() => {
    const v = view.current;
    if (v && v.state.doc.toString() !== value)
      v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: value } });
  }, [value, ready]);

  return (
    <div className={styles.editor} data-editor={ready ? 'ready' : 'loading'}>
      <div ref={host} />
      {!ready && <pre className={styles.editorFallback}>{value}</pre>}
      {/* CodeMirror's own convention: Tab indents, and Esc then Tab (within 2 s) moves the focus on. */}
      <div id={hint} className={styles.editorHint}>
        Tab indents · <kbd>Esc</kbd> then <kbd>Tab</kbd> leaves the cell · <kbd>Shift</kbd>+<kbd>Enter</kbd> runs it
      </div>
    </div>
  );
}
