/**
 * The hands-on room's capacity: N attendees, each in their container, open notebook 03 (the crash) and
 * notebook 05 (safe tracing) through the hub at the same moment and run their cells, as a room does
 * when the instructor says "run it". Measured: each attendee's peak memory and CPU time (their
 * sandbox's cgroups), time to first output, every cell's latency, the events the probe service
 * delivered, the host's CPU busy share meanwhile.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Kernel } from '@jupyterlab/services';
import { at } from '../core/paths.ts';
import { removeArchives } from '../engines/services/accounts.ts';
import type { RunningHub } from '../engines/services/hub.ts';
import { startUserServer, userSessions } from '../engines/services/hub-user.ts';
import type { ProbeService } from '../engines/services/probe-service.ts';

/**
 * What the benchmark uses of a hands-on room. The room is the workshop's (a face bench does not
 * import): ./lab bench passes the workshop's startHandsOn in.
 */
export interface BenchAttendee {
  account: { name: string; uid: number };
  sandbox: { processes(): number[]; usage(): { memoryPeakBytes: number; pids: number } };
}
export interface BenchRoom {
  attendees: BenchAttendee[];
  hub: Pick<RunningHub, 'api' | 'apiToken' | 'url'>;
  hubUrl: string;
  service: Pick<ProbeService, 'roomActivity'>;
  archiveDir: string;
  stop(): Promise<void>;
}
export type StartRoom = (opts: {
  attendees: number;
  containers: boolean;
  log: (line: string) => void;
}) => Promise<BenchRoom>;

export interface RoomRun {
  attendees: number;
  /** Where each attendee's notebook server and Go server ran: a container (DockerSpawner on Podman) or a sandbox of the room's. */
  attendees_in?: 'containers' | 'sandboxes';
  /** startHandsOn: accounts, sandboxes, probe service, Go servers, hub. */
  room_start_s: number;
  /** Every attendee's notebook server asked for at once, until the last is ready. */
  servers_ready_s: number;
  /** Peak memory of an attendee's sandbox (notebook server, two kernels, Go servers): mean and largest. */
  memory_peak_mb: number;
  memory_peak_max_mb: number;
  /** Most processes and threads an attendee's sandbox held at once (sampled every 250 ms). */
  pids_peak: number;
  /**
   * CPU seconds an attendee's sandbox used for the two notebooks (mean): its processes' and their
   * reaped children's, from /proc (this machine's cgroup v1 sandboxes have no cpuacct of their own).
   */
  cpu_s_per_attendee: number;
  /** The hub's and the probe service's share is outside the sandboxes: the host's busy CPU seconds over the phase. */
  host_cpu_s: number;
  /** Opening notebook 03 (its kernel starting) until its first cell output: median and worst over attendees. */
  first_output_ms: number;
  first_output_max_ms: number;
  /** Every cell of both notebooks, every attendee: request → reply. */
  cells: number;
  cell_p50_ms: number;
  cell_p99_ms: number;
  cell_max_ms: number;
  failed_cells: number;
  /** Events the probe service delivered to the attendees (all of them; the fewest one attendee got). */
  events: number;
  events_min_per_attendee: number;
  drops: number;
  /** Every attendee saw notebook 03's crash text and notebook 05's "server alive: true". */
  crashed_and_traced: boolean;
  /** From the first session opened to the last cell's reply. */
  wall_s: number;
  /** Share of the host's CPU time busy during that phase (1 = every core busy). */
  host_cpu_busy: number;
  load_average_at_start: string;
  note: string;
}

/** The story cells of a notebook: its code cells but the exercises' (an empty prediction is the attendee's to fill). */
export function storyCells(notebook: string): string[] {
  const nb = JSON.parse(readFileSync(at('notebooks', notebook), 'utf8')) as {
    cells: { cell_type: string; id?: string; source: string[] | string }[];
  };
  return nb.cells
    .filter((c) => c.cell_type === 'code' && !c.id?.includes('-ex-'))
    .map((c) => (Array.isArray(c.source) ? c.source.join('') : c.source));
}

export const roomNotebooks = ['03-uretprobe-crash.ipynb', '05-tracing-safely.ipynb'];

/** /proc/stat counts in USER_HZ, 100 on Linux. */
const clockTicks = 100;

function hostCpu(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + (f[4] ?? 0);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** CPU seconds of a sandbox's live processes and the children they reaped (utime + stime + cutime + cstime). */
function sandboxCpuSeconds(a: BenchAttendee): number {
  let ticks = 0;
  for (const pid of a.sandbox.processes()) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch {
      // gone meanwhile
    }
  }
  return ticks / clockTicks;
}

const quantile = (xs: number[], q: number) => {
  if (!xs.length) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
};
const round = (x: number, digits = 1) => Number(x.toFixed(digits));

interface CellResult {
  ms: number;
  text: string;
  error?: string;
  /** performance.now() of the first output the cell printed. */
  firstOutputAt?: number;
}

const cellTimeoutMs = 180_000;

async function execute(k: Kernel.IKernelConnection, code: string): Promise<CellResult> {
  const t0 = performance.now();
  let text = '';
  let error: string | undefined;
  let firstOutputAt: number | undefined;
  const future = k.requestExecute({ code, stop_on_error: false });
  future.onIOPub = (msg) => {
    const t = msg.header.msg_type;
    const c = msg.content as { text?: string; data?: Record<string, string>; ename?: string; evalue?: string };
    if (t === 'stream' || t === 'execute_result' || t === 'display_data') firstOutputAt ??= performance.now();
    if (t === 'stream') text += c.text;
    if (t === 'execute_result' || t === 'display_data') text += c.data?.['text/plain'] ?? c.data?.['text/html'] ?? '';
    if (t === 'error') error = `${c.ename}: ${c.evalue}`;
  };
  // A cell that never answers (its kernel gone) is a failed cell, not a hung bench.
  let timer: Parameters<typeof clearTimeout>[0];
  const reply = await Promise.race([
    future.done,
    new Promise<undefined>((r) => {
      timer = setTimeout(r, cellTimeoutMs);
    }),
  ]).finally(() => clearTimeout(timer));
  if (!reply) {
    future.dispose();
    return { ms: performance.now() - t0, text, error: `no reply in ${cellTimeoutMs / 1000} s`, firstOutputAt };
  }
  const content = reply.content as { status?: string; ename?: string; evalue?: string };
  if (content.status === 'error') error ??= `${content.ename ?? ''} ${content.evalue ?? ''}`.trim();
  // tslab prints a rejected top-level await on stderr rather than as an error message.
  error ??= /^(LabError|Error|TypeError|ReferenceError)\b.*/m.exec(text)?.[0];
  return { ms: performance.now() - t0, text, error, firstOutputAt };
}

interface AttendeeRun {
  cellMs: number[];
  failed: string[];
  firstOutputMs: number;
  crashed: boolean;
  tracedSafely: boolean;
}

/** One attendee: notebook 03 in one kernel, then 05 in another (both stay open, as in a browser's tabs). */
async function attendeeRun(
  room: BenchRoom,
  a: BenchAttendee,
  token: string,
  kernels: Kernel.IKernelConnection[],
  disposers: { dispose(): void }[],
  notebooks: string[],
): Promise<AttendeeRun> {
  const { km, sm } = userSessions(room.hubUrl, a.account.name, token);
  disposers.push(km, sm);
  const run: AttendeeRun = { cellMs: [], failed: [], firstOutputMs: Number.NaN, crashed: false, tracedSafely: false };
  for (const notebook of notebooks) {
    const opened = performance.now();
    const session = await sm.startNew({ path: notebook, type: 'notebook', name: notebook, kernel: { name: 'tslab' } });
    const k = session.kernel!;
    kernels.push(k);
    let out = '';
    for (const code of storyCells(notebook)) {
      const r = await execute(k, code);
      run.cellMs.push(r.ms);
      if (r.firstOutputAt !== undefined && notebook === notebooks[0] && Number.isNaN(run.firstOutputMs))
        run.firstOutputMs = r.firstOutputAt - opened;
      if (r.error) run.failed.push(`${a.account.name} ${notebook}: ${code.split('\n')[0]} → ${r.error}`);
      out += r.text;
      // Its kernel is gone (another room's start removes every attendee account): the rest would only time out.
      if (r.error?.startsWith('no reply')) return run;
    }
    if (notebook.startsWith('03-')) run.crashed = /unexpected return pc/.test(out);
    if (notebook.startsWith('05-')) run.tracedSafely = /server alive: true/.test(out);
  }
  return run;
}

/** Starts a room of n attendees, runs notebooks 03 and 05 in all of them at once, measures, removes the room. */
export async function roomBench(
  startRoom: StartRoom,
  n: number,
  log: (line: string) => void = () => {},
  /** The notebooks each attendee runs (a test runs notebook 03 only). */
  notebooks: string[] = roomNotebooks,
  containers = true,
): Promise<RoomRun> {
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  let t = performance.now();
  const room = await startRoom({ attendees: n, log, containers });
  const room_start_s = (performance.now() - t) / 1000;
  const kernels: Kernel.IKernelConnection[] = [];
  const disposers: { dispose(): void }[] = [];
  let pidsPeak = 0;
  const sampler = setInterval(() => {
    for (const a of room.attendees) pidsPeak = Math.max(pidsPeak, a.sandbox.usage().pids);
  }, 250);
  try {
    t = performance.now();
    const tokens = await Promise.all(
      room.attendees.map((a) => startUserServer(room.hub, a.account.name, 'room bench')),
    );
    const servers_ready_s = (performance.now() - t) / 1000;
    const cpu0 = room.attendees.map(sandboxCpuSeconds);
    const host0 = hostCpu();
    t = performance.now();
    const runs = await Promise.all(
      room.attendees.map((a, i) => attendeeRun(room, a, tokens[i], kernels, disposers, notebooks)),
    );
    const wall_s = (performance.now() - t) / 1000;
    const host1 = hostCpu();
    const cpu = room.attendees.map((a, i) => sandboxCpuSeconds(a) - cpu0[i]);
    // The probe service counts per uid, whatever the kernels closed since.
    const activity = room.service.roomActivity();
    const perAttendee = room.attendees.map((a) => activity.find((x) => x.uid === a.account.uid));
    const events = perAttendee.map((x) => x?.events ?? 0);
    const peaks = room.attendees.map((a) => a.sandbox.usage().memoryPeakBytes / 2 ** 20);
    const cells = runs.flatMap((r) => r.cellMs);
    const failed = runs.flatMap((r) => r.failed);
    const firsts = runs.map((r) => r.firstOutputMs);
    return {
      attendees: n,
      attendees_in: containers ? 'containers' : 'sandboxes',
      room_start_s: round(room_start_s),
      servers_ready_s: round(servers_ready_s),
      memory_peak_mb: round(peaks.reduce((s, x) => s + x, 0) / n, 0),
      memory_peak_max_mb: round(Math.max(...peaks), 0),
      pids_peak: pidsPeak,
      cpu_s_per_attendee: round(cpu.reduce((s, x) => s + x, 0) / n),
      host_cpu_s: round((host1.busy - host0.busy) / clockTicks),
      first_output_ms: round(quantile(firsts, 0.5), 0),
      first_output_max_ms: round(Math.max(...firsts), 0),
      cells: cells.length,
      cell_p50_ms: round(quantile(cells, 0.5), 0),
      cell_p99_ms: round(quantile(cells, 0.99), 0),
      cell_max_ms: round(Math.max(...cells), 0),
      failed_cells: failed.length,
      events: events.reduce((s, x) => s + x, 0),
      events_min_per_attendee: Math.min(...events),
      drops: perAttendee.reduce((s, x) => s + (x?.drops ?? 0), 0),
      crashed_and_traced: runs.every(
        (r) =>
          (r.crashed || !notebooks.some((x) => x.startsWith('03-'))) &&
          (r.tracedSafely || !notebooks.some((x) => x.startsWith('05-'))),
      ),
      wall_s: round(wall_s),
      host_cpu_busy: round((host1.busy - host0.busy) / Math.max(1, host1.total - host0.total), 2),
      load_average_at_start: load,
      note: failed.slice(0, 2).join('; ').slice(0, 400),
    };
  } finally {
    clearInterval(sampler);
    for (const k of kernels) await k.shutdown().catch(() => {});
    for (const d of disposers) d.dispose();
    await room.stop();
    await removeArchives(room.archiveDir).catch(() => {});
  }
}

/** The room sizes ./lab bench measures, one room after the other. */
export async function roomBenches(
  startRoom: StartRoom,
  sizes: number[],
  log: (line: string) => void = () => {},
): Promise<RoomRun[]> {
  const runs: RoomRun[] = [];
  for (const n of sizes) runs.push(await roomBench(startRoom, n, log));
  return runs;
}
