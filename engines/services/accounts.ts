/**
 * Hands-on attendees' Linux accounts: unprivileged, one home each (0700), created when a hands-on
 * workshop starts and removed when it stops. Each account's GECOS field carries the lab's mark, so
 * accounts left by a run that was killed are found and removed by the next one.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { LabError } from '../../core/errors.ts';

export const accountMark = 'go-uretprobe-lab hands-on attendee';

export interface Account {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

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
    .filter((f) => f[4] === accountMark)
    .map((f) => ({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] }));
}

export const attendeeName = (n: number) => `labatt${n}`;

/** Creates attendee n's account with a fresh 0700 home. */
export async function createAccount(n: number): Promise<Account> {
  const name = attendeeName(n);
  if (passwd().some((f) => f[0] === name)) {
    if (!labAccounts().some((a) => a.name === name))
      throw new LabError(`an account named ${name} exists and is not the lab's`, `remove it or rename it`);
    await removeAccount(name);
  }
  await sh('useradd', [
    '--create-home',
    '--user-group',
    '--shell',
    '/bin/bash',
    '--comment',
    accountMark,
    '-K',
    'HOME_MODE=0700',
    name,
  ]);
  const a = labAccounts().find((x) => x.name === name);
  if (!a) throw new LabError(`useradd did not create ${name}`, 'check /etc/passwd');
  return a;
}

/** Stops everything the account runs, then removes it and its home. */
export async function removeAccount(name: string): Promise<void> {
  await sh('pkill', ['-KILL', '-u', name]).catch(() => {}); // exit 1: nothing was running
  for (let i = 0; i < 20; i++) {
    const left = await sh('pgrep', ['-u', name]).catch(() => '');
    if (!left.trim()) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await sh('userdel', ['--remove', '--force', name]).catch(async (e: Error) => {
    if (passwd().some((f) => f[0] === name)) throw e;
  });
}

export async function removeLabAccounts(): Promise<number> {
  const all = labAccounts();
  for (const a of all) await removeAccount(a.name);
  return all.length;
}
