/** The overhead a cell shows: engines/overhead.ts's per-call measurement as a table and a chart with its spread. */
import { measureOverhead, type Overhead, type OverheadOptions } from '../engines/overhead.ts';
import { showTable } from './display.ts';
import { barChart } from './charts.ts';

const us = (ns: number) => (ns / 1000 < 0.1 ? (ns / 1000).toFixed(4) : (ns / 1000).toFixed(2));

/** Measures what each probe kind costs per call of main.work (engines/goloop) and shows it; returns the measurement. */
export async function probeOverhead(opts: OverheadOptions = {}): Promise<Overhead> {
  const m = await measureOverhead(opts);
  const none = m.rows.find((r) => r.probe === 'none');
  showTable(
    [
      'probe',
      'µs per call (median)',
      'spread (fastest – slowest run)',
      'added by the probe (µs)',
      'runs',
      'events delivered',
    ],
    m.rows.map((r) => [
      r.label,
      r.crashed ? `crashed: ${r.crashed}` : us(r.medianNs),
      r.crashed ? '' : `${us(r.minNs)} – ${us(r.maxNs)}`,
      r.crashed || !none || r === none ? '' : us(r.medianNs - none.medianNs),
      r.samples.length,
      r.probe === 'none' ? '' : `${r.events} of ${r.expectedEvents}${r.drops ? `, ${r.drops} dropped` : ''}`,
    ]),
    `CPU time of the loop's thread per call of main.work · ${m.rounds} rounds × ${m.reps} runs × ${m.calls} calls, interleaved`,
  );
  barChart(
    m.rows.filter((r) => !r.crashed).map((r) => ({ label: r.label, value: r.medianNs, low: r.minNs, high: r.maxNs })),
    { title: 'CPU time per call by probe kind (median, fastest – slowest run)', unit: 'ns' },
  );
  return m;
}
