// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Return of a probed Go function, attached either as a uretprobe or as a
 * plain uprobe on one of the function's RET instructions: reads the result
 * registers and, when its entry is pending on the same goroutine, the
 * arguments and the latency. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "maps.h"

SEC("uprobe")
int lab_ret(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u64 now = bpf_ktime_get_ns();
	__u64 id = bpf_get_current_pid_tgid();
	__u64 goroutine = ctx->r14;
	__u32 probe_id = LAB_COOKIE_PROBE(cookie);
	struct lab_event *e = lab_scratch_event();
	if (!e)
		return 0;

	struct lab_depth_key dk = { .goroutine = goroutine, .probe_id = probe_id };
	struct lab_open_calls *open = bpf_map_lookup_elem(&lab_depth, &dk);
	struct lab_pending_key pk = { .goroutine = goroutine, .probe_id = probe_id };
	struct lab_pending *entry = 0;
	__u32 depth = 0;
	if (open) {
		depth = open->depth;
		pk.depth = depth;
		if (depth == 1)
			entry = &open->outermost;
		else if (depth > 1)
			entry = bpf_map_lookup_elem(&lab_pending, &pk);
	}

	/* Every field is set below: no memset of the whole event. */
	e->kind = LAB_COOKIE_MODE(cookie) == LAB_MODE_RET ? LAB_CALL : LAB_RETURN;
	e->ts_ns = now;
	e->goroutine = goroutine;
	e->probe_id = probe_id;
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->exit_code = 0;
	e->signal = 0;
	__u32 site = LAB_COOKIE_RET_SITE(cookie);
	e->ret_site = site == LAB_NO_RET_SITE ? -1 : (__s32)site;
	e->nrets = LAB_COOKIE_NRETS(cookie);
	__s64 regs[LAB_MAX_REGS];
	lab_go_regs(ctx, regs);
	for (int i = 0; i < LAB_MAX_REGS; i++)
		e->ret[i] = i < e->nrets ? regs[i] : 0;
	if (entry) {
		e->has_latency = 1;
		e->latency_ns = now - entry->ts_ns;
		e->entry_tid = entry->tid;
		lab_copy_entry(e, entry);
	} else {
		/* the call began before the probe was attached (or was evicted) */
		e->has_latency = 0;
		e->latency_ns = 0;
		e->entry_tid = 0;
		e->nargs = 0;
		__builtin_memset(e->args, 0, sizeof(e->args));
		e->has_str = 0;
		e->str_len = 0;
		__builtin_memset(e->str, 0, sizeof(e->str));
	}
	lab_submit(e);

	if (depth > 1)
		bpf_map_delete_elem(&lab_pending, &pk);
	if (depth > 0)
		open->depth = depth - 1; /* the element stays for the goroutine's next call */
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
