/**
 * The hands-on room: every attendee gets an unprivileged Linux account, their own copy of the
 * notebooks, their own Go server (their uid, their port) and their own tslab notebook server under
 * JupyterHub. They probe their own processes through the probe service; nobody gets root.
 * Each attendee's processes run in their own sandbox (workshop/sandbox.ts): memory, CPU and pids
 * limits, and a PID namespace of their own — or, with `containers`, in a container of the lab's
 * image that JupyterHub's DockerSpawner starts through Podman's Docker-compatible API, with the same
 * limits, no capability and no network but the ports the room forwards.
 * Everything is created on start and removed on stop (accounts, processes, probes, sockets, secrets)
 * — except the attendees' work: their homes are archived, root-only, until the instructor runs
 * `./lab workshop --remove-archives`. A watchdog does the same when the room's process dies.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, chown, mkdir, readdir, readFile, readlink, rm, symlink } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { at, root, serverBinary } from '../core/paths.ts';
import { LabError } from '../core/errors.ts';
import {
  createAccount,
  freeAttendeeNumbers,
  removeAccount,
  removeStaleLabAccounts,
  type Account,
} from '../engines/services/accounts.ts';
import { removeDeadRoomsState, roomArchiveDir, roomRunDir, roomStateDir } from './hands-on-paths.ts';
import {
  attendeeContainerName,
  containerSandbox,
  createSandbox,
  defaultSandboxLimits,
  describeLimitsHit,
  removeRoomSandboxes,
  removeStaleSandboxes,
  roomContainerLabel,
  type Sandbox,
  type SandboxLimits,
} from './sandbox.ts';
import { startHub, type HubContainers, type RunningHub } from '../engines/services/hub.ts';
import { freePort } from '../core/ports.ts';
import { venvPython } from '../engines/services/jupyter.ts';
import { startUserServer } from '../engines/services/hub-user.ts';
import { ensureImage } from '../engines/container/image.ts';
import {
  podmanCommand,
  removeLabelledContainers,
  startPodmanService,
  type PodmanService,
} from '../engines/container/podman.ts';
import { ProbeService } from '../engines/services/probe-service.ts';
import { defaultLimits, type ProbeServiceLimits } from '../bpf/ts/probe-protocol.ts';
import { probeServiceEnv } from '../bpf/ts/probe-service-client.ts';

export interface Attendee {
  account: Account;
  code: string;
  serverPort: number;
  /** Their notebook server's port: inside their network namespace, forwarded to the host's loopback. */
  notebookPort: number;
  sandbox: Sandbox;
  /** The launcher of the room's Go server for this attendee (it dies with the server). */
  server?: ChildProcess;
  /** That Go server's PID as the host sees it (inside the sandbox it has another). */
  serverPid?: number;
}

export interface HandsOnRoom {
  /** The room's name ("<pid>-<hex>"): its accounts, cgroups and directories carry it. */
  room: string;
  hubUrl: string;
  attendees: Attendee[];
  probeSocket: string;
  /** Where the attendees' homes go when the room ends (root-only tars). */
  archiveDir: string;
  service: ProbeService;
  hub: RunningHub;
  roomView(): Promise<AttendeeState[]>;
  resetAttendee(name: string): Promise<void>;
  stop(): Promise<void>;
}

export interface AttendeeState {
  name: string;
  signedIn: boolean;
  notebookServer: boolean;
  goServers: number[];
  probes: string[];
  crashedUnder: string[];
  tracedSafely: boolean;
  events: number;
  drops: number;
  /** Limits of their sandbox they ran into, in words ("memory limit (1 process killed)"). */
  limitsHit: string[];
}

/** Where an attendee's notebook kernel keeps their exercise progress (LAB_EXERCISES_FILE). */
export const attendeeProgressFile = (home: string) => join(home, '.lab', 'exercises.json');

async function pidsOf(uid: number): Promise<{ pid: number; exe: string }[]> {
  const out: { pid: number; exe: string }[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const m = /^Uid:\s+(\d+)/m.exec(await readFile(`/proc/${e}/status`, 'utf8').catch(() => ''));
    if (!m || Number(m[1]) !== uid) continue;
    out.push({ pid: Number(e), exe: await readlink(`/proc/${e}/exe`).catch(() => '') });
  }
  return out;
}

async function startAttendeeServer(a: Attendee): Promise<void> {
  const copy = join(a.account.home, 'server');
  await cp(serverBinary, copy);
  await chown(copy, a.account.uid, a.account.gid);
  const [cmd, ...args] = a.sandbox.command([copy, '-addr', `127.0.0.1:${a.serverPort}`], a.account.home);
  const child = spawn(cmd, args, { env: { HOME: a.account.home, PATH: '/usr/bin:/bin' }, stdio: 'ignore' });
  child.on('error', () => {});
  a.server = child;
  a.serverPid = undefined;
  // The launcher (nsenter) forks once into the namespace; that child becomes the server.
  for (let i = 0; i < 100 && !a.serverPid && child.exitCode === null; i++) {
    await new Promise((r) => setTimeout(r, 20));
    const children = await readFile(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').catch(() => '');
    a.serverPid = Number(children.trim().split(' ')[0]) || undefined;
  }
  if (!a.serverPid)
    throw new LabError(`${a.account.name}'s Go server did not start in their sandbox`, 'see the hub log; try again');
}

/** The hub's spawner starts the attendee's container; their Go server starts in it, first. */
async function startContainer(hub: RunningHub, a: Attendee): Promise<void> {
  a.serverPid = undefined;
  await startUserServer(hub, a.account.name, 'the room starts the container');
  for (let i = 0; i < 100 && !a.serverPid; i++) {
    a.serverPid = a.sandbox
      .processes()
      .find((p) => /^\S*\/server\0-addr\0/.test(readFileSyncSafe(`/proc/${p}/cmdline`)));
    if (!a.serverPid) await new Promise((r) => setTimeout(r, 100));
  }
  if (!a.serverPid)
    throw new LabError(`${a.account.name}'s Go server did not start in their container`, 'see the hub log; try again');
}

const readFileSyncSafe = (path: string) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
};

/** The attendee's own copy of the Go server, in their home (their container runs it from there). */
async function copyServer(a: Attendee): Promise<void> {
  const copy = join(a.account.home, 'server');
  await cp(serverBinary, copy);
  await chown(copy, a.account.uid, a.account.gid);
}

async function prepareHome(a: Account): Promise<void> {
  await cp(at('notebooks'), join(a.home, 'notebooks'), {
    recursive: true,
    filter: (src) => !src.includes('.ipynb_checkpoints'),
  });
  // Notebooks load the helpers as ../kernel-helpers/load.cjs; the helpers themselves stay the lab's (read-only).
  await symlink(at('kernel-helpers'), join(a.home, 'kernel-helpers'));
  await mkdir(join(a.home, '.lab'), { mode: 0o700 });
  await new Promise<void>((resolve, reject) =>
    execFile('chown', ['-R', '-h', `${a.uid}:${a.gid}`, a.home], (e) => (e ? reject(e) : resolve())),
  );
}

export async function startHandsOn(opts: {
  attendees: number;
  limits?: ProbeServiceLimits;
  /** Each attendee's memory, CPU and pids (defaultSandboxLimits). */
  sandbox?: SandboxLimits;
  /**
   * Each attendee's notebook server and Go server in a container that JupyterHub's DockerSpawner
   * starts through Podman's Docker-compatible API (the lab's image), rather than in a sandbox of
   * the room's own; their servers are started with the room.
   */
  containers?: boolean;
  log: (line: string) => void;
}): Promise<HandsOnRoom> {
  if (process.getuid?.() !== 0)
    throw new LabError(
      'the hands-on workshop creates accounts and runs the probe service',
      'run it as root (sudo ./lab workshop --hands-on N)',
    );
  if (!Number.isInteger(opts.attendees) || opts.attendees < 1 || opts.attendees > 40)
    throw new LabError(`--hands-on ${opts.attendees}: pick 1..40 attendees`, 'e.g. --hands-on 2');
  const marker = `${process.pid}-${randomBytes(3).toString('hex')}`;
  const archiveDir = roomArchiveDir(marker);
  await removeStaleSandboxes();
  const left = await removeStaleLabAccounts(roomArchiveDir(`${marker}-earlier`));
  const deadRooms = await removeDeadRoomsState();
  if (deadRooms.length) opts.log(`removed the secrets of ${deadRooms.length} room(s) that died with their watchdog`);
  if (left)
    opts.log(
      `removed ${left} attendee account(s) left by an earlier run; their homes are in ${roomArchiveDir(`${marker}-earlier`)}`,
    );

  const attendees: Attendee[] = [];
  const probeSocket = join(roomRunDir(marker), 'probe.sock');
  let service: ProbeService | undefined;
  let hub: RunningHub | undefined;
  let podmanService: PodmanService | undefined;
  const limits = opts.sandbox ?? defaultSandboxLimits;
  // If this process dies without stop() (SIGKILL, a crash), the watchdog removes the room and keeps
  // the work. Its own session: a signal to this process group (Ctrl-C, kill -- -PGID) spares it.
  const watchdog = spawn(process.execPath, ['--import', 'tsx', at('workshop', 'hands-on-watchdog.ts'), marker], {
    stdio: ['pipe', 'ignore', 'ignore'],
    cwd: at(),
    detached: true,
  });
  watchdog.on('error', () => {});
  watchdog.unref();
  const stop = async () => {
    await hub?.stop().catch(() => {});
    if (opts.containers) await removeLabelledContainers(roomContainerLabel(marker)).catch(() => 0);
    await podmanService?.stop().catch(() => {});
    await rm(roomStateDir(marker), { recursive: true, force: true });
    await service?.stop().catch(() => {});
    for (const a of attendees) await a.sandbox?.destroy().catch(() => {});
    await removeRoomSandboxes(marker).catch(() => {});
    for (const a of attendees)
      await removeAccount(a.account.name, archiveDir).catch((e: Error) =>
        opts.log(`could not remove ${a.account.name}: ${e.message}`),
      );
    await rm(roomRunDir(marker), { recursive: true, force: true });
    watchdog.stdin?.end('stopped\n'); // all removed already: the watchdog has nothing left to do
  };
  const podmanArgv = opts.containers ? podmanCommand() : [];
  try {
    const image = opts.containers ? await ensureImage() : undefined;
    if (opts.containers) {
      // Root's API: its socket goes in the root-only state directory, never where attendees reach.
      await mkdir(roomStateDir(marker), { recursive: true, mode: 0o700 });
      podmanService = await startPodmanService(join(roomStateDir(marker), 'podman.sock'));
    }
    for (const n of freeAttendeeNumbers(opts.attendees)) {
      const account = await createAccount(n, archiveDir, marker);
      const sandbox = opts.containers
        ? containerSandbox(marker, account, podmanArgv)
        : await createSandbox(marker, account, limits).catch(async (e: Error) => {
            await removeAccount(account.name, archiveDir).catch(() => undefined);
            throw e;
          });
      const a: Attendee = {
        account,
        sandbox,
        code: randomBytes(6).toString('base64url'),
        serverPort: await freePort(),
        notebookPort: await freePort(),
      };
      attendees.push(a);
      await prepareHome(account);
      if (opts.containers) await copyServer(a);
    }
    await mkdir(roomRunDir(marker), { recursive: true, mode: 0o755 });
    service = new ProbeService(probeSocket, opts.limits ?? defaultLimits);
    await service.start();
    if (!opts.containers) for (const a of attendees) await startAttendeeServer(a);
    const containers: HubContainers | undefined =
      podmanService && image
        ? {
            dockerUrl: podmanService.url,
            namePrefix: `lab-${marker}`,
            image: image.ref,
            memoryBytes: limits.memoryBytes,
            cpus: limits.cpus,
            pids: limits.pids,
            // Given, not left to the runtime. nproc counts the uid's processes host-wide: above the pids limit, which stops a fork loop first (and is counted).
            ulimits: [
              { name: 'nofile', soft: 8192, hard: 8192 },
              { name: 'nproc', soft: 2 * limits.pids, hard: 2 * limits.pids },
            ],
            forwarder: [venvPython, at('workshop', 'netns-bridge.py')],
          }
        : undefined;
    hub = await startHub({
      stateDir: roomStateDir(marker),
      publicDir: join(roomRunDir(marker), 'public'),
      attendees: attendees.map((a) => ({
        name: a.account.name,
        code: a.code,
        command: a.sandbox.command([], a.account.home),
        port: a.notebookPort,
        env: {
          LAB_SERVER_URL: `http://127.0.0.1:${a.serverPort}/`,
          LAB_EXERCISES_FILE: attendeeProgressFile(a.account.home),
          ...(containers ? { HOME: a.account.home } : {}),
        },
        container: containers && {
          name: attendeeContainerName(marker, a.account.name),
          user: `${a.account.uid}:${a.account.gid}`,
          // The container's init: the attendee's Go server, the notebook server ("$@"), then it reaps
          // whatever exits (a crashed server, orphans: a zombie holds a slot of the pids limit) and
          // hands SIGTERM on. It ends when the notebook server does.
          entry: [
            '/bin/sh',
            '-c',
            `"$HOME/server" -addr 127.0.0.1:${a.serverPort} >/dev/null 2>&1 & "$@" & nb=$!; trap 'kill -TERM $nb' TERM INT; while kill -0 $nb 2>/dev/null; do wait $nb; done`,
            'lab-attendee',
          ],
          // The lab's checkout (venv, helpers, node_modules) read-only, their home, the probe service's socket.
          binds: { [root]: 'ro', [a.account.home]: 'rw', [roomRunDir(marker)]: 'ro' },
          inward: [a.notebookPort, a.serverPort],
          workdir: a.account.home,
          labels: { [roomContainerLabel(marker).split('=')[0]]: marker },
        },
      })),
      env: { [probeServiceEnv]: probeSocket },
      containers,
      onLog: (line) => {
        if (process.env.LAB_HUB_LOG || /error|Traceback/i.test(line)) opts.log(`hub: ${line.slice(0, 300)}`);
      },
    });
    // The ports the room needs across each attendee's network namespace; nothing else crosses it.
    for (const a of attendees)
      await a.sandbox.forward({ inward: [a.notebookPort, a.serverPort], outward: [hub.apiPort] });
    // In containers, the servers start with the room: the hub's spawner makes each container now.
    if (containers) {
      const theHub = hub;
      await Promise.all(
        attendees.map(async (a) => {
          const started = Date.now();
          await startContainer(theHub, a);
          opts.log(
            `${a.account.name}: container ${attendeeContainerName(marker, a.account.name)} up in ${((Date.now() - started) / 1000).toFixed(1)} s`,
          );
        }),
      );
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const theHub = hub;
  const theService = service;

  const roomView = async (): Promise<AttendeeState[]> => {
    const users = await theHub
      .api<{ name: string; last_activity: string | null; servers?: Record<string, { ready: boolean }> }[]>('/users')
      .catch(() => []);
    const activity = theService.roomActivity();
    const states: AttendeeState[] = [];
    for (const a of attendees) {
      const u = users.find((x) => x.name === a.account.name);
      const act = activity.find((x) => x.uid === a.account.uid);
      const procs = await pidsOf(a.account.uid);
      const crashed = (act?.tracedProcessDied ?? []).filter((d) => d.signal || d.exit_code);
      states.push({
        name: a.account.name,
        signedIn: Boolean(u?.last_activity),
        notebookServer: Boolean(u?.servers?.['']?.ready),
        goServers: procs.filter((p) => /\/server( \(deleted\))?$/.test(p.exe)).map((p) => p.pid),
        probes: (act?.probes ?? []).map((p) => `${p.kind} ${p.symbol} pid ${p.pid}`),
        crashedUnder: crashed.map(
          (d) => `${d.kind} (pid ${d.pid}${d.signal ? `, signal ${d.signal}` : `, exit ${d.exit_code}`})`,
        ),
        tracedSafely: Boolean(act?.attached.includes('ret')) && crashed.every((d) => d.kind !== 'ret'),
        events: act?.events ?? 0,
        drops: act?.drops ?? 0,
        limitsHit: describeLimitsHit(a.sandbox.limitsHit()),
      });
    }
    return states;
  };

  const resetAttendee = async (name: string) => {
    const a = attendees.find((x) => x.account.name === name);
    if (!a)
      throw new LabError(
        `no attendee ${name.slice(0, 40)}`,
        `pick one of ${attendees.map((x) => x.account.name).join(', ')}`,
      );
    theService.releaseUid(a.account.uid);
    await theHub.api(`/users/${name}/server`, 'DELETE').catch(() => {});
    await new Promise<void>((r) => execFile('pkill', ['-KILL', '-u', name], () => r()));
    if (opts.containers) {
      await a.sandbox.destroy();
      await startContainer(theHub, a);
    } else await startAttendeeServer(a);
  };

  return {
    room: marker,
    hubUrl: theHub.url,
    attendees,
    probeSocket,
    archiveDir,
    service: theService,
    hub: theHub,
    roomView,
    resetAttendee,
    stop,
  };
}
