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
	"strconv"
	"strings"
	"time"
)

// work is the probed function: a leaf that never grows the stack, so a uretprobe on it has the
// best chance to survive.
//
//go:noinline
func work(x int) int {
	return x ^ (x >> 3) + 1
}

type result struct {
	Calls   int     `json:"calls"`
	Ns      int64   `json:"ns"`
	NsPerOp float64 `json:"ns_per_op"`
	Sum     int     `json:"sum"` // keeps the calls observable so none is optimised away
}

func main() {
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
		start := time.Now()
		for i := 0; i < n; i++ {
			sum += work(i)
		}
		ns := time.Since(start).Nanoseconds()
		if err := out.Encode(result{Calls: n, Ns: ns, NsPerOp: float64(ns) / float64(n), Sum: sum}); err != nil {
			os.Exit(1)
		}
	}
}
