/**
 * The whole lab in a container, for one learner: `./lab <command>` run inside the lab's image on the
 * host's kernel, with this checkout mounted at the same path (its node_modules, .venv and builds are
 * used as they are; the venv's scripts and the tslab kernelspec name absolute paths).
 *
 *   --privileged    loading BPF programs and attaching uprobes needs CAP_BPF, CAP_PERFMON and
 *                   CAP_SYS_ADMIN on the host's kernel; a container cannot bring a kernel of its own
 *   --pid=host      the tracer's BPF programs see host PIDs (bpf_get_current_pid_tgid) and the lab
 *                   reads /proc by the PIDs it started: both must be the same namespace's
 *   --network=host  the lab listens on 127.0.0.1 only (Jupyter's token, the site's grant): the host's
 *                   browser reaches it there, with no port published to the network
 *   /sys mounts     sysfs comes with --privileged (BTF in /sys/kernel/btf, the uprobe PMU); debugfs,
 *                   tracefs and bpffs are bound in when the host has them mounted
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { at, root } from '../../core/paths.ts';
import { imageName } from './image.ts';
import { podmanEnv, shellLine } from './podman.ts';

/** Every container of the lab carries this label: what `podman ps --filter` finds of this checkout. */
export const labLabel = `lab.root=${root}`;

/** Host file systems the lab may use, bound in when the host has them mounted. */
const hostMounts = ['/sys/kernel/debug', '/sys/kernel/tracing', '/sys/fs/bpf'];

function mountedHere(): Set<string> {
  const lines = readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  return new Set(lines.map((l) => l.split(' ')[4]).filter(Boolean));
}

/** This process's soft and hard limit of a resource, as /proc/self/limits names it. */
function ownLimit(name: string): [number, number] {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(name));
  const [soft, hard] = (line ?? '').slice(name.length).trim().split(/\s+/);
  const n = (v: string | undefined) => (v === undefined || v === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(v));
  return [n(soft), n(hard)];
}

/**
 * Open files and processes, given explicitly rather than left to podman: the open files this process
 * may have (raising the hard limit is refused where the lab's podman lacks CAP_SYS_RESOURCE), and
 * processes at most the kernel's pid_max.
 */
export function containerUlimits(): string[] {
  const [files, filesHard] = ownLimit('Max open files');
  const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  const procs = Math.min(pidMax, ownLimit('Max processes')[1]);
  return [`nofile=${files}:${filesHard}`, `nproc=${procs}:${procs}`];
}

export interface LabContainerCommand {
  /** The container's name (lab-<pid>-<what>). */
  name: string;
  env: Record<string, string>;
  /** podman and its arguments. */
  argv: string[];
  /** The same as one shell line, to print and to copy. */
  line: string;
}

/** The podman command that runs `./lab <labArgs…>` in the lab's image (the :latest tag unless `image`). */
export function labContainerCommand(
  labArgs: string[],
  opts: { image?: string; name?: string } = {},
): LabContainerCommand {
  const name = opts.name ?? `lab-${process.pid}-${labArgs[0] ?? 'start'}`;
  // HOME in the checkout: Go's, npm's and pip's caches survive from one run to the next.
  const home = at('.lab', 'container', 'home');
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const mounted = mountedHere();
  const argv = [
    'podman',
    'run',
    '--rm',
    `--name=${name}`,
    `--label=${labLabel}`,
    '--privileged',
    '--pid=host',
    '--network=host',
    ...containerUlimits().map((u) => `--ulimit=${u}`),
    ...hostMounts.filter((m) => mounted.has(m)).map((m) => `--volume=${m}:${m}`),
    `--volume=${root}:${root}`,
    `--volume=${home}:/root`,
    `--workdir=${root}`,
    opts.image ?? `${imageName}:latest`,
    './lab',
    ...labArgs,
  ];
  const env = podmanEnv();
  return { name, env, argv, line: shellLine(env, argv) };
}
