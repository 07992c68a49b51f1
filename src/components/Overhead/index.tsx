import { useLabData } from '../../lib/data';
import { micros, probeKinds, takeaway, type ProbeKind } from './model';
import styles from './styles.module.css';

type Row = Record<string, unknown>;
const rows = (bench: unknown, key: string): Row[] => {
  const v = (bench as Record<string, unknown> | null)?.[key];
  return Array.isArray(v) ? (v as Row[]) : [];
};
const n = (v: unknown, digits = 0) =>
  typeof v === 'number'
    ? v.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : '—';
const us = (v: unknown) =>
  typeof v === 'number'
    ? (v / 1000).toLocaleString('en', { minimumFractionDigits: 2, maximumFractionDigits: v < 100 ? 4 : 2 })
    : String(v ?? '—');
const kindOrder = ['none', 'uprobe', 'uretprobe', 'ret'];
const kindOf = (config: unknown) => (config === 'none' ? 'none' : String(config).split(' ').slice(1).join(' '));

function Missing() {
  return (
    <div className={styles.missing} role="note" data-testid="bench-missing">
      <strong>Not recorded yet</strong> — run <code>./lab bench</code> on a privileged kernel; it writes{' '}
      <code>bench/results.json</code> and the next <code>./lab build</code> draws the chart here. No number on this page
      is invented in the meantime.
    </div>
  );
}

/** Horizontal bars: the lab tracer's per-call cost of each probe kind, a whisker over every tracer measured. */
function Chart({ kinds }: { kinds: ProbeKind[] }) {
  const width = 640;
  const left = 150;
  const right = 90;
  const rowH = 44;
  const top = 10;
  const axis = top + kinds.length * rowH + 6;
  const max = Math.ceil(Math.max(...kinds.map((k) => k.high)) / 5000) * 5000;
  const x = (ns: number) => left + ((width - left - right) * ns) / max;
  const ticks = Array.from({ length: max / 5000 + 1 }, (_, i) => i * 5000);
  return (
    <figure className={styles.figure}>
      <div className={styles.scroll}>
        <svg
          viewBox={`0 0 ${width} ${axis + 40}`}
          className={styles.chart}
          role="img"
          aria-label="CPU time per call of main.work, by probe kind"
          data-testid="overhead-chart"
        >
          {ticks.map((t) => (
            <g key={t}>
              <line x1={x(t)} x2={x(t)} y1={top} y2={axis} className={styles.grid} />
              <text x={x(t)} y={axis + 18} textAnchor="middle" className={styles.tick}>
                {t / 1000} µs
              </text>
            </g>
          ))}
          <text x={left + (width - left - right) / 2} y={axis + 36} textAnchor="middle" className={styles.tick}>
            CPU time per call
          </text>
          {kinds.map((k, i) => {
            const y = top + i * rowH;
            const mid = y + rowH / 2;
            return (
              <g key={k.id} data-probe={k.id} data-ns={k.nsPerCall}>
                <text x={left - 10} y={mid + 5} textAnchor="end" className={styles.label}>
                  {k.label}
                </text>
                <rect
                  x={left}
                  y={y + 10}
                  width={Math.max(x(k.nsPerCall) - left, 1.5)}
                  height={rowH - 20}
                  className={styles[k.id]}
                />
                {k.high > k.low && (
                  <g className={styles.whisker}>
                    <line x1={x(k.low)} x2={x(k.high)} y1={mid} y2={mid} />
                    <line x1={x(k.low)} x2={x(k.low)} y1={mid - 7} y2={mid + 7} />
                    <line x1={x(k.high)} x2={x(k.high)} y1={mid - 7} y2={mid + 7} />
                  </g>
                )}
                <text x={Math.max(x(k.high), x(k.nsPerCall)) + 8} y={mid + 5} className={styles.value}>
                  {micros(k.nsPerCall)}
                </text>
              </g>
            );
          })}
        </svg>
      </div>
      <figcaption className={styles.caption}>
        {kinds.some((k) => k.runs > 0) ? (
          <>
            Bars: the lab's tracer, the median of {Math.max(...kinds.map((k) => k.runs))} runs. Whiskers: its fastest to
            its slowest run. The other tracers measured beside it are in the table below.
          </>
        ) : (
          <>
            Bars: the lab's tracer. This recording kept only each configuration's fastest run, so there is no spread to
            draw; the other tracers measured beside it are in the table below.
          </>
        )}
      </figcaption>
    </figure>
  );
}

/** The overhead story's data: chart, takeaway and plain tables, all from bench/results.json. */
export default function Overhead({ part }: { part: 'takeaway' | 'chart' | 'per-call' | 'server' | 'events' }) {
  const { bench } = useLabData();
  const kinds = probeKinds(bench);
  if (!bench || !kinds) return part === 'chart' ? <Missing /> : null;
  const b = bench as Record<string, unknown>;
  if (part === 'takeaway')
    return (
      <p className={styles.takeaway} data-testid="overhead-takeaway">
        <strong>{takeaway(kinds)}</strong>
      </p>
    );
  if (part === 'chart') {
    // The per-call rows may come from a later partial run merged into the full one (./lab bench --only probes --merge).
    const merged = (Array.isArray(b.merged) ? (b.merged as Record<string, unknown>[]) : []).filter(
      (m) => Array.isArray(m.benchmarks) && m.benchmarks.includes('probes'),
    );
    const run = merged.at(-1) ?? b;
    return (
      <>
        <Chart kinds={kinds} />
        <p className={styles.provenance}>
          Recorded{' '}
          {String(run.date ?? '')
            .slice(0, 16)
            .replace('T', ' ')}{' '}
          UTC on Linux {String(run.kernel)}, {String(b.machine)} ({String(b.nproc)} CPUs), {String(b.go_version)}; load
          average at the start {String(run.load_average_at_start)}.
        </p>
      </>
    );
  }
  if (part === 'per-call') {
    return (
      <div className={styles.scroll}>
        <table data-testid="overhead-per-call">
          <thead>
            <tr>
              <th>probes</th>
              <th>tracer</th>
              <th>CPU time per call (µs, median)</th>
              <th>fastest – slowest run (µs)</th>
              <th>wall time per call (µs)</th>
              <th>events delivered</th>
              <th>events dropped</th>
            </tr>
          </thead>
          <tbody>
            {[...rows(bench, 'probe_cost')]
              .sort((a, b) => kindOrder.indexOf(kindOf(a.config)) - kindOrder.indexOf(kindOf(b.config)))
              .map((r) => {
                const [tracer, ...kind] = String(r.config).split(' ');
                return (
                  <tr key={String(r.config)}>
                    <td>
                      {tracer === 'none'
                        ? 'no probe'
                        : kind.join(' ') === 'ret'
                          ? 'RET-site uprobes'
                          : kind.join(' ') === 'uprobe'
                            ? 'entry uprobe'
                            : kind.join(' ')}
                    </td>
                    <td>
                      {tracer === 'none'
                        ? '—'
                        : tracer === 'ours'
                          ? 'the lab'
                          : tracer === 'empty'
                            ? 'empty programs'
                            : tracer}
                    </td>
                    <td>{us(r.ns_per_call)}</td>
                    <td>
                      {typeof r.min_ns_per_call === 'number' && typeof r.max_ns_per_call === 'number'
                        ? `${us(r.min_ns_per_call)} – ${us(r.max_ns_per_call)}`
                        : '—'}
                    </td>
                    <td>{us(r.wall_ns_per_call)}</td>
                    <td>{r.events == null ? '—' : `${n(r.events)} of ${n(r.expected_events)}`}</td>
                    <td>{n(r.drops)}</td>
                  </tr>
                );
              })}
          </tbody>
        </table>
      </div>
    );
  }
  if (part === 'server') {
    return (
      <div className={styles.scroll}>
        <table data-testid="overhead-server">
          <thead>
            <tr>
              <th>tracer</th>
              <th>requests (connections)</th>
              <th>requests/s traced</th>
              <th>requests/s untraced</th>
              <th>calls traced + dropped</th>
              <th>event latency p50 / p99 (ms)</th>
            </tr>
          </thead>
          <tbody>
            {rows(bench, 'load').map((r) => {
              const lat = rows(bench, 'latency').find((l) => l.tracer === r.tracer);
              return (
                <tr key={String(r.tracer)}>
                  <td>{r.tracer === 'ours' ? 'the lab (ret mode)' : `${String(r.tracer)} peer`}</td>
                  <td>
                    {n(r.requests)} ({n(r.concurrency)})
                  </td>
                  <td>{n(r.req_per_s)}</td>
                  <td>{n(r.untraced_req_per_s)}</td>
                  <td>
                    {n(r.calls)} + {n(r.drops)}
                  </td>
                  <td>{lat ? `${n(lat.p50_ms, 1)} / ${n(lat.p99_ms, 1)}` : '—'}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    );
  }
  const names: Record<string, string> = {
    c: 'plain C (libbpf)',
    cilium: 'cilium/ebpf',
    js: 'the lab, one event at a time',
    'js-batches': 'the lab, batches',
  };
  return (
    <div className={styles.scroll}>
      <table data-testid="overhead-events">
        <thead>
          <tr>
            <th>consumer</th>
            <th>wake-ups</th>
            <th>events/s (millions)</th>
            <th>consumer CPU per event (ns)</th>
            <th>events dropped</th>
          </tr>
        </thead>
        <tbody>
          {rows(bench, 'ringbuf').map((r) => (
            <tr key={`${String(r.consumer)}-${String(r.policy)}`}>
              <td>{names[String(r.consumer)] ?? String(r.consumer)}</td>
              <td>{r.policy === 'lab' ? "the lab's" : "the kernel's default"}</td>
              <td>{typeof r.events_per_s === 'number' ? n(r.events_per_s / 1e6, 2) : '—'}</td>
              <td>{n(r.consumer_cpu_ns_per_event)}</td>
              <td>{n(r.drops)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
