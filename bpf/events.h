/* The one event the lab's BPF programs send to user space, and how a probe's
 * bpf_cookie is packed. Every tracer (the Node addon, the cilium/ebpf peer)
 * decodes struct lab_event from this header; the TypeScript types are
 * generated from the compiled object's BTF, so edit here only. */
#ifndef LAB_EVENTS_H
#define LAB_EVENTS_H

/* Go's register ABI passes integer arguments and results in
 * ax, bx, cx, di, si, r8, r9, r10, r11 — nine registers. */
#define LAB_MAX_REGS 9
/* Bytes of a Go string argument copied into the event (power of two). */
#define LAB_STR_MAX 64

enum lab_event_kind {
	LAB_ENTRY = 1,  /* a function was entered */
	LAB_RETURN = 2, /* a uretprobe fired */
	LAB_CALL = 3,   /* ret mode: one completed call, entry paired with a RET */
	LAB_EXIT = 4,   /* a traced process died */
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
	__u32 str_len;         /* full length of the Go string argument */
	__u8 nargs;
	__u8 nrets;
	__u8 has_latency;
	__u8 has_str;
	char str[LAB_STR_MAX]; /* its first bytes (not NUL-terminated) */
};

/* bpf_cookie of every link: one ring buffer serves all probes. */
#define LAB_COOKIE(probe_id, ret_site, mode, nargs, nrets, str_slot)                         \
	(((__u64)(probe_id) & 0xffff) | (((__u64)(ret_site) & 0xffff) << 16) |                 \
	 (((__u64)(mode) & 0xff) << 32) | (((__u64)(nargs) & 0xff) << 40) |                   \
	 (((__u64)(nrets) & 0xff) << 48) | ((((__u64)(str_slot) + 1) & 0xff) << 56))
#define LAB_COOKIE_PROBE(c) ((__u32)((c) & 0xffff))
#define LAB_COOKIE_RET_SITE(c) ((__u32)(((c) >> 16) & 0xffff))
#define LAB_COOKIE_MODE(c) ((__u32)(((c) >> 32) & 0xff))
#define LAB_COOKIE_NARGS(c) ((__u32)(((c) >> 40) & 0xff))
#define LAB_COOKIE_NRETS(c) ((__u32)(((c) >> 48) & 0xff))
/* -1 when the probe reads no string argument */
#define LAB_COOKIE_STR_SLOT(c) ((int)(((c) >> 56) & 0xff) - 1)
#define LAB_NO_RET_SITE 0xffff

#endif
