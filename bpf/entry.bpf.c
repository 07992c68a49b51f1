// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Entry of a probed Go function: who called it, on which goroutine, with
 * which arguments. Emits an entry event (uprobe, uretprobe modes) and/or
 * remembers the entry until its return (uretprobe, ret modes). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "maps.h"

static __always_inline void emit_entry(struct lab_pending *p, const struct lab_goroutine *gr, __u32 probe_id, __u32 pid, __u32 site)
{
	struct lab_event_buf *b = lab_scratch_event();
	if (!b)
		return;
	struct lab_event *e = &b->e;
	__builtin_memset(e, 0, sizeof(*e));
	e->kind = LAB_ENTRY;
	e->ts_ns = p->ts_ns;
	e->goroutine = gr->g;
	e->goid = p->goid;
	e->depth = gr->depth;
	e->probe_id = probe_id;
	e->pid = pid;
	e->tid = p->tid;
	/* an entry link's site: which inlined copy of the function it sits on (none: its own body) */
	e->ret_site = site == LAB_NO_RET_SITE ? -1 : (__s32)site;
	lab_copy_entry(b, p);
	lab_submit(b);
}

/* The entry is pushed on this goroutine's chain of open frames, after popping
 * the frames that have ended (a panic unwound them). Keyed by goroutine, not
 * thread (goroutines move between threads), and by depth from the stack top,
 * not SP (the stack moves when it grows). Nearly every call finds its
 * goroutine's element with no frame open and is written into it in place. */

/* The entry's memory reads (lab_probe_config.entry_reads), made once per call, before its frame is chosen. */
static __always_inline struct lab_data_buf *read_entry_values(struct pt_regs *ctx, const struct lab_probe_config *cfg)
{
	if (!cfg || !cfg->budget || !cfg->entry_reads[0].base)
		return 0;
	__u32 zero = 0;
	struct lab_data_buf *v = bpf_map_lookup_elem(&lab_scratch_data, &zero);
	if (!v)
		return 0;
	lab_go_regs(ctx, v->regs);
	v->len = 0;
	/* from 0 read back from memory: an offset the verifier does not track as a constant,
	 * or it walks every combination of the reads' lengths */
	__u32 start = *(volatile __u32 *)&v->len;
	/* 0(SP) is the return address: the stack argument area starts above it */
	v->len = lab_read_values(v->data, start, cfg->budget, cfg->entry_reads, v->regs, ctx->sp + 8);
	return v;
}

/* Reads the entry into p. */
static __always_inline void read_entry(struct lab_pending *p, struct pt_regs *ctx, __u64 cookie, const struct lab_probe_config *cfg,
				       const struct lab_goroutine *gr, __u32 tid, const struct lab_data_buf *vals)
{
	p->ts_ns = bpf_ktime_get_ns();
	p->goid = gr->goid;
	p->tid = tid;
	p->depth = gr->depth;
	p->prev_depth = 0;
	p->nargs = LAB_COOKIE_NARGS(cookie);
	__s64 regs[LAB_MAX_REGS];
	lab_go_regs(ctx, regs);
	for (int i = 0; i < LAB_MAX_REGS; i++)
		p->args[i] = i < p->nargs ? regs[i] : 0;
	int slot = LAB_COOKIE_STR_SLOT(cookie);
	p->has_str = 0;
	p->str_len = 0;
	if (slot >= 0 && slot < LAB_MAX_REGS - 1) {
		__u64 ptr, len;
		lab_string_regs(regs, slot, &ptr, &len);
		p->has_str = 1;
		p->str_len = lab_read_string(p->str, ptr, len);
	}
	p->deref = 0;
	if (cfg && cfg->deref_slot) {
		__u64 ptr = 0;
		for (int i = 0; i < LAB_MAX_REGS; i++)
			if (i == cfg->deref_slot - 1)
				ptr = regs[i];
		if (ptr)
			bpf_probe_read_user(&p->deref, sizeof(p->deref), (void *)(ptr + (__u64)cfg->deref_word * 8));
	}
	__u32 n = vals ? lab_data_bound(vals->len) : 0;
	p->data_len = n;
	if (n)
		bpf_probe_read_kernel(p->data, n, vals->data);
}

SEC("uprobe")
int lab_entry(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u32 mode = LAB_COOKIE_MODE(cookie);
	__u32 probe_id = LAB_COOKIE_PROBE(cookie);
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32;
	const struct lab_probe_config *cfg = lab_probe_config(probe_id);
	struct lab_goroutine gr;
	lab_goroutine(ctx, cfg, ctx->sp, 1, &gr);
	__u32 depth = gr.depth;
	const struct lab_data_buf *vals = read_entry_values(ctx, cfg);

	if (!bpf_map_lookup_elem(&lab_watched, &pid)) {
		__u8 yes = 1;
		bpf_map_update_elem(&lab_watched, &pid, &yes, BPF_ANY);
	}

	struct lab_depth_key dk = { .goroutine = gr.key, .probe_id = probe_id };
	struct lab_open_calls *open = 0;
	if (mode != LAB_MODE_UPROBE) {
		open = bpf_map_lookup_elem(&lab_depth, &dk);
		/* One goroutine runs on one thread at a time: no other CPU races us here. */
		if (open && open->count > 0 && open->top >= depth)
			lab_pop_ended(open, &gr, probe_id, depth, 1, bpf_ktime_get_ns());
	}
	if (open && open->count == 0) {
		read_entry(&open->bottom, ctx, cookie, cfg, &gr, (__u32)id, vals); /* nearly every call */
		open->top = depth;
		open->count = 1;
		if (mode != LAB_MODE_RET)
			emit_entry(&open->bottom, &gr, probe_id, pid, LAB_COOKIE_RET_SITE(cookie));
		return 0;
	}

	__u32 zero = 0;
	struct lab_open_calls *call = bpf_map_lookup_elem(&lab_scratch_call, &zero);
	if (!call)
		return 0;
	read_entry(&call->bottom, ctx, cookie, cfg, &gr, (__u32)id, vals);
	if (mode != LAB_MODE_RET)
		emit_entry(&call->bottom, &gr, probe_id, pid, LAB_COOKIE_RET_SITE(cookie));
	if (mode == LAB_MODE_UPROBE)
		return 0;
	if (!open) {
		call->count = 1;
		call->top = depth;
		bpf_map_update_elem(&lab_depth, &dk, call, BPF_NOEXIST); /* the goroutine's first call */
		return 0;
	}
	call->bottom.prev_depth = open->top;
	struct lab_pending_key pk = { .goroutine = gr.key, .probe_id = probe_id, .depth = depth };
	bpf_map_update_elem(&lab_pending, &pk, &call->bottom, BPF_ANY);
	open->top = depth;
	open->count += 1;
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
