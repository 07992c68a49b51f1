/** The addon's errors (errno + libbpf's last messages) in the lab's words: one line and a fix. */
import { LabError } from '../../core/errors.ts';
import type { NativeError } from './addon.ts';

export function translateLibbpfError(e: unknown, doing: string): Error {
  const err = e as NativeError;
  if (err instanceof LabError) return err;
  const why = (err.libbpfLog ?? '').trim().split('\n').filter(Boolean).slice(-1)[0];
  const detail = `${err.message}${why ? ` (${why.replace(/^libbpf: /, '')})` : ''}`;
  const log = err.libbpfLog ?? '';
  if (log.includes('PROG LOAD LOG')) {
    // EACCES/EINVAL with a verifier log: the program, not the privileges, is at fault.
    const lines = log.split('\n');
    const end = lines.findIndex((l) => l.startsWith('processed ') || l.includes('END PROG LOAD LOG'));
    const reason =
      lines
        .slice(0, end > 0 ? end : undefined)
        .filter(Boolean)
        .slice(-1)[0] ?? err.message;
    return new LabError(
      `${doing}: the kernel's verifier rejected a program: ${reason}`,
      'fix the BPF C source (bpf/*.bpf.c) and run ./lab build',
      { cause: e },
    );
  }
  switch (err.errno) {
    case 1: // EPERM
    case 13: // EACCES
      return new LabError(
        `${doing}: ${detail}`,
        'tracing needs root or CAP_BPF + CAP_PERFMON (CAP_SYS_ADMIN on older kernels): run with sudo',
        { cause: e },
      );
    case 3: // ESRCH
      return new LabError(`${doing}: the process is gone (${detail})`, 'pass the PID of a running process', {
        cause: e,
      });
    case 2: // ENOENT
      return new LabError(`${doing}: ${detail}`, 'check the binary path and the symbol name', { cause: e });
    default:
      return new LabError(
        `${doing}: ${detail}`,
        "see libbpf's reason in parentheses; run ./lab build if the BPF objects are stale",
        { cause: e },
      );
  }
}
