// Runs beside the workshop with its stdin a pipe from it. When that pipe closes, the workshop process
// is gone — cleanly, by SIGKILL, by the OOM killer or by a crash — and everything it started that
// carries its marker (Jupyter, its kernels, servers and tracers the cells started) is killed, so no
// Jupyter with its token outlives the workshop.
import { statOf } from '../core/procfs.ts';
import { isAlive, listProcesses } from './processes.ts';
import { setTimeout as sleep } from 'node:timers/promises';

const [marker, parentPid] = [process.argv[2], Number(process.argv[3])];

/** Start time in clock ticks since boot, or undefined once it is gone. */
const startTicks = (pid: number) => statOf(pid)?.startTime;

// Whoever started the workshop may carry the same marker (a test, an outer workshop): what was
// running before the workshop started is not the workshop's to kill.
const parentStarted = startTicks(parentPid) ?? 0;

async function killMarked(): Promise<void> {
  for (let round = 0; round < 4; round++) {
    const left = listProcesses().filter(
      (p) => p.marker === marker && p.pid !== process.pid && (startTicks(p.pid) ?? 0) >= parentStarted,
    );
    if (left.length === 0) return;
    for (const p of left) {
      try {
        process.kill(p.pid, round === 0 ? 'SIGTERM' : 'SIGKILL');
      } catch {
        // gone already, or not ours to signal
      }
    }
    for (let i = 0; i < 20 && left.some((p) => isAlive(p.pid)); i++) await sleep(100);
  }
}

process.stdin.on('error', () => undefined);
process.stdin.once('close', () => void killMarked().finally(() => process.exit(0)));
process.stdin.resume();
