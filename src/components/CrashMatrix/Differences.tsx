import { useLabData, type MatrixCell } from '../../lib/data';
import { matrixCellLabel, worstOutcome } from '../../lib/matrix-labels';
import { explanations } from './explanations';
import styles from './styles.module.css';

/** The cell's label from its counts (a cell that crashed in any run is "✗ crashes k of n runs"), and the kind of crash. */
const outcome = (c?: MatrixCell) =>
  !c ? 'not run' : `${matrixCellLabel(c)}${worstOutcome(c) === 'crash' && c.crashKind ? ` (${c.crashKind})` : ''}`;

/** Every cell of the recorded matrix whose outcome differs between Go versions or between repeated runs, with why. */
export default function MatrixDifferences() {
  const { crashMatrix: m } = useLabData();
  if (!m) return null;
  const rows = m.triggers.flatMap((t) =>
    m.probes.flatMap((p) => {
      const cells = m.toolchains.map((go) => m.cells.find((c) => c.go === go && c.trigger === t.id && c.probe === p));
      // A cell that went both ways in its repeated runs is chance, and listed even when every Go's majority agrees.
      const differs =
        new Set(cells.map((c) => c && worstOutcome(c))).size > 1 ||
        cells.some((c) => c?.rate !== undefined && c.rate > 0 && c.rate < 1);
      return differs ? [{ trigger: t, probe: p, cells, explanation: explanations[`${t.id} × ${p}`] }] : [];
    }),
  );
  if (rows.length === 0) {
    return (
      <p data-testid="matrix-differences">In this recording every cell has the same outcome on every Go version.</p>
    );
  }
  return (
    <div className={styles.table} data-testid="matrix-differences">
      <table>
        <thead>
          <tr>
            <th>trigger, probe</th>
            {m.toolchains.map((go) => (
              <th key={go}>{go}</th>
            ))}
            <th>why</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(({ trigger, probe, cells, explanation }) => (
            <tr key={`${trigger.id}-${probe}`} data-explained={explanation ? 'yes' : 'no'}>
              <td>
                {trigger.title} (<code>{trigger.path}</code>), {probe}
              </td>
              {cells.map((c, i) => (
                <td key={m.toolchains[i]} className={c ? styles[worstOutcome(c)] : undefined}>
                  {outcome(c)}
                </td>
              ))}
              <td className={styles.why}>
                {explanation ? (
                  <>
                    <strong>{explanation.kind}.</strong> {explanation.why}
                  </>
                ) : (
                  <strong>Not explained yet: this difference is new in this recording.</strong>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
