// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A program that does nothing, attached where the lab's probes go: what the
 * uprobe traps cost by themselves, the baseline for the full pipeline. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("uprobe")
int lab_empty(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
