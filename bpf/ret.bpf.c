// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Return of a probed Go function, attached either as a uretprobe or as a
 * plain uprobe on one of the function's RET instructions: reads the result
 * registers and, when its entry is open at the same depth of the same
 * goroutine, the arguments and the latency. Frames deeper than this one that
 * are still open were unwound by a panic: they are reported as such. */
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
	__u32 probe_id = LAB_COOKIE_PROBE(cookie);
	__u32 mode = LAB_COOKIE_MODE(cookie);
	const struct lab_probe_config *cfg = lab_probe_config(probe_id);
	/* At a RET, SP points at the return address, as at the entry; a
	 * uretprobe fires after the RET popped it. */
	__u64 sp = mode == LAB_MODE_RET ? ctx->sp : ctx->sp - 8;
	struct lab_goroutine gr;
	lab_goroutine(ctx, cfg, sp, 0, &gr);

	struct lab_depth_key dk = { .goroutine = gr.key, .probe_id = probe_id };
	struct lab_open_calls *open = bpf_map_lookup_elem(&lab_depth, &dk);
	struct lab_pending_key pk = { .goroutine = gr.key, .probe_id = probe_id, .depth = gr.depth };
	struct lab_pending *entry = 0;
	__u32 unwound = 0;
	if (open) {
		if (open->count > 0 && open->top > gr.depth)
			unwound = lab_pop_ended(open, &gr, probe_id, gr.depth, 0, now);
		if (open->count == 1 && open->top == gr.depth)
			entry = &open->bottom;
		else if (open->count > 1 && open->top == gr.depth) {
			entry = bpf_map_lookup_elem(&lab_pending, &pk);
			if (!entry) {
				/* the LRU dropped this frame's entry: the chain above the bottom frame is lost */
				lab_count_n(&lab_lost, probe_id, open->count - 1);
				open->count = 1;
				open->top = open->bottom.depth;
			}
		}
	}

	struct lab_event_buf *b = lab_scratch_event();
	if (!b)
		return 0;
	struct lab_event *e = &b->e;
	/* Every field a reader looks at is set below (no memset of the whole event): arrays are read
	 * only as far as nargs, nrets, data_len and the string length say. */
	e->kind = mode == LAB_MODE_RET ? LAB_CALL : LAB_RETURN;
	e->ts_ns = now;
	e->goroutine = gr.g;
	e->depth = gr.depth;
	e->exit_code = 0;
	e->signal = 0;
	e->unwound = unwound;
	e->probe_id = probe_id;
	e->pid = id >> 32;
	e->tid = (__u32)id;
	__u32 site = LAB_COOKIE_RET_SITE(cookie);
	e->ret_site = site == LAB_NO_RET_SITE ? -1 : (__s32)site;
	e->nrets = LAB_COOKIE_NRETS(cookie);
	__s64 regs[LAB_MAX_REGS];
	lab_go_regs(ctx, regs);
	for (int i = 0; i < LAB_MAX_REGS; i++)
		e->ret[i] = i < e->nrets ? regs[i] : 0;
	__u32 prev = 0;
	if (entry) {
		e->has_latency = 1;
		e->latency_ns = now - entry->ts_ns;
		e->entry_tid = entry->tid;
		e->goid = entry->goid;
		prev = entry->prev_depth;
		lab_copy_entry(b, entry);
	} else {
		/* the call began before the probe was attached, or its entry was lost */
		e->has_latency = 0;
		e->latency_ns = 0;
		e->entry_tid = 0;
		e->goid = lab_goid(cfg, gr.g);
		e->nargs = 0;
		e->has_str = 0;
		e->str_len = 0;
		e->deref = 0;
		e->data_len = 0;
		e->arg_data_len = 0;
	}
	if (cfg && cfg->budget && cfg->ret_reads[0].base)
		e->data_len = lab_read_values(b->data, e->data_len, cfg->budget, cfg->ret_reads, e->ret, sp + 8);
	lab_submit(b);

	if (entry && open) {
		if (open->count > 1) {
			bpf_map_delete_elem(&lab_pending, &pk);
			open->top = prev;
		}
		open->count -= 1; /* the element stays for the goroutine's next call */
	}
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
