import { type KeyboardEvent, useState } from 'react';
import clsx from 'clsx';
import { useLabData, type MatrixCell } from '../../lib/data';
import { matrixCellLabel, worstOutcome } from '../../lib/matrix-labels';
import styles from './styles.module.css';

const probeTitle: Record<string, string> = {
  none: 'no probe',
  uprobe: 'uprobe (entry)',
  uretprobe: 'uretprobe',
  ret: 'RET-site uprobes',
};

const ran: Record<string, string> = { survive: 'survived', crash: 'crashed', 'survive-but-wrong': 'answered wrong' };
const aRun: Record<string, string> = {
  survive: 'One that survived',
  crash: 'One that crashed',
  'survive-but-wrong': 'One that answered wrong',
};

/** What a cell's runs said: the crash's signature, the wrong answer, or the answer and the events seen; for a repeated cell, how its runs went. */
function cellDetails(c: MatrixCell): string {
  const said = `${c.signature ?? c.wrong ?? `HTTP ${c.status}, ${c.events} events`}${c.crashKind ? ` (${c.crashKind})` : ''}`;
  if (!c.runs || c.runs <= 1 || !c.outcomes) return said;
  const how = Object.entries(c.outcomes)
    .filter(([, n]) => n)
    .map(([o, n]) => `${n} ${ran[o]}`)
    .join(', ');
  if (Object.values(c.outcomes).filter(Boolean).length === 1) return `${c.runs} runs, all ${ran[c.outcome]}: ${said}`;
  return `${c.runs} runs: ${how}. ${aRun[c.outcome]}: ${said}`;
}

/**
 * One Go version's table. Its outcome cells take the keyboard focus one at a time (Tab enters the
 * table at one cell, the arrow keys move between cells) and show what the run said while focused or
 * hovered; on a phone each trigger's row becomes a card with every probe's outcome (styles.module.css).
 */
function GoTable({ go, m }: { go: string; m: NonNullable<ReturnType<typeof useLabData>['crashMatrix']> }) {
  const [active, setActive] = useState<[number, number]>([0, 0]);
  /** Esc hides the focused cell's details until the focus moves (WCAG 1.4.13: dismissable). */
  const [dismissed, setDismissed] = useState(false);
  const cell = (trigger: string, probe: string) =>
    m.cells.find((c) => c.go === go && c.trigger === trigger && c.probe === probe);
  const move = (e: KeyboardEvent<HTMLTableElement>) => {
    const step: Record<string, [number, number]> = {
      ArrowUp: [-1, 0],
      ArrowDown: [1, 0],
      ArrowLeft: [0, -1],
      ArrowRight: [0, 1],
    };
    const d = step[e.key];
    if (e.key === 'Escape') setDismissed(true);
    if (!d) return;
    const row = Math.min(Math.max(active[0] + d[0], 0), m.triggers.length - 1);
    const col = Math.min(Math.max(active[1] + d[1], 0), m.probes.length - 1);
    e.preventDefault();
    setActive([row, col]);
    e.currentTarget.querySelector<HTMLElement>(`[data-at="${row}-${col}"]`)?.focus();
  };
  const id = `matrix-${go.replace(/\W/g, '')}`;
  return (
    <div className={clsx(styles.table, styles.matrix)}>
      <h2 id={id} className={styles.go}>
        {go}
      </h2>
      <table aria-labelledby={id} onKeyDown={move} data-details={dismissed ? 'dismissed' : 'shown'}>
        <thead>
          <tr>
            <th scope="col">trigger</th>
            <th scope="col" className={styles.endpoint}>
              endpoint → function
            </th>
            {m.probes.map((p) => (
              <th scope="col" key={p}>
                {probeTitle[p] ?? p}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {m.triggers.map((t, r) => (
            <tr key={t.id} data-trigger={t.id}>
              <th scope="row" className={styles.trigger}>
                {t.title}
              </th>
              <td className={styles.endpoint}>
                <code>{t.path}</code> → <code>{t.symbol}</code>
              </td>
              {m.probes.map((p, col) => {
                const c = cell(t.id, p);
                const at = `${r}-${col}`;
                return (
                  <td
                    key={p}
                    className={clsx(styles.outcome, c && styles[worstOutcome(c)])}
                    data-probe={p}
                    data-label={probeTitle[p] ?? p}
                    data-at={at}
                    tabIndex={active[0] === r && active[1] === col ? 0 : -1}
                    onFocus={() => {
                      setActive([r, col]);
                      setDismissed(false);
                    }}
                    aria-describedby={c ? `${id}-${at}` : undefined}
                  >
                    <span className={styles.label}>{c ? matrixCellLabel(c) : '—'}</span>
                    {c && (
                      <span role="tooltip" id={`${id}-${at}`} className={styles.tip}>
                        {cellDetails(c)}
                      </span>
                    )}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

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
  const notes = m.cells.filter((c) => worstOutcome(c) !== 'survive');
  return (
    <div data-testid="crash-matrix">
      <p className={styles.provenance}>
        Recorded {m.recordedAt.slice(0, 19).replace('T', ' ')} UTC on Linux {m.kernel}; each cell is a fresh server
        process, classified against the unprobed run of the same binary. A cell that crashed in any of its runs says how
        many. Hover over a cell, or Tab to it (then the arrow keys), to see what its run said.
      </p>
      {m.toolchains.map((go) => (
        <GoTable key={go} go={go} m={m} />
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
                : {matrixCellLabel(c)} — <code>{cellDetails(c)}</code>
              </li>
            ))}
          </ul>
        </details>
      )}
    </div>
  );
}
