import clsx from 'clsx';
import type { OutputView } from '../../lib/notebook';
import styles from './styles.module.css';

export function Output({ o }: { o: OutputView }) {
  switch (o.kind) {
    case 'error':
      return (
        <div data-kind="error">
          <pre className={clsx(styles.outputText, styles.outputError)} dangerouslySetInnerHTML={{ __html: o.html }} />
          {o.more && (
            <details data-testid="error-stack">
              <summary>the full stack</summary>
              <pre className={styles.outputText} dangerouslySetInnerHTML={{ __html: o.more }} />
            </details>
          )}
        </div>
      );
    case 'stream':
    case 'text':
      return (
        <pre
          data-kind={o.kind}
          className={clsx(styles.outputText, o.kind === 'stream' && o.name === 'stderr' && styles.stderr)}
          dangerouslySetInnerHTML={{ __html: o.html }}
        />
      );
    case 'html':
      return <div data-kind="html" className={styles.outputHtml} dangerouslySetInnerHTML={{ __html: o.html }} />;
    case 'png':
      return (
        <img
          data-kind="png"
          className={styles.outputImage}
          src={`data:image/png;base64,${o.base64}`}
          alt="cell output"
        />
      );
    case 'svg':
      return <div data-kind="svg" className={styles.outputHtml} dangerouslySetInnerHTML={{ __html: o.svg }} />;
  }
}

/** A cell's outputs; `collapsed` folds them behind a summary (compiler errors a hint explains). */
export function Outputs({
  outputs,
  live,
  collapsed = false,
}: {
  outputs: OutputView[];
  live: boolean;
  collapsed?: boolean;
}) {
  if (outputs.length === 0) return null;
  const list = outputs.map((o, i) => <Output key={i} o={o} />);
  return (
    <div
      className={clsx(styles.outputs, live && styles.live)}
      data-output={live ? 'live' : 'recorded'}
      aria-live={live ? 'polite' : undefined}
    >
      <div className={styles.outputLabel}>{live ? 'live output' : 'recorded output'}</div>
      {collapsed ? (
        <details>
          <summary>what the notebook kernel said</summary>
          {list}
        </details>
      ) : (
        list
      )}
    </div>
  );
}
