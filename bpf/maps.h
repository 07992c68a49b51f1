/* Maps shared by every lab program. Each .bpf.c includes this header and
 * gets its own copy; the loader reuses the first object's map fds for the
 * others (bpf_map__reuse_fd), so all programs share one set. */
#ifndef LAB_MAPS_H
#define LAB_MAPS_H

#include "events.h"

/* Ring buffer wake-ups are expensive (~20 µs each): wake the reader only once
 * this much is waiting; user space also flushes on a short timer. */
#define LAB_WAKEUP_BYTES (256 * 1024)

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);
} lab_events SEC(".maps");

/* Events the ring buffer had no room for, per probe id. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} lab_drops SEC(".maps");

/* Per-CPU scratch space: an event is too big for comfort on the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lab_event);
} lab_scratch SEC(".maps");

/* What a return needs of its entry: a third of struct lab_event, so entries
 * store, and returns copy, only this. */
struct lab_pending {
	__u64 ts_ns;
	__s64 args[LAB_MAX_REGS];
	__u32 tid;
	__u32 str_len;
	__u8 nargs;
	__u8 has_str;
	__u8 pad[6];
	char str[LAB_STR_MAX];
};

struct lab_depth_key {
	__u64 goroutine;
	__u32 probe_id;
	__u32 pad;
};

/* The calls of a probed function open on a goroutine: how many (recursion),
 * and the outermost one's entry. The element outlives the calls (depth 0)
 * and is rewritten in place, so a call that does not recurse (nearly every
 * call) costs one lookup at entry and one at return; the LRU drops the
 * elements of goroutines that stopped calling. */
struct lab_open_calls {
	__u32 depth;
	__u32 pad;
	struct lab_pending outermost;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct lab_depth_key);
	__type(value, struct lab_open_calls);
} lab_depth SEC(".maps");

struct lab_pending_key {
	__u64 goroutine;
	__u32 probe_id;
	__u32 depth;
};

/* Entries of recursive calls (depth 2 and deeper) waiting for their return.
 * LRU, like lab_depth: a panic that skips every RET must not leak an entry
 * forever. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct lab_pending_key);
	__type(value, struct lab_pending);
} lab_pending SEC(".maps");

/* Processes whose exit the tracer reports: every process a probe fired in,
 * plus the PIDs user space asks about. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} lab_watched SEC(".maps");

static __always_inline void lab_count_drop(__u32 probe_id)
{
	__u64 one = 1, *n = bpf_map_lookup_elem(&lab_drops, &probe_id);
	if (n)
		*n += 1;
	else
		bpf_map_update_elem(&lab_drops, &probe_id, &one, BPF_NOEXIST);
}

static __always_inline void lab_submit(struct lab_event *e)
{
	/* Wake the reader once, when this event takes the backlog over the
	 * threshold; the user side's timer flush covers everything else. */
	__u64 avail = bpf_ringbuf_query(&lab_events, BPF_RB_AVAIL_DATA);
	__u64 flags = avail < LAB_WAKEUP_BYTES && avail + sizeof(*e) >= LAB_WAKEUP_BYTES
			      ? BPF_RB_FORCE_WAKEUP
			      : BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_output(&lab_events, e, sizeof(*e), flags))
		lab_count_drop(e->probe_id);
}

static __always_inline struct lab_event *lab_scratch_event(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&lab_scratch, &zero);
}

/* The Go register ABI's integer registers, in argument/result order. Read
 * with constant offsets: the verifier rejects computed context pointers. */
static __always_inline void lab_go_regs(struct pt_regs *ctx, __s64 regs[LAB_MAX_REGS])
{
	regs[0] = ctx->ax;
	regs[1] = ctx->bx;
	regs[2] = ctx->cx;
	regs[3] = ctx->di;
	regs[4] = ctx->si;
	regs[5] = ctx->r8;
	regs[6] = ctx->r9;
	regs[7] = ctx->r10;
	regs[8] = ctx->r11;
}

/* An event's fields that come from its entry. */
static __always_inline void lab_copy_entry(struct lab_event *e, const struct lab_pending *p)
{
	e->nargs = p->nargs;
	__builtin_memcpy(e->args, p->args, sizeof(e->args));
	e->has_str = p->has_str;
	e->str_len = p->str_len;
	if (p->has_str)
		__builtin_memcpy(e->str, p->str, sizeof(e->str));
	else
		__builtin_memset(e->str, 0, sizeof(e->str));
}

#endif
