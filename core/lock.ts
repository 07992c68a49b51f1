import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { at } from './paths.ts';
import { say } from './ui.ts';

const locksDir = () => at('.lab', 'locks');

function holderOf(dir: string): number | undefined {
  try {
    const pid = Number(readFileSync(`${dir}/pid`, 'utf8'));
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs `fn` while holding the lab-wide lock `name` (a directory made atomically under .lab/locks).
 * A second holder waits, saying once who holds it; a lock left by a process that died is taken over.
 * Reentrant within one process, so a build inside a build does not wait for itself.
 */
export async function withLock<T>(name: string, what: string, fn: () => Promise<T>): Promise<T> {
  const dir = `${locksDir()}/${name}`;
  if (holderOf(dir) === process.pid) return fn();
  mkdirSync(locksDir(), { recursive: true });
  let told = false;
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(`${dir}/pid`, String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = holderOf(dir);
      if (holder !== undefined && !alive(holder)) {
        // Move it aside first so two waiters cannot both remove a lock the other just took.
        const stale = `${dir}.stale-${process.pid}`;
        try {
          renameSync(dir, stale);
          rmSync(stale, { recursive: true, force: true });
        } catch {}
        continue;
      }
      if (!told) say(`another ${what} is running${holder ? ` (pid ${holder})` : ''}; waiting for it to finish…`);
      told = true;
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
