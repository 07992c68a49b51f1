// Runs beside a hands-on room with its stdin a pipe from it. When the pipe closes the room's process
// is gone — stopped, SIGKILLed or crashed — and the attendees' accounts, everything they run and the
// room's sockets go too (the hub and probe-gate already die with it, by their parent-death signal).
import { rm } from 'node:fs/promises';
import { removeLabAccounts } from '../engines/services/accounts.ts';

const [runDir] = process.argv.slice(2);
process.stdin.on('error', () => undefined);
process.stdin.resume();
process.stdin.on('close', () => {
  void removeLabAccounts()
    .catch(() => 0)
    .then(() => (runDir ? rm(runDir, { recursive: true, force: true }) : undefined))
    .finally(() => process.exit(0));
});
