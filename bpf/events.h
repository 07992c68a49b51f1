/* The one event the lab's BPF programs send to user space, and how a probe's
 * bpf_cookie is packed. Every tracer (the Node addon, the cilium/ebpf peer)
 * decodes struct lab_event from this header; the TypeScript types are
 * generated from the compiled object's BTF, so edit here only. */
#ifndef LAB_EVENTS_H
#define LAB_EVENTS_H

/* Go's register ABI passes integer arguments and results in
 * ax, bx, cx, di, si, r8, r9, r10, r11 — nine registers. */
#define LAB_MAX_REGS 9
/* Bytes of a raw probe's Go string argument copied into the event (power of two). */
#define LAB_STR_MAX 64
/* The largest per-event value budget: bytes of stack words, strings and words read through
 * pointers that follow an event in its record (power of two). */
#define LAB_DATA_MAX 512
/* The budget a typed probe gets unless told otherwise (run-tracer --value-bytes). */
#define LAB_DATA_DEFAULT 256
/* Memory reads a probe can ask for at entry, and as many at return (struct lab_read). */
#define LAB_READS 12

enum lab_event_kind {
	LAB_ENTRY = 1,  /* a function was entered */
	LAB_RETURN = 2, /* a uretprobe fired */
	LAB_CALL = 3,   /* ret mode: one completed call, entry paired with a RET */
	LAB_EXIT = 4,   /* a traced process died */
	LAB_UNWOUND = 5, /* ret mode: an entry whose frame a panic unwound (no RET will come) */
};

enum lab_probe_mode {
	LAB_MODE_UPROBE = 1,
	LAB_MODE_URETPROBE = 2,
	LAB_MODE_RET = 3,
};

struct lab_event {
	__u64 ts_ns;
	__u64 latency_ns;      /* valid when has_latency */
	__u64 goroutine;       /* r14: the g the call runs on */
	__u64 goid;            /* runtime.g's goid (0: its offset is not known) */
	__u64 deref;           /* the word lab_probe_config.deref_* asked for, read at entry while the process lives */
	__s64 args[LAB_MAX_REGS];
	__s64 ret[LAB_MAX_REGS];
	__u32 probe_id;
	__u32 pid;             /* tgid */
	__u32 tid;
	__u32 entry_tid;       /* the thread the paired entry ran on (0: no entry); != tid when the goroutine moved */
	enum lab_event_kind kind;
	__s32 ret_site;        /* index of the RET that fired, -1 when none */
	__s32 exit_code;       /* LAB_EXIT: exit status */
	__s32 signal;          /* LAB_EXIT: terminating signal, 0 when none */
	__u32 str_len;         /* full length of a raw probe's Go string argument */
	__u32 depth;           /* bytes from the goroutine's stack top to the frame: the pairing key */
	__u32 unwound;         /* frames of this probe a panic skipped, found (and reported) by this event */
	__u16 data_len;        /* bytes of values after this struct in the record (padded to 8 in the record) */
	__u16 arg_data_len;    /* of which the entry's reads; the rest are the return's */
	__u8 nargs;
	__u8 nrets;
	__u8 has_latency;
	__u8 has_str;
	__u8 pad[4];
	char str[LAB_STR_MAX]; /* its first bytes (not NUL-terminated) */
	/* A record is this struct, then data_len bytes: for each read of lab_probe_config that fit,
	 * in order (entry's, then return's), a u32 full length, a u32 count of bytes copied
	 * (LAB_READ_FAULT set: the memory could not be read), those bytes, zeros to the next 8. */
};

/* Where a read's address or length comes from (struct lab_read.base and .len). */
enum lab_read_source {
	LAB_FROM_REG = 1,     /* + register index: its value */
	LAB_FROM_STACK = 64,  /* + word index: a word of the stack argument area (above the return address) */
	LAB_FROM_SP = 128,    /* base only: the stack argument area itself, from word .word */
	LAB_WORDS = 128,      /* len only: + n, n words */
};

enum lab_read_flags {
	/* base is an interface's data word and .word's source its type (eface) or itab (iface): read
	 * the string the interface holds when its dynamic type is string */
	LAB_READ_STRING_IN_EFACE = 1,
	LAB_READ_STRING_IN_IFACE = 2,
};

/* The runtime's type descriptor (abi.Type, the same from Go 1.17 to 1.27): its kind byte, and
 * the kind of string; an itab's type pointer. */
#define LAB_GO_TYPE_KIND_OFFSET 23
#define LAB_GO_KIND_MASK 31
#define LAB_GO_KIND_STRING 24
#define LAB_GO_ITAB_TYPE_OFFSET 8

#define LAB_READ_FAULT 0x80000000

/* One memory read a probe asks for at entry or return: a Go string's bytes (base: its pointer,
 * len: its length), a span of the stack argument area, or the words an interface points to. */
struct lab_read {
	__u8 base;  /* enum lab_read_source; 0 ends the list */
	__u8 len;   /* enum lab_read_source */
	__u8 flags; /* enum lab_read_flags */
	__u8 word;  /* LAB_FROM_SP: first word; LAB_READ_STRING_IN_*: the type or itab word's source */
};

/* What user space tells the programs about a probe, by probe id (lab_config):
 * all zero for a probe nobody configured (the cilium peer's), which then reads
 * what its cookie says and keys frames by the g pointer. */
struct lab_probe_config {
	__u16 goid_offset;     /* of goid in runtime.g (from DWARF); 0: unknown */
	__u16 stack_hi_offset; /* of stack.hi in runtime.g; 0: 8, as in every Go so far */
	__u16 budget;          /* bytes of values (reads) an event may carry, at most LAB_DATA_MAX */
	__u8 deref_slot;       /* 1 + an argument register holding a pointer: the entry reads one word through it; 0: none */
	__u8 deref_word;       /* which word of what it points to (a signal context's RIP, for the crash witness) */
	struct lab_read entry_reads[LAB_READS];
	struct lab_read ret_reads[LAB_READS];
};

/* bpf_cookie of every link: one ring buffer serves all probes, and the cookie
 * tells a program which probe fired and how to read it. Its fields, lowest bits
 * first, as X(NAME, first bit, width, bias): a field holds value + bias.
 * bpf/codegen/gen-constants.ts turns this table into the TypeScript and Go
 * packers (bpf/ts/constants.gen.ts, bpf/cilium/constants.gen.go): edit here only. */
#define LAB_COOKIE_FIELDS(X)                                                     \
	X(PROBE, 0, 16, 0)     /* probe id: whose queue the event goes to */         \
	X(RET_SITE, 16, 16, 0) /* index of the RET, LAB_NO_RET_SITE when none */     \
	X(MODE, 32, 8, 0)      /* enum lab_probe_mode */                             \
	X(NARGS, 40, 8, 0)     /* argument registers to read */                      \
	X(NRETS, 48, 8, 0)     /* result registers to read */                        \
	X(STR_SLOT, 56, 8, 1)  /* register slot of a Go string's pointer, -1: none */

#define LAB_COOKIE_LAYOUT(name, shift, bits, bias) \
	LAB_COOKIE_##name##_SHIFT = (shift), LAB_COOKIE_##name##_MASK = (1 << (bits)) - 1, LAB_COOKIE_##name##_BIAS = (bias),
enum { LAB_COOKIE_FIELDS(LAB_COOKIE_LAYOUT) };
#undef LAB_COOKIE_LAYOUT

#define LAB_COOKIE_GET(c, name) \
	((int)(((c) >> LAB_COOKIE_##name##_SHIFT) & LAB_COOKIE_##name##_MASK) - LAB_COOKIE_##name##_BIAS)
#define LAB_COOKIE_PUT(v, name) \
	((((__u64)(v) + LAB_COOKIE_##name##_BIAS) & LAB_COOKIE_##name##_MASK) << LAB_COOKIE_##name##_SHIFT)
#define LAB_COOKIE(probe_id, ret_site, mode, nargs, nrets, str_slot)                                 \
	(LAB_COOKIE_PUT(probe_id, PROBE) | LAB_COOKIE_PUT(ret_site, RET_SITE) | LAB_COOKIE_PUT(mode, MODE) | \
	 LAB_COOKIE_PUT(nargs, NARGS) | LAB_COOKIE_PUT(nrets, NRETS) | LAB_COOKIE_PUT(str_slot, STR_SLOT))
#define LAB_COOKIE_PROBE(c) ((__u32)LAB_COOKIE_GET(c, PROBE))
#define LAB_COOKIE_RET_SITE(c) ((__u32)LAB_COOKIE_GET(c, RET_SITE))
#define LAB_COOKIE_MODE(c) ((__u32)LAB_COOKIE_GET(c, MODE))
#define LAB_COOKIE_NARGS(c) ((__u32)LAB_COOKIE_GET(c, NARGS))
#define LAB_COOKIE_NRETS(c) ((__u32)LAB_COOKIE_GET(c, NRETS))
/* -1 when the probe reads no string argument */
#define LAB_COOKIE_STR_SLOT(c) LAB_COOKIE_GET(c, STR_SLOT)
#define LAB_NO_RET_SITE 0xffff

#endif
