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
        <code>docs/data/crash-matrix.json</code>; the recorded outcomes appear here after the next{' '}
        <code>./lab build</code>.
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
  // One row per distinct message: the same crash on three Go versions is one row naming all three.
  const same = (text: string) => text.replace(/\bg \d+:/g, 'g N:');
  const rows = new Map<string, { cell: MatrixCell; gos: string[] }>();
  for (const c of cells) {
    const key = `${c.trigger}|${c.probe}|${c.outcome}|${same(c.signature ?? c.wrong ?? '')}`;
    const row = rows.get(key);
    if (row) row.gos.push(c.go);
    else rows.set(key, { cell: c, gos: [c.go] });
  }
  return (
    <div className={styles.table}>
      <table data-testid="matrix-excerpt">
        <thead>
          <tr>
            <th>trigger, probe</th>
            <th>Go</th>
            <th>outcome</th>
            <th>what the runtime or the kernel said</th>
          </tr>
        </thead>
        <tbody>
          {Array.from(rows.values()).map(({ cell: c, gos }) => (
            <tr key={`${c.trigger}-${c.probe}-${gos.join()}`}>
              <td>
                {title(c.trigger)}, {c.probe}
              </td>
              <td>{gos.length === m.toolchains.length ? 'every version' : gos.join(', ')}</td>
              <td className={styles[c.outcome]}>{c.outcome === 'crash' ? '✗ crash' : '⚠ wrong result'}</td>
              <td>
                <code>{same(c.signature ?? c.wrong ?? '')}</code>
                {showBody && c.body && (
                  <details>
                    <summary>what the probed server answered</summary>
                    <pre>{c.body}</pre>
                  </details>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
