package main

// The peer compiles the very same C as the Node addon (bpf/*.bpf.c); bpf2go turns each object
// into Go loaders. bpf/vmlinux.h comes from the addon's build (./lab build).
//go:generate go tool bpf2go -target bpfel -type lab_event entry ../entry.bpf.c -- -I.. -O2 -g -Wall -D__TARGET_ARCH_x86
//go:generate go tool bpf2go -target bpfel ret ../ret.bpf.c -- -I.. -O2 -g -Wall -D__TARGET_ARCH_x86
//go:generate go tool bpf2go -target bpfel exit ../exit.bpf.c -- -I.. -O2 -g -Wall -D__TARGET_ARCH_x86

// The benchmarks' baseline: an empty program at the same probe sites (empty.bpf.c, beside this file: only the peer loads it).
//go:generate go tool bpf2go -target bpfel empty empty.bpf.c -- -I.. -O2 -g -Wall -D__TARGET_ARCH_x86
