// Runs beside a hands-on room, in a session of its own (a signal to the room's process group does
// not reach it), with its stdin a pipe from the room. When the pipe closes the room's process is
// gone — stopped, SIGKILLed or crashed — and everything of the room goes with it except the
// attendees' work: the secrets first, then every process in the attendees' sandboxes, then the
// accounts, their homes archived (the hub and probe-gate already die with the room, by their
// parent-death signal).
import { rm } from 'node:fs/promises';
import { removeLabAccounts } from '../engines/services/accounts.ts';
import { roomArchiveDir, roomRunDir, roomStateDir } from './hands-on-paths.ts';
import { removeRoomSandboxes } from './sandbox.ts';

const [room] = process.argv.slice(2);

async function removeRoom(): Promise<void> {
  if (!room) return;
  await rm(roomStateDir(room), { recursive: true, force: true }).catch(() => undefined);
  await removeRoomSandboxes(room).catch(() => undefined);
  await removeLabAccounts(roomArchiveDir(room)).catch(() => 0);
  await rm(roomRunDir(room), { recursive: true, force: true }).catch(() => undefined);
}

process.stdin.on('error', () => undefined);
process.stdin.resume();
process.stdin.on('close', () => void removeRoom().finally(() => process.exit(0)));
