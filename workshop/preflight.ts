import { existsSync } from 'node:fs';
import { have } from '../core/proc.ts';

/**
 * Why this machine cannot drive real probes, or [] when it can. Rehearsal mode shows these reasons.
 * The lab's own preflight (engines/preflight.ts, what notebook 00 shows) decides; the workshop
 * adds bpftool, which "Reset lab" needs to prove that nothing is left.
 */
export async function livePreflight(): Promise<string[]> {
  const problems: string[] = [];
  try {
    const { preflightChecks } = await import('../engines/preflight.ts');
    for (const c of await preflightChecks())
      if (!c.ok && !c.optional) problems.push(`${c.name}: ${c.found} (${c.fix})`);
  } catch (e) {
    // The helpers cannot even load (e.g. no permission to load the tracer): check the essentials here.
    problems.push(`the lab's preflight did not run (${(e as Error).message.split('\n')[0]})`);
    if (process.getuid?.() !== 0)
      problems.push('not running as root: real probes need root (or CAP_BPF + CAP_PERFMON + CAP_SYS_ADMIN)');
    if (!existsSync('/sys/kernel/btf/vmlinux')) problems.push('no kernel BTF at /sys/kernel/btf/vmlinux');
    if (!existsSync('/sys/bus/event_source/devices/uprobe'))
      problems.push('no uprobe PMU (/sys/bus/event_source/devices/uprobe)');
  }
  if (!(await have('bpftool')))
    problems.push('bpftool is missing (./lab setup installs it): reset could not verify links');
  return problems;
}
