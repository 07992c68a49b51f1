// The one statement of what the lab needs from the kernel's permission checks, used by the home
// page, the intro and troubleshooting. (The troubleshooting diagram's label says the short form.)

/** What attaching the lab's probes needs. */
export const privileges = 'root, or CAP_BPF + CAP_PERFMON';

/** The whole statement: what each capability is for, and what probing someone else's program adds. */
export function PrivilegesDetail() {
  return (
    <>
      root, or <code>CAP_BPF</code> (load BPF programs, create maps) + <code>CAP_PERFMON</code> (create the uprobe perf
      events and attach the programs to them), Linux 5.8 or later; on older kernels <code>CAP_SYS_ADMIN</code> stands
      for both. Probing a process of another user also needs <code>CAP_SYS_PTRACE</code> (the kernel checks ptrace
      access when a probe is filtered to a PID, and for reading <code>/proc/PID/maps</code>) and read access to its
      binary (the tracer reads its symbols to find the function).
    </>
  );
}
