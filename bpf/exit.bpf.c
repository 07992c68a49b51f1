// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The death of a traced process: its exit code or the signal that killed it.
 * A BTF tracepoint, because tracefs (and so classic tracepoints by name) may
 * not be mounted. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "maps.h"

SEC("tp_btf/sched_process_exit")
int BPF_PROG(lab_exit, struct task_struct *task, bool group_dead)
{
	if (!group_dead) /* only the last thread's exit ends the process */
		return 0;
	__u32 pid = BPF_CORE_READ(task, tgid);
	if (!bpf_map_lookup_elem(&lab_watched, &pid))
		return 0;
	bpf_map_delete_elem(&lab_watched, &pid);

	struct lab_event_buf *b = lab_scratch_event();
	if (!b)
		return 0;
	struct lab_event *e = &b->e;
	__builtin_memset(e, 0, sizeof(*e));
	int status = BPF_CORE_READ(task, exit_code);
	e->kind = LAB_EXIT;
	e->ts_ns = bpf_ktime_get_ns();
	e->pid = pid;
	e->tid = BPF_CORE_READ(task, pid);
	e->ret_site = -1;
	e->exit_code = (status >> 8) & 0xff;
	e->signal = status & 0x7f;
	lab_submit(b);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
