/**
 * An attendee's sandbox in the hands-on room: one cgroup per attendee (memory, CPU and pids limits),
 * one PID namespace (with its own /proc) and one network namespace (its own loopback), shared by
 * everything the attendee runs — their Go server and their notebook server with its kernels — so
 * they see and probe their own processes and reach their own ports, nobody else's. The ports the
 * room needs (the hub to the notebook server, the notebook server to the hub, the room to the Go
 * server) are forwarded one by one (netns-bridge.py). No container engine: cgroupfs, util-linux's
 * unshare/nsenter and setpriv.
 *
 * A command enters the sandbox in three steps: a root shell writes its own PID into the cgroups'
 * procs files (so nothing it starts escapes the limits), nsenter joins the namespace's init, and
 * setpriv drops to the attendee (no new privileges, killed if its launcher dies).
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LabError } from '../core/errors.ts';
import { at } from '../core/paths.ts';
import { venvDir } from '../engines/services/jupyter.ts';

export interface SandboxLimits {
  memoryBytes: number;
  /** CPU time per wall-clock second, in CPUs (0.5 = half of one). */
  cpus: number;
  /** Processes and threads at once. */
  pids: number;
}

/** A tslab kernel alone holds a few hundred MB; two notebooks and the notebook server fit in 2 GB. */
export const defaultSandboxLimits: SandboxLimits = { memoryBytes: 2 * 1024 ** 3, cpus: 1, pids: 512 };

/** "512m", "2g", "1.5G", "300000000" → bytes. */
export function parseMemory(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)i?b?$/i.exec(text.trim());
  const scale = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m?.[2] ?? '').toLowerCase() as '' | 'k' | 'm' | 'g'];
  const bytes = m ? Math.floor(Number(m[1]) * scale) : Number.NaN;
  if (!Number.isFinite(bytes) || bytes < 64 * 1024 ** 2)
    throw new LabError(
      `--memory ${text.slice(0, 20)}: not a size of at least 64m`,
      'e.g. --memory 1g or --memory 512m',
    );
  return bytes;
}

/** How often the attendee ran into a limit (the kernel's counters). */
export interface LimitsHit {
  /** Processes the OOM killer ended at the memory limit. */
  memoryKills: number;
  /** Forks and clones refused at the pids limit. */
  pidsRefused: number;
}

export interface Sandbox {
  name: string;
  /** The namespace's init, as the host sees it. */
  initPid: number;
  /** One directory per cgroup hierarchy that holds a limit. */
  cgroupDirs: string[];
  /** argv that runs `argv` inside: in the cgroups and the namespaces, as the account, from `cwd`. */
  command(argv: string[], cwd: string): string[];
  /**
   * Forwards ports between the host's loopback and the sandbox's: `inward` ones listen on the host
   * and reach 127.0.0.1:PORT inside, `outward` ones listen inside and reach the host's. Once.
   */
  forward(ports: { inward: number[]; outward: number[] }): Promise<void>;
  /** Host PIDs of every process in the sandbox (the launchers outside the namespace too). */
  processes(): number[];
  limitsHit(): LimitsHit;
  /** What it uses: the most memory it has held at once, and its processes and threads now. */
  usage(): { memoryPeakBytes: number; pids: number };
  /** Kills everything in it and removes its cgroups. */
  destroy(): Promise<void>;
}

type Controller = 'memory' | 'pids' | 'cpu';
const controllers: Controller[] = ['memory', 'pids', 'cpu'];

/** Where each controller's hierarchy is mounted and where this process sits in it (v1), or the v2 tree. */
function hierarchies(): Map<Controller, { v2: boolean; mount: string; own: string }> {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  const own = readFileSync('/proc/self/cgroup', 'utf8').split('\n');
  const out = new Map<Controller, { v2: boolean; mount: string; own: string }>();
  for (const line of mounts) {
    const [pre, post] = line.split(' - ');
    if (!post) continue;
    const [fstype, , superOpts] = post.split(' ');
    const mount = pre.split(' ')[4];
    if (fstype === 'cgroup') {
      const opts = superOpts.split(',');
      for (const c of controllers) {
        if (!opts.includes(c) || out.has(c)) continue;
        const path = own.map((l) => l.split(':')).find((f) => f[1]?.split(',').includes(c))?.[2];
        if (path !== undefined) out.set(c, { v2: false, mount, own: path });
      }
    }
  }
  const v2 = mounts.map((l) => l.split(' - ')).find((p) => p[1]?.startsWith('cgroup2 '));
  if (v2) {
    const mount = v2[0].split(' ')[4];
    const available = (() => {
      try {
        return readFileSync(join(mount, 'cgroup.controllers'), 'utf8').trim().split(/\s+/);
      } catch {
        return [];
      }
    })();
    // v2 forbids processes in a cgroup whose children get controllers: the room's tree hangs off the root.
    for (const c of controllers) if (!out.has(c) && available.includes(c)) out.set(c, { v2: true, mount, own: '/' });
  }
  return out;
}

const roomDirName = (room: string) => `go-uretprobe-lab-${room}`;

/** The room's cgroup directories, one per hierarchy (each holds one directory per attendee). */
export function roomCgroupDirs(room: string): string[] {
  const dirs = new Set<string>();
  for (const h of hierarchies().values()) dirs.add(join(h.mount, h.own, roomDirName(room)));
  return [...dirs];
}

const readNumber = (file: string, key?: string): number => {
  try {
    const text = readFileSync(file, 'utf8');
    if (!key) return Number(text.trim());
    return Number(new RegExp(`^${key} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  } catch {
    return 0;
  }
};

const procsIn = (dirs: string[]): number[] => {
  const pids = new Set<number>();
  for (const d of dirs) {
    try {
      for (const p of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) if (p) pids.add(Number(p));
    } catch {
      // gone already
    }
  }
  return [...pids];
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SIGKILLs everything in the directories until they are empty, then removes them (children first). */
async function killAndRemove(dirs: string[]): Promise<void> {
  for (let round = 0; round < 50; round++) {
    const left = procsIn(dirs);
    if (left.length === 0) break;
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }
    await sleep(100);
  }
  for (const d of dirs) await rmdir(d).catch(() => undefined);
}

/**
 * Removes the empty cgroups of rooms that ended without their watchdog (a machine that lost power
 * keeps none; a watchdog killed by hand leaves them). Busy ones belong to a running room: kept.
 */
export async function removeStaleSandboxes(): Promise<void> {
  for (const h of hierarchies().values()) {
    const base = join(h.mount, h.own);
    for (const room of await readdir(base).catch(() => [])) {
      if (!room.startsWith(roomDirName(''))) continue;
      for (const user of await readdir(join(base, room), { withFileTypes: true }).catch(() => []))
        if (user.isDirectory()) await rmdir(join(base, room, user.name)).catch(() => undefined);
      await rmdir(join(base, room)).catch(() => undefined);
    }
  }
}

/** Kills every process of a room's sandboxes and removes their cgroups (the watchdog's and stop()'s last word). */
export async function removeRoomSandboxes(room: string): Promise<void> {
  for (const roomDir of roomCgroupDirs(room)) {
    const users = await readdir(roomDir, { withFileTypes: true }).catch(() => []);
    await killAndRemove(users.filter((u) => u.isDirectory()).map((u) => join(roomDir, u.name)));
    await rmdir(roomDir).catch(() => undefined);
  }
}

// Runs in the root shell that starts every command: join the cgroups listed before "--", then exec the rest.
const joinScript = 'for f; do [ "$f" = -- ] && break; echo $$ > "$f" || exit 1; shift; done; shift; exec "$@"';
// The namespace's init: reaps whatever is orphaned inside (a zombie would hold a slot of the pids limit).
const initScript = '$0 = "lab-sandbox-init"; while (1) { sleep 1 if wait() < 0 }';

export async function createSandbox(
  room: string,
  account: { name: string; uid: number; gid: number },
  limits: SandboxLimits,
): Promise<Sandbox> {
  const found = hierarchies();
  const missing = controllers.filter((c) => !found.has(c));
  if (missing.length)
    throw new LabError(
      `no ${missing.join(', ')} cgroup controller here: the room cannot limit its attendees`,
      'mount cgroupfs with them (cgroup v1 or v2) under /sys/fs/cgroup',
    );
  const dirOf = new Map<Controller, string>();
  for (const [c, h] of found) dirOf.set(c, join(h.mount, h.own, roomDirName(room), account.name));
  const cgroupDirs = [...new Set(dirOf.values())];
  for (const [c, h] of found) {
    const dir = dirOf.get(c)!;
    await mkdir(dir, { recursive: true });
    if (h.v2) {
      // Hand the controller down from the tree's root to the room's directory, then to the attendee's.
      for (const parent of [h.mount, join(h.mount, roomDirName(room))])
        await writeFile(join(parent, 'cgroup.subtree_control'), `+${c}`).catch(() => undefined);
    }
  }
  const set = (c: Controller, v1: string, v2: string, value: string) =>
    writeFile(join(dirOf.get(c)!, found.get(c)!.v2 ? v2 : v1), value);
  try {
    await set('memory', 'memory.limit_in_bytes', 'memory.max', String(limits.memoryBytes));
    // Swap is memory too: without this the limit only moves the hog to swap.
    const memDir = dirOf.get('memory')!;
    if (found.get('memory')!.v2) await writeFile(join(memDir, 'memory.swap.max'), '0').catch(() => undefined);
    else if (existsSync(join(memDir, 'memory.memsw.limit_in_bytes')))
      await writeFile(join(memDir, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes)).catch(() => undefined);
    await set('pids', 'pids.max', 'pids.max', String(limits.pids));
    const period = 100_000;
    const quota = String(Math.max(1000, Math.round(limits.cpus * period)));
    if (found.get('cpu')!.v2) await set('cpu', '', 'cpu.max', `${quota} ${period}`);
    else {
      await set('cpu', 'cpu.cfs_period_us', '', String(period));
      await set('cpu', 'cpu.cfs_quota_us', '', quota);
    }
  } catch (e) {
    await killAndRemove(cgroupDirs);
    throw new LabError(`could not set ${account.name}'s limits: ${(e as Error).message}`, 'run the room as root');
  }
  const procsFiles = cgroupDirs.map((d) => join(d, 'cgroup.procs'));
  const inCgroups = (argv: string[]) => ['/bin/sh', '-c', joinScript, 'lab-sandbox', ...procsFiles, '--', ...argv];

  const [cmd, ...args] = inCgroups([
    'unshare',
    '--pid',
    '--fork',
    '--mount-proc',
    '--net',
    '--kill-child=SIGKILL',
    '--',
    'perl',
    '-e',
    initScript,
  ]);
  const launcher = spawn(cmd, args, { stdio: 'ignore' });
  launcher.on('error', () => undefined);
  let initPid = 0;
  for (let i = 0; i < 100 && !initPid; i++) {
    await sleep(20);
    const children = await readFile(`/proc/${launcher.pid}/task/${launcher.pid}/children`, 'utf8').catch(() => '');
    initPid = Number(children.trim().split(' ')[0]) || 0;
  }
  if (!initPid) {
    launcher.kill('SIGKILL');
    await killAndRemove(cgroupDirs);
    throw new LabError(`${account.name}'s PID namespace did not start`, 'check that unshare (util-linux) and perl run');
  }
  // Not the OOM killer's pick: the init's death would end everything the attendee runs at once.
  // Processes inside descend from nsenter, not from it, and keep the default score.
  await writeFile(`/proc/${initPid}/oom_score_adj`, '-1000').catch(() => undefined);
  const loUp = await new Promise<boolean>((resolve) =>
    spawn('nsenter', [`--target=${initPid}`, '--net', '--', 'ip', 'link', 'set', 'lo', 'up'], { stdio: 'ignore' })
      .on('error', () => resolve(false))
      .on('exit', (code) => resolve(code === 0)),
  );
  if (!loUp) {
    launcher.kill('SIGKILL');
    await killAndRemove(cgroupDirs);
    throw new LabError(`could not bring up ${account.name}'s loopback`, 'check that ip (iproute2) runs');
  }
  let bridge: ChildProcess | undefined;

  return {
    name: account.name,
    initPid,
    cgroupDirs,
    command: (argv, cwd) =>
      inCgroups([
        'nsenter',
        `--target=${initPid}`,
        '--pid',
        '--mount',
        '--net',
        `--wd=${cwd}`,
        '--',
        'setpriv',
        `--reuid=${account.uid}`,
        `--regid=${account.gid}`,
        '--init-groups',
        '--no-new-privs',
        '--pdeathsig=TERM',
        '--',
        ...argv,
      ]),
    processes: () => procsIn(cgroupDirs),
    forward: async ({ inward, outward }) => {
      const child = spawn(
        join(venvDir, 'bin', 'python'),
        [
          at('workshop', 'netns-bridge.py'),
          `/proc/${initPid}/ns/net`,
          ...inward.map((p) => `in:${p}`),
          ...outward.map((p) => `out:${p}`),
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      bridge = child;
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      const ready = await new Promise<boolean>((resolve) => {
        child.stdout.on('data', () => /ready/.test(out) && resolve(true));
        child.on('exit', () => resolve(false));
        child.on('error', () => resolve(false));
      });
      if (!ready)
        throw new LabError(
          `could not forward ${account.name}'s ports: ${out.trim().split('\n').pop()?.slice(0, 200)}`,
          'a port may be taken; start the room again',
        );
    },
    limitsHit: () => {
      const mem = dirOf.get('memory')!;
      const pids = dirOf.get('pids')!;
      return {
        memoryKills: found.get('memory')!.v2
          ? readNumber(join(mem, 'memory.events'), 'oom_kill')
          : readNumber(join(mem, 'memory.oom_control'), 'oom_kill'),
        pidsRefused: readNumber(join(pids, 'pids.events'), 'max'),
      };
    },
    usage: () => {
      const mem = dirOf.get('memory')!;
      const v2 = found.get('memory')!.v2;
      return {
        memoryPeakBytes: readNumber(join(mem, v2 ? 'memory.peak' : 'memory.max_usage_in_bytes')),
        pids: readNumber(join(dirOf.get('pids')!, 'pids.current')),
      };
    },
    destroy: async () => {
      bridge?.kill('SIGKILL');
      try {
        process.kill(initPid, 'SIGKILL'); // the kernel then kills everything in the namespace
      } catch {
        // gone already
      }
      await killAndRemove(cgroupDirs);
    },
  };
}

/** Words for the room view: which limits the attendee ran into, e.g. "memory limit (2 processes killed)". */
export function describeLimitsHit(hit: LimitsHit): string[] {
  const out: string[] = [];
  if (hit.memoryKills) out.push(`memory limit (${hit.memoryKills} process${hit.memoryKills > 1 ? 'es' : ''} killed)`);
  if (hit.pidsRefused) out.push(`pids limit (${hit.pidsRefused} fork${hit.pidsRefused > 1 ? 's' : ''} refused)`);
  return out;
}

/** The container an attendee's notebook server and Go server run in when the room runs them in containers. */
export const attendeeContainerName = (room: string, name: string) => `lab-${room}-${name}`;

/** Every attendee container of a room carries this label: what the room and its watchdog remove. */
export const roomContainerLabel = (room: string) => `lab.hands-on-room=${room}`;

/** The cgroup directory of each controller `pid` is in (v1 per controller, v2 the one tree). */
function cgroupDirsOf(pid: number): Map<Controller, string> {
  const out = new Map<Controller, string>();
  let lines: string[];
  try {
    lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  } catch {
    return out;
  }
  for (const [c, h] of hierarchies()) {
    const path = h.v2
      ? lines.find((l) => l.startsWith('0::'))?.slice(3)
      : lines.map((l) => l.split(':')).find((f) => f[1]?.split(',').includes(c))?.[2];
    if (path !== undefined) out.set(c, join(h.mount, path));
  }
  return out;
}

/**
 * An attendee's sandbox when JupyterHub's DockerSpawner starts it as a container (Podman): the
 * container's own cgroups hold the limits and its PID and network namespaces the isolation. It exists
 * only while the attendee's notebook server runs; what it ran into is remembered across its restarts.
 */
export function containerSandbox(
  room: string,
  account: { name: string; uid: number; gid: number },
  podmanArgv: string[],
): Sandbox {
  const container = attendeeContainerName(room, account.name);
  /** The container's init as the host sees it, read from Podman (0: not running). */
  /** Podman's word on the container's init, as the host sees it (0: not running). Blocks: asked rarely. */
  const askPodman = (): number => {
    try {
      const out = execFileSync(
        podmanArgv[0],
        [...podmanArgv.slice(1), 'inspect', '--format={{.State.Pid}}', container],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 },
      );
      return Number(out.trim()) || 0;
    } catch {
      return 0;
    }
  };
  let known: { pid: number; cgroup: string; dirs: Map<Controller, string> } = { pid: 0, cgroup: '', dirs: new Map() };
  let asked = 0;
  const cgroupText = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    } catch {
      return '';
    }
  };
  /**
   * The container's init: the one known while it lives in the same cgroups (no podman call — the room
   * view, the probe service and the hub share this process's event loop); else Podman is asked, at
   * most every 2 s.
   */
  const initPid = (): number => {
    if (known.pid && known.cgroup && cgroupText(known.pid) === known.cgroup) return known.pid;
    if (Date.now() - asked < 2000) return 0;
    asked = Date.now();
    const pid = askPodman();
    known = pid ? { pid, cgroup: cgroupText(pid), dirs: cgroupDirsOf(pid) } : { pid: 0, cgroup: '', dirs: new Map() };
    return known.pid;
  };
  const dirs = () => (initPid() ? known.dirs : new Map<Controller, string>());
  /** Counters of containers gone (DockerSpawner removes a stopped one), by container init. */
  const carried = { memoryKills: 0, pidsRefused: 0 };
  let last = { pid: 0, memoryKills: 0, pidsRefused: 0 };
  const counters = (): LimitsHit => {
    const d = dirs();
    const found = hierarchies();
    const mem = d.get('memory');
    const pids = d.get('pids');
    const now = {
      pid: known.pid,
      memoryKills: mem
        ? found.get('memory')!.v2
          ? readNumber(join(mem, 'memory.events'), 'oom_kill')
          : readNumber(join(mem, 'memory.oom_control'), 'oom_kill')
        : 0,
      pidsRefused: pids ? readNumber(join(pids, 'pids.events'), 'max') : 0,
    };
    if (now.pid !== last.pid) {
      carried.memoryKills += last.memoryKills;
      carried.pidsRefused += last.pidsRefused;
      last = now;
    } else
      last = {
        ...now,
        memoryKills: Math.max(now.memoryKills, last.memoryKills),
        pidsRefused: Math.max(now.pidsRefused, last.pidsRefused),
      };
    return { memoryKills: carried.memoryKills + last.memoryKills, pidsRefused: carried.pidsRefused + last.pidsRefused };
  };
  return {
    name: account.name,
    get initPid() {
      return initPid();
    },
    get cgroupDirs() {
      return [...new Set(dirs().values())];
    },
    command: (argv, cwd) => [
      ...podmanArgv,
      'exec',
      `--user=${account.uid}:${account.gid}`,
      `--workdir=${cwd}`,
      container,
      ...argv,
    ],
    forward: async () => undefined, // the hub's spawner forwards the container's ports itself
    processes: () => procsIn([...new Set(dirs().values())]),
    limitsHit: counters,
    usage: () => {
      const d = dirs();
      const mem = d.get('memory');
      const v2 = hierarchies().get('memory')?.v2;
      return {
        memoryPeakBytes: mem ? readNumber(join(mem, v2 ? 'memory.peak' : 'memory.max_usage_in_bytes')) : 0,
        pids: d.get('pids') ? readNumber(join(d.get('pids')!, 'pids.current')) : 0,
      };
    },
    destroy: async () => {
      await new Promise<void>((resolve) =>
        execFile(podmanArgv[0], [...podmanArgv.slice(1), 'rm', '--force', '--time=0', container], () => resolve()),
      );
    },
  };
}
