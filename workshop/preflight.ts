import { existsSync } from 'node:fs';
import { have } from '../cli/proc.ts';

/** Why this machine cannot drive real probes, or [] when it can. Rehearsal mode shows these reasons. */
export async function livePreflight(): Promise<string[]> {
  const problems: string[] = [];
  if (process.platform !== 'linux') problems.push(`not Linux (${process.platform})`);
  if (process.getuid?.() !== 0) problems.push('not running as root: real probes need root (or CAP_BPF + CAP_PERFMON + CAP_SYS_ADMIN)');
  if (!existsSync('/sys/kernel/btf/vmlinux')) problems.push('no kernel BTF at /sys/kernel/btf/vmlinux');
  if (!existsSync('/sys/bus/event_source/devices/uprobe')) problems.push('the kernel has no uprobe PMU (/sys/bus/event_source/devices/uprobe)');
  if (!(await have('bpftool'))) problems.push('bpftool is missing (./lab setup installs it): reset cannot verify links');
  return problems;
}
