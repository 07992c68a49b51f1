import { useCallback, useMemo, useState, type KeyboardEvent } from 'react';
import clsx from 'clsx';
import Link from '@docusaurus/Link';
import { useCrashRecording } from '../useCrashRecording';
import { explorerModel, type StackRow } from './model';
import styles from './styles.module.css';

function Row({ row, focused }: { row: StackRow; focused: boolean }) {
  return (
    <li
      className={clsx(
        styles.row,
        styles[row.kind],
        focused && styles.focused,
        row.slot?.hijacked && styles.hijackedRow,
      )}
      data-row={row.id}
      aria-current={focused ? 'step' : undefined}
    >
      <div className={styles.label}>
        {focused && (
          <span className={styles.cursor} aria-hidden="true">
            ▶{' '}
          </span>
        )}
        {row.label}
      </div>
      {(row.sp || row.fp) && (
        <div className={styles.bounds}>
          sp=<code>{row.sp}</code> fp=<code>{row.fp}</code>
        </div>
      )}
      {row.slot && (
        <div className={clsx(styles.slot, row.slot.hijacked && styles.hijacked)}>
          return slot <code>{row.slot.address}</code> = <code data-slot-value>{row.slot.value}</code>
        </div>
      )}
    </li>
  );
}

/** Old and new stack side by side, to scale: copystack moves the used part to the top of the new one. */
function CopyView({ copy }: { copy: NonNullable<ReturnType<typeof explorerModel>>['steps'][number]['copy'] }) {
  if (!copy) return null;
  const kib = (n: number) => `${(n / 1024).toFixed(n % 1024 ? 1 : 0)} KiB`;
  const bar = (size: number, label: string) => (
    <div className={styles.copyItem}>
      <div
        className={styles.copyStack}
        style={{ height: `${(size / copy.newSize) * 8}rem` }}
        role="img"
        aria-label={`${label}: ${kib(size)}`}
      >
        <div className={styles.copyUsed} style={{ height: `${(copy.used / size) * 100}%` }}>
          {kib(copy.used)} in use
        </div>
      </div>
      <div className={styles.copyLabel}>
        {label}
        <br />
        {kib(size)}
      </div>
    </div>
  );
  return (
    <div className={styles.copy} data-testid="copy-view">
      {bar(copy.oldSize, 'old stack')}
      <div className={styles.copyArrow} aria-hidden="true">
        memmove →
      </div>
      {bar(copy.newSize, `new stack [${copy.lo}, ${copy.hi})`)}
    </div>
  );
}

/** Steps through the recorded crash: frames, the hijacked return slot, morestack, the unwinder. */
export default function StackExplorer() {
  const crashRecording = useCrashRecording();
  const model = useMemo(() => (crashRecording ? explorerModel(crashRecording) : null), [crashRecording]);
  const [index, setIndex] = useState(0);
  const count = model?.steps.length ?? 0;
  const go = useCallback((delta: number) => setIndex((i) => Math.min(Math.max(i + delta, 0), count - 1)), [count]);
  const onKey = (e: KeyboardEvent) => {
    if (e.key === 'ArrowRight' || e.key === 'ArrowDown') go(1);
    else if (e.key === 'ArrowLeft' || e.key === 'ArrowUp') go(-1);
    else if (e.key === 'Home') setIndex(0);
    else if (e.key === 'End') setIndex(count - 1);
    else return;
    e.preventDefault();
  };

  if (!crashRecording || !model) {
    return (
      <div className={styles.missing} role="note">
        No crash recording yet (docs/data/crash-recording.json) — run the crash on a privileged kernel to record one.
      </div>
    );
  }
  const step = model.steps[index];
  const rec = model.recording;
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: the explorer takes arrow keys, so it must be focusable
    <section className={styles.explorer} aria-label="Stack explorer" tabIndex={0} onKeyDown={onKey} data-step={index}>
      <header className={styles.header}>
        <div className={styles.controls}>
          <button
            type="button"
            className="button button--sm button--secondary"
            onClick={() => go(-1)}
            disabled={index === 0}
            aria-label="Previous step"
          >
            ← Back
          </button>
          <span className={styles.counter} aria-live="polite">
            Step {index + 1} of {count}: <strong>{step.title}</strong>
          </span>
          <button
            type="button"
            className="button button--sm button--primary"
            onClick={() => go(1)}
            disabled={index === count - 1}
            aria-label="Next step"
          >
            Next →
          </button>
        </div>
        <div className={styles.provenance}>
          Recorded {rec.recordedAt.slice(0, 19).replace('T', ' ')} UTC · Linux {rec.kernel} · {rec.goVersion} ·{' '}
          {rec.symbol} · GET {rec.request} · use ← → keys when focused
        </div>
      </header>
      <div className={styles.body}>
        <div className={styles.stackColumn}>
          <div className={styles.axis}>higher addresses ↑ · goroutine stack · grows downwards ↓</div>
          <ol className={styles.stack}>
            {step.rows.map((r) => (
              <Row key={r.id} row={r} focused={r.id === step.focus} />
            ))}
          </ol>
        </div>
        <div className={styles.narration}>
          {step.text.map((t, i) => (
            <p key={i}>{t}</p>
          ))}
          <CopyView copy={step.copy} />
          {step.quote && (
            // biome-ignore lint/a11y/useSemanticElements: a <pre> keeps the crash text's layout
            <pre className={styles.quote} role="figure" aria-label="from the recorded crash output">
              {step.quote}
            </pre>
          )}
          {step.maps && step.maps.length > 0 && (
            <div>
              <div className={styles.mapsTitle}>/proc/PID/maps (recorded while the process was alive)</div>
              <table className={styles.maps}>
                <tbody>
                  {step.maps.map((m) => (
                    <tr key={m.start} className={clsx(m.start === model.hijackedPc && styles.hijacked)}>
                      <td>
                        <code>
                          {m.start}-{m.end}
                        </code>
                      </td>
                      <td>
                        <code>{m.perms}</code>
                      </td>
                      <td>
                        <code>{m.name || '(anonymous)'}</code>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </div>
      </div>
      <details className={styles.raw}>
        <summary>The full crash output this explorer is built from</summary>
        <pre>{rec.stderr}</pre>
      </details>
      <p className={styles.footnote}>
        Want to see it happen? <Link to="/docs/intro/">Run the lab</Link> and open the uretprobe crash in the{' '}
        <Link to="/notebooks/">notebooks</Link>.
      </p>
    </section>
  );
}
