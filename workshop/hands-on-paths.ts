/** Where one hands-on room keeps its things, by the room's marker: the room, its watchdog and its tests agree here. */
import { join } from 'node:path';
import { at } from '../core/paths.ts';
import { archiveRoot } from '../engines/services/accounts.ts';

/** The probe service's socket and the world-readable kernelspec. */
export const roomRunDir = (room: string) => `/run/go-uretprobe-lab-${room}`;
/** Root-only secrets: the hub's config with every sign-in code, its database, the cookie secret. */
export const roomStateDir = (room: string) => at('.lab', 'hands-on', room);
/** The attendees' homes once their accounts are gone (root-only tars, kept until --remove-archives). */
export const roomArchiveDir = (room: string) => join(archiveRoot, room);
