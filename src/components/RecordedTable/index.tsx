import { useLabData } from '../../lib/data';
import styles from '../CrashMatrix/styles.module.css';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Row = Record<string, Json>;

const isRowArray = (v: Json): v is Row[] =>
  Array.isArray(v) && v.length > 0 && v.every((r) => r !== null && typeof r === 'object' && !Array.isArray(r));

/** Every array of records in the JSON, with the path it was found at. */
function tables(v: Json, path: string[] = []): { path: string[]; rows: Row[] }[] {
  if (isRowArray(v)) return [{ path, rows: v }];
  if (v && typeof v === 'object' && !Array.isArray(v)) return Object.entries(v).flatMap(([k, x]) => tables(x, [...path, k]));
  return [];
}

function show(v: Json): string {
  if (typeof v === 'number') return Number.isInteger(v) ? v.toLocaleString('en') : v.toLocaleString('en', { maximumFractionDigits: 3 });
  if (v === null || v === undefined) return '—';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/**
 * The benchmark results written by `./lab bench` (bench/results.json), rendered as recorded: every list
 * of records becomes a table, top-level scalars become the provenance line.
 */
export default function BenchResults() {
  const { bench, benchPath } = useLabData();
  if (!bench) {
    return (
      <div className={styles.missing} role="note" data-testid="bench-missing">
        <strong>Not recorded yet</strong> — run <code>./lab bench</code> on a privileged kernel; it writes{' '}
        <code>bench/results.json</code> and the next <code>./lab build</code> renders the overhead table here. No number on
        this page is invented in the meantime.
      </div>
    );
  }
  const data = bench as Json;
  const meta =
    data && typeof data === 'object' && !Array.isArray(data)
      ? Object.entries(data).filter(([, v]) => v === null || typeof v !== 'object')
      : [];
  return (
    <div data-testid="bench-results">
      {meta.length > 0 && (
        <p className={styles.provenance}>
          {meta.map(([k, v]) => `${k}: ${show(v)}`).join(' · ')} (from <code>{benchPath}</code>)
        </p>
      )}
      {tables(data).map(({ path, rows }) => {
        const columns = Array.from(new Set(rows.flatMap((r) => Object.keys(r))));
        return (
          <div key={path.join('.')} className={styles.table}>
            {path.length > 0 && <h4>{path.join(' › ').replace(/_/g, ' ')}</h4>}
            <table>
              <thead>
                <tr>
                  {columns.map((c) => (
                    <th key={c}>{c}</th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {rows.map((r, i) => (
                  <tr key={i}>
                    {columns.map((c) => (
                      <td key={c}>{show(r[c])}</td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        );
      })}
    </div>
  );
}
