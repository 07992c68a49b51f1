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

/* An event and its values as they are built: data has twice the largest budget so that a read
 * at any offset below LAB_DATA_MAX of any length up to it stays inside (the verifier's bound). */
struct lab_event_buf {
	struct lab_event e;
	__u8 data[2 * LAB_DATA_MAX + 8];
};

/* n, bounded at LAB_DATA_MAX where the verifier sees it (clang folds a plain C bound into earlier checks). */
#define LAB_STR(x) #x
#define LAB_XSTR(x) LAB_STR(x)
static __always_inline __u64 lab_data_bound(__u64 n)
{
	asm volatile("if %0 <= " LAB_XSTR(LAB_DATA_MAX) " goto +1; %0 = " LAB_XSTR(LAB_DATA_MAX) : "+r"(n));
	return n;
}

/* Per-CPU scratch space: an event is too big for comfort on the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lab_event_buf);
} lab_scratch SEC(".maps");

/* Per-CPU scratch for an entry's reads before they are copied into its lab_pending. */
struct lab_data_buf {
	__s64 regs[LAB_MAX_REGS];
	__u32 len;
	__u32 pad;
	__u8 data[2 * LAB_DATA_MAX + 8];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lab_data_buf);
} lab_scratch_data SEC(".maps");

/* What a return needs of its entry, and where the frame below it is: a
 * goroutine's open frames of a probe form a chain through prev_depth, top
 * (deepest) first. */
struct lab_pending {
	__u64 ts_ns;
	__u64 goid;       /* read once, at entry */
	__u64 deref;      /* lab_probe_config.deref_* */
	__s64 args[LAB_MAX_REGS];
	__u32 tid;
	__u32 str_len;
	__u32 depth;      /* bytes from the stack top: this frame's key */
	__u32 prev_depth; /* the next open frame down the chain */
	__u16 data_len;   /* bytes of data: the entry's reads, as an event carries them */
	__u8 nargs;
	__u8 has_str;
	__u8 pad[4];
	char str[LAB_STR_MAX];
	__u8 data[LAB_DATA_MAX];
};

struct lab_depth_key {
	__u64 goroutine; /* the g pointer: a later goroutine on a reused g pops (and reports) what a dead one left open */
	__u32 probe_id;
	__u32 pad;
};

/* The frames of a probed function open on a goroutine: how many, the depth
 * of the deepest, and the bottom one's entry (nearly every call is the only
 * one open, so it never touches lab_pending). The element outlives the calls
 * (count 0) and is rewritten in place: a call that does not recurse costs one
 * lookup at entry and one at return. The LRU drops the elements of
 * goroutines that stopped calling. */
struct lab_open_calls {
	__u32 count;
	__u32 top;
	struct lab_pending bottom;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct lab_depth_key);
	__type(value, struct lab_open_calls);
} lab_depth SEC(".maps");

/* A frame is keyed by its depth in bytes from the goroutine's stack top
 * (runtime.g.stack.hi - SP): the stack may move when it grows (copystack),
 * but a frame's distance from its top does not, and an entry and its RET see
 * the same SP. */
struct lab_pending_key {
	__u64 goroutine;
	__u32 probe_id;
	__u32 depth;
};

/* Entries of frames above the bottom one (recursion). LRU, like lab_depth:
 * whatever a dead goroutine left cannot fill it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct lab_pending_key);
	__type(value, struct lab_pending);
} lab_pending SEC(".maps");

/* Per-CPU scratch for the entry being built (too big for the BPF stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lab_open_calls);
} lab_scratch_call SEC(".maps");

/* Per-probe settings from user space (struct lab_probe_config), by probe id. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct lab_probe_config);
} lab_config SEC(".maps");

/* Open frames whose lab_pending entry the LRU dropped, per probe id: their
 * returns cannot be paired (the chain restarts from the bottom frame). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} lab_lost SEC(".maps");

/* Processes whose exit the tracer reports: every process a probe fired in,
 * plus the PIDs user space asks about. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} lab_watched SEC(".maps");

static __always_inline void lab_count_n(void *counts, __u32 probe_id, __u64 by)
{
	__u64 *n = bpf_map_lookup_elem(counts, &probe_id);
	if (n)
		*n += by;
	else
		bpf_map_update_elem(counts, &probe_id, &by, BPF_NOEXIST);
}

static __always_inline void lab_count(void *counts, __u32 probe_id)
{
	lab_count_n(counts, probe_id, 1);
}

static __always_inline void lab_count_drop(__u32 probe_id)
{
	lab_count(&lab_drops, probe_id);
}

/* Bytes of a record: the event, its values padded to 8 (records stay aligned for the reader). */
static __always_inline __u32 lab_record_size(const struct lab_event *e)
{
	__u32 n = ((__u32)e->data_len + 7) & ~7u;
	if (n > LAB_DATA_MAX)
		n = LAB_DATA_MAX;
	return sizeof(*e) + n;
}

static __always_inline void lab_submit(struct lab_event_buf *b)
{
	__u64 size = lab_record_size(&b->e);
	/* a bound the verifier sees (clang would fold the one in lab_record_size) */
	asm volatile("%0 &= 2047" : "+r"(size));
	if (size > sizeof(*b))
		return;
	/* Wake the reader once, when this event takes the backlog over the
	 * threshold; the user side's timer flush covers everything else. */
	__u64 avail = bpf_ringbuf_query(&lab_events, BPF_RB_AVAIL_DATA);
	__u64 flags = avail < LAB_WAKEUP_BYTES && avail + size >= LAB_WAKEUP_BYTES
			      ? BPF_RB_FORCE_WAKEUP
			      : BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_output(&lab_events, b, size, flags))
		lab_count_drop(b->e.probe_id);
}

static __always_inline struct lab_event_buf *lab_scratch_event(void)
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

/* An event's fields that come from its entry, its reads included. */
static __always_inline void lab_copy_entry(struct lab_event_buf *b, const struct lab_pending *p)
{
	struct lab_event *e = &b->e;
	e->nargs = p->nargs;
	__builtin_memcpy(e->args, p->args, sizeof(e->args));
	e->has_str = p->has_str;
	e->str_len = p->str_len;
	if (p->has_str)
		__builtin_memcpy(e->str, p->str, sizeof(e->str));
	e->deref = p->deref;
	__u32 n = lab_data_bound(p->data_len);
	e->data_len = n;
	e->arg_data_len = n;
	if (n)
		bpf_probe_read_kernel(b->data, n, p->data);
}

static __always_inline const struct lab_probe_config *lab_probe_config(__u32 probe_id)
{
	return bpf_map_lookup_elem(&lab_config, &probe_id);
}

/* Who runs the call: the g (r14 in Go's register ABI), and the frame's depth
 * from the goroutine's stack top. */
struct lab_goroutine {
	__u64 g;
	__u64 key;
	__u64 goid; /* when asked for */
	__u32 depth;
};

/* The first words of runtime.g, read at once when the goid is wanted too:
 * stack.hi and goid (at 8 and 152 in every Go so far) in one
 * bpf_probe_read_user, which costs ~130 ns a call here. A g is 400+ bytes. */
#define LAB_G_WORDS 32

struct lab_g_words {
	__u64 w[LAB_G_WORDS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lab_g_words);
} lab_scratch_g SEC(".maps");

static __always_inline void lab_goroutine(struct pt_regs *ctx, const struct lab_probe_config *cfg, __u64 sp, int want_goid,
					  struct lab_goroutine *out)
{
	__u64 hi = 0;
	out->g = ctx->r14;
	out->key = out->g;
	out->goid = 0;
	__u32 hi_off = cfg && cfg->stack_hi_offset ? cfg->stack_hi_offset : 8;
	__u32 goid_off = cfg ? cfg->goid_offset : 0;
	__u32 zero = 0;
	int one_read = want_goid && goid_off && goid_off < LAB_G_WORDS * 8 && hi_off < LAB_G_WORDS * 8;
	struct lab_g_words *words = one_read ? bpf_map_lookup_elem(&lab_scratch_g, &zero) : 0;
	if (words) {
		/* into a map value: the verifier refuses variable offsets into the stack */
		if (!bpf_probe_read_user(words->w, sizeof(words->w), (void *)out->g)) {
			__u64 hi_i = hi_off / 8, goid_i = goid_off / 8;
			/* a bound the verifier sees (clang would fold a C mask into the checks above) */
			asm volatile("%0 &= 31" : "+r"(hi_i));
			asm volatile("%0 &= 31" : "+r"(goid_i));
			hi = words->w[hi_i];
			out->goid = words->w[goid_i];
		}
	} else {
		bpf_probe_read_user(&hi, sizeof(hi), (void *)(out->g + hi_off));
		if (want_goid && goid_off)
			bpf_probe_read_user(&out->goid, sizeof(out->goid), (void *)(out->g + goid_off));
	}
	out->depth = hi > sp ? (__u32)(hi - sp) : 0;
}

/* runtime.g's goid (0: its offset is not known): one user read, so only where needed. */
static __always_inline __u64 lab_goid(const struct lab_probe_config *cfg, __u64 g)
{
	__u64 goid = 0;
	if (cfg && cfg->goid_offset)
		bpf_probe_read_user(&goid, sizeof(goid), (void *)(g + cfg->goid_offset));
	return goid;
}

/* A Go string at (ptr, len): its first LAB_STR_MAX bytes. */
static __always_inline __u32 lab_read_string(char *dst, __u64 ptr, __u64 len)
{
	__u32 n = len < LAB_STR_MAX ? len : LAB_STR_MAX;
	if (bpf_probe_read_user(dst, n, (void *)ptr))
		return 0;
	return len > 0xffffffff ? 0xffffffff : (__u32)len;
}

/* The register pair (ptr, len) at slot: constant indexes only (the verifier
 * rejects computed stack offsets into regs). */
static __always_inline void lab_string_regs(const __s64 regs[LAB_MAX_REGS], int slot, __u64 *ptr, __u64 *len)
{
	*ptr = 0;
	*len = 0;
	for (int i = 0; i < LAB_MAX_REGS - 1; i++) {
		if (i == slot) {
			*ptr = regs[i];
			*len = regs[i + 1];
		}
	}
}

/* What the reads of one side need; a bpf_loop callback reads one (the verifier checks its body once). */
struct lab_reads_ctx {
	__u8 *data;                   /* 2 * LAB_DATA_MAX + 8 bytes of a map value */
	const struct lab_read *reads; /* LAB_READS of them */
	const __s64 *regs;            /* LAB_MAX_REGS registers, in a map value */
	__u64 args;                   /* the stack argument area's address */
	__u32 at;                     /* bytes of data written */
	__u32 budget;
};

/* The value of a read's source (enum lab_read_source): a register, or a word of the stack argument area. */
static __always_inline __u64 lab_source(const struct lab_reads_ctx *c, __u32 src)
{
	__u64 v = 0;
	if (src >= LAB_FROM_STACK && src < LAB_FROM_SP)
		bpf_probe_read_user(&v, sizeof(v), (void *)(c->args + (__u64)(src - LAB_FROM_STACK) * 8));
	else if (src >= LAB_FROM_REG && src < LAB_FROM_REG + LAB_MAX_REGS)
		v = c->regs[src - LAB_FROM_REG];
	return v;
}

/* One read: a u32 full length, a u32 count copied (or LAB_READ_FAULT), the bytes, padding to 8. */
static long lab_read_one(__u64 i, void *arg)
{
	struct lab_reads_ctx *c = arg;
	if (i >= LAB_READS)
		return 1;
	struct lab_read r = c->reads[i];
	__u32 budget = c->budget;
	__u32 at = c->at;
	if (!r.base || budget > LAB_DATA_MAX || at + 8 > budget)
		return 1;
	__u64 addr, full;
	if (r.base == LAB_FROM_SP) {
		addr = c->args + (__u64)r.word * 8;
		full = (__u64)(r.len - LAB_WORDS) * 8;
	} else {
		addr = lab_source(c, r.base);
		full = r.len > LAB_WORDS ? (__u64)(r.len - LAB_WORDS) * 8 : lab_source(c, r.len);
	}
	if (r.flags & (LAB_READ_STRING_IN_EFACE | LAB_READ_STRING_IN_IFACE)) {
		/* an interface holding a string: its data word points at the string's header */
		__u64 type = lab_source(c, r.word);
		__u8 kind = 0;
		__u64 hdr[2] = {};
		if (type && (r.flags & LAB_READ_STRING_IN_IFACE))
			bpf_probe_read_user(&type, sizeof(type), (void *)(type + LAB_GO_ITAB_TYPE_OFFSET));
		if (type)
			bpf_probe_read_user(&kind, 1, (void *)(type + LAB_GO_TYPE_KIND_OFFSET));
		if ((kind & LAB_GO_KIND_MASK) == LAB_GO_KIND_STRING)
			bpf_probe_read_user(hdr, sizeof(hdr), (void *)addr);
		addr = hdr[0];
		full = hdr[1];
	}
	__u32 room = budget - at - 8;
	__u64 n = full < room ? full : room;
	n = lab_data_bound(n);
	__u64 off = lab_data_bound(at);
	__u32 copied = n;
	if (n && bpf_probe_read_user(c->data + off + 8, n, (void *)addr)) {
		copied = LAB_READ_FAULT;
		n = 0;
	}
	__u32 *head = (__u32 *)(c->data + off);
	head[0] = full > 0xffffffff ? 0xffffffff : (__u32)full;
	head[1] = copied;
	c->at = at + 8 + ((n + 7) & ~7u);
	return 0;
}

/* Appends a side's reads to data from offset `at`, each within what is left of the budget; returns the new length. */
static __always_inline __u32 lab_read_values(__u8 *data, __u32 at, __u32 budget, const struct lab_read *reads, const __s64 *regs, __u64 args)
{
	struct lab_reads_ctx c = { .data = data, .reads = reads, .regs = regs, .args = args, .at = at, .budget = budget };
	bpf_loop(LAB_READS, lab_read_one, &c, 0);
	return c.at;
}

/* A frame a panic unwound: its entry, reported so it is neither lost nor
 * paired with another call's return. */
static __always_inline void lab_report_unwound(const struct lab_pending *p, const struct lab_goroutine *gr, __u32 probe_id, __u64 now)
{
	struct lab_event_buf *b = lab_scratch_event();
	if (!b)
		return;
	struct lab_event *e = &b->e;
	__builtin_memset(e, 0, sizeof(*e));
	e->kind = LAB_UNWOUND;
	e->ts_ns = now;
	e->latency_ns = now - p->ts_ns;
	e->goroutine = gr->g;
	e->goid = p->goid; /* its own goroutine's, also when a later one on the same g found it */
	e->probe_id = probe_id;
	__u64 id = bpf_get_current_pid_tgid();
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->entry_tid = p->tid;
	e->ret_site = -1;
	e->depth = p->depth;
	lab_copy_entry(b, p);
	lab_submit(b);
}

#define LAB_UNWIND_MAX 32

/* Pops the frames of this goroutine's chain that are over: at an entry at
 * depth d, every open frame at d or deeper (a new call there means they have
 * ended); at a return from d, every frame deeper than d. Ended frames that no
 * RET closed were unwound by a panic (or Goexit): each is reported. At most
 * LAB_UNWIND_MAX per call; the rest stay in the chain for the next call. */
static __always_inline __u32 lab_pop_ended(struct lab_open_calls *open, const struct lab_goroutine *gr, __u32 probe_id, __u32 depth,
					   int including_depth, __u64 now)
{
	__u32 n = 0;
	for (int i = 0; i < LAB_UNWIND_MAX; i++) {
		if (open->count == 0)
			break;
		__u32 top = open->top;
		if (including_depth ? top < depth : top <= depth)
			break;
		n++;
		if (open->count == 1) {
			lab_report_unwound(&open->bottom, gr, probe_id, now);
			open->count = 0;
			break;
		}
		struct lab_pending_key pk = { .goroutine = gr->key, .probe_id = probe_id, .depth = top };
		struct lab_pending *p = bpf_map_lookup_elem(&lab_pending, &pk);
		if (!p) {
			/* the LRU dropped it: the chain above the bottom frame is lost, every frame of it */
			lab_count_n(&lab_lost, probe_id, open->count - 1);
			open->count = 1;
			open->top = open->bottom.depth;
			n--;
			continue;
		}
		lab_report_unwound(p, gr, probe_id, now);
		open->top = p->prev_depth;
		open->count -= 1;
		bpf_map_delete_elem(&lab_pending, &pk);
	}
	return n;
}

#endif
