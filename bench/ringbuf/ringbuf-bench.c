// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The ring-buffer benchmark's two plain-C halves, built with cc -lbpf:
 *
 *   ringbuf-bench consume OBJ N    the baseline consumer: creates the lab's maps
 *                                  from OBJ (burst.bpf.o includes bpf/maps.h),
 *                                  says "ready pid P" on stderr, then counts N
 *                                  events through libbpf's ring_buffer API.
 *   ringbuf-bench produce OBJ PID N [PROBE_ID [KERNEL_WAKEUPS]]
 *                                  the producer for every consumer (this one, the
 *                                  cilium/ebpf peer, the Node addon): finds PID's
 *                                  lab_events/lab_drops maps by id, loads
 *                                  lab_burst into them, and BPF_PROG_TEST_RUNs it
 *                                  until N events went in.
 *
 * Both print one JSON line on stdout. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/types.h>

#include "events.h"

#define BATCH 4096
/* Stop a batch when half the 8 MiB ring is waiting: the consumer sets the pace. */
#define MAX_WAITING (4ull << 20)

static uint64_t clock_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static uint64_t now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

static void die(const char *what, const char *fix)
{
	fprintf(stderr, "ringbuf-bench: %s — %s\n", what, fix);
	exit(1);
}

static struct bpf_object *open_object(const char *path)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	if (!obj)
		die("cannot open the BPF object", "build it first (./lab build bench)");
	return obj;
}

/* ---- consume ---- */

struct counter {
	uint64_t want, got, first_ns, last_ns, bad, first_cpu_ns, last_cpu_ns;
	int64_t next_seq;
};

static int on_event(void *ctx, void *data, size_t size)
{
	struct counter *c = ctx;
	/* Read args[0] (the burst's sequence number) like a real consumer would
	 * look at the payload. */
	if (size < sizeof(struct lab_event)) {
		c->bad++;
		return 0;
	}
	int64_t seq = ((const struct lab_event *)data)->args[0];
	if (c->got == 0) {
		c->first_ns = now_ns();
		c->first_cpu_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	}
	else if (seq != c->next_seq)
		c->bad++;
	c->next_seq = seq + 1;
	if (++c->got == c->want) {
		c->last_ns = now_ns();
		c->last_cpu_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
		return 1; /* stop consuming */
	}
	return 0;
}

static int consume(const char *path, uint64_t want)
{
	struct bpf_object *obj = open_object(path);
	struct bpf_program *p;
	bpf_object__for_each_program(p, obj) bpf_program__set_autoload(p, false);
	if (bpf_object__load(obj))
		die("cannot create the lab's maps", "run as root on a kernel with BPF ring buffers");
	int fd = bpf_object__find_map_fd_by_name(obj, "lab_events");
	struct counter c = { .want = want };
	struct ring_buffer *rb = ring_buffer__new(fd, on_event, &c, NULL);
	if (!rb)
		die("ring_buffer__new failed", "check libbpf and the lab_events map");
	fprintf(stderr, "ready pid %d\n", getpid());
	uint64_t idle_since = now_ns();
	while (c.got < want) {
		uint64_t before = c.got;
		int n = ring_buffer__poll(rb, 10);
		if (n == 0) /* the producer skips wake-ups below a threshold: drain on a timer too */
			n = ring_buffer__consume(rb);
		if (n < 0 && n != -EINTR)
			break;
		if (c.got != before)
			idle_since = now_ns();
		else if (c.got > 0 && now_ns() - idle_since > 5000000000ull)
			break; /* the producer stopped short: report what arrived */
	}
	if (!c.last_ns) {
		c.last_ns = now_ns();
		c.last_cpu_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	}
	printf("{\"events\":%llu,\"ns\":%llu,\"cpu_ns\":%llu,\"out_of_order\":%llu}\n", (unsigned long long)c.got,
	       (unsigned long long)(c.last_ns - c.first_ns), (unsigned long long)(c.last_cpu_ns - c.first_cpu_ns),
	       (unsigned long long)c.bad);
	ring_buffer__free(rb);
	bpf_object__close(obj);
	return c.got == want ? 0 : 1;
}

/* ---- produce ---- */

/* The id of the map called `name` among PID's open BPF map fds, 0 if none. */
static uint32_t find_map(int pid, const char *name)
{
	char dir[64], path[320], line[128];
	snprintf(dir, sizeof(dir), "/proc/%d/fdinfo", pid);
	DIR *d = opendir(dir);
	if (!d)
		die("no such process", "pass the consumer's pid");
	uint32_t found = 0;
	struct dirent *de;
	while (!found && (de = readdir(d))) {
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		unsigned id = 0;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "map_id: %u", &id) == 1)
				break;
		fclose(f);
		if (!id)
			continue;
		int fd = bpf_map_get_fd_by_id(id);
		if (fd < 0)
			continue;
		struct bpf_map_info info = {};
		uint32_t len = sizeof(info);
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) && !strcmp(info.name, name))
			found = id;
		close(fd);
	}
	closedir(d);
	return found;
}

static uint64_t drops_of(int fd, uint32_t probe_id)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *per_cpu = calloc(ncpu, sizeof(uint64_t)), total = 0;
	if (!bpf_map_lookup_elem(fd, &probe_id, per_cpu))
		for (int i = 0; i < ncpu; i++)
			total += per_cpu[i];
	free(per_cpu);
	return total;
}

static int produce(const char *path, int pid, uint64_t want, uint32_t probe_id, int kernel_wakeups)
{
	uint32_t events_id = find_map(pid, "lab_events"), drops_id = find_map(pid, "lab_drops");
	if (!events_id || !drops_id)
		die("that process has no lab_events/lab_drops maps open", "start the consumer first and pass its pid");
	int events_fd = bpf_map_get_fd_by_id(events_id), drops_fd = bpf_map_get_fd_by_id(drops_id);
	struct bpf_object *obj = open_object(path);
	if (bpf_map__reuse_fd(bpf_object__find_map_by_name(obj, "lab_events"), events_fd) ||
	    bpf_map__reuse_fd(bpf_object__find_map_by_name(obj, "lab_drops"), drops_fd))
		die("cannot share the consumer's maps", "the consumer's maps must come from bpf/maps.h");
	if (bpf_object__load(obj))
		die("cannot load lab_burst", "see the verifier log above");
	int prog = bpf_program__fd(bpf_object__find_program_by_name(obj, "lab_burst"));
	uint64_t drops_before = drops_of(drops_fd, probe_id), sent = 0, runs = 0, start = now_ns();
	while (sent < want) {
		uint64_t n = want - sent < BATCH ? want - sent : BATCH;
		uint64_t args[5] = { n, MAX_WAITING, probe_id, sent, kernel_wakeups };
		LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = args, .ctx_size_in = sizeof(args));
		if (bpf_prog_test_run_opts(prog, &opts))
			die("BPF_PROG_TEST_RUN failed", "needs root and a kernel with raw_tp test runs");
		runs++;
		sent += opts.retval;
		if (opts.retval < n) {
			/* The ring is half full (~15k events, milliseconds of work): sleep
			 * rather than spin, so a consumer's helper threads (GC, Go's
			 * runtime) get the second CPU of a small machine. */
			struct timespec pause = { .tv_nsec = 50000 };
			nanosleep(&pause, NULL);
		}
	}
	uint64_t ns = now_ns() - start;
	printf("{\"sent\":%llu,\"ns\":%llu,\"drops\":%llu,\"runs\":%llu}\n", (unsigned long long)sent,
	       (unsigned long long)ns, (unsigned long long)(drops_of(drops_fd, probe_id) - drops_before),
	       (unsigned long long)runs);
	bpf_object__close(obj);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "consume"))
		return consume(argv[2], strtoull(argv[3], NULL, 0));
	if (argc >= 5 && !strcmp(argv[1], "produce"))
		return produce(argv[2], atoi(argv[3]), strtoull(argv[4], NULL, 0),
			       argc > 5 ? strtoul(argv[5], NULL, 0) : 0xfffe, argc > 6 && atoi(argv[6]));
	fprintf(stderr, "usage: ringbuf-bench consume OBJ N | produce OBJ PID N [PROBE_ID [KERNEL_WAKEUPS]]\n");
	return 2;
}
