/**
 * Can this machine run the lab? Each check says what it found and, when it
 * fails, what to do. Nothing here attaches anything.
 */
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { availableToolchains } from '../core/go.ts';
import { missingCapabilities } from '../bpf/ts/index.ts';
import { addonPath } from '../bpf/ts/addon.ts';
import { at } from '../core/paths.ts';
import { labLeftovers } from './leftovers.ts';

export interface Check {
  name: string;
  ok: boolean;
  found: string;
  /** What to do when it is not ok. */
  fix: string;
  /** The lab works without it (shown, but not counted against readiness). */
  optional?: boolean;
}

function kernelVersion(): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(release());
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

const atLeast = ([a, b]: [number, number], [x, y]: [number, number]) => a > x || (a === x && b >= y);

function kallsyms(symbol: string): boolean {
  try {
    return readFileSync('/proc/kallsyms', 'utf8').includes(` ${symbol}\n`);
  } catch {
    return false;
  }
}

export async function preflightChecks(): Promise<Check[]> {
  const kv = kernelVersion();
  const caps = missingCapabilities();
  const toolchains = await availableToolchains().catch(() => []);
  const objects = ['entry', 'ret', 'exit'].map((p) => at('bpf', 'build', `${p}.bpf.o`));
  const left = await labLeftovers();
  const probeBytes = left.filter((l) => l.kind === 'probe bytes');
  const others = left.filter((l) => l.kind !== 'probe bytes');
  return [
    {
      name: 'kernel',
      ok: atLeast(kv, [5, 15]),
      found: `Linux ${release()}`,
      fix: 'use Linux 5.15 or newer (bpf_get_attach_cookie for uprobes, BTF)',
    },
    {
      name: 'BTF',
      ok: existsSync('/sys/kernel/btf/vmlinux'),
      found: existsSync('/sys/kernel/btf/vmlinux') ? '/sys/kernel/btf/vmlinux' : 'missing',
      fix: 'use a kernel built with CONFIG_DEBUG_INFO_BTF=y',
    },
    {
      name: 'capabilities',
      ok: caps.length === 0,
      found:
        caps.length === 0
          ? `uid ${process.getuid?.()}: CAP_BPF + CAP_PERFMON (or CAP_SYS_ADMIN)`
          : `missing ${caps.join(', ')}`,
      fix: 'run the kernel as root (sudo ./lab start)',
    },
    {
      name: 'uprobes PMU',
      ok: existsSync('/sys/bus/event_source/devices/uprobe/type'),
      found: existsSync('/sys/bus/event_source/devices/uprobe/type')
        ? `perf type ${readFileSync('/sys/bus/event_source/devices/uprobe/type', 'utf8').trim()}`
        : 'missing',
      fix: 'use a kernel built with CONFIG_UPROBE_EVENTS=y',
    },
    {
      name: 'uretprobe syscall',
      // Informational: since 6.11 x86-64 returns from a uretprobe through a syscall in the trampoline
      // instead of an int3 — faster, but the return address on the stack is still replaced.
      ok: true,
      found: kallsyms('__x64_sys_uretprobe')
        ? 'present (Linux 6.11+): returns trap via the uretprobe syscall'
        : 'absent: returns trap via int3 (before Linux 6.11)',
      fix: '',
    },
    {
      name: 'tracefs',
      ok: existsSync('/sys/kernel/tracing/uprobe_events') || existsSync('/sys/kernel/debug/tracing/uprobe_events'),
      found: existsSync('/sys/kernel/tracing/uprobe_events') ? '/sys/kernel/tracing' : 'not mounted',
      fix: "mount -t tracefs nodev /sys/kernel/tracing (only bpftrace needs it; the lab's tracer attaches uprobe_multi links, or the uprobe PMU where the kernel lacks them)",
      optional: true,
    },
    {
      name: 'Go toolchains',
      ok: toolchains.length > 0,
      found: toolchains.map((t) => `${t.version} (${t.go})`).join(', ') || 'none',
      fix: 'install Go (./lab setup)',
    },
    {
      name: 'tracer built',
      ok: existsSync(addonPath) && objects.every((o) => existsSync(o)),
      found: existsSync(addonPath) ? 'addon + BPF objects' : 'not built',
      fix: 'run ./lab build',
    },
    {
      name: 'no leaked probe bytes',
      ok: probeBytes.length === 0,
      found: probeBytes.map((l) => l.what).join('; ') || 'no int3 without a uprobe in the processes the lab traces',
      fix: 'restart those processes: the kernel failed to remove a uprobe ("leaking uprobe" in dmesg) and traps at that byte every time they pass it, for nothing',
    },
    {
      name: 'nothing of the lab left behind',
      ok: others.length === 0,
      found:
        others.map((l) => `${l.kind}: ${l.what}`).join('; ') ||
        'no orphaned process, stray uprobe link or attendee account',
      fix: 'stop what is listed (kill the pids; ./lab workshop --hands-on cleans accounts up) unless a lab command of yours is using it',
      optional: true,
    },
  ];
}

/** Runs every check and shows them as a table; returns the checks. */
