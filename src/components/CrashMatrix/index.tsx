import clsx from 'clsx';
import { crashedRuns, useLabData, type MatrixCell } from '../../lib/data';
import styles from './styles.module.css';

const label: Record<MatrixCell['outcome'], string> = {
  survive: '✓ survives',
  crash: '✗ crash',
  'survive-but-wrong': '⚠ wrong result',
};

const probeTitle: Record<string, string> = {
  none: 'no probe',
  uprobe: 'uprobe (entry)',
  uretprobe: 'uretprobe',
  ret: 'RET-site uprobes',
};

/** The crash matrix recorded by `./lab crash-matrix --json` (docs/data/crash-matrix.json). */
export default function CrashMatrix() {
  const { crashMatrix: m } = useLabData();
  if (!m) {
    return (
      <div className={styles.missing} role="note" data-testid="crash-matrix-missing">
        <strong>Not recorded yet</strong> — run <code>./lab crash-matrix --json</code> on a privileged kernel; it writes{' '}
        <code>docs/data/crash-matrix.json</code> and the next <code>./lab build</code> renders the table here. Nothing
        on this page is invented in the meantime.
      </div>
    );
  }
  const cell = (go: string, trigger: string, probe: string) =>
    m.cells.find((c) => c.go === go && c.trigger === trigger && c.probe === probe);
  const notes = m.cells.filter((c) => c.outcome !== 'survive');
  return (
    <div data-testid="crash-matrix">
      <p className={styles.provenance}>
        Recorded {m.recordedAt.slice(0, 19).replace('T', ' ')} UTC on Linux {m.kernel}; each cell is a fresh server
        process, classified against the unprobed run of the same binary.
      </p>
      {m.toolchains.map((go) => (
        <div key={go} className={styles.table}>
          <h4>{go}</h4>
          <table>
            <thead>
              <tr>
                <th>trigger</th>
                <th className={styles.endpoint}>endpoint → function</th>
                {m.probes.map((p) => (
                  <th key={p}>{probeTitle[p] ?? p}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {m.triggers.map((t) => (
                <tr key={t.id}>
                  <td>{t.title}</td>
                  <td className={styles.endpoint}>
                    <code>{t.path}</code> → <code>{t.symbol}</code>
                  </td>
                  {m.probes.map((p) => {
                    const c = cell(go, t.id, p);
                    return (
                      <td
                        key={p}
                        className={clsx(c && styles[c.outcome])}
                        title={c ? (c.signature ?? c.wrong ?? `HTTP ${c.status}, ${c.events} events`) : 'not run'}
                      >
                        {c ? label[c.outcome] : '—'}
                        {c?.crashKind && <div className={styles.kind}>{c.crashKind}</div>}
                        {/* Only where a run crashed: "crashed 0 of 5 runs" under every repeated survivor is noise. */}
                        {c?.rate ? <div className={styles.kind}>{crashedRuns(c)}</div> : null}
                      </td>
                    );
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ))}
      {notes.length > 0 && (
        <details className={styles.details}>
          <summary>What each crash and wrong result said ({notes.length})</summary>
          <ul>
            {notes.map((c) => (
              <li key={`${c.go}-${c.trigger}-${c.probe}`}>
                <strong>
                  {c.go} · {c.trigger} · {c.probe}
                </strong>
                : <code>{c.signature ?? c.wrong}</code>
              </li>
            ))}
          </ul>
        </details>
      )}
    </div>
  );
}
