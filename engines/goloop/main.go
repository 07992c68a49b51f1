// Command goloop calls main.work in a tight loop on demand and reports the time per call, so the
// benchmarks can measure what a probe on main.work costs per hit.
//
// It prints "ready pid N" on stderr, then reads one count per line on stdin; for each it runs
// that many calls and answers one JSON line on stdout. A tracer attaches between the two, so
// process start-up never lands in a measurement.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// work is the probed function: a leaf that never grows the stack, so a uretprobe on it has the
// best chance to survive.
//
//go:noinline
func work(x int) int {
	return x ^ (x >> 3) + 1
}

type result struct {
	Calls int `json:"calls"`
	// Wall-clock time of the loop, and the CPU time of its thread (user + kernel: a uprobe's trap
	// and BPF program run on this thread). CPU time does not count the time a neighbour had the CPU.
	Ns         int64   `json:"ns"`
	NsPerOp    float64 `json:"ns_per_op"`
	CPUNs      int64   `json:"cpu_ns"`
	CPUNsPerOp float64 `json:"cpu_ns_per_op"`
	Sum        int     `json:"sum"` // keeps the calls observable so none is optimised away
}

const clockThreadCPUTime = 3 // CLOCK_THREAD_CPUTIME_ID

func threadCPUTime() int64 {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano()
}

func main() {
	runtime.LockOSThread() // the loop's CPU time is this thread's
	fmt.Fprintf(os.Stderr, "ready pid %d\n", os.Getpid())
	in := bufio.NewScanner(os.Stdin)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		n, err := strconv.Atoi(strings.TrimSpace(in.Text()))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "goloop: want a positive call count per line, got %q\n", in.Text())
			os.Exit(2)
		}
		sum := 0
		cpu0, start := threadCPUTime(), time.Now()
		for i := 0; i < n; i++ {
			sum += work(i)
		}
		ns, cpu := time.Since(start).Nanoseconds(), threadCPUTime()-cpu0
		r := result{Calls: n, Ns: ns, NsPerOp: float64(ns) / float64(n), CPUNs: cpu, CPUNsPerOp: float64(cpu) / float64(n), Sum: sum}
		if err := out.Encode(r); err != nil {
			os.Exit(1)
		}
	}
}
