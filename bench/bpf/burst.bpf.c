// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The ring-buffer benchmark's producer: submits lab_events into the lab's ring
 * buffer (bpf/maps.h: same map, same lab_submit wake-up policy as the probes)
 * without any uprobe trap, run with BPF_PROG_TEST_RUN. It stops early when the
 * consumer falls behind by more than args[1] bytes, so a paced run measures
 * how fast a consumer drains the ring, not how fast it overflows. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "maps.h"

struct burst {
	__u64 max_waiting;
	__u64 seq;
	__u32 probe_id;
	__u32 sent;
	__u32 kernel_wakeups;
};

static long send_one(__u64 i, void *data)
{
	struct burst *b = data;
	if (bpf_ringbuf_query(&lab_events, BPF_RB_AVAIL_DATA) > b->max_waiting)
		return 1; /* let the consumer catch up */
	struct lab_event_buf *buf = lab_scratch_event();
	if (!buf)
		return 1;
	struct lab_event *e = &buf->e;
	e->ts_ns = bpf_ktime_get_ns();
	e->args[0] = b->seq + i;
	e->ret[0] = (b->seq + i) * 2;
	if (!b->kernel_wakeups)
		lab_submit(buf); /* the lab's policy: wake the reader only when 256 KiB wait */
	else if (bpf_ringbuf_output(&lab_events, e, sizeof(*e), 0))
		lab_count_drop(b->probe_id); /* the kernel's: wake when the reader had caught up */
	b->sent++;
	return 0;
}

/* args[0]: events to send, args[1]: max bytes waiting in the ring before
 * stopping, args[2]: probe id (drops are counted under it), args[3]: sequence
 * number of the first event, args[4]: 1 to use the kernel's default wake-up
 * policy instead of lab_submit's. Returns how many were sent (or dropped). */
SEC("raw_tp")
int lab_burst(struct bpf_raw_tracepoint_args *ctx)
{
	struct burst b = { .max_waiting = ctx->args[1], .seq = ctx->args[3], .probe_id = ctx->args[2],
			 .kernel_wakeups = ctx->args[4] };
	struct lab_event_buf *buf = lab_scratch_event();
	if (!buf)
		return 0;
	struct lab_event *e = &buf->e; /* data_len 0: a record is the event alone */
	__builtin_memset(e, 0, sizeof(*e));
	__u64 id = bpf_get_current_pid_tgid();
	e->kind = LAB_CALL;
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->probe_id = b.probe_id;
	e->ret_site = 0;
	e->nargs = 1;
	e->nrets = 1;
	e->has_latency = 1;
	bpf_loop(ctx->args[0], send_one, &b, 0);
	return b.sent;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
