/**
 * Asking the kernel what is attached and who holds it: /proc/PID/fdinfo for
 * the owners (bpftool here cannot show them), bpftool for the kernel-wide
 * lists. Independent of the tracer's own bookkeeping, so tests and the
 * workshop can check that bookkeeping against the kernel.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { promisify } from 'node:util';
import { readCookie } from './constants.gen.ts';

export interface HeldLink {
  pid: number;
  fd: number;
  /** bpf_link id (`bpftool link list`), or the prog id behind a perf-event attachment (`bpftool perf list`). */
  linkId?: number;
  progId?: number;
  kind: 'bpf_link' | 'perf_event';
  detail: string;
}

const read = (p: string) => {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
};

/** fdinfo text of each fd of `pid` whose target is `anon_inode:<kind>`; fds closed meanwhile are skipped. */
function fdinfoOf(pid: number, kind: 'bpf_link' | 'bpf-prog'): { fd: number; info: string }[] {
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  return fds.flatMap((fd) => {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== `anon_inode:${kind}`) return [];
    } catch {
      return [];
    }
    return [{ fd: Number(fd), info: read(`/proc/${pid}/fdinfo/${fd}`) ?? '' }];
  });
}

/** bpf_link file descriptors a process holds, read from /proc/PID/fdinfo. */
export function linksHeldBy(pid: number): HeldLink[] {
  return fdinfoOf(pid, 'bpf_link').map(({ fd, info }) => {
    const field = (k: string) => new RegExp(`^${k}:\\s*(\\S+)`, 'm').exec(info)?.[1];
    return {
      pid,
      fd,
      kind: 'bpf_link',
      linkId: Number(field('link_id')),
      progId: Number(field('prog_id')),
      detail: `${field('link_type') ?? 'link'}`,
    };
  });
}

/** One uprobe site as the kernel has it attached: a row of a link's fdinfo (uprobe_multi) or a perf link's one site. */
export interface KernelSite {
  linkId: number;
  linkType: string;
  /** The file the kernel probes. */
  path: string;
  /** The file offset of the probed instruction. */
  offset: number;
  /** The link's bpf_cookie for this site, decoded (bpf/events.h LAB_COOKIE): which probe, which RET. */
  probe: number;
  retSite: number;
}

/** Every uprobe site of the bpf_links a process holds, from /proc/PID/fdinfo (the kernel's view, not the tracer's). */
export function uprobeSitesHeldBy(pid: number): KernelSite[] {
  return fdinfoOf(pid, 'bpf_link').flatMap(({ info }) => {
    const field = (k: string) => new RegExp(`^${k}:\\s*(.+)$`, 'm').exec(info)?.[1].trim();
    const linkType = field('link_type') ?? '';
    const base = { linkId: Number(field('link_id')), linkType, path: field('path') ?? field('name') ?? '' };
    const site = (cookie: string, offset: string): KernelSite => {
      const c = readCookie(BigInt(cookie));
      return { ...base, offset: parseInt(offset, 16), probe: c.probe, retSite: c.retSite };
    };
    // uprobe_multi (uretprobe_multi for return probes since Linux 6.x): a "cookie offset ref_ctr_offset" row
    // per site; perf: one offset and one cookie.
    if (linkType === 'uprobe_multi' || linkType === 'uretprobe_multi')
      return [...info.matchAll(/^(\d+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+$/gm)].map((m) => site(m[1], m[2]));
    const offset = /^offset:\s*0x([0-9a-f]+)/m.exec(info)?.[1];
    const cookie = /^cookie:\s*(\d+)/m.exec(info)?.[1];
    return linkType === 'perf' && offset && cookie ? [site(cookie, offset)] : [];
  });
}

/** Ids of the BPF programs a process holds open (fds of type bpf-prog), from /proc/PID/fdinfo. */
export function programsHeldBy(pid: number): number[] {
  return fdinfoOf(pid, 'bpf-prog').flatMap(({ info }) => {
    const id = /^prog_id:\s*(\d+)/m.exec(info)?.[1];
    return id ? [Number(id)] : [];
  });
}

/**
 * `bpftool <args> -j` as objects. A link or program released by another process between bpftool's
 * listing and its lookup ("can't get link by id: Resource temporarily unavailable") makes bpftool exit
 * 255 with the rest of the list intact: that one is gone, and the others are kept.
 */
export function bpftoolJson<T extends { id: number }>(...args: string[]): T[] {
  const r = spawnSync('bpftool', [...args, '-j'], { encoding: 'utf8' });
  let entries: unknown;
  try {
    entries = JSON.parse(r.stdout || '[]');
  } catch {
    throw new Error(`bpftool ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr || r.stdout}`.trim());
  }
  if (!Array.isArray(entries)) throw new Error(`bpftool ${args.join(' ')}: no list in its answer`);
  return entries.filter((e): e is T => typeof e === 'object' && e !== null && typeof (e as T).id === 'number');
}

/** Every BPF link the kernel has (`bpftool link list`). */
export function kernelLinkIds(): Set<number> {
  return new Set(bpftoolJson<{ id: number; prog_id?: number }>('link', 'list').map((l) => l.id));
}

/** Which of these programs the kernel still has loaded, and the links that run them. */
export function programsAndLinks(progIds: number[]): { progs: number[]; links: number[] } {
  return {
    progs: bpftoolJson<{ id: number }>('prog', 'list')
      .filter((p) => progIds.includes(p.id))
      .map((p) => p.id),
    links: bpftoolJson<{ id: number; prog_id?: number }>('link', 'list')
      .filter((l) => progIds.includes(l.prog_id!))
      .map((l) => l.id),
  };
}

/** Legacy tracefs uprobes (the kind that outlive a process); mounts tracefs to look. */
export function tracefsUprobes(): string[] {
  if (!existsSync('/sys/kernel/tracing/uprobe_events')) {
    execFileSync('mount', ['-t', 'tracefs', 'nodev', '/sys/kernel/tracing']);
  }
  return readFileSync('/sys/kernel/tracing/uprobe_events', 'utf8').split('\n').filter(Boolean);
}

export interface BpftoolView {
  /** `bpftool link list` as the instructor sees it. */
  linkListText: string;
  linkIds: number[];
  /** `bpftool perf list` (uprobes attached through perf events, e.g. by bpftrace) */
  perfListText: string;
  perf: PerfAttachment[];
}

/** One row of `bpftool -j perf list`: a probe attached through a perf event (bpftrace, the cilium peer's older path). */
export interface PerfAttachment {
  pid: number;
  fd: number;
  prog_id: number;
  fd_type?: string;
  filename?: string;
  offset?: number;
}

const parsePerfList = (json: string) => JSON.parse(json || '[]') as PerfAttachment[];

/** The uprobe sites attached through perf events, as path and file offset (`bpftool perf list`). */
export function perfUprobeSites(): { path: string; offset: number }[] {
  return parsePerfList(execFileSync('bpftool', ['-j', 'perf', 'list'], { encoding: 'utf8' }))
    .filter((e) => /uprobe/.test(e.fd_type ?? '') && e.filename)
    .map((e) => ({ path: e.filename!, offset: e.offset ?? 0 }));
}

const exec = promisify(execFile);

/** `bpftool link list` and `bpftool perf list`, as text for people and parsed. */
export async function bpftoolView(): Promise<BpftoolView> {
  const [linkText, linkJson, perfText, perfJson] = await Promise.all([
    exec('bpftool', ['link', 'list']).then((r) => r.stdout),
    exec('bpftool', ['-j', 'link', 'list']).then((r) => r.stdout),
    exec('bpftool', ['perf', 'list']).then((r) => r.stdout),
    exec('bpftool', ['-j', 'perf', 'list']).then((r) => r.stdout),
  ]);
  const links = JSON.parse(linkJson || '[]') as { id: number }[];
  return {
    linkListText: linkText,
    linkIds: links.map((l) => l.id),
    perfListText: perfText,
    perf: parsePerfList(perfJson),
  };
}
