/**
 * The lab's own Podman: its configuration and storage live under .lab/container/, so nothing of the
 * host's Podman set-up (or of another user's) is read or changed. runc, not crun: on a hybrid cgroup
 * layout (cgroup v1 with cgroup2 only at /sys/fs/cgroup/unified) crun refuses to start containers.
 * cgroupfs, not systemd: there may be no systemd. Events go to a file (no journald either).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { LabError } from '../../core/errors.ts';
import { writeFileAtomicSync } from '../../core/files.ts';
import { at } from '../../core/paths.ts';
import { run } from '../../core/proc.ts';

export const containerDir = at('.lab', 'container');
/** Images and containers' layers: persistent, so a built image is reused. */
export const storageDir = at('.lab', 'container', 'storage');
/**
 * Podman's run state (locks, container state): gone at reboot in a real /run, here beside the storage.
 * Every podman of the lab also runs in it: conmon inherits podman's working directory and writes a
 * file named `oom` there when a container (or an exec session) meets its memory limit.
 */
const runDir = at('.lab', 'container', 'run');

/** The argv prefix of a podman command run by another program: the lab's configuration, in runDir. */
export function podmanCommand(): string[] {
  return ['env', `--chdir=${runDir}`, ...Object.entries(podmanEnv()).map(([k, v]) => `${k}=${v}`), 'podman'];
}

let env: Record<string, string> | undefined;

/**
 * The environment every podman command of the lab runs with (printed with the commands it runs). Its
 * files are written once per process and atomically: another lab process's podman may be reading them.
 */
export function podmanEnv(): Record<string, string> {
  if (env) return { ...env };
  mkdirSync(runDir, { recursive: true, mode: 0o700 });
  const conf = at('.lab', 'container', 'containers.conf');
  const storage = at('.lab', 'container', 'storage.conf');
  writeFileAtomicSync(
    conf,
    [
      '# written by the lab (engines/container/podman.ts): its own Podman, not the host’s',
      '[engine]',
      'runtime = "runc"',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `events_logfile_path = "${runDir}/events.log"`,
      `tmp_dir = "${runDir}/libpod"`,
      '',
    ].join('\n'),
  );
  writeFileAtomicSync(
    storage,
    [
      '# written by the lab (engines/container/podman.ts)',
      '[storage]',
      'driver = "overlay"',
      `graphroot = "${storageDir}"`,
      `runroot = "${runDir}/storage"`,
      '',
    ].join('\n'),
  );
  env = { CONTAINERS_CONF: conf, CONTAINERS_STORAGE_CONF: storage };
  return { ...env };
}

/** Runs podman with the lab's configuration; `capture` returns its stdout. */
export function podman(args: string[], opts: { capture?: boolean; fix?: string } = {}): Promise<string> {
  return run('podman', args, {
    capture: opts.capture,
    env: { ...process.env, ...podmanEnv() },
    cwd: runDir,
    fix: opts.fix ?? 'install podman and runc (./lab setup), then try again',
  });
}

/** A command line as a shell would take it back: what the lab prints of the commands it runs. */
export function shellLine(env: Record<string, string>, cmd: string[]): string {
  const q = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);
  return [...Object.entries(env).map(([k, v]) => `${k}=${q(v)}`), ...cmd.map(q)].join(' ');
}

/** Podman's Docker-compatible API on a unix socket (what DockerSpawner talks to), alive until stopped. */
export interface PodmanService {
  socket: string;
  /** The socket as a Docker client's base_url (unix://…). */
  url: string;
  stop(): Promise<void>;
}

/**
 * `podman system service --time=0` on `socket`, with the lab's Podman configuration: root's API, so
 * the socket goes in a root-only directory. setpriv --pdeathsig: it goes when the lab's process does.
 */
export async function startPodmanService(socket: string): Promise<PodmanService> {
  const child = spawn(
    'setpriv',
    ['--pdeathsig=SIGTERM', '--', 'podman', 'system', 'service', '--time=0', `unix://${socket}`],
    { env: { ...process.env, ...podmanEnv() }, cwd: runDir, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  child.stderr!.on('data', (d) => (err = (err + d).slice(-2000)));
  child.on('error', (e) => (err += e.message));
  const url = `unix://${socket}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  };
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    if (existsSync(socket)) return { socket, url, stop };
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop();
  throw new LabError(
    `podman system service did not start: ${err.trim().split('\n').pop()?.slice(0, 300) ?? ''}`,
    'check that podman runs (./lab container doctor)',
  );
}

/** Removes (killed first) every container of the lab's Podman that carries `label` (key=value). */
export async function removeLabelledContainers(label: string): Promise<number> {
  const ids = (await podman(['ps', '--all', '--quiet', `--filter=label=${label}`], { capture: true }).catch(() => ''))
    .split('\n')
    .filter(Boolean);
  if (ids.length) await podman(['rm', '--force', '--time=0', ...ids], { capture: true }).catch(() => '');
  return ids.length;
}
