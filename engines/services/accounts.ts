/**
 * Hands-on attendees' Linux accounts: unprivileged, one home each (0700), created when a hands-on
 * workshop starts and removed when it stops. Each account's GECOS field carries the lab's mark, so
 * accounts left by a run that was killed are found and removed by the next one. An account goes,
 * its work stays: the home is archived (root-only) first, until the instructor removes the archives.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { LabError } from '../../core/errors.ts';
import { isDead, statOf } from '../../core/procfs.ts';

/** Attendees' homes, archived when their accounts go: one directory per room, one tar per attendee. */
export const archiveRoot = '/var/lib/go-uretprobe-lab/archive';

export const accountMark = 'go-uretprobe-lab hands-on attendee';

export interface Account {
  name: string;
  uid: number;
  gid: number;
  home: string;
  /** The room that made it ("<pid>-<hex>", its process's PID first), when the account says. */
  room?: string;
}

const roomMark = (room: string) => `${accountMark} room ${room}`;

function sh(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, (err, stdout, stderr) =>
      err
        ? reject(
            new LabError(
              `${cmd} ${args.join(' ')} failed: ${(stderr || err.message).trim().split('\n').pop()}`,
              'run the hands-on workshop as root',
            ),
          )
        : resolve(stdout),
    ),
  );
}

function passwd(): string[][] {
  return readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(':'));
}

/** Accounts this lab created (on any earlier run too). */
export function labAccounts(): Account[] {
  return passwd()
    .filter((f) => f[4] === accountMark || f[4]?.startsWith(roomMark('')))
    .map((f) => ({
      name: f[0],
      uid: Number(f[2]),
      gid: Number(f[3]),
      home: f[5],
      room: f[4].startsWith(roomMark('')) ? f[4].slice(roomMark('').length) : undefined,
    }));
}

/** One room's accounts: rooms side by side (a test's, a benchmark's, a live one) keep their own. */
export const roomAccounts = (room: string): Account[] => labAccounts().filter((a) => a.room === room);

/** A room lives while the process that made it runs (its PID leads the room's name). */
export function roomAlive(room: string | undefined): boolean {
  const pid = Number(room?.split('-')[0]);
  return Number.isInteger(pid) && pid > 0 && !isDead(statOf(pid));
}

/** Accounts whose room is gone (killed before it could remove them): no running room's. */
export const staleLabAccounts = (): Account[] => labAccounts().filter((a) => !roomAlive(a.room));

export const attendeeName = (n: number) => `labatt${n}`;

/** The `count` lowest attendee numbers whose names no account has (another room may hold labatt1). */
export function freeAttendeeNumbers(count: number): number[] {
  const taken = new Set(passwd().map((f) => f[0]));
  const out: number[] = [];
  for (let n = 1; out.length < count; n++) if (!taken.has(attendeeName(n))) out.push(n);
  return out;
}

/**
 * Creates attendee n's account for `room` with a fresh 0700 home (a stale one of the lab's is
 * archived into archiveDir first).
 */
export async function createAccount(n: number, archiveDir: string, room?: string): Promise<Account> {
  const name = attendeeName(n);
  if (passwd().some((f) => f[0] === name)) {
    if (!labAccounts().some((a) => a.name === name))
      throw new LabError(`an account named ${name} exists and is not the lab's`, `remove it or rename it`);
    await removeAccount(name, archiveDir);
  }
  await sh('useradd', [
    '--create-home',
    '--user-group',
    '--shell',
    '/bin/bash',
    '--comment',
    room ? roomMark(room) : accountMark,
    '-K',
    'HOME_MODE=0700',
    name,
  ]);
  const a = labAccounts().find((x) => x.name === name);
  if (!a) throw new LabError(`useradd did not create ${name}`, 'check /etc/passwd');
  return a;
}

/**
 * Packs a home into archiveDir/<name>.tar (root-only). Its owner runs nothing any more, so nothing
 * changes under tar; links are archived as links, never followed; sparse files stay small.
 */
export async function archiveHome(name: string, home: string, archiveDir: string): Promise<string | undefined> {
  if (!existsSync(home)) return undefined;
  await mkdir(archiveDir, { recursive: true, mode: 0o700 });
  await chmod(archiveRoot, 0o700).catch(() => undefined);
  let file = join(archiveDir, `${name}.tar`);
  for (let n = 2; existsSync(file); n++) file = join(archiveDir, `${name}-${n}.tar`);
  const part = `${file}.part`;
  await new Promise<void>((resolve, reject) =>
    execFile(
      'tar',
      [
        '--create',
        '--sparse',
        `--file=${part}`,
        `--directory=${home}`,
        // Not work: the lab's copies, caches, and the kernels' connection files (their keys).
        '--exclude=./server',
        '--exclude=./kernel-helpers',
        '--exclude=./.cache',
        '--exclude=./.local/share/jupyter/runtime',
        '.',
      ],
      { timeout: 120_000 },
      // exit 1: a file changed or vanished while read; the rest is archived
      (err, _out, stderr) =>
        err && (err as { code?: number }).code !== 1
          ? reject(
              new LabError(
                `could not archive ${home}: ${stderr.trim().split('\n').pop()}`,
                `its home stays in ${home}`,
              ),
            )
          : resolve(),
    ),
  );
  await chmod(part, 0o600);
  await rename(part, file);
  return file;
}

/** Stops everything the account runs, archives its home into archiveDir, then removes it and its home. */
export async function removeAccount(name: string, archiveDir: string): Promise<void> {
  await sh('pkill', ['-KILL', '-u', name]).catch(() => {}); // exit 1: nothing was running
  for (let i = 0; i < 20; i++) {
    const left = await sh('pgrep', ['-u', name]).catch(() => '');
    if (!left.trim()) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const home = labAccounts().find((a) => a.name === name)?.home;
  // Work that could not be archived is not deleted: the account goes, the home stays.
  const archived = home
    ? await archiveHome(name, home, archiveDir).then(
        () => true,
        () => false,
      )
    : true;
  await sh('userdel', archived ? ['--remove', '--force', name] : ['--force', name]).catch(async (e: Error) => {
    if (passwd().some((f) => f[0] === name)) throw e;
  });
}

/** Removes the accounts no running room holds (their homes archived into archiveDir). */
export async function removeStaleLabAccounts(archiveDir: string): Promise<number> {
  const stale = staleLabAccounts();
  for (const a of stale) await removeAccount(a.name, archiveDir);
  return stale.length;
}

/** Archived homes, per room: what `./lab workshop --remove-archives` deletes. */
export async function listArchives(): Promise<string[]> {
  const rooms = await readdir(archiveRoot).catch(() => []);
  const out: string[] = [];
  for (const r of rooms)
    for (const f of await readdir(join(archiveRoot, r)).catch(() => [])) out.push(join(archiveRoot, r, f));
  return out;
}

export async function removeArchives(archiveDir = archiveRoot): Promise<void> {
  await rm(archiveDir, { recursive: true, force: true });
}
