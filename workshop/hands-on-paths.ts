/** Where one hands-on room keeps its things, by the room's marker: the room, its watchdog and its tests agree here. */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { at } from '../core/paths.ts';
import { archiveRoot, roomAlive } from '../engines/services/accounts.ts';

/** The probe service's socket and the world-readable kernelspec. */
const runPrefix = 'go-uretprobe-lab-';
export const roomRunDir = (room: string) => `/run/${runPrefix}${room}`;
/** Root-only secrets: the hub's config with every sign-in code, its database, the cookie secret. */
export const roomStateDir = (room: string) => at('.lab', 'hands-on', room);
/** The attendees' homes once their accounts are gone (root-only tars, kept until --remove-archives). */
export const roomArchiveDir = (room: string) => join(archiveRoot, room);

/**
 * The secrets and sockets of rooms whose process is gone and whose watchdog died with it (a whole
 * process tree SIGKILLed): removed, so no sign-in code or cookie secret outlives its room. Homes are
 * not here (they are archived with the accounts).
 */
export async function removeDeadRoomsState(): Promise<string[]> {
  const stateRoot = at('.lab', 'hands-on');
  const rooms = new Set(await readdir(stateRoot).catch(() => [] as string[]));
  for (const d of await readdir('/run').catch(() => [] as string[]))
    if (d.startsWith(runPrefix)) rooms.add(d.slice(runPrefix.length));
  const dead = [...rooms].filter((r) => !roomAlive(r));
  for (const r of dead) {
    await rm(roomStateDir(r), { recursive: true, force: true });
    await rm(roomRunDir(r), { recursive: true, force: true });
  }
  return dead;
}
