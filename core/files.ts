import { close, closeSync, fsync, fsyncSync, openSync, renameSync, rmSync, writeFile, writeFileSync } from 'node:fs';
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const writeFd = promisify(writeFile) as (fd: number, data: string | Uint8Array) => Promise<void>;
const fsyncFd = promisify(fsync);
const closeFd = promisify(close);

/** Newest modification time under the given files/directories (0 when none exist). */
export async function newestMtime(paths: string[], include: (p: string) => boolean = () => true): Promise<number> {
  let newest = 0;
  for (const p of paths) {
    const s = await stat(p).catch(() => undefined);
    if (!s) continue;
    if (s.isDirectory()) {
      const entries = await readdir(p);
      const children = entries.filter((e) => !['node_modules', 'build', 'bin', '.git'].includes(e));
      newest = Math.max(
        newest,
        await newestMtime(
          children.map((e) => join(p, e)),
          include,
        ),
      );
    } else if (include(p)) {
      newest = Math.max(newest, s.mtimeMs);
    }
  }
  return newest;
}

/** Temp files of writes in flight: a process that exits mid-write (Ctrl-C) removes them. */
const inFlight = new Set<string>();
process.on('exit', () => inFlight.forEach((tmp) => rmSync(tmp, { force: true })));

function tempBeside(path: string): string {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  inFlight.add(tmp);
  return tmp;
}

/**
 * Writes a file so that a reader (or an interrupted run) sees either the old content or the whole
 * new one: a temporary file in the same directory, flushed, then renamed over the target.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const tmp = tempBeside(path);
  // Created synchronously: an exit between registering the name and creating the file cannot
  // leave a temp file the exit hook has already looked for.
  const fd = openSync(tmp, 'wx', mode);
  let open = true;
  try {
    await writeFd(fd, data);
    await fsyncFd(fd);
    open = false;
    await closeFd(fd);
    await rename(tmp, path);
  } catch (err) {
    if (open) await closeFd(fd).catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  } finally {
    inFlight.delete(tmp);
  }
}

/** writeFileAtomic for synchronous code (build steps, stamps): same temp file, fsync and rename. */
export function writeFileAtomicSync(path: string, data: string | Uint8Array, mode = 0o644): void {
  const tmp = tempBeside(path);
  const fd = openSync(tmp, 'wx', mode);
  try {
    writeFileSync(fd, data);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    rmSync(tmp, { force: true });
    throw err;
  } finally {
    inFlight.delete(tmp);
  }
}
