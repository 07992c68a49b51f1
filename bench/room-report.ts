/** The room benchmark's rows for the summary, and its table and capacity estimate for the README (from bench/room.ts's runs). */
import type { RoomRun } from './room.ts';
import type { SummaryRow } from './summary-row.ts';

/** What the OS, the hub, the probe service and the docs site keep for themselves, outside every attendee's sandbox. */
const reserveMb = 2048;
/** One "run it" moment of a section: every attendee's two notebooks done within this many seconds. */
const momentS = 60;

export function roomSummaryRows(runs: RoomRun[] | undefined): SummaryRow[] {
  return (runs ?? []).map((r) => ({
    benchmark: `hands-on room, ${r.attendees} attendee${r.attendees > 1 ? 's' : ''} running notebooks 03 and 05 at once: cell p99 (p50), memory per attendee`,
    ours: `${(r.cell_p99_ms / 1000).toFixed(1)} s (${(r.cell_p50_ms / 1000).toFixed(2)} s), ${r.memory_peak_max_mb} MB, ${r.events} events`,
    reference: '—',
    ratio: null,
    target: 'every cell ran',
    meets: r.failed_cells === 0 && r.crashed_and_traced ? 'yes' : '✗ no',
  }));
}

/** How many attendees a machine holds: the smaller of what memory and CPU allow, from the measured runs. */
export function roomCapacity(runs: RoomRun[], cores: number, memoryGb: number) {
  const memMb = Math.max(...runs.map((r) => r.memory_peak_max_mb));
  // The largest room's whole-machine CPU per attendee counts the hub, proxy and probe service too (and any neighbour).
  const largest = runs.reduce((a, b) => (b.attendees > a.attendees ? b : a));
  const cpuS = Number(
    Math.max(...runs.map((r) => r.cpu_s_per_attendee), (largest.host_cpu_s ?? 0) / largest.attendees).toFixed(1),
  );
  const byMemory = Math.floor((memoryGb * 1024 - reserveMb) / memMb);
  const byCpu = Math.floor((momentS * cores) / cpuS);
  return { memMb, cpuS, byMemory, byCpu, limit: byCpu <= byMemory ? 'CPU' : 'memory' };
}

/** The README's room table and capacity paragraph. */
export function roomSection(runs: RoomRun[] | undefined, cores: number, memoryGb: number): string[] {
  if (!runs?.length) return [];
  const c = roomCapacity(runs, cores, memoryGb);
  const inContainers = runs.every((r) => r.attendees_in === 'containers');
  const sorted = [...runs].sort((a, b) => a.attendees - b.attendees);
  const largest = sorted[sorted.length - 1];
  const prev = sorted.length > 1 ? sorted[sorted.length - 2] : undefined;
  const slope = prev ? ((largest.wall_s - prev.wall_s) / (largest.attendees - prev.attendees)).toFixed(1) : undefined;
  const at = (cores2: number, gb: number) => {
    const x = roomCapacity(runs, cores2, gb);
    return `${Math.min(x.byCpu, x.byMemory)} (${x.limit})`;
  };
  const cols = [
    'attendees',
    'memory per attendee, peak (largest)',
    'pids peak',
    'first output',
    'cell p50',
    'cell p99',
    'events (fewest per attendee)',
    'wall',
    'host CPU busy',
    'CPU-s per attendee',
    'load at start',
  ];
  return [
    '### Room capacity',
    '',
    ...(inContainers
      ? [
          '`./lab bench --only room` starts a hands-on room of N attendees in containers (`./lab workshop --hands-on N',
          "--containers`: accounts, the lab's image, JupyterHub's DockerSpawner on Podman, probe service, hub), asks for every",
          "attendee's notebook server at once, then each attendee opens notebook 03 (the crash) and notebook 05 (safe tracing) in",
          "two kernels and runs their story cells (the exercises' cells left out), all attendees at the same moment: memory is the",
          "peak of each attendee's container cgroup (notebook server, two tslab kernels, Go servers, page cache included);",
        ]
      : [
          '`./lab bench --only room` starts a hands-on room (`./lab workshop --hands-on N`: accounts, sandboxes, probe service,',
          "hub) of N attendees, asks for every attendee's notebook server at once, then each attendee opens notebook 03 (the crash)",
          "and notebook 05 (safe tracing) in two kernels and runs their story cells (the exercises' cells left out), all attendees",
          "at the same moment: memory is the peak of each attendee's sandbox cgroup (notebook server, two tslab kernels, Go servers);",
        ]),
    'first output is from opening notebook 03 (its kernel starting) to its first output; cell latency is every cell of every',
    "attendee; events are what the probe service delivered; CPU-s is what the processes of an attendee's",
    `${inContainers ? 'container' : 'sandbox'} used over that phase (their /proc times and their reaped children's: this machine's cgroup v1 accounts no CPU per attendee);`,
    "host CPU busy is the whole machine's, shared with whatever else ran then (the load column).",
    '',
    `| ${cols.join(' | ')} |`,
    `|${cols.map(() => '---').join('|')}|`,
    ...runs.map(
      (r) =>
        `| ${[
          r.attendees,
          `${r.memory_peak_mb} MB (${r.memory_peak_max_mb} MB)`,
          r.pids_peak,
          `${(r.first_output_ms / 1000).toFixed(1)} s (worst ${(r.first_output_max_ms / 1000).toFixed(1)} s)`,
          `${(r.cell_p50_ms / 1000).toFixed(2)} s`,
          `${(r.cell_p99_ms / 1000).toFixed(1)} s`,
          `${r.events} (${r.events_min_per_attendee})`,
          `${r.wall_s} s`,
          `${Math.round(r.host_cpu_busy * 100)} %`,
          r.cpu_s_per_attendee,
          r.load_average_at_start.split(' ')[0],
        ].join(' | ')} |`,
    ),
    '',
    `How many attendees a machine holds, from these numbers. Memory: (RAM − ${reserveMb / 1024} GiB for the OS, hub and probe`,
    `service) ÷ ${c.memMb} MB, the largest attendee peak measured (it does not grow with N). CPU: cores × ${momentS} s ÷ ${c.cpuS}`,
    `CPU-s, the most an attendee cost (the largest room's whole-machine CPU ÷ N, the hub's and probe service's share in it),`,
    `i.e. everyone's two notebooks done within a minute of "run it"; beyond that cells queue for CPU${slope ? ` (the wall time grew ${slope} s per attendee from ${prev!.attendees} to ${largest.attendees} attendees here)` : ''}.`,
    `This machine (${cores} cores, ${memoryGb} GB): ${c.byCpu} by CPU, ${c.byMemory} by memory, so ${Math.min(c.byCpu, c.byMemory)} attendees running together, limited by ${c.limit}.`,
    `The same estimate for 8 cores / 32 GB: ${at(8, 32)}; 16 cores / 64 GB: ${at(16, 64)}; 32 cores / 128 GB: ${at(32, 128)} — if the one hub, proxy and probe service keep up (not measured beyond ${Math.max(...runs.map((r) => r.attendees))} attendees).`,
    `Attendees who run cells at their own pace rather than together need less CPU at any moment; each ${inContainers ? 'container' : 'sandbox'}'s memory`,
    `limit (2 GiB by default) bounds what one attendee can take whatever they run: limits that never add up to more than`,
    `the RAM hold ${Math.floor((memoryGb * 1024 - reserveMb) / 2048)} attendees here (\`--memory 1g\` doubles that, still ${Math.round(1024 / c.memMb)}× the measured peak).`,
    '',
  ];
}
