// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Entry of a probed Go function: who called it, on which goroutine, with
 * which arguments. Emits an entry event (uprobe, uretprobe modes) and/or
 * remembers the entry until its return (uretprobe, ret modes). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "maps.h"

static __always_inline void read_go_string(struct lab_event *e, __s64 regs[LAB_MAX_REGS], int slot)
{
	__u64 ptr = 0, len = 0;
	for (int i = 0; i < LAB_MAX_REGS - 1; i++) {
		if (i == slot) {
			ptr = regs[i];
			len = regs[i + 1];
		}
	}
	__u32 n = len < LAB_STR_MAX ? len : LAB_STR_MAX;
	e->has_str = 1;
	e->str_len = len;
	if (bpf_probe_read_user(e->str, n, (void *)ptr))
		e->str_len = 0;
}

SEC("uprobe")
int lab_entry(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u32 mode = LAB_COOKIE_MODE(cookie);
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32;
	struct lab_event *e = lab_scratch_event();
	if (!e)
		return 0;

	__builtin_memset(e, 0, sizeof(*e));
	e->kind = LAB_ENTRY;
	e->ts_ns = bpf_ktime_get_ns();
	e->goroutine = ctx->r14;
	e->probe_id = LAB_COOKIE_PROBE(cookie);
	e->pid = pid;
	e->tid = (__u32)id;
	e->ret_site = -1;
	e->nargs = LAB_COOKIE_NARGS(cookie);
	__s64 regs[LAB_MAX_REGS];
	lab_go_regs(ctx, regs);
	for (int i = 0; i < LAB_MAX_REGS; i++)
		e->args[i] = i < e->nargs ? regs[i] : 0;
	int slot = LAB_COOKIE_STR_SLOT(cookie);
	if (slot >= 0 && slot < LAB_MAX_REGS - 1)
		read_go_string(e, regs, slot);

	if (!bpf_map_lookup_elem(&lab_watched, &pid)) {
		__u8 yes = 1;
		bpf_map_update_elem(&lab_watched, &pid, &yes, BPF_ANY);
	}

	if (mode != LAB_MODE_RET)
		lab_submit(e);
	if (mode == LAB_MODE_UPROBE)
		return 0;

	/* Remember the entry at this goroutine's next call depth: keyed by
	 * goroutine, not thread (goroutines move between threads) nor stack
	 * pointer (the stack moves when it grows). */
	struct lab_depth_key dk = { .goroutine = e->goroutine, .probe_id = e->probe_id };
	__u32 depth = 1, *d = bpf_map_lookup_elem(&lab_depth, &dk);
	if (d)
		depth = *d + 1;
	bpf_map_update_elem(&lab_depth, &dk, &depth, BPF_ANY);
	struct lab_pending_key pk = { .goroutine = e->goroutine, .probe_id = e->probe_id, .depth = depth };
	bpf_map_update_elem(&lab_pending, &pk, e, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
