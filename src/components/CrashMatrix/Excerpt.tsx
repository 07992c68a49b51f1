import { useLabData, type MatrixCell } from '../../lib/data';
import styles from './styles.module.css';

interface Props {
  /** Trigger ids (crash-matrix.json) to show. */
  triggers?: string[];
  probe?: string;
  crashKind?: string;
  /** Show the HTTP body the probed server answered (for survive-but-wrong cells). */
  showBody?: boolean;
}

/** Selected cells of the recorded crash matrix, with what the runtime or the kernel said. */
export default function MatrixExcerpt({ triggers, probe, crashKind, showBody }: Props) {
  const { crashMatrix: m } = useLabData();
  if (!m) {
    return (
      <div className={styles.missing} role="note">
        <strong>Not recorded yet</strong> — <code>./lab crash-matrix --json</code> writes{' '}
        <code>docs/data/crash-matrix.json</code>; the recorded outcomes appear here after the next <code>./lab build</code>.
      </div>
    );
  }
  const title = (id: string) => m.triggers.find((t) => t.id === id)?.title ?? id;
  const cells = m.cells.filter(
    (c: MatrixCell) =>
      (!triggers || triggers.includes(c.trigger)) &&
      (!probe || c.probe === probe) &&
      (!crashKind || c.crashKind === crashKind) &&
      c.outcome !== 'survive',
  );
  if (cells.length === 0) {
    return (
      <div className={styles.missing} role="note">
        The recorded matrix ({m.recordedAt.slice(0, 10)}, Linux {m.kernel}) has no such outcome
        {probe && <> under a {probe}</>}
        {triggers && <> for {triggers.map(title).join(', ')}</>}.
      </div>
    );
  }
  return (
    <ul className={styles.details}>
      {cells.map((c) => (
        <li key={`${c.go}-${c.trigger}-${c.probe}`}>
          <strong>
            {title(c.trigger)} under a {c.probe}, {c.go}
          </strong>{' '}
          — {c.outcome === 'crash' ? 'crashed' : 'survived with a wrong result'}:
          <pre>{c.signature ?? c.wrong}</pre>
          {showBody && c.body && (
            <details>
              <summary>what the probed server answered</summary>
              <pre>{c.body}</pre>
            </details>
          )}
        </li>
      ))}
    </ul>
  );
}
