/**
 * Which file a probe's offsets were read from. A uprobe is placed by path, on whatever inode
 * the path names at attach time: if the binary was rebuilt or copied over since it was read, the
 * offsets point into other code (a RET probe inside an instruction kills the new process). So an
 * executable remembers the file it read, and attaching checks the path still names that file.
 */
import { statSync, type BigIntStats } from 'node:fs';
import { LabError } from '../../core/errors.ts';

export interface FileIdentity {
  dev: number;
  ino: number;
  size: number;
  mtimeNs: bigint;
  /** The Go build id (.note.go.buildid), when the file has one. */
  buildId?: string;
}

export type FileStamp = Omit<FileIdentity, 'buildId'>;

export function stampOf(s: BigIntStats): FileStamp {
  return { dev: Number(s.dev), ino: Number(s.ino), size: Number(s.size), mtimeNs: s.mtimeNs };
}

export const sameStamp = (a: FileStamp, b: FileStamp) =>
  a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs;

function statIdentity(path: string): FileStamp {
  return stampOf(statSync(path, { bigint: true }));
}

/** How the file at `path` differs from `was`: 'same', 'replaced' (another inode: renamed or recreated over it), 'modified' (rewritten in place) or 'gone'. */
export function compareIdentity(path: string, was: FileIdentity): 'same' | 'replaced' | 'modified' | 'gone' {
  let now: ReturnType<typeof statIdentity>;
  try {
    now = statIdentity(path);
  } catch {
    return 'gone';
  }
  if (now.dev !== was.dev || now.ino !== was.ino) return 'replaced';
  if (now.size !== was.size || now.mtimeNs !== was.mtimeNs) return 'modified';
  return 'same';
}

/** Throws unless `path` is still the file its offsets were read from. */
export function checkSameFile(path: string, was: FileIdentity): void {
  const how = compareIdentity(path, was);
  if (how === 'same') return;
  const what = { gone: 'was deleted', replaced: 'was replaced by another file', modified: 'was rewritten in place' }[
    how
  ];
  throw new LabError(
    `${path} ${what} since it was opened, so the probe offsets read from it would land in other code`,
    'open it again (openExecutable, or restart the command) and attach to the new file',
  );
}

/** The build id in a .note.go.buildid section's bytes (an ELF note: namesz, descsz, type, "Go\0\0", id). */
export function goBuildId(note: Uint8Array | undefined): string | undefined {
  if (!note || note.length < 16) return undefined;
  const v = new DataView(note.buffer, note.byteOffset, note.byteLength);
  const namesz = v.getUint32(0, true);
  const descsz = v.getUint32(4, true);
  const descAt = 12 + ((namesz + 3) & ~3);
  if (descAt + descsz > note.length) return undefined;
  return Buffer.from(note.subarray(descAt, descAt + descsz)).toString('latin1');
}
