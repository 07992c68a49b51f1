// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Entry of a probed Go function: who called it, on which goroutine, with
 * which arguments. Emits an entry event (uprobe, uretprobe modes) and/or
 * remembers the entry until its return (uretprobe, ret modes). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "maps.h"

static __always_inline void read_go_string(struct lab_pending *p, __s64 regs[LAB_MAX_REGS], int slot)
{
	__u64 ptr = 0, len = 0;
	for (int i = 0; i < LAB_MAX_REGS - 1; i++) {
		if (i == slot) {
			ptr = regs[i];
			len = regs[i + 1];
		}
	}
	__u32 n = len < LAB_STR_MAX ? len : LAB_STR_MAX;
	p->has_str = 1;
	p->str_len = len;
	if (bpf_probe_read_user(p->str, n, (void *)ptr))
		p->str_len = 0;
}

static __always_inline void emit_entry(struct lab_pending *p, __u64 goroutine, __u32 probe_id, __u32 pid)
{
	struct lab_event *e = lab_scratch_event();
	if (!e)
		return;
	__builtin_memset(e, 0, sizeof(*e));
	e->kind = LAB_ENTRY;
	e->ts_ns = p->ts_ns;
	e->goroutine = goroutine;
	e->probe_id = probe_id;
	e->pid = pid;
	e->tid = p->tid;
	e->ret_site = -1;
	lab_copy_entry(e, p);
	lab_submit(e);
}

/* Remember the entry at this goroutine's next call depth: keyed by
 * goroutine, not thread (goroutines move between threads) nor stack pointer
 * (the stack moves when it grows). The goroutine's element stays after its
 * calls return and is written in place by the next one: a map insert (and
 * the delete that would go with it) costs several lookups. */
static __always_inline void remember(struct lab_open_calls *call, __u64 goroutine, __u32 probe_id)
{
	struct lab_depth_key dk = { .goroutine = goroutine, .probe_id = probe_id };
	struct lab_open_calls *open = bpf_map_lookup_elem(&lab_depth, &dk);
	if (!open) {
		bpf_map_update_elem(&lab_depth, &dk, call, BPF_NOEXIST); /* the goroutine's first call */
		return;
	}
	/* One goroutine runs on one thread at a time: no other CPU races us here. */
	__u32 depth = open->depth + 1;
	open->depth = depth;
	if (depth == 1) {
		open->outermost = call->outermost; /* nearly every call */
		return;
	}
	struct lab_pending_key pk = { .goroutine = goroutine, .probe_id = probe_id, .depth = depth };
	bpf_map_update_elem(&lab_pending, &pk, &call->outermost, BPF_ANY);
}

SEC("uprobe")
int lab_entry(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u32 mode = LAB_COOKIE_MODE(cookie);
	__u32 probe_id = LAB_COOKIE_PROBE(cookie);
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32;
	__u64 goroutine = ctx->r14;

	struct lab_open_calls call = { .depth = 1 };
	struct lab_pending *p = &call.outermost;
	p->ts_ns = bpf_ktime_get_ns();
	p->tid = (__u32)id;
	p->nargs = LAB_COOKIE_NARGS(cookie);
	__s64 regs[LAB_MAX_REGS];
	lab_go_regs(ctx, regs);
	for (int i = 0; i < LAB_MAX_REGS; i++)
		p->args[i] = i < p->nargs ? regs[i] : 0;
	int slot = LAB_COOKIE_STR_SLOT(cookie);
	if (slot >= 0 && slot < LAB_MAX_REGS - 1)
		read_go_string(p, regs, slot);

	if (!bpf_map_lookup_elem(&lab_watched, &pid)) {
		__u8 yes = 1;
		bpf_map_update_elem(&lab_watched, &pid, &yes, BPF_ANY);
	}

	if (mode != LAB_MODE_RET)
		emit_entry(p, goroutine, probe_id, pid);
	if (mode != LAB_MODE_UPROBE)
		remember(&call, goroutine, probe_id);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
