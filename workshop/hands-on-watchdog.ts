// Runs beside a hands-on room, in a session of its own (a signal to the room's process group does
// not reach it), with its stdin a pipe from the room. When the pipe closes the room's process is
// gone — stopped, SIGKILLed or crashed — and everything of the room goes with it except the
// attendees' work: the secrets first, then every process in the attendees' sandboxes, then the
// accounts, their homes archived. The hub and probe-gate die with the room by their parent-death
// signal; a hub caught in its own shutdown does not, so whatever names the room's directories goes too.
import { rm } from 'node:fs/promises';
import { removeAccount, roomAccounts } from '../engines/services/accounts.ts';
import { roomArchiveDir, roomRunDir, roomStateDir } from './hands-on-paths.ts';
import { listProcesses } from './processes.ts';
import { removeRoomSandboxes, roomContainerLabel } from './sandbox.ts';
import { removeLabelledContainers } from '../engines/container/podman.ts';

const [room] = process.argv.slice(2);

async function removeRoom(): Promise<void> {
  if (!room) return;
  await rm(roomStateDir(room), { recursive: true, force: true }).catch(() => undefined);
  for (const p of listProcesses())
    if (p.pid !== process.pid && (p.cmdline.includes(roomStateDir(room)) || p.cmdline.includes(roomRunDir(room))))
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone already
      }
  // Containers outlive the Podman service that started them (conmon keeps them): removed by the room's label.
  await removeLabelledContainers(roomContainerLabel(room)).catch(() => undefined);
  await removeRoomSandboxes(room).catch(() => undefined);
  // This room's accounts only: another room's (a test's, say) are not this watchdog's to remove.
  for (const a of roomAccounts(room)) await removeAccount(a.name, roomArchiveDir(room)).catch(() => undefined);
  await rm(roomRunDir(room), { recursive: true, force: true }).catch(() => undefined);
}

// "stopped" means the room removed itself; a closed pipe without it means the room died.
let stopped = false;
process.stdin.on('error', () => undefined);
process.stdin.on('data', (d) => (stopped ||= String(d).includes('stopped')));
process.stdin.on('close', () => (stopped ? process.exit(0) : void removeRoom().finally(() => process.exit(0))));
