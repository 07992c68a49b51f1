/**
 * The hands-on room: every attendee gets an unprivileged Linux account, their own copy of the
 * notebooks, their own Go server (their uid, their port) and their own tslab notebook server under
 * JupyterHub. They probe their own processes through the probe service; nobody gets root.
 * Everything is created on start and removed on stop (accounts, processes, probes, sockets).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, chown, mkdir, readdir, readFile, readlink, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { at, serverBinary } from '../core/paths.ts';
import { LabError } from '../core/errors.ts';
import { createAccount, removeAccount, removeLabAccounts, type Account } from '../engines/services/accounts.ts';
import { freePort, startHub, type RunningHub } from '../engines/services/hub.ts';
import { ProbeService, defaultLimits, type ProbeServiceLimits } from '../engines/services/probe-service.ts';
import { probeServiceEnv } from '../bpf/ts/probe-service-client.ts';

export interface Attendee {
  account: Account;
  code: string;
  serverPort: number;
  server?: ChildProcess;
}

export interface HandsOnRoom {
  hubUrl: string;
  attendees: Attendee[];
  probeSocket: string;
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
}

const runDir = (marker: string) => `/run/go-uretprobe-lab-${marker}`;
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
  const child = spawn(
    'setpriv',
    [
      `--reuid=${a.account.uid}`,
      `--regid=${a.account.gid}`,
      '--init-groups',
      '--pdeathsig=TERM',
      copy,
      '-addr',
      `127.0.0.1:${a.serverPort}`,
    ],
    {
      cwd: a.account.home,
      env: { HOME: a.account.home, PATH: '/usr/bin:/bin' },
      stdio: 'ignore',
    },
  );
  child.on('error', () => {});
  a.server = child;
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
  const left = await removeLabAccounts();
  if (left) opts.log(`removed ${left} attendee account(s) left by an earlier run`);

  const attendees: Attendee[] = [];
  const probeSocket = join(runDir(marker), 'probe.sock');
  let service: ProbeService | undefined;
  let hub: RunningHub | undefined;
  // If this process dies without stop() (SIGKILL, a crash), the watchdog removes the accounts.
  const watchdog = spawn(
    process.execPath,
    ['--import', 'tsx', at('workshop', 'hands-on-watchdog.ts'), runDir(marker)],
    {
      stdio: ['pipe', 'ignore', 'ignore'],
      cwd: at(),
    },
  );
  watchdog.on('error', () => {});
  const stop = async () => {
    await hub?.stop().catch(() => {});
    await service?.stop().catch(() => {});
    for (const a of attendees) a.server?.kill('SIGKILL');
    for (const a of attendees)
      await removeAccount(a.account.name).catch((e: Error) =>
        opts.log(`could not remove ${a.account.name}: ${e.message}`),
      );
    await rm(runDir(marker), { recursive: true, force: true });
    watchdog.stdin?.end();
  };
  try {
    for (let n = 1; n <= opts.attendees; n++) {
      const account = await createAccount(n);
      const a: Attendee = { account, code: randomBytes(6).toString('base64url'), serverPort: await freePort() };
      attendees.push(a);
      await prepareHome(account);
    }
    await mkdir(runDir(marker), { recursive: true, mode: 0o755 });
    service = new ProbeService(probeSocket, opts.limits ?? defaultLimits);
    await service.start();
    for (const a of attendees) await startAttendeeServer(a);
    hub = await startHub({
      stateDir: at('.lab', 'hands-on', marker),
      publicDir: join(runDir(marker), 'public'),
      attendees: attendees.map((a) => ({
        name: a.account.name,
        code: a.code,
        env: {
          LAB_SERVER_URL: `http://127.0.0.1:${a.serverPort}/`,
          LAB_EXERCISES_FILE: attendeeProgressFile(a.account.home),
        },
      })),
      env: { [probeServiceEnv]: probeSocket },
      onLog: (line) => {
        if (process.env.LAB_HUB_LOG || /error|Traceback/i.test(line)) opts.log(`hub: ${line.slice(0, 300)}`);
      },
    });
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
    await startAttendeeServer(a);
  };

  return {
    hubUrl: theHub.url,
    attendees,
    probeSocket,
    service: theService,
    hub: theHub,
    roomView,
    resetAttendee,
    stop,
  };
}
